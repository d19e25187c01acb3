"""numba kernels of exact coverage by subset sums (no validation here).

Sorted subset sums pruned to a window, the covering radius of an interval
(:func:`reachable_sorted_sums`, :func:`radius_of_sorted`), and the first n at which
the subset sums of a stream's first n values cover an interval within eps
(:func:`first_covering_n`); :mod:`slth.rss.coverage` validates and calls them.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from slth._numba import kernel, parallel_kernel

#: status codes returned by the enumeration kernels
OK = 0
OVER_CAPACITY = -1
STREAM_EXHAUSTED = -2


@kernel
def _first_at_least(sums, lo, hi, shift, bound):
    """First index i in [lo, hi) with sums[i] + shift >= bound (hi if none); sums sorted."""
    while lo < hi:
        mid = (lo + hi) // 2
        if sums[mid] + shift >= bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel
def _first_above(sums, lo, hi, shift, bound):
    """First index i in [lo, hi) with sums[i] + shift > bound (hi if none); sums sorted."""
    while lo < hi:
        mid = (lo + hi) // 2
        if sums[mid] + shift > bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel
def _merge_window(sums, size, x, keep_lo, keep_hi, out, run_a, run_b):
    """Merge sorted ``sums[:size]`` and its shift by ``x`` into ``out``, keeping [keep_lo, keep_hi].

    Sorted lists keep a contiguous run of each input, found by bisection, so only
    those runs are merged. They are copied into ``run_a`` and ``run_b`` between
    -inf/+inf sentinels (each needs size + 2 slots), which lets the merge run
    without bounds checks as two interleaved chains, one from each end, for
    instruction-level parallelism. Returns (count written to ``out``, largest
    merged sum below the window or -inf, smallest merged sum above it or +inf).
    """
    a0 = _first_at_least(sums, 0, size, 0.0, keep_lo)
    a1 = _first_above(sums, a0, size, 0.0, keep_hi)
    b0 = _first_at_least(sums, 0, size, x, keep_lo)
    b1 = _first_above(sums, b0, size, x, keep_hi)
    na = a1 - a0
    nb = b1 - b0
    run_a[0] = -np.inf
    run_b[0] = -np.inf
    for i in range(na):
        run_a[i + 1] = sums[a0 + i]
    for i in range(nb):
        run_b[i + 1] = sums[b0 + i] + x
    run_a[na + 1] = np.inf
    run_b[nb + 1] = np.inf
    total = na + nb
    n_front = total // 2
    af = 1
    bf = 1
    ae = na
    be = nb
    for t in range(total - n_front):
        if t < n_front:
            sa = run_a[af]
            sb = run_b[bf]
            take_a = np.int64(sa <= sb)  # ties: the sum without x first
            out[t] = min(sa, sb)
            af += take_a
            bf += 1 - take_a
        ea = run_a[ae]
        eb = run_b[be]
        take_b = np.int64(eb >= ea)  # the same order seen from the end
        out[total - 1 - t] = max(ea, eb)
        be -= take_b
        ae -= 1 - take_b
    below = -np.inf
    if a0 > 0:
        below = sums[a0 - 1]
    if b0 > 0:
        below = max(below, sums[b0 - 1] + x)
    above = np.inf
    if a1 < size:
        above = sums[a1]
    if b1 < size:
        above = min(above, sums[b1] + x)
    return total, below, above


@kernel
def covers(sums, size, lo, hi, eps):
    """True when every z in [lo, hi] lies within eps of one of the sorted ``sums[:size]``."""
    reach = lo  # every point of [lo, reach) is covered
    for k in range(size):
        s = sums[k]
        if s - eps > reach:
            return False
        if s + eps > reach:
            reach = s + eps
        if reach >= hi:
            return True
    return reach >= hi


@kernel
def _suffix_bounds(values):
    """neg[k], pos[k]: the smallest and largest subset sums of values[k:]."""
    n = values.shape[0]
    neg = np.zeros(n + 1)
    pos = np.zeros(n + 1)
    for k in range(n - 1, -1, -1):
        x = values[k]
        neg[k] = neg[k + 1] + min(x, 0.0)
        pos[k] = pos[k + 1] + max(x, 0.0)
    return neg, pos


@kernel
def _enumerate_window(values, w_lo, w_hi, keep_neg, keep_pos, first_check, check_lo, check_hi,
                      eps, capacity_limit, work):
    """Sorted subset sums of ``values`` level by level, pruned to what can reach [w_lo, w_hi].

    After level k (values[:k] used) a partial sum s is kept while
    [s + keep_neg[k], s + keep_pos[k]] meets the window, i.e. while the rest of
    the values can still bring it there; with the exact reachable margins every
    sum that ends in the window survives. The nearest dropped completions are
    tracked: ``below`` (largest sum < window) and ``above`` (smallest > window).

    With ``first_check >= 0`` it stops at the first level k >= first_check whose
    sums cover [check_lo, check_hi] within eps and returns k as the status.
    ``work`` is a tuple of four equal-length arrays (sums, buffer, two runs),
    grown by doubling when needed; passing the returned ones to the next call
    saves fresh pages, which cost as much as the merging.

    Returns (status, sums, count, below, above, work); status is the covering
    level, OK after the last level, STREAM_EXHAUSTED when no level covered, or
    OVER_CAPACITY when the sums would need more than ``capacity_limit`` slots.
    """
    n = values.shape[0]
    sums, buf, run_a, run_b = work
    capacity = sums.shape[0]
    below = -np.inf
    above = np.inf
    size = 0
    # Level 0 holds the empty sum, if it can still reach the window.
    if 0.0 + keep_pos[0] < w_lo:
        below = keep_pos[0]
    elif 0.0 + keep_neg[0] > w_hi:
        above = keep_neg[0]
    else:
        sums[0] = 0.0
        size = 1
    for k in range(n + 1):
        if first_check >= 0 and k >= first_check:
            # Only sums inside the window can cover; they form a contiguous sorted run.
            start = _first_at_least(sums, 0, size, 0.0, w_lo)
            stop = _first_above(sums, start, size, 0.0, w_hi)
            if covers(sums[start:stop], stop - start, check_lo, check_hi, eps):
                return k, sums, size, below, above, (sums, buf, run_a, run_b)
        if k == n:
            break
        if 2 * size + 2 > capacity:
            while capacity < 2 * size + 2:
                capacity *= 2
            if capacity > capacity_limit:
                return OVER_CAPACITY, sums, size, below, above, (sums, buf, run_a, run_b)
            grown = np.empty(capacity)
            grown[:size] = sums[:size]
            sums = grown
            buf = np.empty(capacity)
            run_a = np.empty(capacity)
            run_b = np.empty(capacity)
        keep_lo = w_lo - keep_pos[k + 1]
        keep_hi = w_hi - keep_neg[k + 1]
        size, dropped_below, dropped_above = _merge_window(
            sums, size, values[k], keep_lo, keep_hi, buf, run_a, run_b)
        below = max(below, dropped_below + keep_pos[k + 1])
        above = min(above, dropped_above + keep_neg[k + 1])
        sums, buf = buf, sums
    status = STREAM_EXHAUSTED if first_check >= 0 else OK
    return status, sums, size, below, above, (sums, buf, run_a, run_b)


@kernel
def new_work(capacity):
    """Work arrays for ``_enumerate_window``."""
    return np.empty(capacity), np.empty(capacity), np.empty(capacity), np.empty(capacity)


@kernel
def reachable_sorted_sums(values, lo, hi, slack, capacity_limit):
    """Sorted subset sums in [lo - slack, hi + slack] and the nearest ones outside.

    Returns (status, sums, count, below, above) as ``_enumerate_window``.
    """
    neg, pos = _suffix_bounds(values)
    # The slack widens the window so that rounding cannot drop a sum that belongs in it.
    status, sums, size, below, above, _ = _enumerate_window(
        values, lo - slack, hi + slack, neg, pos, -1, lo, hi, 0.0, capacity_limit,
        new_work(1024))
    return status, sums, size, below, above


@kernel
def radius_of_sorted(sums, size, lo, hi, below, above):
    """max over z in [lo, hi] of the distance to the nearest of {below, sums[:size], above}."""
    radius = 0.0
    prev = below
    for idx in range(size + 1):
        p = sums[idx] if idx < size else above
        left = max(prev, lo)
        right = min(p, hi)
        if left <= right:
            # The distance to {prev, p} peaks at their midpoint, clipped to [left, right].
            if prev == -np.inf:
                z = left
            elif p == np.inf:
                z = right
            else:
                z = min(max(0.5 * (prev + p), left), right)
            d = min(z - prev, p - z)
            if d > radius:
                radius = d
        prev = p
    return radius


@kernel
def _merge_intervals(starts, ends, size, x, keep_lo, keep_hi, out_starts, out_ends):
    """Union of sorted disjoint intervals and their shift by ``x``, pruned and coalesced.

    Intervals are kept while they meet [keep_lo, keep_hi]; with sorted disjoint
    intervals those form one contiguous run of each list, found by bisection.
    Returns the number of disjoint intervals written (sorted).
    """
    a0 = _first_at_least(ends, 0, size, 0.0, keep_lo)
    a1 = _first_above(starts, a0, size, 0.0, keep_hi)
    b0 = _first_at_least(ends, 0, size, x, keep_lo)
    b1 = _first_above(starts, b0, size, x, keep_hi)
    i = a0
    j = b0
    o = -1
    while i < a1 or j < b1:
        if j >= b1 or (i < a1 and starts[i] <= starts[j] + x):
            s = starts[i]
            e = ends[i]
            i += 1
        else:
            s = starts[j] + x
            e = ends[j] + x
            j += 1
        if o >= 0 and s <= out_ends[o]:
            # Overlapping or touching closed intervals coalesce.
            out_ends[o] = max(out_ends[o], e)
        else:
            o += 1
            out_starts[o] = s
            out_ends[o] = e
    return o + 1


@kernel
def _first_covering_level(stream, lo, hi, eps, keep_neg, keep_pos, first_check,
                          capacity_limit, work):
    """First level k >= first_check at which subset sums of stream[:k] cover [lo, hi] within eps.

    Tracks the covered set itself, not the sums: with C_k = S_k + [-eps, eps]
    (S_k the subset sums of stream[:k]), C_k = C_(k-1) U (C_(k-1) + x_k). C_k is
    kept as sorted disjoint closed intervals, so dense regions collapse into a
    few intervals. After level k an interval is kept while the remaining values
    (``keep_neg[k]``, ``keep_pos[k]``: their smallest and largest sums) can still
    shift it onto [lo, hi]. Returns (status, work): status is the level,
    STREAM_EXHAUSTED or OVER_CAPACITY; ``work`` (four arrays) can be reused.
    """
    n = stream.shape[0]
    starts, ends, buf_starts, buf_ends = work
    capacity = starts.shape[0]
    size = 0
    if eps + keep_pos[0] >= lo and -eps + keep_neg[0] <= hi:
        starts[0] = -eps
        ends[0] = eps
        size = 1
    for k in range(n + 1):
        if k >= first_check and size > 0:
            # Covered iff one interval spans [lo, hi]: the first one ending at or after lo.
            first = _first_at_least(ends, 0, size, 0.0, lo)
            if first < size and starts[first] <= lo and ends[first] >= hi:
                return k, (starts, ends, buf_starts, buf_ends)
        if k == n:
            break
        if 2 * size > capacity:
            while capacity < 2 * size:
                capacity *= 2
            if capacity > capacity_limit:
                return OVER_CAPACITY, (starts, ends, buf_starts, buf_ends)
            grown_starts = np.empty(capacity)
            grown_ends = np.empty(capacity)
            grown_starts[:size] = starts[:size]
            grown_ends[:size] = ends[:size]
            starts, ends = grown_starts, grown_ends
            buf_starts = np.empty(capacity)
            buf_ends = np.empty(capacity)
        size = _merge_intervals(starts, ends, size, stream[k], lo - keep_pos[k + 1],
                                hi - keep_neg[k + 1], buf_starts, buf_ends)
        starts, buf_starts = buf_starts, starts
        ends, buf_ends = buf_ends, ends
    return STREAM_EXHAUSTED, (starts, ends, buf_starts, buf_ends)


@kernel
def first_covering_n(stream, lo, hi, eps, first_check, horizon, capacity_limit):
    """Smallest n such that the subset sums of stream[:n] cover [lo, hi] within eps.

    For a horizon m, covered intervals are pruned once the remaining values of
    stream[:m] can no longer shift them onto [lo, hi]. Everything that matters
    for any n <= m survives, so the first covering level <= m is exact, whatever
    m is. If no level up to m covers, the horizon grows by one and only the new
    level needs checking (iterative deepening). The answer never depends on the
    starting ``horizon``; the cost does, a little: each horizon beyond the answer
    widens the window. Returns n, STREAM_EXHAUSTED or OVER_CAPACITY.
    """
    m = min(max(first_check, horizon, 1), stream.shape[0])
    check_from = first_check
    work = new_work(1024)
    while m <= stream.shape[0]:
        neg, pos = _suffix_bounds(stream[:m])
        # The slack widens the window so that rounding cannot drop an interval that matters.
        slack = 1e-12 * (1.0 + pos[0] - neg[0])
        found, work = _first_covering_level(stream[:m], lo, hi, eps, neg - slack, pos + slack,
                                            check_from, capacity_limit, work)
        if found != STREAM_EXHAUSTED:
            return found
        check_from = m + 1
        m += 1
    return STREAM_EXHAUSTED


@parallel_kernel
def first_covering_n_many(streams, lo, hi, eps, first_check, horizon, capacity_limit, out):
    """``first_covering_n`` for each row of ``streams`` (parallel over trials)."""
    for t in prange(streams.shape[0]):
        out[t] = first_covering_n(streams[t], lo, hi, eps, first_check, horizon, capacity_limit)
