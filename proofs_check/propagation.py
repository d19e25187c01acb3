"""Error propagation through an L-layer network: the inequality behind ``certified_error``.

Target ``f_l = phi_l(W_l f_{l-1})``, approximation ``g_l = phi_l(What_l g_{l-1})``,
``f_0 = g_0 = x`` with ``||x|| <= a_0``; ``phi_l`` is ``lam_l``-Lipschitz (the output
layer is linear, ``lam_L = 1``), ``||f_{l-1}|| <= a_{l-1}``, ``E_l = What_l - W_l``.
From ``What g - W f = What (g - f) + (What - W) f``:

    ||f_l - g_l|| <= lam_l (||E_l|| a_{l-1} + ||What_l|| ||f_{l-1} - g_{l-1}||),

and unrolled

    ||f_L - g_L|| <= sum_l lam_l ||E_l|| a_{l-1} prod_{k > l} lam_k ||What_k||.

This is the recursion of :func:`slth.verify.certified_error` (the depth-2L path:
``D = ||E|| A + ||What|| D`` with ReLU, ``lam = 1``; the depth-L+1 path runs the same
recursion per coordinate with ``|E|`` and ``|What|`` in place of the norms).

Examples
--------
>>> certified_bound([0.1], [1.1], [1.0], [1.0])
0.1
>>> propagation_symbolic(depths=(1, 2)).passed
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from proofs_check._core import Check, nonnegative_polynomial
from slth._validate import check_int
from slth.nets import activations as act_mod

__all__ = ["certified_bound", "coordinate_bound", "propagation_symbolic", "propagation_numeric",
           "propagation_coordinatewise", "remainder_sum", "remainder_sum_bound",
           "verify_certified"]


def certified_bound(e: Sequence, nhat: Sequence, a: Sequence, lam: Sequence):
    """``sum_l lam_l e_l a_{l-1} prod_{k > l} lam_k nhat_k`` (numbers or sympy expressions).

    Parameters
    ----------
    e, nhat, a, lam : sequences of length L
        Per layer (index 0 is layer 1): ``||E_l||``, ``||What_l||``, a bound on the norm of
        the layer's input ``a_{l-1}``, and the layer's Lipschitz constant.
    """
    L = len(e)
    if not len(nhat) == len(a) == len(lam) == L:
        raise ValueError(f"e, nhat, a, lam must have one entry per layer, got lengths "
                         f"{len(e)}, {len(nhat)}, {len(a)}, {len(lam)}")
    total = 0
    for l in range(L):
        term = lam[l] * e[l] * a[l]
        for k in range(l + 1, L):
            term = term * lam[k] * nhat[k]
        total = total + term
    return total


def coordinate_bound(E_abs: Sequence, H_abs: Sequence, P: Sequence, lam: Sequence):
    """Per-coordinate bound ``delta_l = lam_l (|E_l| P_(l-1) + |What_l| delta_(l-1))``, from 0.

    Parameters
    ----------
    E_abs, H_abs : sequences of arrays
        ``|What_l - W_l|`` and ``|What_l|`` entrywise, per layer.
    P : sequence of arrays
        ``P[l]`` bounds ``|f_l|`` entrywise (``P[0]`` the input coordinates).
    lam : sequence of float
        Lipschitz constants per layer (1 for the linear output layer).

    Returns
    -------
    ndarray
        Bound on ``|f_L - g_L|`` per output coordinate.

    Examples
    --------
    >>> import numpy as np
    >>> coordinate_bound([np.array([[0.1]])], [np.array([[1.1]])], [np.array([2.0])], [1.0])
    array([0.2])
    """
    delta = np.zeros(np.shape(P[0]))
    for l in range(len(E_abs)):
        delta = lam[l] * (E_abs[l] @ P[l] + H_abs[l] @ delta)
    return delta


def propagation_symbolic(bound: Callable = certified_bound,
                         depths: Sequence[int] = (1, 2, 3)) -> Check:
    """The propagation inequality, symbolically for each depth in ``depths``.

    Four parts: (i) the one-step identity ``What g - W f = What (g - f) + (What - W) f`` and
    (ii) the L-layer telescoping identity ``What_L..What_1 - W_L..W_1 = sum_l What_L..What_{l+1}
    (What_l - W_l) W_{l-1}..W_1`` in non-commutative symbols; (iii) the one-step inequality
    unrolled (``D_l = lam_l (e_l a_{l-1} + nhat_l D_{l-1})``) equals ``bound``; (iv) on a scalar
    chain with positive weights and input (where ReLU is the identity and every inequality
    is an equality) ``bound - |f_L - g_L|`` is a polynomial with non-negative coefficients.

    Parameters
    ----------
    bound : callable
        ``bound(e, nhat, a, lam)`` as :func:`certified_bound`.
    depths : sequence of int
        Depths L to check.

    Returns
    -------
    Check
    """
    depths = tuple(check_int(L, "depths[i]", minimum=1, maximum=8) for L in depths)
    failures, notes = [], []
    W, Wh, f, g = sp.symbols("W What f g", commutative=False)
    if sp.expand(Wh * g - W * f - (Wh * (g - f) + (Wh - W) * f)) != 0:
        failures.append("one-step identity")
    for L in depths:
        Ws = sp.symbols(f"W1:{L + 1}", commutative=False)
        Hs = sp.symbols(f"H1:{L + 1}", commutative=False)

        def prod(seq):
            out = sp.Integer(1)
            for m in reversed(seq):      # seq[-1] leftmost: layer L applied last
                out = out * m if out != 1 else m
            return out

        tele = sum((prod(Hs[l + 1:]) if l + 1 < L else 1) * (Hs[l] - Ws[l])
                   * (prod(Ws[:l]) if l else 1) for l in range(L))
        if sp.expand(prod(Hs) - prod(Ws) - tele) != 0:
            failures.append(f"L={L}: telescoping identity")
        e = sp.symbols(f"e1:{L + 1}", positive=True)
        nh = sp.symbols(f"n1:{L + 1}", positive=True)
        a = sp.symbols(f"a0:{L}", positive=True)
        lam = sp.symbols(f"lam1:{L + 1}", positive=True)
        D = 0
        for l in range(L):
            D = lam[l] * (e[l] * a[l] + nh[l] * D)
        claimed = bound(list(e), list(nh), list(a), list(lam))
        if sp.expand(D - claimed) != 0:
            failures.append(f"L={L}: unrolled recursion {sp.expand(D)} != bound "
                            f"{sp.expand(claimed)}")
        w = sp.symbols(f"w1:{L + 1}", positive=True)
        r = sp.Symbol("r", positive=True)
        f_out, g_out = r, r
        for l in range(L):
            f_out, g_out = w[l] * f_out, (w[l] + e[l]) * g_out
        err = g_out - f_out                          # >= 0 here
        a_chain = [r * sp.Mul(*w[:l]) for l in range(L)]
        chain = bound(list(e), [w[l] + e[l] for l in range(L)], a_chain, [1] * L)
        ok, why = nonnegative_polynomial(chain - err, [*w, *e, r])
        if not ok:
            failures.append(f"L={L}: scalar chain: bound - error: {why}")
        else:
            notes.append(f"L={L}: {'tight (equality)' if why == 'identically zero' else why}")
    detail = "; ".join(failures) if failures else (
        "one-step and telescoping identities expand to 0; unrolled recursion == bound; "
        "scalar chains: " + ", ".join(notes))
    return Check("propagation_symbolic",
                 "||f_L - g_L|| <= sum_l lam_l ||E_l|| a_(l-1) prod_(k>l) lam_k ||What_k|| "
                 f"(L = {', '.join(map(str, depths))})",
                 "symbolic (sympy: non-commutative identities, unrolled recursion, "
                 "non-negative polynomial certificate)", not failures, detail)


def _instance(rng, i):
    """A random network and perturbation (every third one a positive scalar chain)."""
    names = ("relu", "leaky_relu", "tanh")
    L = int(rng.integers(1, 4))
    act = act_mod.get(names[int(rng.integers(0, 3))])
    r = float(10 ** rng.uniform(-1, 1))
    chain = i % 3 == 0
    if chain:
        act = act_mod.get("relu")
        ws = [np.array([[rng.uniform(0.2, 2.0)]]) for _ in range(L)]
        es = [np.array([[rng.uniform(1e-3, 0.5)]]) for _ in range(L)]
    else:
        d = rng.integers(1, 6, L + 1)
        ws = [rng.standard_normal((d[l + 1], d[l])) / np.sqrt(d[l]) for l in range(L)]
        es = [rng.standard_normal(w.shape) * 10 ** rng.uniform(-3, 0) for w in ws]
    return L, act, r, chain, ws, es


def _inputs(rng, d0, r, samples):
    x = _ball(rng, samples, d0, r)
    poles = np.zeros((2, d0))
    poles[:, 0] = (r, -r)
    return np.vstack([x, poles])


def _forward(ws, acts, x):
    h = x
    for l, w in enumerate(ws):
        h = h @ w.T
        if l < len(ws) - 1:
            h = acts[l](h)
    return h


def _ball(rng, size, dim, radius):
    g = rng.standard_normal((size, dim))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    rad = np.ones(size)
    rad[: size // 2] = rng.uniform(0.0, 1.0, size // 2) ** (1.0 / dim)
    return radius * g * rad[:, None]


def propagation_numeric(bound: Callable = certified_bound, instances: int = 300,
                        samples: int = 256, seed: int = 0) -> Check:
    """The propagation bound is never exceeded on random networks and random perturbations.

    Instances: depth 1-3, widths 1-5, hidden activation relu, leaky_relu or tanh (the
    library's, with their Lipschitz constants; ``phi(0) = 0`` so ``a_l = lam_l ||W_l|| a_{l-1}``),
    Gaussian weights, perturbations of random scale 1e-3..1, radius 0.1..10; every
    third instance is a scalar chain with positive weights, where the bound is attained
    at ``x = radius``. Inputs: ``samples`` points of the ball (half on the sphere) and
    the two poles ``±radius e_1``.

    Parameters
    ----------
    bound : callable
        ``bound(e, nhat, a, lam)`` as :func:`certified_bound`.
    instances, samples, seed : int
        Number of random networks, inputs per network, seed.

    Returns
    -------
    Check
    """
    instances = check_int(instances, "instances", minimum=3)
    samples = check_int(samples, "samples", minimum=2)
    rng = np.random.default_rng(seed)
    worst_ratio, violations, tight = 0.0, [], 0.0
    for i in range(instances):
        L, act, r, chain, ws, es = _instance(rng, i)
        wh = [w + e for w, e in zip(ws, es, strict=True)]
        lam = [act.lipschitz] * (L - 1) + [1.0]
        a = [r]
        for l in range(L - 1):
            a.append(lam[l] * np.linalg.norm(ws[l], 2) * a[-1])
        B = float(bound([np.linalg.norm(e, 2) for e in es], [np.linalg.norm(w, 2) for w in wh],
                        a, lam))
        x = _inputs(rng, ws[0].shape[1], r, samples)
        acts = [act] * (L - 1)
        err = float(np.linalg.norm(_forward(ws, acts, x) - _forward(wh, acts, x), axis=1).max())
        if err > B * (1 + 1e-12) + 1e-15:
            violations.append(f"instance {i} (L={L}, {act.name}, chain={chain}): error {err:.6g} "
                              f"> bound {B:.6g}")
        elif B > 0:
            worst_ratio = max(worst_ratio, err / B)
            if chain:
                tight = max(tight, err / B)
    detail = (f"{len(violations)} violation(s): " + "; ".join(violations[:3])) if violations else (
        f"{instances} networks x {samples + 2} inputs: largest error/bound {worst_ratio:.6f} "
        f"(attained on the scalar chains: {tight:.12f})")
    return Check("propagation_numeric",
                 "the propagation bound holds on random networks (relu, leaky_relu, tanh; L <= 3)",
                 f"numeric ({instances} random instances x {samples + 2} inputs, rel. slack 1e-12)",
                 not violations, detail)


def propagation_coordinatewise(bound: Callable = coordinate_bound, instances: int = 300,
                               samples: int = 256, seed: int = 1) -> Check:
    """The per-coordinate propagation bound holds coordinate by coordinate on random networks.

    The depth-L+1 certificate of :func:`slth.verify.certified_error` propagates per
    coordinate: ``|f_l - g_l| <= lam_l (|E_l| P_(l-1) + |What_l| |f_(l-1) - g_(l-1)|)``
    entrywise, with ``P`` interval bounds of the target's activations (here
    ``P_0 = radius``, ``P_l = lam_l |W_l| P_(l-1)``, valid as ``phi(0) = 0``). Same random
    instances as :func:`propagation_numeric`; every output coordinate is compared.

    Parameters
    ----------
    bound : callable
        ``bound(E_abs, H_abs, P, lam)`` as :func:`coordinate_bound`.
    instances, samples, seed : int
        Number of random networks, inputs per network, seed.

    Returns
    -------
    Check
    """
    instances = check_int(instances, "instances", minimum=3)
    samples = check_int(samples, "samples", minimum=2)
    rng = np.random.default_rng(seed)
    worst, violations = 0.0, []
    for i in range(instances):
        L, act, r, chain, ws, es = _instance(rng, i)
        wh = [w + e for w, e in zip(ws, es, strict=True)]
        lam = [act.lipschitz] * (L - 1) + [1.0]
        P = [np.full(ws[0].shape[1], r)]
        for l in range(L - 1):
            P.append(lam[l] * np.abs(ws[l]) @ P[-1])
        delta = np.asarray(bound([np.abs(e) for e in es], [np.abs(h) for h in wh], P, lam))
        x = _inputs(rng, ws[0].shape[1], r, samples)
        acts = [act] * (L - 1)
        err = np.abs(_forward(ws, acts, x) - _forward(wh, acts, x)).max(axis=0)
        if np.any(err > delta * (1 + 1e-12) + 1e-15):
            violations.append(f"instance {i} (L={L}, {act.name}, chain={chain}): error "
                              f"{err.max():.6g} > bound {delta[np.argmax(err - delta)]:.6g}")
        pos = delta > 0
        if np.any(pos):
            worst = max(worst, float(np.max(err[pos] / delta[pos])))
    detail = (f"{len(violations)} violation(s): " + "; ".join(violations[:3])) if violations else (
        f"{instances} networks x {samples + 2} inputs, every output coordinate: largest "
        f"error/bound {worst:.6f}")
    return Check("propagation_coordinatewise",
                 "per-coordinate propagation |f_L - g_L| <= lam (|E| P + |What| delta) holds "
                 "entrywise (relu, leaky_relu, tanh; L <= 3)",
                 f"numeric ({instances} random instances x {samples + 2} inputs, rel. slack 1e-12)",
                 not violations, detail)


def remainder_sum_bound(c, p: float, radius: float) -> float:
    """The factor :func:`slth.verify.certified_error` uses for ``sum_i c_i |x_i|^p`` on the l2 ball.

    ``radius^p max_i c_i`` for ``p >= 2`` (``|x_i| <= ||x||_2 <= r`` gives
    ``|x_i|^p <= r^(p-2) x_i^2``, summing to at most ``r^p``), ``radius^p sum_i c_i`` otherwise.
    """
    c = np.asarray(c, dtype=np.float64)
    return float(radius**p * (c.max() if p >= 2 else c.sum()))


def remainder_sum(bound: Callable = remainder_sum_bound, instances: int = 2000,
                  seed: int = 2) -> Check:
    """``sum_i c_i |x_i|^p <= bound(c, p, r)`` on the l2 ball: the tangent remainders of the
    linear-regime first layer summed over the inputs.

    Random ``c >= 0`` (1 to 6 coordinates), ``p`` in {1, 1.5, 2, 2.5, 3, 4}, radius 0.1..10,
    inputs on the sphere (the sum grows with ``|x_i|``): random directions, the axes
    (where the ``p >= 2`` factor is attained) and the diagonal.

    Parameters
    ----------
    bound : callable
        ``bound(c, p, radius) -> float``.
    instances, seed : int
        Number of random ``(c, p, r)`` and seed.

    Returns
    -------
    Check
    """
    instances = check_int(instances, "instances", minimum=1)
    rng = np.random.default_rng(seed)
    worst, bad = 0.0, []
    for i in range(instances):
        d = int(rng.integers(1, 7))
        c = rng.exponential(1.0, d)
        p = float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]))
        r = float(10 ** rng.uniform(-1, 1))
        x = rng.standard_normal((64, d))
        x = np.vstack([x, np.eye(d), np.ones((1, d))])
        x = r * x / np.linalg.norm(x, axis=1, keepdims=True)
        s = float((np.abs(x) ** p @ c).max())
        B = float(bound(c, p, r))
        worst = max(worst, s / B)
        if s > B * (1 + 1e-12):
            bad.append(f"instance {i} (d={d}, p={p:g}, r={r:.3g}): sum {s:.6g} > bound {B:.6g}")
    detail = (f"{len(bad)} violation(s): " + "; ".join(bad[:3])) if bad else (
        f"{instances} instances x 64 + d + 1 inputs: largest sum/bound {worst:.6f}")
    return Check("remainder_sum",
                 "sum_i c_i |x_i|^p <= r^p max_i c_i (p >= 2), r^p sum_i c_i (p < 2) on the l2 "
                 "ball of radius r",
                 f"numeric ({instances} random instances, rel. slack 1e-12)", not bad, detail)


#: Tickets on which ``verify_certified`` compares the certificate with the largest error found.
TICKET_CASES = (
    ("pensia", "relu", (3, 2)), ("pensia", "relu", (3, 3, 2)), ("pensia", "relu", (2, 3, 3, 2)),
    ("burkholz", "relu", (3, 4, 2)), ("burkholz", "leaky_relu", (2, 3, 3, 2)),
    ("burkholz", "tanh", (3, 4, 2)),
)


def verify_certified(certify: Callable | None = None, cases=TICKET_CASES, n: int = 2,
                     samples: int = 1024, seed: int = 0) -> Check:
    """``slth.verify.certified_error`` is never below the largest error found on real tickets.

    Tickets are built with a deliberately small width ``n`` (large subset-sum errors,
    so that an under-estimate would show), and compared with the lower bound of
    :func:`slth.verify.empirical_error` (random inputs and local maximisation).

    Parameters
    ----------
    certify : callable, optional
        ``certify(ticket, radius, norm) -> (bound, layers)``; default
        ``slth.verify.certified_error``.
    cases : sequence of (construction, activation, widths)
        The tickets.
    n, samples, seed : int
        Width parameter of the tickets, random inputs per ticket, seed.

    Returns
    -------
    Check
    """
    from slth import verify
    from slth.nets import random_target
    from slth.tickets import burkholz, pensia

    certify = verify.certified_error if certify is None else certify
    n = check_int(n, "n", minimum=1)
    rows, violations = [], []
    for i, (construction, act, widths) in enumerate(cases):
        if construction == "pensia":
            target = random_target(list(widths), activation=act, seed=seed + i)
            t = pensia(target, eps=0.1, delta=0.1, seed=seed + 100 + i, n=n, progress=False)
        else:
            target = random_target(list(widths), activation=act, norm="max", bias=True,
                                   seed=seed + i)
            t = burkholz(target, eps=0.1, delta=0.1, seed=seed + 100 + i, n=n, progress=False)
        cert = float(certify(t, 1.0, "l2")[0])
        emp = float(verify.empirical_error(t, 1.0, samples, seed)[0])
        rows.append(f"{construction}/{act}/{'-'.join(map(str, widths))}: {emp:.4g} <= {cert:.4g}")
        if not emp <= cert:
            violations.append(rows[-1].replace("<=", ">"))
    detail = ("violated: " + "; ".join(violations)) if violations else "; ".join(rows)
    return Check("verify_certified",
                 "slth.verify.certified_error bounds the largest error found on depth-2L and "
                 "depth-L+1 tickets",
                 f"numeric ({len(cases)} tickets, n={n}; {samples} inputs + local maximisation)",
                 not violations, detail)
