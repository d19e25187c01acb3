"""Structured CNN tickets: whole kernels and channels pruned (da Cunha, d'Amore, Natale 2023).

The source has the layout of :mod:`slth.tickets.cnn` (per target layer a 1 x 1
convolution to ``2 n c_{l-1}`` channels, then a ``k x k`` convolution), with
standard normal entries: the products ``u_s V_js`` of a 1 x 1 weight and a ``k x k``
kernel are NSN vectors in R^(k^2), and the scalar ``u_s`` is shared by the kernels
``V_js`` of all output channels ``j`` -- the dependency the paper's multidimensional
random subset sum result admits.

For each target kernel ``K_jc`` and sign, the construction chooses a subset ``S`` of
the channels of block ``c`` with that sign of ``u``, and keeps the kernels ``V_js``,
``s in S``, whole: ``sum_S u_s V_js ~ K_jc`` in the max norm, a multidimensional
subset-sum problem. A 1 x 1 weight (and its channel) is kept iff some output uses the
channel. Every kernel of the ticket is all-kept or all-removed, and channels no output
uses are removed entirely, so the pruned network compacts to a smaller dense CNN
(:meth:`CNNTicket.compact`).

Solver (multi-scale, exact in each stage): candidates are sorted by max norm; each stage
takes the next ``group`` candidates whose max norm is at most ``scale`` times the
current residual's (larger ones are skipped; the first stage takes the largest) and
solves the multidimensional subset sum of the residual over them exactly with
:func:`slth.mrss.solve_many`; it stops when the residual is within the per-kernel
accuracy of :func:`slth.bounds.cnn_weight_eps` or the candidates run out. Small
candidates refine what large ones approximated, as in the proofs of the subset-sum
lemmas, and the number of kept kernels stays small.

Examples
--------
>>> from slth.nets import random_cnn_target
>>> t = cnn_structured(random_cnn_target([1, 2, 2], 2, padding=1, seed=0), eps=0.3,
...                    delta=0.1, seed=0, n=300)
>>> s = t.structure()
>>> s["structured"], s["filters_removed"] > 0.5, t.compact().channels[1] < t.widths[1]
(True, True, True)
"""

from __future__ import annotations

import time

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

__all__ = ["cnn_structured", "staged_mrss"]


def staged_mrss(vectors: np.ndarray, valid: np.ndarray, targets: np.ndarray, tol: float, *,
                group: int = 16, scale: float = 2.0, method: str = "exact",
                threads: int | None = None, max_bytes: int | None = None):
    """Multi-scale multidimensional subset sums, one problem per row.

    Parameters
    ----------
    vectors : ndarray, shape (P, k, D)
        Candidates of each problem.
    valid : ndarray of bool, shape (P, k)
        Which candidates exist (padding is never selected).
    targets : ndarray, shape (P, D)
    tol : float
        Stop a problem once its max-norm error is at most ``tol``.
    group : int
        Candidates per stage (each stage is one exact search over ``2^group`` subsets).
    scale : float
        Candidates with max norm above ``scale`` times the residual's are skipped
        (except in the first stage).
    method : {"exact", "heuristic"}
        Solver of each stage (:func:`slth.mrss.solve_many`).

    Returns
    -------
    masks : ndarray of bool, shape (P, k)
    errors : ndarray, shape (P,)
        ``max |target - sum of the chosen vectors|``, recomputed from the masks.
    stages : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 40, 2))
    >>> z = np.array([[0.3, -0.2], [0.1, 0.4]])
    >>> masks, err, _ = staged_mrss(x, np.ones((2, 40), bool), z, 1e-3)
    >>> bool(np.allclose(err, np.abs(z - np.einsum("pk,pkd->pd", masks, x)).max(1)))
    True
    """
    from slth.mrss import solve_many

    P, k, _ = vectors.shape
    norms = np.where(valid, np.abs(vectors).max(axis=2), -1.0)
    order = np.argsort(-norms, axis=1, kind="stable")
    sorted_norms = np.take_along_axis(norms, order, axis=1)
    count = valid.sum(axis=1)
    masks = np.zeros((P, k), dtype=bool)
    residual = targets.copy()
    err = np.abs(residual).max(axis=1)
    ptr = np.zeros(P, dtype=np.int64)
    active = (err > tol) & (count > 0)
    stages = 0
    while active.any():
        a = np.flatnonzero(active)
        if stages > 0:
            for p in a:
                q = int(np.searchsorted(-sorted_norms[p], -scale * err[p], side="left"))
                ptr[p] = max(ptr[p], q)
        sel = ptr[a, None] + np.arange(group)[None, :]
        ok = sel < count[a, None]
        idx = np.take_along_axis(order[a], np.minimum(sel, k - 1), axis=1)
        xs = np.take_along_axis(vectors[a], idx[:, :, None], axis=1) * ok[:, :, None]
        res = solve_many(np.ascontiguousarray(xs), residual[a], method=method,
                         max_bytes=max_bytes, threads=threads)
        chosen = res.masks & ok
        r, t = np.nonzero(chosen)
        masks[a[r], idx[r, t]] = True
        residual[a] = targets[a] - np.einsum("pk,pkd->pd", masks[a], vectors[a])
        err[a] = np.abs(residual[a]).max(axis=1)
        ptr[a] += group
        active = (err > tol) & (ptr < count)
        stages += 1
    return masks, err, stages


def cnn_structured(target, eps: float = 0.01, delta: float = 0.01, seed=None,
                   n: int | None = None, *, C: float = bounds.DEFAULT_C, radius: float = 1.0,
                   kernel_exponent: float = bounds.DEFAULT_KERNEL_EXPONENT, group: int = 16,
                   scale: float = 2.0, method: str = "exact", check_assumptions: bool = True,
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
    group, scale, method
        Stages of the multi-scale solver (see :func:`staged_mrss`).
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
        ``ticket.structure()`` gives the fractions of kernels and filters removed.

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
    # candidates of all problems of a layer: (c_out, c_in, m, k^2) vectors, twice (signs)
    work = max(ch[l + 1] * ch[l] * m * ksz[l] ** 2 for l in range(L)) * 8.0 * 4
    check_memory(estimate_bytes(spec, work), resolve_max_bytes(max_bytes), "target",
                 f"a cnn_structured build with n={n} for channels {ch}",
                 "use a smaller n")
    tol = bounds.cnn_weight_eps(ch, ksz, eps, radius)
    timer = Timer()
    weights, masks, errors, stages = [], [], {}, []
    t_start = time.perf_counter()
    with progress_bar(L, progress, n * sum(ch), "cnn_structured") as bar:
        for l in range(L):
            c_in, c_out, k = ch[l], ch[l + 1], ksz[l]
            D = k * k
            with timer("draw"):
                u = univariate_weights(spec, 2 * l, m)
                V = spec.layer(2 * l + 1)                       # (c_out, m c_in, k, k)
            K = target.kernels[l].reshape(c_out, c_in, D)
            mask2 = np.zeros(V.shape, dtype=bool)
            errs = []
            for select in (u > 0, u < 0):
                idx, valid = prefix_index(select, c_in, m, m)    # (c_in, kk) channels
                kk = idx.shape[1]
                with timer("solve"):
                    # vectors[j, c, t] = u_s V[j, s], s = idx[c, t]
                    vec = V.reshape(c_out, m * c_in, D)[:, idx] * u[idx][None, :, :, None]
                    ok = np.broadcast_to(valid, (c_out, c_in, kk)).reshape(c_out * c_in, kk)
                    mk, err, st = staged_mrss(
                        vec.reshape(c_out * c_in, kk, D), ok, K.reshape(-1, D), tol,
                        group=group, scale=scale, method=method, threads=threads,
                        max_bytes=max_bytes)
                stages.append(st)
                j, c, t = np.nonzero(mk.reshape(c_out, c_in, kk))
                mask2[j, idx[c, t]] = True
                errs.append(err.reshape(c_out, c_in))
            with timer("assemble"):
                mask1 = first_layer_mask(spec, 2 * l, m, mask2.any(axis=(0, 2, 3)))
                weights += [spec.layer(2 * l) * mask1, V * mask2]
                masks += [mask1, mask2]
            errors[f"layer{l + 1}_pos"], errors[f"layer{l + 1}_neg"] = errs
            bar.update(1)
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "cnn_structured", "eps": eps, "delta": delta, "n": n,
        "formula_n": formula_n, "dist": "normal", "seed": int(ss.entropy),
        "spawn_key": list(ss.spawn_key), "C": C, "kernel_exponent": kernel_exponent,
        "radius": radius, "norm": "inf", "block": m, "weight_eps": tol, "group": group,
        "scale": scale,
        "method": method, "stages": stages, "assumption_violations": violations,
    }
    return CNNTicket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L),
                     errors, params, timer.times, tuple(masks))
