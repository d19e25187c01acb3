"""How many random vectors approximate every target of a set within eps?

For n random vectors in R^d (:func:`slth.mrss.sample_vectors`) and a finite
target set T in [-1, 1]^d (a grid for small d, uniform random points of the
cube for larger d, or given points), a trial succeeds when every z in T has a
subset sum within eps of it. :func:`success_probability` estimates the success
probability at one n with a Clopper-Pearson interval; :func:`min_samples` finds,
per trial, the smallest n at which the first n vectors of one i.i.d. stream
succeed, which gives the whole success curve P(N <= n) and the n at which a
success probability (e.g. 90%) is reached.

Success at n is decided exactly (meet in the middle, :func:`slth.mrss.solve`)
up to ``exact_max_n`` vectors and by the heuristic above (``method="auto"``).
A heuristic success is a true success, a heuristic failure may not be a true
failure: beyond ``exact_max_n`` the N found is an upper bound on the true N and
the success probabilities are lower bounds. :class:`MinSamples` records which
trials were settled exactly.

Trial t draws its vectors and random targets from the t-th child of
``SeedSequence(seed)``, so :func:`success_probability` and :func:`min_samples`
with the same seed see the same vectors: with exact decisions,
``success_probability(n, ...).successes == (min_samples(...).n <= n).sum()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from slth._validate import (
    SeedLike,
    as_float_array,
    as_seed_sequence,
    check_choice,
    check_int,
    check_open_unit,
    check_positive,
    resolve_max_bytes,
)
from slth.mrss.solve import _Halves, _progress, check_norm, solve_many
from slth.mrss.vectors import VECTOR_DISTRIBUTIONS, sample_vectors

__all__ = ["CoverageEstimate", "MinSamples", "clopper_pearson", "cover_targets",
           "success_at", "success_probability", "min_samples"]

_COVER_METHODS = ("auto", "exact", "heuristic")


def clopper_pearson(successes: ArrayLike, trials: ArrayLike,
                    confidence: float = 0.95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact (Clopper-Pearson) two-sided confidence interval of a binomial proportion.

    Examples
    --------
    >>> lo, hi = clopper_pearson(9, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.555, 0.9975)
    >>> clopper_pearson(0, 5)[0]
    array(0.)
    """
    confidence = check_open_unit(confidence, "confidence")
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got successes={k!r}, "
                         f"trials={n!r}")
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return lo, hi


def success_at(n_trials, n: int, n_max: int | None = None) -> tuple[int, int]:
    """(successes, trials) at width ``n`` from per-trial minimal widths.

    A trial succeeds at ``n`` when its minimal width is at most ``n``; a trial not
    covered within ``n_max`` (recorded as ``n_max + 1``) counts as a failure.

    Examples
    --------
    >>> success_at([3, 5, 9], 5)
    (2, 3)
    >>> success_at([3, 65], 100, n_max=64)
    (1, 2)
    """
    ns = np.asarray(n_trials)
    ok = ns <= n
    if n_max is not None:
        ok &= ns <= n_max
    return int(ok.sum()), int(ns.size)


def cover_targets(d: int, kind: str = "auto", *, num: int = 64, points: int | None = None,
                  seed: SeedLike = None) -> NDArray[np.float64]:
    """A target set in the cube [-1, 1]^d.

    Parameters
    ----------
    d : int
        Dimension.
    kind : {"auto", "grid", "random"}
        ``"grid"``: ``points`` equispaced values per axis (default 21 for d=1,
        11 for d=2, 5 for d=3, 3 otherwise), all combinations;
        ``"random"``: ``num`` uniform points; ``"auto"``: grid for d <= 2.
    num, points : int
        Sizes of the random set and of the grid axis.
    seed : int, numpy.random.Generator, SeedSequence or None
        Randomness of ``"random"``.

    Returns
    -------
    ndarray of float64, shape (m, d)

    Examples
    --------
    >>> cover_targets(2, "grid", points=3)[:4]
    array([[-1., -1.],
           [-1.,  0.],
           [-1.,  1.],
           [ 0., -1.]])
    """
    d = check_int(d, "d", minimum=1)
    kind = check_choice(kind, "kind", ("auto", "grid", "random"))
    if kind == "auto":
        kind = "grid" if d <= 2 else "random"
    if kind == "random":
        num = check_int(num, "num", minimum=1)
        return np.random.default_rng(as_seed_sequence(seed)).uniform(-1.0, 1.0, (num, d))
    if points is None:
        points = {1: 21, 2: 11, 3: 5}.get(d, 3)
    points = check_int(points, "points", minimum=1)
    if points ** d > 10**6:
        raise ValueError(f"points={points} per axis in d={d} gives {points ** d} targets, over "
                         f"10**6; use kind='random'")
    axis = np.linspace(-1.0, 1.0, points) if points > 1 else np.zeros(1)
    grids = np.meshgrid(*([axis] * d), indexing="ij")
    return np.ascontiguousarray(np.stack([g.ravel() for g in grids], axis=1))


@dataclass(frozen=True)
class CoverageEstimate:
    """Estimated probability that n vectors eps-approximate every target of a set.

    Attributes
    ----------
    n, d : int
    eps : float
    successes, trials : int
    probability : float
        ``successes / trials``.
    ci_low, ci_high : float
        Clopper-Pearson interval at ``confidence``.
    confidence : float
    method : str
        ``"exact"`` or ``"heuristic"`` (then ``probability`` is a lower bound).
    targets : int
        Size of the target set.
    """

    n: int
    d: int
    eps: float
    successes: int
    trials: int
    probability: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str
    targets: int


@dataclass(frozen=True)
class MinSamples:
    """Per trial, the smallest n at which the vector stream covers the target set.

    Attributes
    ----------
    n : ndarray of int64, shape (trials,)
        The smallest n found; ``n_max + 1`` where n_max vectors did not suffice.
    exact : ndarray of bool, shape (trials,)
        True where the trial was settled by exact decisions only (n is the
        true minimum, or the true minimum exceeds n_max when not reached).
    d : int
    eps : float
    n_max : int
    exact_max_n : int
        Largest n decided exactly.
    targets : int
        Size of the target set.
    dist : str
    """

    n: NDArray[np.int64]
    exact: NDArray[np.bool_]
    d: int
    eps: float
    n_max: int
    exact_max_n: int
    targets: int
    dist: str

    @property
    def trials(self) -> int:
        """Number of trials."""
        return int(self.n.size)

    def success(self, n: ArrayLike, confidence: float = 0.95):
        """Success probability at each n with its Clopper-Pearson interval.

        Returns
        -------
        probability, ci_low, ci_high : ndarray of float64
            Each of the shape of ``n``.
        """
        ns = np.asarray(n)
        k = (self.n[None, :] <= ns.reshape(-1, 1)).sum(axis=1).reshape(ns.shape)
        lo, hi = clopper_pearson(k, self.trials, confidence)
        return k / self.trials, lo, hi

    def quantile(self, probability: float = 0.9) -> int | None:
        """Smallest n whose estimated success probability is at least ``probability``.

        ``None`` when it is not reached within ``n_max``.
        """
        probability = check_open_unit(probability, "probability")
        need = int(np.ceil(probability * self.trials - 1e-9))
        value = int(np.sort(self.n)[max(need, 1) - 1])
        return None if value > self.n_max else value

    def quantile_interval(self, probability: float = 0.9,
                          confidence: float = 0.95) -> tuple[int | None, int | None]:
        """Distribution-free confidence interval of the ``probability``-quantile of N.

        From the order statistics of the trials (binomial argument); a bound is
        ``None`` when it lies beyond the data or beyond ``n_max``.
        """
        probability = check_open_unit(probability, "probability")
        confidence = check_open_unit(confidence, "confidence")
        t = self.trials
        alpha = (1.0 - confidence) / 2.0
        ranks_lo = int(stats.binom.ppf(alpha, t, probability))
        ranks_hi = int(stats.binom.ppf(1.0 - alpha, t, probability)) + 1
        s = np.sort(self.n)
        lo = int(s[ranks_lo - 1]) if ranks_lo >= 1 else None
        hi = int(s[ranks_hi - 1]) if ranks_hi <= t else None
        lo = None if lo is not None and lo > self.n_max else lo
        hi = None if hi is not None and hi > self.n_max else hi
        return lo, hi


def _prepare(d, eps, dist, targets, num_targets, grid_points, norm, method):
    d = check_int(d, "d", minimum=1)
    eps = check_positive(eps, "eps")
    dist = check_choice(dist, "dist", VECTOR_DISTRIBUTIONS)
    p, _ = check_norm(norm)
    method = check_choice(method, "method", _COVER_METHODS)
    fixed = None
    if isinstance(targets, str):
        kind = check_choice(targets, "targets", ("auto", "grid", "random"))
        if kind == "auto":
            kind = "grid" if d <= 2 else "random"
        if kind == "grid":
            fixed = cover_targets(d, "grid", points=grid_points)
        else:
            num_targets = check_int(num_targets, "num_targets", minimum=1)
    else:
        fixed = as_float_array(targets, "targets", ndim=2)
        if fixed.shape[1] != d or fixed.shape[0] == 0:
            raise ValueError(f"targets must have shape (m, {d}) with m >= 1, got {fixed.shape}")
    return d, eps, dist, p, method, fixed, num_targets


def _trial_targets(fixed, child, num_targets, d):
    if fixed is not None:
        return fixed
    return np.random.default_rng(child).uniform(-1.0, 1.0, (num_targets, d))


def _exact_all(x, targets, order, eps, p, limit, workers) -> bool:
    """All targets within eps (exact); a failing target moves to the front of ``order``."""
    halves = _Halves(x, limit)
    for pos in range(len(order)):
        i = order[pos]
        best, _ = halves.nearest(targets[i], p, workers, within=eps)
        if not best <= eps:
            order.insert(0, order.pop(pos))
            return False
    return True


def _sub_seed(ss: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """A child of ``ss`` addressed by ``keys`` (reproducible, independent of call order)."""
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *keys))


def _heuristic_all(x, targets, order, eps, p, masks, heur_seed, effort):
    """All targets within eps by the heuristic, warm-started from ``masks``.

    Returns (success, masks extended to n columns and improved where solved).
    The first target of ``order`` (the last to fail) is tried alone first.
    """
    n = x.shape[0]
    init = np.zeros((len(targets), n), dtype=np.bool_)
    init[:, : masks.shape[1]] = masks
    first = order[0]
    one = solve_many(x, targets[first:first + 1], "heuristic", p,
                     seed=_sub_seed(heur_seed, n, 0), init=init[first:first + 1], **effort)
    init[first] = one.masks[0]
    if not one.errors[0] <= eps:
        return False, init
    batch = solve_many(x, targets, "heuristic", p, seed=_sub_seed(heur_seed, n, 1), init=init,
                       **effort)
    ok = batch.errors <= eps
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        order.insert(0, order.pop(order.index(bad)))
        return False, batch.masks
    return True, batch.masks


def _effort(restarts, kicks):
    return {"restarts": check_int(restarts, "restarts", minimum=1),
            "kicks": check_int(kicks, "kicks", minimum=0)}


def success_probability(n: int, d: int, eps: float, *, dist: str = "uniform",
                        targets: str | ArrayLike = "auto", num_targets: int = 64,
                        grid_points: int | None = None, trials: int = 100,
                        method: str = "auto", exact_max_n: int = 32, norm=np.inf,
                        confidence: float = 0.95, seed: SeedLike = 0, restarts: int = 4,
                        kicks: int = 4, max_bytes: int | None = None,
                        threads: int | None = None,
                        progress: bool = False) -> CoverageEstimate:
    """Probability that n random vectors approximate every target within eps.

    Parameters
    ----------
    n, d : int
        Number of vectors and dimension.
    eps : float
        Allowed error (> 0) in ``norm``.
    dist : str
        Vector distribution, see :func:`slth.mrss.sample_vectors`.
    targets : {"auto", "grid", "random"} or array_like of shape (m, d)
        The target set: a grid (``grid_points`` per axis, see
        :func:`cover_targets`), ``num_targets`` fresh uniform points of the
        cube per trial, or given points. ``"auto"``: grid for d <= 2.
    trials : int
        Independent draws of the vectors.
    method : {"auto", "exact", "heuristic"}
        How success is decided; ``"auto"`` is exact for n <= ``exact_max_n``.
    confidence : float
        Level of the Clopper-Pearson interval.
    seed : int, numpy.random.Generator, SeedSequence or None
    restarts, kicks : int
        Effort of the heuristic.
    max_bytes : int, optional
        Memory cap of the exact search.
    threads : int, optional
        Threads of the k-d tree queries.
    progress : bool
        Show a progress bar over trials.

    Returns
    -------
    CoverageEstimate

    Examples
    --------
    >>> est = success_probability(12, 1, 0.05, trials=20, seed=0)
    >>> est.successes <= est.trials, est.method
    (True, 'exact')
    """
    d, eps, dist, p, method, fixed, num_targets = _prepare(
        d, eps, dist, targets, num_targets, grid_points, norm, method)
    n = check_int(n, "n", minimum=1)
    trials = check_int(trials, "trials", minimum=1)
    exact_max_n = check_int(exact_max_n, "exact_max_n", minimum=0)
    confidence = check_open_unit(confidence, "confidence")
    effort = _effort(restarts, kicks)
    limit = resolve_max_bytes(max_bytes)
    workers = -1 if threads is None else check_int(threads, "threads", minimum=1)
    use_exact = method == "exact" or (method == "auto" and n <= exact_max_n)
    wins = 0
    for child in _progress(as_seed_sequence(seed).spawn(trials), progress, "mrss cover"):
        vec_seed, tgt_seed, heur_seed = child.spawn(3)
        x = sample_vectors(dist, n, d, vec_seed)
        z = _trial_targets(fixed, tgt_seed, num_targets, d)
        order = list(range(len(z)))
        if use_exact:
            wins += _exact_all(x, z, order, eps, p, limit, workers)
        else:
            masks = np.zeros((len(z), 0), dtype=np.bool_)
            wins += _heuristic_all(x, z, order, eps, p, masks, heur_seed, effort)[0]
    lo, hi = clopper_pearson(wins, trials, confidence)
    return CoverageEstimate(n, d, eps, int(wins), trials, wins / trials, float(lo), float(hi),
                            confidence, "exact" if use_exact else "heuristic",
                            len(fixed) if fixed is not None else num_targets)


def min_samples(eps: float, d: int, *, dist: str = "uniform",
                targets: str | ArrayLike = "auto", num_targets: int = 64,
                grid_points: int | None = None, trials: int = 100, n_max: int = 64,
                method: str = "auto", exact_max_n: int = 32, heuristic_step: int = 4,
                norm=np.inf, seed: SeedLike = 0, restarts: int = 4, kicks: int = 4,
                max_bytes: int | None = None, threads: int | None = None,
                progress: bool = False) -> MinSamples:
    """Per trial, the smallest n at which the first n vectors of a stream cover the targets.

    With exact decisions coverage is monotone in n along one stream (more
    vectors, more subset sums), so n = 1, 2, ... is scanned upwards until every
    target is within eps. Beyond ``exact_max_n`` (``method="auto"``) the scan
    continues with the heuristic, warm-started from the masks found at the
    previous n (its errors never increase along the scan), in steps of
    ``heuristic_step``; the n found there is an upper bound on the true one.

    Parameters
    ----------
    eps : float
        Allowed error (> 0).
    d : int
        Dimension.
    dist, targets, num_targets, grid_points, norm, restarts, kicks, max_bytes, threads
        As in :func:`success_probability`.
    trials : int
        Independent streams.
    n_max : int
        Largest n tried; trials not covered by then get ``n_max + 1``.
    method : {"auto", "exact", "heuristic"}
    exact_max_n, heuristic_step : int
    seed : int, numpy.random.Generator, SeedSequence or None
    progress : bool
        Show a progress bar over trials.

    Returns
    -------
    MinSamples

    Examples
    --------
    >>> res = min_samples(0.1, 2, trials=10, n_max=30, seed=0)
    >>> res.n.shape, bool(res.exact.all())
    ((10,), True)
    >>> p, lo, hi = res.success([res.quantile(0.9)])
    >>> bool(p[0] >= 0.9)
    True
    """
    d, eps, dist, p, method, fixed, num_targets = _prepare(
        d, eps, dist, targets, num_targets, grid_points, norm, method)
    trials = check_int(trials, "trials", minimum=1)
    n_max = check_int(n_max, "n_max", minimum=1)
    exact_max_n = check_int(exact_max_n, "exact_max_n", minimum=0)
    if method == "exact":
        exact_max_n = n_max
    elif method == "heuristic":
        exact_max_n = 0
    heuristic_step = check_int(heuristic_step, "heuristic_step", minimum=1)
    effort = _effort(restarts, kicks)
    limit = resolve_max_bytes(max_bytes)
    workers = -1 if threads is None else check_int(threads, "threads", minimum=1)
    found = np.full(trials, n_max + 1, dtype=np.int64)
    exact = np.zeros(trials, dtype=np.bool_)
    children = as_seed_sequence(seed).spawn(trials)
    for t, child in enumerate(_progress(children, progress, "mrss min_samples")):
        vec_seed, tgt_seed, heur_seed = child.spawn(3)
        stream = sample_vectors(dist, n_max, d, vec_seed)
        z = _trial_targets(fixed, tgt_seed, num_targets, d)
        order = list(range(len(z)))
        n = 1
        while n <= min(exact_max_n, n_max):
            if _exact_all(stream[:n], z, order, eps, p, limit, workers):
                found[t], exact[t] = n, True
                break
            n += 1
        else:
            exact[t] = exact_max_n >= n_max
            masks = np.zeros((len(z), 0), dtype=np.bool_)
            while n <= n_max:
                ok, masks = _heuristic_all(stream[:n], z, order, eps, p, masks, heur_seed,
                                           effort)
                if ok:
                    found[t] = n
                    break
                n = min(n + heuristic_step, n_max) if n < n_max else n_max + 1
    return MinSamples(found, exact, d, eps, n_max, min(exact_max_n, n_max),
                      len(fixed) if fixed is not None else num_targets, dist)

