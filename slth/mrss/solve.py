"""Solvers of multidimensional random subset sum: exact, MILP, heuristic.

Given vectors ``X_1..X_n`` in R^d (rows of ``vectors``) and a target ``z``, find
a subset S minimising ``||z - sum over S of X_i||`` in the infinity norm (or the
l1 / l2 norm). The empty subset is allowed.

``method="exact"``
    Meet in the middle: all 2^(n/2) subset sums of each half of the vectors
    (a numba kernel), a :class:`scipy.spatial.cKDTree` on one half and, for
    every sum ``a`` of the other half, a nearest-neighbour query for
    ``z - a`` in the chosen norm. The queries run in chunks, each pruned by
    the best distance found so far, so later chunks visit few tree nodes.
    Provably optimal (up to floating-point ties). Memory is estimated before
    anything is allocated (:func:`exact_bytes`).
``method="milp"``
    Mixed-integer linear program solved by HiGHS through
    :func:`scipy.optimize.milp`: binaries ``x_i``, minimise ``t`` subject to
    ``-t <= z_k - sum_i X_ik x_i <= t`` (infinity norm; one ``t_k`` per
    coordinate for the l1 norm). With ``time_limit`` the best solution found is
    returned with HiGHS's proven lower bound. Optimality is proven up to HiGHS's
    absolute gap tolerance (1e-6) and feasibility tolerances.
``method="heuristic"``
    Local search with restarts (numba): each start is a random subset improved
    by a greedy pass of flips; a best-improvement descent over moves of one,
    two and (for n <= 72) three flips, scanned in windows of the candidates
    sorted by their first coordinate; ejection chains (sequences of best single
    flips cut back to their best prefix); optional random kicks. Deterministic
    for a given seed, for any thread count. No optimality claim.

Every result reports the error recomputed in Python from the mask, as
``norm(target - vectors[mask].sum(0))`` (:func:`subset_error`, with the norm of
:func:`residual_norm`).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from slth._numba import num_threads
from slth._validate import (
    SeedLike,
    as_float,
    as_float_array,
    as_seed_sequence,
    check_choice,
    check_int,
    check_memory,
    check_threads,
    resolve_max_bytes,
)
from slth.mrss import kernels

__all__ = ["METHODS", "NORMS", "MRSSResult", "MRSSBatch", "solve", "solve_many", "exact_bytes",
           "residual_norm", "subset_error"]

#: Solver names accepted by ``method=``.
METHODS: tuple[str, ...] = ("exact", "milp", "heuristic")
#: Norms accepted by ``norm=`` (``"inf"`` is accepted as a synonym of ``np.inf``).
NORMS: tuple[float, ...] = (np.inf, 1.0, 2.0)

_NORM_CODES = {np.inf: 0, 1.0: 1, 2.0: 2}
_LEAFSIZE = 16
_FIRST_CHUNK = 256
_CHUNK = 1 << 16
_TRIPLES_UP_TO = 72
_CHAIN = 8


def _default_restarts(n: int, depth: int) -> int:
    """Restarts for about 3 ms per target at d = 9 (a work model, not a clock)."""
    ms_per_restart = (n / 64.0) ** 2.5 if depth >= 3 else 0.85 * (n / 256.0) ** 1.3
    return int(np.clip(round(3.0 / ms_per_restart), 2, 64))


@dataclass(frozen=True)
class MRSSResult:
    """Solution of one MRSS instance.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        The chosen subset.
    value : ndarray of float64, shape (d,)
        ``vectors[mask].sum(0)``.
    error : float
        ``norm(target - value)``, recomputed from the mask.
    method : str
        The solver that produced the mask.
    optimal : bool
        True when the solver proved the mask optimal.
    lower_bound : float
        A proven lower bound on the optimal error (``error`` when optimal,
        HiGHS's dual bound for ``"milp"``, ``nan`` when none is known).
    gap : float
        ``error - lower_bound`` (0 when optimal, ``nan`` when unknown).
    seconds : float
        Wall-clock time of the solve.
    norm : float
        The norm of the error: ``inf``, 1 or 2.
    """

    mask: NDArray[np.bool_]
    value: NDArray[np.float64]
    error: float
    method: str
    optimal: bool
    lower_bound: float
    gap: float
    seconds: float
    norm: float


@dataclass(frozen=True)
class MRSSBatch:
    """Solutions of many MRSS instances (one per target), as arrays.

    Attributes
    ----------
    masks : ndarray of bool, shape (m, n)
    values : ndarray of float64, shape (m, d)
    errors, lower_bounds, gaps : ndarray of float64, shape (m,)
        As in :class:`MRSSResult`, per target.
    optimal : ndarray of bool, shape (m,)
    method : str
    seconds : float
        Wall-clock time of the whole batch.
    norm : float

    ``batch[i]`` is the :class:`MRSSResult` of target i (with ``seconds`` the
    batch average).
    """

    masks: NDArray[np.bool_]
    values: NDArray[np.float64]
    errors: NDArray[np.float64]
    method: str
    optimal: NDArray[np.bool_]
    lower_bounds: NDArray[np.float64]
    gaps: NDArray[np.float64]
    seconds: float
    norm: float

    def __len__(self) -> int:
        return self.masks.shape[0]

    def __getitem__(self, i: int) -> MRSSResult:
        m = len(self)
        return MRSSResult(self.masks[i], self.values[i], float(self.errors[i]), self.method,
                          bool(self.optimal[i]), float(self.lower_bounds[i]),
                          float(self.gaps[i]), self.seconds / max(m, 1), self.norm)


# --------------------------------------------------------------------------- validation


def check_norm(norm) -> tuple[float, int]:
    """The norm as a float (``inf``, 1.0 or 2.0) and its kernel code (0, 1, 2)."""
    if isinstance(norm, str) and norm.strip().lower() in ("inf", "infinity", "max"):
        return np.inf, 0
    if isinstance(norm, numbers.Real) and not isinstance(norm, bool):
        value = float(norm)
        if value in _NORM_CODES:
            return value, _NORM_CODES[value]
    raise ValueError(f"norm must be one of np.inf (or 'inf'), 1 or 2; got {norm!r}")


def residual_norm(residuals: ArrayLike, norm=np.inf) -> NDArray[np.float64] | float:
    """Norm of each residual (along the last axis): the formula of every reported error.

    ``max_i |r_i|``, ``sum_i |r_i|`` or ``sqrt(sum_i r_i^2)``, as
    ``np.linalg.norm(residuals, ord=norm, axis=-1)`` computes them: numpy's own sums
    along that axis, which round the same way on every CPU. (``np.linalg.norm(r)`` of
    one vector without ``axis`` takes its 2-norm from BLAS instead, whose rounding
    depends on the CPU's vector width.) A float for one residual vector.

    Examples
    --------
    >>> residual_norm([3.0, -4.0], 2), residual_norm([[3.0, -4.0], [1.0, 0.5]], np.inf)
    (5.0, array([4., 1.]))
    """
    p, _ = check_norm(norm)
    r = np.asarray(residuals, dtype=np.float64)
    if r.shape[-1] == 0:
        out = np.zeros(r.shape[:-1])
    else:
        out = np.linalg.norm(r, ord=p, axis=-1)
    return float(out) if out.ndim == 0 else out


def subset_error(vectors: ArrayLike, target: ArrayLike, mask: ArrayLike, norm=np.inf) -> float:
    """The error that :func:`solve` reports for ``mask``:
    ``residual_norm(target - vectors[mask].sum(axis=0), norm)``.

    Examples
    --------
    >>> subset_error([[1.0, 0.0], [0.0, 2.0]], [1.5, 2.0], [True, True], norm=1)
    0.5
    """
    x = np.asarray(vectors, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64)
    return residual_norm(z - x[np.asarray(mask, dtype=bool)].sum(axis=0), norm)


def _check_vectors(vectors, ndim) -> NDArray[np.float64]:
    arr = as_float_array(vectors, "vectors", ndim=ndim)
    if arr.shape[-2] == 0:
        raise ValueError(f"vectors must hold at least one vector, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"vectors must have at least one coordinate (d >= 1), got shape "
                         f"{arr.shape}")
    return arr


def _check_seconds(time_limit) -> float | None:
    if time_limit is None:
        return None
    value = as_float(time_limit, "time_limit")
    if value <= 0:
        raise ValueError(f"time_limit must be > 0 seconds or None, got {value!r}")
    return value


def _check_init(init, shape, name="init") -> NDArray[np.bool_] | None:
    if init is None:
        return None
    arr = np.asarray(init)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean mask, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- exact


def exact_bytes(n: int, d: int) -> int:
    """Estimated peak memory in bytes of ``method="exact"`` for n vectors in R^d.

    Counts the subset sums of both halves, the k-d tree (a copy of its data,
    indices and nodes) and one chunk of queries with their results.

    Examples
    --------
    >>> exact_bytes(28, 9) < 2**25
    True
    """
    n = check_int(n, "n", minimum=0)
    d = check_int(d, "d", minimum=1)
    left, right = 1 << (n // 2), 1 << (n - n // 2)
    sums = 8 * d * (left + right)
    tree = right * (8 * d + 8) + (2 * right // _LEAFSIZE + 1) * 72
    chunk = min(left, _CHUNK) * (8 * d + 16)
    return int(sums + tree + chunk)


class _Halves:
    """Subset sums of both halves of the vectors, with a k-d tree on the second half."""

    def __init__(self, vectors: NDArray[np.float64], max_bytes: int):
        n, d = vectors.shape
        need = exact_bytes(n, d)
        check_memory(need, max_bytes, "vectors",
                     f"the exact (meet-in-the-middle) search over n={n} vectors in d={d}",
                     "use method='heuristic' or method='milp', or raise max_bytes")
        self.n, self.h = n, n // 2
        self.left = kernels.half_sums(vectors[: self.h])
        self.tree = cKDTree(kernels.half_sums(vectors[self.h:]), leafsize=_LEAFSIZE,
                            balanced_tree=False)

    def nearest(self, target: NDArray[np.float64], p: float, workers: int,
                within: float | None = None) -> tuple[float, NDArray[np.bool_] | None]:
        """Best distance and mask; with ``within``, stop at the first pair within it."""
        left, best, best_i, best_j = self.left, np.inf, -1, -1
        start, size = 0, _FIRST_CHUNK
        while start < left.shape[0]:
            queries = target - left[start:start + size]
            bound = best if within is None else min(best, within)
            # A slightly inflated bound never loses a pair at distance <= bound.
            bound = bound * (1.0 + 1e-9) + 1e-300 if np.isfinite(bound) else np.inf
            dist, idx = self.tree.query(queries, k=1, p=p, distance_upper_bound=bound,
                                        workers=workers)
            j = int(np.argmin(dist))
            if dist[j] < best:
                best, best_i, best_j = float(dist[j]), start + j, int(idx[j])
            if within is not None and best <= within:
                break
            start += size
            size = min(_CHUNK, 4 * size)
        if best_i < 0:
            return np.inf, None
        mask = np.zeros(self.n, dtype=np.bool_)
        kernels.bits_to_mask(best_i, self.h, mask, 0)
        kernels.bits_to_mask(best_j, self.n - self.h, mask, self.h)
        return best, mask


# --------------------------------------------------------------------------- milp


def _milp_one(vectors, target, norm, time_limit, mip_rel_gap):
    n, d = vectors.shape
    slack = 1 if norm == np.inf else d
    c = np.concatenate([np.zeros(n), np.ones(slack)])
    a = np.zeros((2 * d, n + slack))
    a[:d, :n] = vectors.T
    a[d:, :n] = -vectors.T
    if slack == 1:
        a[:, n] = -1.0
    else:
        a[np.arange(d), n + np.arange(d)] = -1.0
        a[d + np.arange(d), n + np.arange(d)] = -1.0
    constraints = LinearConstraint(a, -np.inf, np.concatenate([target, -target]))
    integrality = np.concatenate([np.ones(n), np.zeros(slack)])
    bounds = Bounds(np.zeros(n + slack), np.concatenate([np.ones(n), np.full(slack, np.inf)]))
    options = {"mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(c, integrality=integrality, bounds=bounds, constraints=constraints,
               options=options)
    mask = np.zeros(n, dtype=np.bool_) if res.x is None else res.x[:n] > 0.5
    dual = getattr(res, "mip_dual_bound", None)
    dual = float(dual) if dual is not None and np.isfinite(dual) else 0.0
    return mask, res.status == 0, max(dual, 0.0)


# --------------------------------------------------------------------------- heuristic


def _heuristic_params(n, restarts, kicks, kick_size, max_moves, depth, chain):
    if depth is None:
        depth = 3 if n <= _TRIPLES_UP_TO else 2
    depth = check_int(depth, "depth", minimum=1, maximum=3)
    if restarts is None:
        restarts = _default_restarts(n, depth)
    restarts = check_int(restarts, "restarts", minimum=1)
    kicks = check_int(kicks, "kicks", minimum=0)
    kick_size = check_int(kick_size, "kick_size", minimum=1)
    max_moves = 4 * n + 16 if max_moves is None else check_int(max_moves, "max_moves",
                                                               minimum=1)
    chain = _CHAIN if chain is None else check_int(chain, "chain", minimum=0)
    return restarts, kicks, kick_size, max_moves, depth, chain


def _seed_words(seed: SeedLike, m: int | None) -> NDArray[np.uint64]:
    ss = as_seed_sequence(seed)
    if m is None:
        return ss.generate_state(1, np.uint64)
    return np.array([c.generate_state(1, np.uint64)[0] for c in ss.spawn(m)], dtype=np.uint64)


# --------------------------------------------------------------------------- public API


def solve(vectors: ArrayLike, target: ArrayLike, method: str = "exact", norm=np.inf, *,
          seed: SeedLike = 0, time_limit: float | None = None, mip_rel_gap: float = 0.0,
          restarts: int | None = None, kicks: int = 0, kick_size: int = 1,
          max_moves: int | None = None, depth: int | None = None, chain: int | None = None,
          init: ArrayLike | None = None, max_bytes: int | None = None,
          threads: int | None = None) -> MRSSResult:
    """Choose a subset of ``vectors`` whose sum best approximates ``target``.

    Parameters
    ----------
    vectors : array_like, shape (n, d)
        The random vectors, one per row (n >= 1, d >= 1, finite).
    target : array_like, shape (d,)
        The vector to approximate.
    method : {"exact", "milp", "heuristic"}
        See the module docstring. ``"exact"`` is practical up to n of about 40.
    norm : {np.inf, 1, 2}
        Norm of the error (``"milp"`` supports ``inf`` and 1).
    seed : int, numpy.random.Generator, SeedSequence or None
        Randomness of ``"heuristic"`` (default 0: reproducible).
    time_limit : float, optional
        Seconds allowed to ``"milp"``; the best solution found is returned.
    mip_rel_gap : float
        Relative gap at which HiGHS stops (default 0: prove optimality).
    restarts, kicks, kick_size, max_moves : int
        Effort of ``"heuristic"``: fresh greedy starts (default: from a work
        model of n and ``depth``, between 2 and 64, about 3 ms per target at
        d = 9 for n up to a few hundred), perturbations per start, entries flipped per perturbation,
        descent steps per descent (default 4 n + 16).
    depth : {1, 2, 3}, optional
        Largest number of flips in one descent move of ``"heuristic"``
        (default 3 for n <= 72, else 2; a scan of triples costs O(n^3 d)).
    chain : int, optional
        Length of the ejection chains (sequences of best single flips, each
        vector flipped once, cut back to the best prefix) tried after each
        descent of ``"heuristic"`` (default 8; 0 disables them).
    init : array_like of bool, shape (n,), optional
        A mask that ``"heuristic"`` uses as its first start.
    max_bytes : int, optional
        Memory cap of ``"exact"`` (default :data:`slth._validate.DEFAULT_MAX_BYTES`).
    threads : int, optional
        Threads of the k-d tree queries of ``"exact"`` (default: all).

    Returns
    -------
    MRSSResult

    Raises
    ------
    ValueError
        On shapes that do not match, non-finite entries, an unknown method or
        norm, or an exact search over the memory cap.
    TypeError
        On non-numeric input.

    Examples
    --------
    >>> import numpy as np
    >>> from slth.mrss import solve
    >>> x = np.array([[0.5, 0.1], [0.3, -0.4], [-0.2, 0.6]])
    >>> res = solve(x, [0.3, 0.7])
    >>> res.mask
    array([ True, False,  True])
    >>> round(res.error, 12), res.optimal
    (0.0, True)
    >>> bool(solve(x, [0.3, 0.7], method="milp").error <= 1e-6)
    True
    """
    t0 = time.perf_counter()
    method = check_choice(method, "method", METHODS)
    p, code = check_norm(norm)
    x = _check_vectors(vectors, 2)
    n, d = x.shape
    z = as_float_array(target, "target", ndim=1)
    if z.shape[0] != d:
        raise ValueError(f"target must have d={d} entries to match vectors of shape {x.shape}, "
                         f"got shape {z.shape}")
    if method == "milp" and code == 2:
        raise ValueError("norm=2 is not linear: method='milp' supports norm=np.inf or 1; "
                         "use method='exact' or 'heuristic' for norm=2")
    lower = np.nan
    if method == "exact":
        halves = _Halves(x, resolve_max_bytes(max_bytes))
        _, mask = halves.nearest(z, p, -1 if threads is None else check_threads(threads))
        optimal = True
    elif method == "milp":
        mip_rel_gap = as_float(mip_rel_gap, "mip_rel_gap")
        mask, optimal, lower = _milp_one(x, z, p, _check_seconds(time_limit), mip_rel_gap)
    else:
        params = _heuristic_params(n, restarts, kicks, kick_size, max_moves, depth,
                                   chain)
        start = _check_init(init, (n,))
        mask = np.zeros(n, dtype=np.bool_)
        kernels.heuristic_one(x, z, mask if start is None else start, start is not None, code,
                              *params, _seed_words(seed, None)[0], mask)
        optimal = False
    value = x[mask].sum(axis=0)
    error = residual_norm(z - value, p)
    if optimal:
        lower = error
    elif np.isfinite(lower):
        lower = min(lower, error)
    return MRSSResult(mask, value, error, method, bool(optimal), float(lower),
                      float(error - lower), time.perf_counter() - t0, p)


def solve_many(vectors: ArrayLike, targets: ArrayLike, method: str = "exact", norm=np.inf, *,
               seed: SeedLike = 0, time_limit: float | None = None, mip_rel_gap: float = 0.0,
               restarts: int | None = None, kicks: int = 0, kick_size: int = 1,
               max_moves: int | None = None, depth: int | None = None,
               chain: int | None = None, init: ArrayLike | None = None,
               max_bytes: int | None = None, threads: int | None = None,
               progress: bool = False) -> MRSSBatch:
    """Solve one MRSS instance per target, with shared or per-target vectors.

    Parameters
    ----------
    vectors : array_like, shape (n, d) or (m, n, d)
        One vector set shared by all targets, or one set per target (e.g. one
        per output kernel of a structured CNN layer).
    targets : array_like, shape (m, d)
    method, norm, time_limit, mip_rel_gap, restarts, kicks, kick_size, max_moves, depth, chain
        As in :func:`solve`, per target.
    max_bytes : int, optional
        As in :func:`solve`.
    seed : int, numpy.random.Generator, SeedSequence or None
        Target i of ``"heuristic"`` uses the i-th child of
        ``SeedSequence(seed).spawn(m)``: results do not depend on ``threads``.
    init : array_like of bool, shape (m, n), optional
        First starts of ``"heuristic"``.
    threads : int, optional
        Threads: numba threads of ``"heuristic"`` (parallel over targets), k-d
        tree workers of ``"exact"`` (shared vectors: the halves and the tree
        are built once). ``"milp"`` runs targets one after the other.
    progress : bool
        Show a progress bar for ``"exact"`` and ``"milp"``.

    Returns
    -------
    MRSSBatch

    Examples
    --------
    >>> from slth.mrss import sample_vectors, solve_many
    >>> x = sample_vectors("uniform", 16, 3, seed=0)
    >>> z = sample_vectors("uniform", 4, 3, seed=1)
    >>> exact = solve_many(x, z)
    >>> heur = solve_many(x, z, method="heuristic")
    >>> exact.masks.shape, bool((heur.errors >= exact.errors - 1e-12).all())
    ((4, 16), True)
    """
    t0 = time.perf_counter()
    method = check_choice(method, "method", METHODS)
    p, code = check_norm(norm)
    x = _check_vectors(vectors, (2, 3))
    z = as_float_array(targets, "targets", ndim=2)
    m, d = z.shape
    n = x.shape[-2]
    if x.shape[-1] != d:
        raise ValueError(f"targets must have d={x.shape[-1]} columns to match vectors of shape "
                         f"{x.shape}, got shape {z.shape}")
    if x.ndim == 3 and x.shape[0] != m:
        raise ValueError(f"per-target vectors of shape {x.shape} need {x.shape[0]} targets, "
                         f"got targets of shape {z.shape}")
    if method == "milp" and code == 2:
        raise ValueError("norm=2 is not linear: method='milp' supports norm=np.inf or 1; "
                         "use method='exact' or 'heuristic' for norm=2")
    threads = check_threads(threads)
    masks = np.zeros((m, n), dtype=np.bool_)
    optimal = np.zeros(m, dtype=np.bool_)
    lower = np.full(m, np.nan)
    if method == "heuristic":
        params = _heuristic_params(n, restarts, kicks, kick_size, max_moves, depth,
                                   chain)
        start = _check_init(init, (m, n))
        seeds = _seed_words(seed, m)
        x3 = x if x.ndim == 3 else x[None]
        costs = np.empty(m)
        with num_threads(threads):
            kernels.heuristic_many(x3, z, masks if start is None else start, start is not None,
                                   code, *params, seeds, masks, costs)
    elif method == "exact":
        limit = resolve_max_bytes(max_bytes)
        workers = -1 if threads is None else threads
        shared = _Halves(x, limit) if x.ndim == 2 else None
        for i in _progress(range(m), progress, "mrss exact"):
            halves = shared if shared is not None else _Halves(x[i], limit)
            masks[i] = halves.nearest(z[i], p, workers)[1]
        optimal[:] = True
    else:
        limit = _check_seconds(time_limit)
        mip_rel_gap = as_float(mip_rel_gap, "mip_rel_gap")
        for i in _progress(range(m), progress, "mrss milp"):
            xi = x if x.ndim == 2 else x[i]
            masks[i], optimal[i], lower[i] = _milp_one(xi, z[i], p, limit, mip_rel_gap)
    values = _masked_sums(x, masks)
    errors = residual_norm(z - values, p)
    lower = np.where(optimal, errors, np.minimum(lower, errors))
    return MRSSBatch(masks, values, errors, method, optimal, lower, errors - lower,
                     time.perf_counter() - t0, p)


def _masked_sums(x: NDArray[np.float64], masks: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``x[mask].sum(0)`` per row of masks, summed exactly as :func:`solve` does."""
    if x.ndim == 2:
        return np.stack([x[mk].sum(axis=0) for mk in masks]) if len(masks) else \
            np.zeros((0, x.shape[1]))
    return np.stack([xi[mk].sum(axis=0) for xi, mk in zip(x, masks, strict=True)])


def _progress(iterable, show: bool, desc: str):
    if not show:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, leave=False)


def _covered(halves: _Halves, target: NDArray[np.float64], p: float, eps: float,
             workers: int) -> bool:
    """Whether some subset sum lies within eps of target (exact, early exit)."""
    best, _ = halves.nearest(target, p, workers, within=eps)
    return best <= eps

