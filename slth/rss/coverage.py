"""Exact coverage of an interval by subset sums, and the samples it takes.

``covering_radius`` is the largest distance from a point of the interval to
the nearest subset sum. ``min_samples`` measures Lueker's quantity: how many
i.i.d. samples until every point of the interval is within eps of a subset sum.
Both are exact (no sampled targets): subset sums are enumerated in sorted
order, and partial sums that can no longer matter are pruned.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm import tqdm

from slth import distributions
from slth._numba import num_threads
from slth._validate import (
    SeedLike,
    as_float_array,
    as_seed_sequence,
    check_int,
    check_interval,
    check_memory,
    check_open_unit,
    format_bytes,
    resolve_max_bytes,
)
from slth.rss import coverage_kernels

__all__ = ["covering_radius", "min_samples", "trial_stream"]

#: bytes per stored sum (or covered interval): four float64 work arrays
_BYTES_PER_SUM = 32


def covering_radius(
    values: ArrayLike, interval=(-1.0, 1.0), *, max_bytes: int | None = None
) -> float:
    """Exact covering radius of the subset sums of ``values`` over ``interval``.

    ``max over z in [lo, hi] of min over subsets S of |z - sum(values[S])|``,
    the empty subset (sum 0) included.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite real numbers.
    interval : (float, float)
        The interval (lo, hi), lo < hi; it need not contain 0.
    max_bytes : int, optional
        Memory cap for the enumeration. Only partial sums that can still reach
        the interval are stored, so n far above log2(max_bytes) often fits; when
        it does not, the enumeration stops before allocating past the cap.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        NaN/inf values, values not 1-D, a bad interval, or an enumeration that
        would exceed ``max_bytes``.

    Examples
    --------
    >>> from slth import rss
    >>> rss.covering_radius([0.5, 0.5])   # sums {0, 0.5, 1}; z = -1 is 1 away from 0
    1.0
    >>> rss.covering_radius([1.0, -1.0, 0.5])
    0.25
    """
    vals = as_float_array(values, "values", ndim=1)
    lo, hi = check_interval(interval)
    limit = resolve_max_bytes(max_bytes) // _BYTES_PER_SUM
    slack = 1e-12 * (1.0 + float(np.abs(vals).sum()) + abs(lo) + abs(hi))
    status, sums, count, below, above = coverage_kernels.reachable_sorted_sums(
        vals, lo, hi, slack, limit)
    if status == coverage_kernels.OVER_CAPACITY:
        raise ValueError(
            f"values: enumerating the subset sums of n={vals.size} values that can reach "
            f"{(lo, hi)} needs more than {format_bytes(resolve_max_bytes(max_bytes))} (max_bytes); "
            "use fewer values, a narrower interval or raise max_bytes"
        )
    return float(coverage_kernels.radius_of_sorted(sums, count, lo, hi, below, above))


def trial_stream(
    dist: str, seed: SeedLike, trial: int, length: int
) -> NDArray[np.float64]:
    """The first ``length`` values of trial ``trial``'s i.i.d. stream in :func:`min_samples`.

    Trial t draws from ``SeedSequence(seed).spawn(t + 1)[t]``, so a trial's stream
    does not depend on how many trials run, and a longer stream extends a shorter one.

    Examples
    --------
    >>> from slth import rss
    >>> a = rss.trial_stream("uniform", 7, trial=3, length=10)
    >>> b = rss.trial_stream("uniform", 7, trial=3, length=4)
    >>> bool((a[:4] == b).all())
    True
    """
    root = as_seed_sequence(seed)
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(trial)))
    return distributions.sample(dist, int(length), child)


def min_samples(
    eps: float,
    dist: str = "uniform",
    trials: int = 100,
    seed: SeedLike = 0,
    *,
    interval=(-1.0, 1.0),
    max_n: int = 4096,
    max_bytes: int | None = None,
    threads: int | None = None,
    progress: bool | None = None,
) -> NDArray[np.int64]:
    """Per trial, the smallest n whose first n samples cover ``interval`` within eps.

    Trial t draws one i.i.d. stream from ``dist`` (see :func:`trial_stream`) and
    reports the smallest n such that every z in the interval is within eps of a
    subset sum of the stream's first n values. Exact: the answer satisfies
    ``covering_radius(stream[:n]) <= eps < covering_radius(stream[:n-1])``.

    How: the covered set C_n = S_n + [-eps, eps] (S_n the subset sums of the
    first n values) obeys C_n = C_(n-1) U (C_(n-1) + x_n); it is kept as sorted
    disjoint intervals, so dense regions collapse into few intervals. For a
    horizon m, an interval is dropped once the remaining values of stream[:m]
    can no longer shift it onto the interval; everything that matters for any
    n <= m survives, so the first covering level up to m is exact. Without one,
    the horizon grows by one (iterative deepening).

    Parameters
    ----------
    eps : float
        Coverage tolerance, in (0, 1).
    dist : str
        One of ``slth.distributions.NAMES``.
    trials : int
        Number of independent streams.
    seed : int, Generator or SeedSequence
        Root seed; trials are independent children of it.
    interval : (float, float)
        Interval to cover, default (-1, 1).
    max_n : int
        Give up (ValueError) when a stream of this length does not cover.
    max_bytes : int, optional
        Memory cap over all threads.
    threads : int, optional
        numba threads; results are identical for any thread count.
    progress : bool, optional
        Show a progress bar (default: when writing to a terminal).

    Returns
    -------
    ndarray of int64, shape (trials,)

    Examples
    --------
    >>> from slth import rss
    >>> n = rss.min_samples(0.01, "uniform", trials=5, seed=1, progress=False)
    >>> n.tolist()
    [12, 11, 11, 11, 13]
    """
    eps = check_open_unit(eps, "eps")
    dist = distributions.get(dist).name
    trials = check_int(trials, "trials", minimum=1)
    max_n = check_int(max_n, "max_n", minimum=1)
    lo, hi = check_interval(interval)
    budget = resolve_max_bytes(max_bytes)
    root = as_seed_sequence(seed)
    # 2^k sums cover an interval of length hi - lo only if 2^k * 2 eps >= hi - lo.
    first_check = max(0, math.floor(math.log2((hi - lo) / (2.0 * eps))))
    result = np.full(trials, -1, dtype=np.int64)
    with num_threads(threads):
        import numba

        in_flight = numba.get_num_threads()
        # Just before the covered set closes up it is made of about (hi - lo) / (2 eps)
        # separate intervals: a lower estimate of the peak, checked before any work.
        needed = in_flight * _BYTES_PER_SUM * 2 * (hi - lo) / (2.0 * eps)
        check_memory(needed, budget, "eps", f"covering {(lo, hi)} within eps={eps:g}",
                     "choose a larger eps or raise max_bytes")
        limit = budget // (_BYTES_PER_SUM * in_flight)
        length = min(max_n, max(64, 2 * first_check))
        pending = np.arange(trials)
        batch = max(8, 4 * in_flight)
        # Where the deepening starts only affects speed (the answer is exact either way):
        # start near the median answer of the trials done so far.
        horizon = first_check
        with tqdm(total=trials, desc=f"min_samples {dist} eps={eps:g}", unit="trial",
                  disable=None if progress is None else not progress) as bar:
            while pending.size:
                exhausted = []
                for start in range(0, pending.size, batch):
                    ids = pending[start:start + batch]
                    streams = np.stack([trial_stream(dist, root, t, length) for t in ids])
                    out = np.empty(ids.size, dtype=np.int64)
                    coverage_kernels.first_covering_n_many(streams, lo, hi, eps, first_check,
                                                           horizon, limit, out)
                    if np.any(out == coverage_kernels.OVER_CAPACITY):
                        raise ValueError(
                            f"eps: covering {(lo, hi)} within eps={eps:g} with {dist} samples "
                            f"needs more than {format_bytes(budget)} (max_bytes); choose a "
                            "larger eps or raise max_bytes")
                    done = out >= 0
                    result[ids[done]] = out[done]
                    exhausted.extend(ids[~done].tolist())
                    finished = result[result >= 0]
                    if finished.size:
                        horizon = int(np.median(finished))
                    bar.update(int(done.sum()))
                pending = np.asarray(exhausted, dtype=np.int64)
                if pending.size:
                    if length >= max_n:
                        raise ValueError(
                            f"max_n: {pending.size} trial(s) did not cover {(lo, hi)} within "
                            f"eps={eps:g} with {max_n} {dist} samples; raise max_n")
                    length = min(max_n, 4 * length)
    return result
