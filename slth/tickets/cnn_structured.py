"""Structured CNN tickets: whole kernels and channels pruned (da Cunha, d'Amore, Natale 2023).

The source has the layout of :mod:`slth.tickets.cnn` (per target layer a 1 x 1
convolution to ``2 n c_{l-1}`` channels, then a ``k x k`` convolution), with
standard normal entries: the products ``u_s V_js`` of a 1 x 1 weight and a ``k x k``
kernel are NSN vectors in R^(k^2), and the scalar ``u_s`` is shared by the kernels
``V_js`` of all output channels ``j`` -- the dependency the paper's multidimensional
random subset sum result admits.

For each target kernel ``K_jc`` and sign, the construction chooses a subset ``S`` of
the channels of block ``c`` with that sign of ``u``, and keeps the kernels ``V_js``,
``s in S``, whole: ``sum_S u_s V_js ~ K_jc``, a multidimensional subset-sum problem. A
1 x 1 weight (and its channel) is kept iff some output uses the channel. Every kernel of
the ticket is all-kept or all-removed, and channels no output uses are removed entirely,
so the pruned network compacts to a smaller dense CNN (:meth:`CNNTicket.compact`).

Dead channels: the inputs of target layers after the first are ReLU outputs (>= 0), so
there a channel with ``u_s < 0`` computes ``|u_s| relu(-x_c) = 0`` whatever the input.
Those layers solve only the ``u > 0`` side (``B_jc = 0`` already approximates
``relu(-x_c) = 0``), gather no candidate of a negative channel and keep none: ``errors``
has ``layer{l}_pos`` and ``layer{l}_neg`` for the first layer, ``layer{l}_pos`` only
after it.

Objective and tolerance: the certificate (:func:`slth.verify.cnn_certified_error`)
charges a later layer ``sum_{c,p} |A_jcp - K_jcp| P_c`` per output channel (``P_c`` a
bound on the input channel ``c``), and the first ``radius sum_p max(|eA_p|, |eB_p|)``,
so each problem minimises the l1 norm of its kernel's error. Its tolerance is the l1
budget that the per-entry accuracy ``e`` of :func:`slth.bounds.cnn_weight_eps` gives a
kernel, ``k^2 e`` (then every output channel is charged at most ``c_{l-1} k^2 e`` times
its input's bound, as that accuracy assumes), halved per sign in the first layer (where
``max(|eA_p|, |eB_p|) <= |eA_p| + |eB_p|``). A build whose problems end above their
tolerance warns (:class:`ToleranceWarning`) and records the counts in ``params``
(``problems``, ``above_tolerance``, ``worst_excess``: the largest ratio of a problem's
error to its tolerance).

Solver (:func:`staged_mrss`, exact in each search): a multi-scale pass over groups of
candidates sorted by norm, from the largest down to the residual's scale, as in the
proofs of the subset-sum lemmas (small candidates refine what large ones approximated,
and few kernels are kept), then a refinement pass that re-solves windows of candidates
around the residual's scale, where chosen kernels may also leave.

Memory: the source is drawn in blocks of output channels
(:meth:`ConvSourceSpec.iter_blocks`), and each block's candidates (products of the live
sign only) are gathered, solved and dropped before the next; the build holds the dense
pruned kernels and their masks plus one block's working set
(:func:`build_bytes`, checked against ``max_bytes`` before anything is drawn).

Examples
--------
>>> from slth.nets import random_cnn_target
>>> t = cnn_structured(random_cnn_target([1, 2, 2], 2, padding=1, seed=0), eps=0.3,
...                    delta=0.1, seed=0, n=400)
>>> s = t.structure()
>>> s["structured"], s["filters_removed"] > 0.5, t.compact().channels[1] < t.widths[1]
(True, True, True)
>>> t.params["problems"], t.params["above_tolerance"], list(t.errors)
(8, 0, ['layer1_pos', 'layer1_neg', 'layer2_pos'])
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np

from slth import bounds
from slth._validate import (
    as_seed_sequence,
    check_choice,
    check_int,
    check_memory,
    check_open_unit,
    check_positive,
    resolve_max_bytes,
)
from slth.mrss import exact_bytes, residual_norm, solve_many
from slth.tickets.cnn import (
    CNNTicket,
    check_cnn_target,
    estimate_bytes,
    first_layer_mask,
    source_spec,
    univariate_weights,
)
from slth.tickets.search import prefix_index, progress_bar
from slth.tickets.ticket import Timer

__all__ = ["Staged", "ToleranceWarning", "build_bytes", "cnn_structured", "staged_mrss"]


class ToleranceWarning(UserWarning):
    """Some subset-sum problems of a build ended above their tolerance: the ticket may
    not be eps-close (counts in ``ticket.params``)."""


class Staged(NamedTuple):
    """Result of :func:`staged_mrss`."""

    masks: np.ndarray           #: (P, k) bool, the chosen candidates
    residuals: np.ndarray       #: (P, D), target minus the sum of the chosen vectors
    errors: np.ndarray          #: (P,), the residuals' norms (in the solver's norm)
    stages: int                 #: exact searches of the staged pass
    refinements: int            #: rounds of the refinement pass


def _residuals(vectors, masks, targets):
    # one formula for every recorded residual: the errors are recomputed from the masks
    return targets - np.einsum("pk,pkd->pd", masks, vectors)


def _windows(order, count, a, starts, width):
    """Candidate indices (sorted order) ``starts .. starts + width`` of problems ``a``."""
    sel = starts[:, None] + np.arange(width)[None, :]
    ok = sel < count[a, None]
    idx = np.take_along_axis(order[a], np.minimum(sel, order.shape[1] - 1), axis=1)
    return idx, ok


def staged_mrss(vectors: np.ndarray, valid: np.ndarray, targets: np.ndarray, tol, *,
                group: int = 20, scale: float = 2.0, norm=1, refine: int = 24,
                method: str = "exact", threads: int | None = None,
                max_bytes: int | None = None) -> Staged:
    """Multi-scale multidimensional subset sums, one problem per row, then refinement.

    Candidates are sorted by their norm (``norm``). The staged pass: each stage takes the
    next ``group`` candidates whose norm is at most ``scale`` times the residual's
    (larger ones are skipped; the first stage takes the largest) and solves the subset
    sum of the residual over them exactly; a problem stops once its error is at most its
    ``tol`` or its candidates run out. The refinement pass: a window of ``refine``
    candidates centred where their norm meets the residual's, in which already chosen
    vectors may leave, is re-solved exactly against the residual plus the sum of its
    chosen vectors; a problem keeps the new choice only if its error decreases, and
    the pass repeats on the problems that improved and are still above ``tol``.

    Parameters
    ----------
    vectors : ndarray, shape (P, k, D)
        Candidates of each problem.
    valid : ndarray of bool, shape (P, k)
        Which candidates exist (padding is never selected).
    targets : ndarray, shape (P, D)
    tol : float or ndarray, shape (P,)
        Stop a problem once its error (in ``norm``) is at most ``tol``.
    group : int
        Candidates per stage (each stage is one exact search over ``2^group`` subsets).
    scale : float
        Candidates with norm above ``scale`` times the residual's are skipped
        (except in the first stage).
    norm : {1, np.inf, 2}
        Norm of the errors, minimised by every search.
    refine : int
        Candidates per refinement window (0: no refinement).
    method : {"exact", "heuristic"}
        Solver of each search (:func:`slth.mrss.solve_many`).

    Returns
    -------
    Staged
        ``errors`` is the norm of ``targets - sum of the chosen vectors``, recomputed
        from the masks.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 40, 2))
    >>> z = np.array([[0.3, -0.2], [0.1, 0.4]])
    >>> r = staged_mrss(x, np.ones((2, 40), bool), z, 1e-3)
    >>> bool(np.allclose(r.errors, np.abs(z - np.einsum("pk,pkd->pd", r.masks, x)).sum(1)))
    True
    """
    P, k, _ = vectors.shape
    tol = np.broadcast_to(np.asarray(tol, dtype=float), (P,))
    cand = np.where(valid, residual_norm(vectors, norm), -1.0)
    order = np.argsort(-cand, axis=1, kind="stable")
    sorted_norms = np.take_along_axis(cand, order, axis=1)
    count = valid.sum(axis=1)
    masks = np.zeros((P, k), dtype=bool)
    residual = targets.astype(float, copy=True)
    err = residual_norm(residual, norm)
    ptr = np.zeros(P, dtype=np.int64)
    opts = {"method": method, "norm": norm, "threads": threads, "max_bytes": max_bytes}
    active = (err > tol) & (count > 0)
    stages = 0
    while active.any():
        a = np.flatnonzero(active)
        if stages > 0:
            ptr[a] = np.maximum(ptr[a], _first_at_most(sorted_norms, a, scale * err[a]))
        idx, ok = _windows(order, count, a, ptr[a], group)
        xs = vectors[a[:, None], idx] * ok[:, :, None]
        chosen = solve_many(np.ascontiguousarray(xs), residual[a], **opts).masks & ok
        r, t = np.nonzero(chosen)
        masks[a[r], idx[r, t]] = True
        residual[a] -= np.einsum("pg,pgd->pd", chosen, xs)
        err[a] = residual_norm(residual[a], norm)
        ptr[a] += group
        active = (err > tol) & (ptr < count)
        stages += 1
    residual = _residuals(vectors, masks, targets)
    err = residual_norm(residual, norm)
    rounds = _refine(vectors, order, sorted_norms, count, masks, targets, residual, err,
                     tol, refine, opts) if refine else 0
    return Staged(masks, residual, err, stages, rounds)


def _first_at_most(sorted_norms, a, bound):
    """Per problem ``a[i]``, the first sorted candidate with norm <= ``bound[i]``."""
    return np.array([np.searchsorted(-sorted_norms[p], -b, side="left")
                     for p, b in zip(a, bound, strict=True)], dtype=np.int64)


def _refine(vectors, order, sorted_norms, count, masks, targets, residual, err, tol,
            width, opts, max_rounds: int = 64) -> int:
    """The refinement pass of :func:`staged_mrss` (updates masks, residual, err).

    A problem's window is centred where the candidates' norm meets the residual's; once
    a window fails to improve, the next is shifted half a window towards larger, then
    smaller candidates; a problem stops after three failures in a row.
    """
    shifts = np.array([0, -(width // 2), width // 2])
    fails = np.zeros(len(err), dtype=np.int64)
    active = (err > tol) & (count > 0)
    rounds = 0
    while active.any() and rounds < max_rounds:
        a = np.flatnonzero(active)
        centre = _first_at_most(sorted_norms, a, err[a]) + shifts[fails[a]]
        starts = np.clip(centre - width // 2, 0, np.maximum(count[a] - width, 0))
        idx, ok = _windows(order, count, a, starts, width)
        xs = vectors[a[:, None], idx] * ok[:, :, None]
        old = np.take_along_axis(masks[a], idx, axis=1) & ok
        goal = residual[a] + np.einsum("pg,pgd->pd", old, xs)
        new = solve_many(np.ascontiguousarray(xs), goal, **opts).masks & ok
        trial = masks[a]
        r, t = np.nonzero(old)
        trial[r, idx[r, t]] = False
        r, t = np.nonzero(new)
        trial[r, idx[r, t]] = True
        res = _residuals(vectors[a], trial, targets[a])
        e = residual_norm(res, norm=opts["norm"])
        better = e < err[a]                 # kept only if the recomputed error decreases
        b = a[better]
        masks[b], residual[b], err[b] = trial[better], res[better], e[better]
        fails[a] = np.where(better, 0, fails[a] + 1)
        active = (err > tol) & (count > 0) & (fails < len(shifts))
        rounds += 1
    return rounds


def _solve_layer(spec, K, u, l: int, m: int, tol: float, opts: dict, timer):
    """Masks and per-kernel errors of target layer ``l``, one drawing block of output
    channels at a time (only the block's candidates are in memory)."""
    c_out, c_in, D = K.shape
    # later layers read ReLU outputs (>= 0): a channel with u_s < 0 always outputs 0
    sides = {"pos": u > 0, "neg": u < 0} if l == 0 else {"pos": u > 0}
    prob_tol = D * tol / len(sides)         # per-kernel l1 budget, see cnn_structured
    index = {s: prefix_index(sel, c_in, m, m) for s, sel in sides.items()}
    mask2 = np.zeros(spec.shape(2 * l + 1), dtype=bool)
    w2 = np.zeros(spec.shape(2 * l + 1))
    errs = {s: np.zeros((c_out, c_in)) for s in sides}
    excess = {s: np.zeros((c_out, c_in)) for s in sides}
    stages = refinements = 0
    for r0, V in timer.timed(spec.iter_blocks(2 * l + 1), "draw"):
        R = V.shape[0]
        Vf = V.reshape(R, m * c_in, D)
        for s, (idx, valid) in index.items():
            kk = idx.shape[1]
            with timer("solve"):
                # vec[j, c, t] = u_s V[j, s], s = idx[c, t]
                vec = Vf[:, idx] * u[idx][None, :, :, None]
                ok = np.broadcast_to(valid, (R, c_in, kk)).reshape(R * c_in, kk)
                res = staged_mrss(vec.reshape(R * c_in, kk, D), ok, K[r0:r0 + R].reshape(-1, D),
                                  prob_tol, **opts)
            del vec
            stages += res.stages
            refinements += res.refinements
            j, c, t = np.nonzero(res.masks.reshape(R, c_in, kk))
            mask2[r0 + j, idx[c, t]] = True
            errs[s][r0:r0 + R] = np.abs(res.residuals).max(axis=1).reshape(R, c_in)
            excess[s][r0:r0 + R] = (res.errors / prob_tol).reshape(R, c_in)
        w2[r0:r0 + R] = V * mask2[r0:r0 + R]
    return mask2, w2, errs, np.concatenate([e.ravel() for e in excess.values()]), \
        stages, refinements


def build_bytes(spec, m: int, kk, group: int, refine: int) -> float:
    """Memory of a :func:`cnn_structured` build: the dense pruned kernels and masks, plus
    the largest per-block working set (one drawing block, its candidates of one sign,
    the solver's arrays); ``kk[l]``: candidates per problem in target layer ``l``."""
    work = 0.0
    for l in range(1, spec.depth, 2):
        R, cols, k, _ = spec.shape(l)
        R, n_c = min(R, spec.block_rows(l)), kk[l // 2]
        D, c_in = k * k, cols // m
        block = 8.0 * R * cols * D                       # the block, its pruned copy
        P = R * c_in
        # candidates: gathered, scaled, their norms' temporary; per candidate: norm,
        # order, sorted norm, mask, validity; the refinement's trial masks and residuals
        cand = 8.0 * P * n_c * D * 3 + P * n_c * (8 * 3 + 4)
        search = P * max(group, refine) * D * 8 * 6 + exact_bytes(max(group, refine), D)
        work = max(work, 2 * block + cand + search)
    return estimate_bytes(spec, work)


def cnn_structured(target, eps: float = 0.01, delta: float = 0.01, seed=None,
                   n: int | None = None, *, C: float = bounds.DEFAULT_C, radius: float = 1.0,
                   kernel_exponent: float = bounds.DEFAULT_KERNEL_EXPONENT, group: int = 20,
                   scale: float = 2.0, refine: int = 24, method: str = "exact",
                   check_assumptions: bool = True,
                   threads: int | None = None, max_bytes: int | None = None,
                   progress: bool | None = None) -> CNNTicket:
    """Prune a random CNN, whole kernels and channels, to approximate ``target``.

    Parameters
    ----------
    target : CNN
        ReLU CNN without biases or head; the theorem assumes filter l1 norms <= 1.
    eps, delta : float in (0, 1)
        Accuracy (max-norm error on ``[-radius, radius]`` inputs) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source (standard normal entries).
    n : int, optional
        Channels per sign and input channel (blocks of ``2 n``). ``None``: the
        width formula :func:`slth.bounds.cnn_structured_channels` with the ``C`` in use (a
        placeholder, see :data:`slth.bounds.FORMULAS`; large: polynomial in the kernel
        size; pass a smaller ``n`` to build at a practical width).
    C, kernel_exponent : float
        Constant and kernel-dimension exponent of the formula (see
        :func:`slth.bounds.cnn_structured_channels`).
    radius : float
        Max-norm radius of the inputs.
    group, scale, refine, method
        The solver (see :func:`staged_mrss`): candidates per stage of the multi-scale
        pass, the skipping ratio, candidates per refinement window (0: none), the search
        of each window. The defaults were chosen by measurement (errors and build time
        of a 1-8-16 3x3 target at n = 800 to 8,000).
    check_assumptions : bool
        Refuse targets whose filters have l1 norm > 1 (else record the violation).
    threads : int, optional
        Threads of the subset-sum engine.
    max_bytes : int, optional
        Memory cap.
    progress : bool, optional
        Progress bar over layers (``None``: only for large builds).

    Returns
    -------
    CNNTicket
        ``ticket.structure()`` gives the fractions of kernels and filters removed;
        ``errors`` the max-norm error of each approximated kernel; ``params`` the
        solver's norm (``problem_norm``), its per-layer tolerances (``problem_tol``) and
        how many problems ended above them (see the module docstring).

    Warns
    -----
    ToleranceWarning
        When some problems end above their tolerance.

    Raises
    ------
    TypeError
        If ``target`` is not a CNN.
    ValueError
        Non-ReLU activation, biases, a head, a norm violation, eps/delta outside (0, 1),
        a build over the memory cap.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> t = cnn_structured(random_cnn_target([1, 2], 1, seed=0), eps=0.2, delta=0.1, seed=0)
    >>> t.params["n"] == t.params["formula_n"], t.structure()["structured"]
    (True, True)
    """
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    radius = check_positive(radius, "radius")
    C = check_positive(C, "C")
    kernel_exponent = check_positive(kernel_exponent, "kernel_exponent")
    group = check_int(group, "group", minimum=1, maximum=32)
    refine = check_int(refine, "refine", minimum=0, maximum=32)
    scale = check_positive(scale, "scale")
    method = check_choice(method, "method", ("exact", "heuristic"))
    target, violations = check_cnn_target(target, "cnn_structured", check_assumptions)
    ch, ksz = target.channels, target.kernel_sizes
    formula_n = bounds.cnn_structured_channels(ch, ksz, eps, delta, C, radius,
                                               kernel_exponent)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    m = 2 * n
    ss = as_seed_sequence(seed)
    spec = source_spec(target, n, "normal", ss)
    L = target.depth
    what = f"a cnn_structured build with n={n} for channels {ch}"
    # the pruned kernels alone, before drawing anything; then with the working set
    check_memory(estimate_bytes(spec), resolve_max_bytes(max_bytes), "target", what,
                 "use a smaller n")
    us = [univariate_weights(spec, 2 * l, m) for l in range(L)]
    kk = [int(max((u.reshape(-1, m) > 0).sum(axis=1).max(),
                  (u.reshape(-1, m) < 0).sum(axis=1).max() if l == 0 else 0))
          for l, u in enumerate(us)]
    check_memory(build_bytes(spec, m, kk, group, refine), resolve_max_bytes(max_bytes),
                 "target", what, "use a smaller n")
    tol = bounds.cnn_weight_eps(ch, ksz, eps, radius)
    opts = {"group": group, "scale": scale, "refine": refine, "method": method,
            "threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    weights, masks, errors, stages, refinements, excess = [], [], {}, [], [], []
    t_start = time.perf_counter()
    with progress_bar(L, progress, n * sum(ch), "cnn_structured") as bar:
        for l in range(L):
            K = target.kernels[l].reshape(ch[l + 1], ch[l], ksz[l] ** 2)
            mask2, w2, errs, ex, st, rf = _solve_layer(spec, K, us[l], l, m, tol, opts, timer)
            with timer("assemble"):
                mask1 = first_layer_mask(spec, 2 * l, m, mask2.any(axis=(0, 2, 3)))
                weights += [spec.layer(2 * l) * mask1, w2]
                masks += [mask1, mask2]
            errors.update({f"layer{l + 1}_{s}": e for s, e in errs.items()})
            stages.append(st)
            refinements.append(rf)
            excess.append(ex)
            bar.update(1)
    timer.times["total"] = time.perf_counter() - t_start
    excess = np.concatenate(excess)
    above = int((excess > 1.0).sum())
    if above:
        warnings.warn(f"cnn_structured: {above} of {excess.size} subset-sum problems ended "
                      f"above their tolerance (l1 error of a kernel <= k^2 weight_eps, half "
                      f"of it per sign in layer 1), the worst {excess.max():.3g} times over "
                      f"it; the ticket may not be eps-close: increase n", ToleranceWarning,
                      stacklevel=2)
    params = {
        "construction": "cnn_structured", "eps": eps, "delta": delta, "n": n,
        "formula_n": formula_n, "dist": "normal", "seed": int(ss.entropy),
        "spawn_key": list(ss.spawn_key), "C": C, "kernel_exponent": kernel_exponent,
        "radius": radius, "norm": "inf", "block": m, "weight_eps": tol,
        "problem_norm": "l1", "problem_tol": [ksz[l] ** 2 * tol / (2 if l == 0 else 1)
                                              for l in range(L)],
        "group": group, "scale": scale, "refine": refine, "method": method,
        "stages": stages, "refinements": refinements, "problems": int(excess.size),
        "above_tolerance": above, "worst_excess": float(excess.max(initial=0.0)),
        "assumption_violations": violations,
    }
    return CNNTicket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L),
                     errors, params, timer.times, tuple(masks))
