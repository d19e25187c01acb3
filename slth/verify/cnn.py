"""Empirical and certified errors of CNN tickets (:func:`slth.tickets.cnn_unstructured`,
:func:`slth.tickets.cnn_structured`).

Inputs lie in the max-norm ball ``[-radius, radius]^(c_0 x H x W)``, errors are measured
in the max norm over all output entries: :func:`cnn_empirical_error` searches for a large
one (a lower bound), :func:`cnn_certified_error` bounds them all (an upper bound), and
:func:`check_cnn` reports both next to the theorem's eps.
"""

from __future__ import annotations

import time

import numpy as np

from slth import bounds
from slth._validate import as_generator, check_int
from slth.tickets.ticket import Ticket
from slth.verify.cnn_lp import lp_certificate
from slth.verify.domain import resolve_domain
from slth.verify.mlp import ABS_SLACK, REL_SLACK
from slth.verify.report import Report, make_report

__all__ = ["CNN_CERTIFICATES", "best_certificate", "cnn_certificates", "cnn_certified_error",
           "cnn_empirical_error", "cnn_vjp", "check_cnn", "certify_cnn", "effective_layers"]


def effective_layers(ticket: Ticket) -> list:
    """Per target layer ``(K, A, B)``: the target's kernels and the effective kernels the
    ticket realises, recomputed from its pruned 1 x 1 and k x k layers.

    Channel ``s`` of the 1 x 1 layer ``2l`` reads input channel ``s // m`` only
    (``m = U.shape[0] / c_in`` channels per input channel); ``A_jc`` sums ``u_s V_js`` over
    its kept ``u_s > 0``, ``B_jc`` sums ``|u_s| V_js`` over its kept ``u_s < 0``, whatever
    side the construction keeps.

    Raises
    ------
    ValueError
        If the shapes do not match the target's, or a 1 x 1 layer does not have the
        univariate layout (a channel keeping a weight outside its input block).
    """
    t = ticket.target
    out = []
    for l in range(t.depth):
        K = t.kernels[l]
        U, V = ticket.weights[2 * l], ticket.weights[2 * l + 1]
        c_in = K.shape[1]
        m = U.shape[0] // c_in
        if U.shape != (m * c_in, c_in, 1, 1) or V.shape != (K.shape[0], m * c_in, *K.shape[2:]):
            raise ValueError(f"ticket: source layers {2 * l + 1}, {2 * l + 2} have shapes "
                             f"{U.shape}, {V.shape}, which do not match the target's kernels "
                             f"{K.shape} with blocks of {m} channels")
        u2 = U[:, :, 0, 0]
        rows = np.arange(u2.shape[0])
        own = np.zeros(u2.shape, dtype=bool)
        own[rows, rows // m] = True
        if np.any((u2 != 0) & ~own):
            raise ValueError(f"ticket: layer {2 * l + 1} keeps a weight outside the input "
                             "block of its channel (not the univariate layout)")
        u = u2[rows, rows // m]
        Vb = V.reshape(V.shape[0], c_in, m, *V.shape[2:])
        A = np.einsum("jcmpq,cm->jcpq", Vb, np.where(u > 0, u, 0.0).reshape(c_in, m))
        B = np.einsum("jcmpq,cm->jcpq", Vb, np.where(u < 0, -u, 0.0).reshape(c_in, m))
        out.append((K, A, B))
    return out


def _interval(layers, radius: float):
    """The interval certificate: every hidden activation charged at its bound with the
    favourable sign (see :func:`cnn_certified_error`). Per layer ``(delta, details)``."""
    P = np.full(layers[0][0].shape[1], radius)
    out = []
    for l, (K, A, B) in enumerate(layers):
        eA, eB = np.abs(A - K), np.abs(B + K)
        if l == 0:
            emax = np.maximum(eA, eB)
            delta = radius * emax.sum(axis=(1, 2, 3))
        else:
            emax = eA
            delta = (eA.sum(axis=(2, 3)) @ P) + (np.abs(A).sum(axis=(2, 3)) @ delta)
        P = np.abs(K).sum(axis=(2, 3)) @ P
        out.append((delta, float(emax.max(initial=0.0))))
    return out


def _S(M, v):
    """``sum_{c, p, q} M[j, c, p, q] v[c]`` per output channel ``j``."""
    return np.einsum("jcpq,c->j", M, v)


def _sign_aware(layers, radius: float) -> list[dict]:
    """The sign-aware certificate: per layer the bounds ``elo <= w - z <= ehi`` of the
    ticket's minus the target's pre-activations, and the target's and ticket's
    pre-activation boxes ``[zl, zu]``, ``[wl, wu]`` (per channel, every position).

    Layer 1: ``w - z = sum eA relu(x) + eB relu(-x)`` (``eA = A - K``, ``eB = B + K``),
    entries independent and never both non-zero: ``ehi = r sum max(eA, eB, 0)``,
    ``elo = r sum min(eA, eB, 0)``. Later layers, with ``0 <= h <= P``, ``0 <= g <= G``
    and ``d = g - h`` in ``[min(elo, 0), max(ehi, 0)]`` of the layer before: ``w - z =
    sum eA h + A d = sum eA g + K d``, each entry bounded by its extremes; the tighter of
    the two. Zero padding removes entries whose range contains 0: the bounds hold at
    every position.
    """
    pos, neg = (lambda M: np.maximum(M, 0.0)), (lambda M: np.minimum(M, 0.0))
    out = []
    for l, (K, A, B) in enumerate(layers):
        eA = A - K
        if l == 0:
            eB = B + K
            r = radius
            ehi, elo = r * pos(np.maximum(eA, eB)).sum(axis=(1, 2, 3)), \
                r * neg(np.minimum(eA, eB)).sum(axis=(1, 2, 3))
            zu = r * np.abs(K).sum(axis=(1, 2, 3))
            zl = -zu
            wu, wl = r * pos(np.maximum(A, B)).sum(axis=(1, 2, 3)), \
                r * neg(np.minimum(A, B)).sum(axis=(1, 2, 3))
        else:
            s = out[-1]
            P, G = np.maximum(s["zu"], 0), np.maximum(s["wu"], 0)
            dlo, dhi = np.minimum(s["elo"], 0), np.maximum(s["ehi"], 0)
            G = np.minimum(G, P + dhi)
            ehi = np.minimum(_S(pos(eA), P) + _S(pos(A), dhi) + _S(neg(A), dlo),
                             _S(pos(eA), G) + _S(pos(K), dhi) + _S(neg(K), dlo))
            elo = np.maximum(_S(neg(eA), P) + _S(pos(A), dlo) + _S(neg(A), dhi),
                             _S(neg(eA), G) + _S(pos(K), dlo) + _S(neg(K), dhi))
            zu, zl = _S(pos(K), P), _S(neg(K), P)
            wu = np.minimum(_S(pos(A), G), zu + ehi)
            wl = np.maximum(_S(neg(A), G), zl + elo)
        out.append({"zl": zl, "zu": zu, "wl": wl, "wu": wu, "elo": elo, "ehi": ehi})
    return out


#: The certificates :func:`cnn_certified_error` can compute, cheapest first.
CNN_CERTIFICATES = ("interval", "sign_aware", "lp")


def _slack(bound: float) -> float:
    return float(bound) * (1 + REL_SLACK) + ABS_SLACK


def cnn_certificates(ticket: Ticket, radius: float | None = None, certificates=None):
    """Every certificate asked for: ``({name: bound or reason skipped}, layers)``.

    ``certificates``: names from :data:`CNN_CERTIFICATES` (default: all; the LP is
    skipped, with its reason as the value, when over the size caps of
    :mod:`slth.verify.cnn_lp`). Bounds include the rounding slack. ``layers``: per
    target layer the interval and sign-aware bounds of its output error, then the LP's
    details (classes, LPs, variables, seconds).

    Raises
    ------
    ValueError
        An unknown or empty choice of certificates, or a ticket without the layout.
    """
    if certificates is None:
        certificates = CNN_CERTIFICATES
    if isinstance(certificates, str):
        certificates = (certificates,)
    certificates = tuple(certificates)
    bad = [c for c in certificates if c not in CNN_CERTIFICATES]
    if bad or not certificates:
        raise ValueError(f"certificates must be a non-empty sequence of names from "
                         f"{CNN_CERTIFICATES}, got {certificates!r}")
    radius, _, _ = resolve_domain(ticket, radius, "inf", norms=("inf",))
    eff = effective_layers(ticket)
    interval, signed = _interval(eff, radius), _sign_aware(eff, radius)
    layers = []
    for l, ((delta, werr), s) in enumerate(zip(interval, signed, strict=True)):
        sa = np.maximum(s["ehi"], -s["elo"])
        layers.append({"layer": l + 1, "max_weight_error": werr,
                       "interval": float(delta.max(initial=0.0)),
                       "sign_aware": float(sa.max(initial=0.0)),
                       "bound": float(min(delta.max(initial=0.0), sa.max(initial=0.0)))})
    found = {}
    if "interval" in certificates:
        found["interval"] = _slack(layers[-1]["interval"])
    if "sign_aware" in certificates:
        found["sign_aware"] = _slack(layers[-1]["sign_aware"])
    if "lp" in certificates:
        bound, info = lp_certificate(eff, signed, radius, ticket.target.paddings)
        found["lp"] = bound if isinstance(bound, str) else _slack(bound)
        layers.append({"certificate": "lp", **{k: v for k, v in info.items()
                                               if k != "per_class"}})
    return found, layers


def best_certificate(found: dict) -> float:
    """The smallest bound of :func:`cnn_certificates` (skipped ones are strings)."""
    bounds_ = [v for v in found.values() if not isinstance(v, str)]
    if not bounds_:
        raise ValueError(f"no certificate was computed: {found}")
    return min(bounds_)


def cnn_certified_error(ticket: Ticket, radius: float | None = None, certificates=None):
    """Rigorous bound on ``sup_x max |target(x) - ticket(x)|`` for a CNN ticket.

    Over the max-norm ball of ``radius`` (default: the ticket's,
    :attr:`~slth.tickets.Ticket.domain`), for images of every size.

    From the pruned kernels, for each target layer the effective kernels
    ``A_jc = sum u_s V_js`` (kept positive ``u_s`` of block ``c``) and
    ``B_jc = sum |u_s| V_js`` (kept negative ones) are recomputed
    (:func:`effective_layers`, see :mod:`slth.tickets.cnn`): the ticket computes
    exactly ``sum_c A_jc * relu(z_c) + B_jc * relu(-z_c)`` per layer. Three
    certificates (``certificates``: which ones, default all that fit; the smallest is
    returned):

    * ``"interval"``: with ``eA = A - K``, ``eB = B + K`` and ``P_c`` a bound on the
      target's activations (``P = radius`` at the input, then
      ``P_j = sum_{c,p} |K_jcp| P_c``), layer 1: ``delta_j = radius sum_{c,p}
      max(|eA_jcp|, |eB_jcp|)``; later layers: ``delta_j = sum_{c,p} |eA_jcp| P_c +
      sum_{c,p} |A_jcp| delta_c``;
    * ``"sign_aware"``: the same propagation with signed bounds (hidden activations of
      both networks are ``>= 0``; see :func:`_sign_aware`);
    * ``"lp"``: one linear program per output-pixel class (:mod:`slth.verify.cnn_lp`),
      bounded rigorously by weak duality; skipped over its size caps.

    Zero padding only removes terms whose range contains 0 (the LP models it exactly
    per class) and a global pooling is 1-Lipschitz in the max norm, so the bound on the
    last convolution's outputs bounds the error for every image size.

    Returns
    -------
    (float, list of dict)
        The smallest bound (with the rounding slack) and per-layer details
        (:func:`cnn_certificates`).

    Raises
    ------
    ValueError
        If a 1 x 1 layer of the ticket does not have the univariate layout (a channel
        keeping a weight to an input channel outside its block, or more than one), or
        an unknown certificate is asked for.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import cnn_unstructured
    >>> t = cnn_unstructured(random_cnn_target([1, 2, 2], 3, seed=0), eps=0.2,
    ...                      delta=0.1, seed=0, n=4)
    >>> found, _ = cnn_certificates(t)
    >>> bool(found["lp"] <= found["sign_aware"] <= found["interval"])
    True
    >>> cnn_certified_error(t)[0] == found["lp"]
    True
    """
    found, layers = cnn_certificates(ticket, radius, certificates)
    return best_certificate(found), layers


def cnn_vjp(net, x, cotangent):
    """Gradient of ``sum(cotangent * net(x))`` with respect to the images ``x``.

    Exact for a ReLU :class:`~slth.nets.CNN` wherever it is differentiable (the
    activation pattern at ``x`` fixed; at a kink the one-sided choice ``relu'(0) = 0``,
    and a max pooling's first largest position): transposed convolutions with the
    paddings, through the pooling and the head.

    Examples
    --------
    >>> from slth.nets import CNN
    >>> k = np.zeros((1, 1, 3, 3)); k[0, 0, 1, 2] = 2.0       # y[i, j] = 2 x[i, j + 1]
    >>> net = CNN([k], padding="same")
    >>> g = cnn_vjp(net, np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))
    >>> g[0, 0]
    array([[0., 2., 2.],
           [0., 2., 2.],
           [0., 2., 2.]])
    """
    from slth.nets.cnn import conv2d

    if any(a.name != "relu" for a in net.activations):
        raise ValueError("net: cnn_vjp needs ReLU activations, got "
                         f"{[a.name for a in net.activations]}")
    x = net.check_input(x)
    pre, h = [], x
    for l in range(net.depth):
        h = conv2d(h, net.kernels[l], net.paddings[l], net.biases[l])
        pre.append(h)
        h = np.maximum(h, 0.0) if l < net.depth - 1 else h
    gy = np.asarray(cotangent, dtype=float)
    if net.head is not None:
        gy = gy @ net.head
    if net.pool == "avg":
        gy = np.broadcast_to(gy[:, :, None, None] / (h.shape[2] * h.shape[3]), h.shape)
    elif net.pool == "max":
        flat = h.reshape(*h.shape[:2], -1)
        g = np.zeros_like(flat)
        np.put_along_axis(g, flat.argmax(axis=2)[..., None], gy[..., None], axis=2)
        gy = g.reshape(h.shape)
    for l in range(net.depth - 1, -1, -1):
        if l < net.depth - 1:
            gy = gy * (pre[l] > 0)
        K, p = net.kernels[l], net.paddings[l]
        k = K.shape[2]
        full = conv2d(np.ascontiguousarray(gy),
                      np.ascontiguousarray(K.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]), k - 1)
        gy = full[:, :, p:full.shape[2] - p, p:full.shape[3] - p]
    return gy


def _entry_errors(f, g, x):
    """``(target - ticket)`` flattened per image, and its largest absolute entry."""
    d = (f(x) - g(x)).reshape(x.shape[0], -1)
    return d, np.abs(d).max(axis=1)


def _ascent(f, g, starts, radius: float, steps: int):
    """Projected sign-gradient ascent (and the gradient's corner) on ``|target - ticket|``
    at the worst output entry of each start. Returns ``(best error, image)``."""
    x = starts.copy()
    d, err = _entry_errors(f, g, x)
    best_i = int(np.argmax(err))
    best, best_x = float(err[best_i]), x[best_i].copy()
    o = np.argmax(np.abs(d), axis=1)                     # the entry each start climbs
    rows = np.arange(x.shape[0])
    for t in range(steps):
        cot = np.zeros_like(d)
        cot[rows, o] = np.sign(d[rows, o])
        grad = _grad(f, g, x, cot)
        step = radius * 0.5 ** (1 + t // max(steps // 4, 1))
        cands = [np.clip(x + step * np.sign(grad), -radius, radius),
                 np.where(grad != 0, radius * np.sign(grad), x)]
        for c in cands:
            dc, ec = _entry_errors(f, g, c)
            i = int(np.argmax(ec))
            if ec[i] > best:
                best, best_x = float(ec[i]), c[i].copy()
        dc, _ = _entry_errors(f, g, cands[0])
        up = np.abs(dc[rows, o]) >= np.abs(d[rows, o])
        x[up], d[up] = cands[0][up], dc[up]
    return best, best_x


def _grad(f, g, x, cot):
    """Gradient of ``sum cot * (f(x) - g(x))`` (``cot`` flattened per image)."""
    shape_f = f(x[:1]).shape[1:]
    c = cot.reshape(x.shape[0], *shape_f)
    return cnn_vjp(f, x, c) - cnn_vjp(g, x, c)


def cnn_empirical_error(ticket: Ticket, radius: float | None = None, samples: int = 512,
                        seed=0, *, image_size: int = 8, chunk: int = 64, rounds: int = 16,
                        starts: int = 4, steps: int = 32):
    """Largest ``max |target(x) - ticket(x)|`` found (a lower bound on the sup).

    Inputs are ``image_size x image_size`` images with ``c_0`` channels (``radius``
    defaults to the ticket's, :attr:`~slth.tickets.Ticket.domain`): half uniform in
    ``[-radius, radius]``, half random corners (entries ``+-radius``), where the
    piecewise-linear error tends to peak. Then ``rounds`` rounds of local search from
    the worst image (``samples`` more evaluations in all): copies of it, each with a
    random tenth of its entries redrawn from ``{-radius, 0, radius}``, the best kept.
    Last, ``steps`` steps of projected gradient ascent from the ``starts`` worst images
    (the local search's best among them) on the error of each one's worst output entry:
    a sign step (halved every quarter of the steps) projected onto the box, and the
    corner the exact gradient (:func:`cnn_vjp`) points to. Deterministic for a seed.
    The pruned network is evaluated in its compacted form (removed channels dropped: the
    same sums without their zero terms).

    Returns
    -------
    (float, ndarray)
        The error and the image where it was found.
    """
    radius, _, _ = resolve_domain(ticket, radius, "inf", norms=("inf",))
    starts = check_int(starts, "starts", minimum=0)
    steps = check_int(steps, "steps", minimum=0)
    f = ticket.target
    g = ticket.compact() if hasattr(ticket, "compact") else ticket.network()
    rng = as_generator(seed)
    shape = (f.channels[0], image_size, image_size)
    top_e, top_x = np.full(max(starts, 1), -1.0), np.zeros((max(starts, 1), *shape))
    for s in range(0, samples, chunk):
        b = min(chunk, samples - s)
        x = rng.uniform(-radius, radius, (b, *shape))
        x[b // 2:] = radius * np.where(x[b // 2:] >= 0, 1.0, -1.0)
        _, err = _entry_errors(f, g, x)
        allx, alle = np.concatenate([top_x, x]), np.concatenate([top_e, err])
        keep = np.argsort(-alle, kind="stable")[:top_e.size]
        top_e, top_x = alle[keep], allx[keep]
    best, best_x = float(top_e[0]), top_x[0].copy()
    per_round = max(1, min(chunk, samples // max(rounds, 1)))
    for _ in range(rounds):
        x = np.repeat(best_x[None], per_round, axis=0)
        flip = rng.random(x.shape) < 0.1
        x[flip] = radius * rng.integers(-1, 2, int(flip.sum()))
        _, err = _entry_errors(f, g, x)
        i = int(np.argmax(err))
        if err[i] > best:
            best, best_x = float(err[i]), x[i]
    if starts and steps:
        begin = np.concatenate([best_x[None], top_x[1:starts]])
        found, found_x = _ascent(f, g, begin, radius, steps)
        if found > best:
            best, best_x = found, found_x
    return best, best_x


def check_cnn(ticket: Ticket, radius: float | None = None, samples: int = 512, seed=0, *,
              image_size: int = 8, certificates=None) -> Report:
    """Empirical and certified max-norm error of a CNN ticket, next to the theorem's eps.

    On the max-norm ball of ``radius`` (default: the ticket's,
    :attr:`~slth.tickets.Ticket.domain`; on another radius ``report.domain_note`` says so).
    ``report.certificates`` gives every certificate computed (``certificates``: which,
    see :func:`cnn_certified_error`) or why it was skipped; ``report.certified`` is the
    smallest.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import cnn_unstructured
    >>> t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
    ...                      seed=0)
    >>> r = check_cnn(t, samples=64, image_size=5)
    >>> bool(r.empirical <= r.certified <= r.eps), r.ok, r.norm
    (True, True, 'inf')
    >>> sorted(r.certificates), r.certified == min(r.certificates.values())
    (['interval', 'lp', 'sign_aware'], True)
    """
    from slth.nets.cnn import CNN

    if not isinstance(ticket, Ticket) or not isinstance(ticket.target, CNN):
        raise TypeError(f"ticket must be a CNN ticket (slth.tickets.cnn_unstructured or "
                        f"cnn_structured), got {type(ticket).__name__}")
    radius, _, note = resolve_domain(ticket, radius, "inf", norms=("inf",))
    samples = check_int(samples, "samples", minimum=1)
    image_size = check_int(image_size, "image_size", minimum=1)
    t0 = time.perf_counter()
    emp, worst = cnn_empirical_error(ticket, radius, samples, seed, image_size=image_size)
    t1 = time.perf_counter()
    found, layers = cnn_certificates(ticket, radius, certificates)
    cert = best_certificate(found)
    t2 = time.perf_counter()
    formula = bounds.cnn_widths(ticket.target.channels, int(ticket.params["formula_n"]))
    return make_report(ticket, emp, cert, worst, layers, formula, radius, "inf",
                       {"empirical": t1 - t0, "certified": t2 - t1}, note,
                       certificates=found)


def certify_cnn(ticket: Ticket, radius: float, norm: str, certificates=None):
    """:func:`cnn_certified_error` with its rounding slack taken off, for
    :func:`slth.verify.certified_error` to add it back (``norm`` must be ``"inf"``)."""
    if norm != "inf":
        raise ValueError(f"norm must be 'inf' for CNN tickets (max-norm inputs and errors), "
                         f"got {norm!r}")
    bound, layers = cnn_certified_error(ticket, radius, certificates)
    return (bound - ABS_SLACK) / (1 + REL_SLACK), layers
