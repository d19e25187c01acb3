"""Certified and empirical errors of Burkholz's CNN / ResNet tickets
(:func:`slth.tickets.burkholz_cnn`, :func:`slth.tickets.burkholz_cnn_2l`).

Inputs lie in ``[-radius, radius]^(c_0 x H x W)``; errors are measured in the max norm
over all output entries. The certificate (:func:`certify_burkholz_cnn`) is recomputed
from the pruned network, not from the errors the build recorded:

* **a univariate pair** (a 1 x 1 layer whose channel ``s`` keeps only its weight ``u_s``
  to input channel ``s // m`` or only its bias, then a valid ``k x k`` layer ``V``)
  computes, per output row and kernel position ``p``, for ReLU-like ``phi`` (slope
  ``a`` on the negative side) ``A_p phi(x) + B_p phi(-x)`` with ``A = sum_{u > 0} V u``,
  ``B = sum_{u < 0} V |u|``, and for smooth ``phi`` ``phi(0) sum V + phi'(0) (sum V u)
  x + R`` with ``|R| <= sum |V| K |u x|^p`` (the activation's tangent remainder), plus
  the constant ``sum V phi(c)`` of the bias channels. Against the target ``K x + b``
  with ``K x = K / (1 + a) (phi(x) - phi(-x))``, inputs ``|x~| <= G``, input errors
  ``|x~ - x| <= e``, the row's error is at most ``sum_{c,p} w_cp G_c + |K_cp| e_c +
  |const - b|`` (+ the remainder), ``w = max(|eA| + a |eB|, a |eA| + |eB|)``,
  ``eA = A - K / (1 + a)``, ``eB = B + K / (1 + a)`` (``w = |eA|`` for ReLU on
  non-negative inputs; ``w = |phi'(0) sum V u - K|`` for smooth ``phi``);
* **copies** (layers after the first of ``"L+1"``): copy row ``(j, k)`` computes
  ``sum_{i,p} sum_k' V[(i, k'), p] x~_(i,k') + constants``; with ``W_ip = sum_k' V``,
  the error is at most ``sum |W - K| P_i + sum |V| e_(i,k') + |c_safe - b| + c_border``,
  ``P`` the target's activation bounds, ``c_safe`` the constant channels' sum over the
  taps that stay inside the image for every position and ``c_border`` the absolute sum
  over the others (zero padding removes them at the border);
* **skip connections** add the error of the skipped input (at ``"L+1"``, copy by copy,
  and the constant channels their known outputs); hidden errors go through
  the activation's Lipschitz constant; a global pooling is 1-Lipschitz.

Zero padding only removes terms whose bound holds with 0, so the bound holds at every
position and for every image size.
"""

from __future__ import annotations

import time

import numpy as np

from slth.nets.cnn import CNN
from slth.tickets.burkholz_cnn import formula_widths
from slth.tickets.ticket import Ticket
from slth.verify.cnn import cnn_empirical_error
from slth.verify.domain import resolve_domain
from slth.verify.mlp import ABS_SLACK, REL_SLACK
from slth.verify.report import Report, make_report

__all__ = ["CONSTRUCTIONS", "burkholz_cnn_certified_error", "certify_burkholz_cnn",
           "check_burkholz_cnn"]

#: The constructions this module certifies.
CONSTRUCTIONS = ("burkholz_cnn", "burkholz_cnn_2l")


def _layout_error(msg: str):
    return ValueError(f"ticket: {msg} (not the layout of burkholz_cnn)")


def _target_bounds(target: CNN, radius: float) -> list[np.ndarray]:
    """``P[l][c] >= |a_l[c]|``: bounds on the target's layer inputs (``a_0 = x``),
    by interval arithmetic with absolute values, skips included."""
    P = [np.full(target.channels[0], float(radius))]
    for l in range(target.depth - 1):
        K, b = target.kernels[l], target.biases[l]
        Z = np.abs(K).sum(axis=(2, 3)) @ P[l] + (0.0 if b is None else np.abs(b))
        for i, j in target.skips:
            if j == l:
                Z = Z + P[i]
        P.append(np.asarray(target.activations[l].bound_abs(-Z, Z), dtype=float))
    return P


def _pair(U, cb, V, m: int, c_in: int, act):
    """The effective quantities of a univariate pair, from its pruned layers: per output
    row ``(A, B)`` (ReLU-like) or ``(Alin, remainder coefficients)`` (smooth), and the
    row's constant."""
    mci = m * c_in
    u2 = U[:, :, 0, 0]
    rows = np.arange(U.shape[0])
    own = np.zeros(u2.shape, dtype=bool)
    own[rows[:mci], rows[:mci] // m] = True
    if np.any((u2 != 0) & ~own):
        raise _layout_error("a 1 x 1 channel keeps a weight outside its input block")
    if cb is not None and np.any(cb[:mci] != 0):
        raise _layout_error("a univariate channel keeps its bias")
    u = u2[rows[:mci], rows[:mci] // m]
    cb = np.zeros(U.shape[0]) if cb is None else cb
    Vb = V[:, :mci].reshape(V.shape[0], c_in, m, *V.shape[2:])
    um = u.reshape(c_in, m)
    phi0 = 0.0 if act is None else act.phi0
    const = (phi0 * V[:, :mci].sum(axis=(1, 2, 3))
             + np.einsum("rspq,s->r", V[:, mci:], cb[mci:] if act is None else act(cb[mci:])))
    if act is None or act.homogeneous:
        A = np.einsum("rcmpq,cm->rcpq", Vb, np.where(um > 0, um, 0.0))
        B = np.einsum("rcmpq,cm->rcpq", Vb, np.where(um < 0, -um, 0.0))
        return ("homogeneous", A, B), const
    K, p = act.remainder
    Alin = act.dphi0 * np.einsum("rcmpq,cm->rcpq", Vb, um)
    rem = K * np.einsum("rcmpq,cm->rc", np.abs(Vb), np.abs(um) ** p)
    return ("smooth", Alin, (rem, p)), const


def _pair_error(eff, const, K, b, G, e, act, nonneg: bool) -> np.ndarray:
    """Per output row: the bound of the module docstring for one univariate pair."""
    kind, X, Y = eff
    aK = np.abs(K)
    if kind == "homogeneous":
        s = 0.0 if act is None else act.slope_neg
        eA, eB = np.abs(X - K / (1 + s)), np.abs(Y + K / (1 + s))
        w = eA if nonneg and s == 0.0 else np.maximum(eA + s * eB, s * eA + eB)
        extra = 0.0
    else:
        w = np.abs(X - K)
        rem, p = Y
        extra = rem @ (G ** p)
    return (np.einsum("rcpq,c->r", w, G) + np.einsum("rcpq,c->r", aK, e) + extra
            + np.abs(const - b))


def _check_paddings(ticket, expect):
    if tuple(ticket.spec.paddings) != tuple(expect):
        raise _layout_error(f"source paddings {ticket.spec.paddings}, expected {tuple(expect)}")


def certify_burkholz_cnn(ticket: Ticket, radius: float, norm: str = "inf"):
    """Rigorous bound on ``sup_x max |target(x) - ticket(x)|`` (before the rounding slack
    of :func:`slth.verify.certified_error`) and per-layer details; see the module
    docstring.

    Raises
    ------
    ValueError
        ``norm`` other than ``"inf"``, or pruned layers outside the construction's layout
        (a 1 x 1 channel reading two inputs, a kept univariate bias, a constant channel
        reading copies or border taps, paddings or skips that do not match the target's).
    """
    if norm != "inf":
        raise ValueError(f"norm must be 'inf' for CNN tickets (max-norm inputs and errors), "
                         f"got {norm!r}")
    t, p = ticket.target, ticket.params
    L, act = t.depth, (t.activations[0] if t.depth > 1 else None)
    lip = 1.0 if act is None else act.lipschitz
    m, n = int(p["block"]), int(p["n"])
    P = _target_bounds(t, radius)
    W, Bs = ticket.weights, ticket.biases
    layers = []
    if p["scheme"] == "2L":
        _check_paddings(ticket, [q for l in range(L) for q in (t.paddings[l], 0)])
        if tuple(ticket.spec.skips) != tuple((2 * i, 2 * j + 1) for i, j in t.skips):
            raise _layout_error(f"source skips {ticket.spec.skips} do not match the target's "
                                f"{t.skips}")
        e = [np.zeros(t.channels[0])]
        for l in range(L):
            eff, const = _pair(W[2 * l], Bs[2 * l], W[2 * l + 1], m, t.channels[l],
                               None if l == 0 and act is None else act)
            b = np.zeros(t.channels[l + 1]) if t.biases[l] is None else t.biases[l]
            nonneg = l > 0 and act is not None and act.name == "relu"
            delta = _pair_error(eff, const, t.kernels[l], b, P[l] + e[l], e[l], act, nonneg)
            for i, j in t.skips:
                if j == l:
                    delta = delta + e[i]
            layers.append({"layer": l + 1, "pre_activation_error": float(delta.max())})
            e.append(lip * delta)
        return float(delta.max()), layers
    # L+1
    _check_paddings(ticket, [t.paddings[0], 0, *t.paddings[1:]])
    if tuple(ticket.spec.skips) != tuple((i + 1, j + 1) for i, j in t.skips):
        raise _layout_error(f"source skips {ticket.spec.skips} do not match the target's "
                            f"{t.skips}")
    copies = n if L > 1 else 1
    c1 = t.channels[1]
    eff, const = _pair(W[0], Bs[0], W[1], m, t.channels[0], act)
    rows = copies * c1
    if np.any(W[1][rows:, :m * t.channels[0]] != 0):
        raise _layout_error("a constant channel of source layer 2 reads univariate channels")
    j_of = np.arange(rows) // copies
    b = np.zeros(c1) if t.biases[0] is None else t.biases[0]
    sub = (eff[0], eff[1][:rows], eff[2][:rows] if eff[0] == "homogeneous"
           else (eff[2][0][:rows], eff[2][1]))
    delta = _pair_error(sub, const[:rows], t.kernels[0][j_of], b[j_of], P[0],
                        np.zeros(t.channels[0]), act, False)
    layers.append({"layer": 1, "pre_activation_error": float(delta.max())})
    tau = const[rows:]                                # the constant channels' pre-activations
    errs, taus = [lip * delta], [tau]                 # per target layer l: input copies
    for l in range(1, L):
        e = errs[l - 1]
        c_in, c_out, k, pad = t.channels[l], t.channels[l + 1], t.kernel_sizes[l], t.paddings[l]
        V = W[l + 1]
        copies_out = n if l < L - 1 else 1
        rows = copies_out * c_out
        j_of = np.arange(rows) // copies_out
        Vc = V[:, :n * c_in].reshape(V.shape[0], c_in, n, k, k)
        safe = np.zeros((k, k), dtype=bool)
        safe[pad:k - pad, pad:k - pad] = True
        cvals = V[:, n * c_in:] * act(tau)[None, :, None, None]
        c_safe = np.where(safe, cvals, 0.0).sum(axis=(1, 2, 3))
        c_border = np.abs(np.where(safe, 0.0, cvals)).sum(axis=(1, 2, 3))
        if np.any(Vc[rows:] != 0) or np.any(c_border[rows:] != 0):
            raise _layout_error(f"a constant channel of source layer {l + 2} reads copies or "
                                "border taps")
        K = t.kernels[l][j_of]
        b = np.zeros(c_out) if t.biases[l] is None else t.biases[l]
        Wsum = Vc[:rows].sum(axis=2)
        delta = (np.einsum("rcpq,c->r", np.abs(Wsum - K), P[l])
                 + np.einsum("rcmpq,cm->r", np.abs(Vc[:rows]), e.reshape(c_in, n))
                 + np.abs(c_safe[:rows] - b[j_of]) + c_border[:rows])
        tau = c_safe[rows:]
        for i, j in t.skips:             # copy k of a_i joins copy k of this layer
            if j == l:
                delta = delta + errs[i - 1]
                tau = tau + act(taus[i - 1])
        layers.append({"layer": l + 1, "pre_activation_error": float(delta.max())})
        errs.append(lip * delta)
        taus.append(tau)
    return float(delta.max()), layers


def burkholz_cnn_certified_error(ticket: Ticket, radius: float | None = None):
    """:func:`certify_burkholz_cnn` on the ticket's domain (or ``radius``), with the
    rounding slack. Returns ``(bound, layers)``.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import burkholz_cnn_2l
    >>> f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="tanh")
    >>> t = burkholz_cnn_2l(f, eps=0.1, delta=0.1, seed=0)
    >>> bool(burkholz_cnn_certified_error(t)[0] < 0.1)
    True
    """
    radius, _, _ = resolve_domain(ticket, radius, "inf", norms=("inf",))
    bound, layers = certify_burkholz_cnn(ticket, radius, "inf")
    return float(bound) * (1 + REL_SLACK) + ABS_SLACK, layers


def check_burkholz_cnn(ticket: Ticket, radius: float | None = None, samples: int = 512,
                       seed=0, *, image_size: int = 5) -> Report:
    """Empirical (random images, corners and a local search, see
    :func:`slth.verify.cnn.cnn_empirical_error`; no gradient steps) and certified
    max-norm error of a Burkholz CNN ticket, next to the theorem's eps.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import burkholz_cnn
    >>> f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="sigmoid")
    >>> r = check_burkholz_cnn(burkholz_cnn(f, eps=0.1, delta=0.1, seed=0), samples=64,
    ...                        image_size=5)
    >>> bool(r.empirical <= r.certified <= r.eps), r.ok
    (True, True)
    """
    radius, _, note = resolve_domain(ticket, radius, "inf", norms=("inf",))
    t0 = time.perf_counter()
    emp, worst = cnn_empirical_error(ticket, radius, samples, seed, image_size=image_size,
                                     starts=0, steps=0)
    t1 = time.perf_counter()
    cert, layers = burkholz_cnn_certified_error(ticket, radius)
    t2 = time.perf_counter()
    return make_report(ticket, emp, cert, worst, layers, formula_widths(ticket), radius,
                       "inf", {"empirical": t1 - t0, "certified": t2 - t1}, note)
