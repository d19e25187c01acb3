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
from slth.verify.domain import resolve_domain
from slth.verify.mlp import ABS_SLACK, REL_SLACK
from slth.verify.report import Report, make_report

__all__ = ["cnn_certified_error", "cnn_empirical_error", "check_cnn", "certify_cnn"]


def cnn_certified_error(ticket: Ticket, radius: float | None = None):
    """Rigorous bound on ``sup_x max |target(x) - ticket(x)|`` for a CNN ticket.

    Over the max-norm ball of ``radius`` (default: the ticket's,
    :attr:`~slth.tickets.Ticket.domain`).

    From the pruned kernels, for each target layer the effective kernels
    ``A_jc = sum u_s V_js`` (kept positive ``u_s`` of block ``c``) and
    ``B_jc = sum |u_s| V_js`` (kept negative ones) are recomputed (see
    :mod:`slth.tickets.cnn`); with ``eA = A - K``, ``eB = B + K`` and ``P_c`` a bound on
    the target's activations of channel ``c`` (``P = radius`` at the input, then
    ``P_j = sum_{c,p} |K_jcp| P_c``), the per-channel error bounds are

    * layer 1 (inputs of any sign): ``delta_j = radius sum_{c,p} max(|eA_jcp|, |eB_jcp|)``
      (``relu(x)`` and ``relu(-x)`` are never both non-zero);
    * later layers (inputs are ReLU outputs, ``relu(-x) = 0``):
      ``delta_j = sum_{c,p} |eA_jcp| P_c + sum_{c,p} |A_jcp| delta_c``.

    Zero padding only removes terms and a global pooling is 1-Lipschitz in the max
    norm, so ``max_j delta_j`` of the last layer bounds the error for every image size.

    Returns
    -------
    (float, list of dict)

    Raises
    ------
    ValueError
        If a 1 x 1 layer of the ticket does not have the univariate layout (a channel
        keeping a weight to an input channel outside its block, or more than one).
    """
    radius, _, _ = resolve_domain(ticket, radius, "inf", norms=("inf",))
    t = ticket.target
    m = int(ticket.params["block"])
    P = np.full(t.channels[0], radius)
    delta = None
    layers = []
    for l in range(t.depth):
        K = t.kernels[l]
        U, V = ticket.weights[2 * l], ticket.weights[2 * l + 1]
        c_in = K.shape[1]
        if U.shape != (m * c_in, c_in, 1, 1) or V.shape != (K.shape[0], m * c_in, *K.shape[2:]):
            raise ValueError(f"ticket: source layers {2 * l + 1}, {2 * l + 2} have shapes "
                             f"{U.shape}, {V.shape}, which do not match the target's kernels "
                             f"{K.shape} with blocks of {m} channels")
        u2 = U[:, :, 0, 0]
        nz = u2 != 0
        own = np.zeros_like(nz)
        own[np.arange(u2.shape[0]), np.arange(u2.shape[0]) // m] = True
        if np.any(nz & ~own):
            raise ValueError(f"ticket: layer {2 * l + 1} keeps a weight outside the input "
                             "block of its channel (not the univariate layout)")
        u = u2[np.arange(u2.shape[0]), np.arange(u2.shape[0]) // m]
        up = np.where(u > 0, u, 0.0).reshape(c_in, m)
        un = np.where(u < 0, -u, 0.0).reshape(c_in, m)
        Vb = V.reshape(V.shape[0], c_in, m, *V.shape[2:])
        A = np.einsum("jcmpq,cm->jcpq", Vb, up)
        B = np.einsum("jcmpq,cm->jcpq", Vb, un)
        eA, eB = np.abs(A - K), np.abs(B + K)
        if l == 0:
            emax = np.maximum(eA, eB)
            delta = radius * emax.sum(axis=(1, 2, 3))
        else:
            emax = eA
            delta = (eA.sum(axis=(2, 3)) @ P) + (np.abs(A).sum(axis=(2, 3)) @ delta)
        P = np.abs(K).sum(axis=(2, 3)) @ P
        layers.append({"layer": l + 1, "max_weight_error": float(emax.max(initial=0.0)),
                       "bound": float(delta.max(initial=0.0))})
    bound = float(delta.max(initial=0.0))
    return bound * (1 + REL_SLACK) + ABS_SLACK, layers


def cnn_empirical_error(ticket: Ticket, radius: float | None = None, samples: int = 512,
                        seed=0, *, image_size: int = 8, chunk: int = 64, rounds: int = 16):
    """Largest ``max |target(x) - ticket(x)|`` found (a lower bound on the sup).

    Inputs are ``image_size x image_size`` images with ``c_0`` channels (``radius``
    defaults to the ticket's, :attr:`~slth.tickets.Ticket.domain`): half uniform in
    ``[-radius, radius]``, half random corners (entries ``+-radius``), where the
    piecewise-linear error tends to peak. Then ``rounds`` rounds of local search from
    the worst image (``samples`` more evaluations in all): copies of it, each with a
    random tenth of its entries redrawn from ``{-radius, 0, radius}``, the best kept.
    The pruned network is evaluated in its compacted form (removed channels dropped: the
    same sums without their zero terms).

    Returns
    -------
    (float, ndarray)
        The error and the image where it was found.
    """
    radius, _, _ = resolve_domain(ticket, radius, "inf", norms=("inf",))
    f = ticket.target
    g = ticket.compact() if hasattr(ticket, "compact") else ticket.network()
    rng = as_generator(seed)
    shape = (f.channels[0], image_size, image_size)
    best, best_x = -1.0, None
    for s in range(0, samples, chunk):
        b = min(chunk, samples - s)
        x = rng.uniform(-radius, radius, (b, *shape))
        x[b // 2:] = radius * np.where(x[b // 2:] >= 0, 1.0, -1.0)
        err = np.abs(f(x) - g(x)).reshape(b, -1).max(axis=1)
        i = int(np.argmax(err))
        if err[i] > best:
            best, best_x = float(err[i]), x[i]
    per_round = max(1, min(chunk, samples // max(rounds, 1)))
    for _ in range(rounds):
        x = np.repeat(best_x[None], per_round, axis=0)
        flip = rng.random(x.shape) < 0.1
        x[flip] = radius * rng.integers(-1, 2, int(flip.sum()))
        err = np.abs(f(x) - g(x)).reshape(per_round, -1).max(axis=1)
        i = int(np.argmax(err))
        if err[i] > best:
            best, best_x = float(err[i]), x[i]
    return best, best_x


def check_cnn(ticket: Ticket, radius: float | None = None, samples: int = 512, seed=0, *,
              image_size: int = 8) -> Report:
    """Empirical and certified max-norm error of a CNN ticket, next to the theorem's eps.

    On the max-norm ball of ``radius`` (default: the ticket's,
    :attr:`~slth.tickets.Ticket.domain`; on another radius ``report.domain_note`` says so).

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import cnn_unstructured
    >>> t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
    ...                      seed=0)
    >>> r = check_cnn(t, samples=64, image_size=5)
    >>> bool(r.empirical <= r.certified <= r.eps), r.ok, r.norm
    (True, True, 'inf')
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
    cert, layers = cnn_certified_error(ticket, radius)
    t2 = time.perf_counter()
    formula = bounds.cnn_widths(ticket.target.channels, int(ticket.params["formula_n"]))
    return make_report(ticket, emp, cert, worst, layers, formula, radius, "inf",
                       {"empirical": t1 - t0, "certified": t2 - t1}, note)


def certify_cnn(ticket: Ticket, radius: float, norm: str):
    """:func:`cnn_certified_error` with its rounding slack taken off, for
    :func:`slth.verify.certified_error` to add it back (``norm`` must be ``"inf"``)."""
    if norm != "inf":
        raise ValueError(f"norm must be 'inf' for CNN tickets (max-norm inputs and errors), "
                         f"got {norm!r}")
    bound, layers = cnn_certified_error(ticket, radius)
    return (bound - ABS_SLACK) / (1 + REL_SLACK), layers
