"""numba kernels of the 1-D random subset-sum engine (no validation here).

All subset sums are formed by adding values in index order, so one subset has
one floating-point sum whichever kernel produced it. Subsets are ``uint64`` bit
masks (bit i set when value i is in the subset); callers keep n <= 62.
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
def sorted_sums_with_masks(values, bit_offset, sums, masks, buf_sums, buf_masks):
    """All 2^k subset sums of ``values`` (k = len) in ascending order, with masks.

    ``sums``, ``masks`` and the two buffers must hold 2^k entries. Subset j of
    ``values`` gets bits shifted by ``bit_offset``. Returns the arrays holding the
    result (either the outputs or the buffers), each of length 2^k.
    """
    sums[0] = 0.0
    masks[0] = 0
    size = 1
    for i in range(values.shape[0]):
        x = values[i]
        bit = np.uint64(1) << np.uint64(i + bit_offset)
        a = 0
        b = 0
        o = 0
        # Merge the sorted list with its copy shifted by x (shifting keeps it sorted).
        while a < size and b < size:
            shifted = sums[b] + x
            if sums[a] <= shifted:
                buf_sums[o] = sums[a]
                buf_masks[o] = masks[a]
                a += 1
            else:
                buf_sums[o] = shifted
                buf_masks[o] = masks[b] | bit
                b += 1
            o += 1
        while a < size:
            buf_sums[o] = sums[a]
            buf_masks[o] = masks[a]
            a += 1
            o += 1
        while b < size:
            buf_sums[o] = sums[b] + x
            buf_masks[o] = masks[b] | bit
            b += 1
            o += 1
        sums, buf_sums = buf_sums, sums
        masks, buf_masks = buf_masks, masks
        size *= 2
    return sums[:size], masks[:size]


@kernel
def closest_pair(a_sums, b_sums, target):
    """Indices (i, j) minimising |a_sums[i] + b_sums[j] - target|; both sorted ascending.

    Two pointers: i walks up ``a_sums``, j walks down ``b_sums``. Returns (i, j, error).
    """
    i = 0
    j = b_sums.shape[0] - 1
    best = np.inf
    best_i = 0
    best_j = j
    while i < a_sums.shape[0] and j >= 0:
        diff = a_sums[i] + b_sums[j] - target
        if abs(diff) < best:
            best = abs(diff)
            best_i = i
            best_j = j
        if diff > 0.0:
            j -= 1
        elif diff < 0.0:
            i += 1
        else:
            break
    return best_i, best_j, best


@kernel
def solve_one(values, target):
    """Exact subset closest to ``target`` by meet in the middle; returns its bit mask."""
    n = values.shape[0]
    h = n // 2
    size_a = 1 << h
    size_b = 1 << (n - h)
    a_sums, a_masks = sorted_sums_with_masks(
        values[:h], 0, np.empty(size_a), np.empty(size_a, np.uint64),
        np.empty(size_a), np.empty(size_a, np.uint64))
    b_sums, b_masks = sorted_sums_with_masks(
        values[h:], h, np.empty(size_b), np.empty(size_b, np.uint64),
        np.empty(size_b), np.empty(size_b, np.uint64))
    i, j, _ = closest_pair(a_sums, b_sums, target)
    return a_masks[i] | b_masks[j]


@parallel_kernel
def solve_rows(values, targets, out_masks):
    """Row r: the exact subset of ``values[r]`` closest to ``targets[r]`` (parallel over rows)."""
    m, n = values.shape
    h = n // 2
    size_a = 1 << h
    size_b = 1 << (n - h)
    chunk = 64
    n_chunks = (m + chunk - 1) // chunk
    for c in prange(n_chunks):
        # Buffers are allocated once per chunk of rows, not once per row.
        a_sums = np.empty(size_a)
        a_masks = np.empty(size_a, np.uint64)
        a_buf = np.empty(size_a)
        a_buf_masks = np.empty(size_a, np.uint64)
        b_sums = np.empty(size_b)
        b_masks = np.empty(size_b, np.uint64)
        b_buf = np.empty(size_b)
        b_buf_masks = np.empty(size_b, np.uint64)
        for r in range(c * chunk, min(m, (c + 1) * chunk)):
            sa, ma = sorted_sums_with_masks(values[r, :h], 0, a_sums, a_masks, a_buf, a_buf_masks)
            sb, mb = sorted_sums_with_masks(values[r, h:], h, b_sums, b_masks, b_buf, b_buf_masks)
            i, j, _ = closest_pair(sa, sb, targets[r])
            out_masks[r] = ma[i] | mb[j]


@parallel_kernel
def closest_pairs(a_sums, b_sums, targets, out_i, out_j):
    """``closest_pair`` for many targets over one pair of sorted half-sum lists."""
    for r in prange(targets.shape[0]):
        i, j, _ = closest_pair(a_sums, b_sums, targets[r])
        out_i[r] = i
        out_j[r] = j


@kernel
def _merge_window(sums, size, x, keep_lo, keep_hi, out):
    """Merge sorted ``sums[:size]`` with its shift by ``x`` into ``out``, keeping [keep_lo, keep_hi].

    Returns the number written, or -1 when ``out`` is too small.
    """
    a = 0
    b = 0
    o = 0
    cap = out.shape[0]
    while a < size or b < size:
        if b >= size or (a < size and sums[a] <= sums[b] + x):
            s = sums[a]
            a += 1
        else:
            s = sums[b] + x
            b += 1
        if keep_lo <= s <= keep_hi:
            if o == cap:
                return -1
            out[o] = s
            o += 1
    return o


@kernel
def _grow(arr, size, new_capacity):
    out = np.empty(new_capacity)
    out[:size] = arr[:size]
    return out


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
def reachable_sorted_sums(values, lo, hi, slack, capacity_limit):
    """Sorted subset sums in [lo - slack, hi + slack], enumerated with pruning.

    A partial sum over values[:k] is dropped once no completion by values[k:]
    can reach the window; the nearest sums outside the window are still tracked:
    ``below`` (largest subset sum < lo - slack, -inf if none) and ``above``
    (smallest > hi + slack, +inf if none). Returns (status, sums, count, below, above).
    """
    n = values.shape[0]
    neg, pos = _suffix_bounds(values)
    capacity = 1024
    sums = np.empty(capacity)
    buf = np.empty(capacity)
    sums[0] = 0.0
    size = 1
    below = -np.inf
    above = np.inf
    for k in range(n + 1):
        # Prune level k: keep s when [s + neg[k], s + pos[k]] meets the window.
        w_lo = lo - slack
        w_hi = hi + slack
        o = 0
        for t in range(size):
            s = sums[t]
            if s + pos[k] < w_lo:
                below = max(below, s + pos[k])
            elif s + neg[k] > w_hi:
                above = min(above, s + neg[k])
            else:
                sums[o] = s
                o += 1
        size = o
        if k == n:
            break
        if 2 * size > capacity:
            new_capacity = capacity
            while new_capacity < 2 * size:
                new_capacity *= 2
            if new_capacity > capacity_limit:
                return OVER_CAPACITY, sums, size, below, above
            sums = _grow(sums, size, new_capacity)
            buf = np.empty(new_capacity)
            capacity = new_capacity
        size = _merge_window(sums, size, values[k], -np.inf, np.inf, buf)
        sums, buf = buf, sums
    return OK, sums, size, below, above


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
def _windowed_cover_level(stream, lo, hi, eps, first_check, keep_neg, keep_pos, capacity_limit):
    """Smallest k such that the sums of stream[:k] kept by the window cover [lo, hi] within eps.

    Level k keeps a sum s when [s + keep_neg[k], s + keep_pos[k]] meets [lo - eps, hi + eps].
    With zero margins this is a sub-collection of all subset sums (an upper bound on the
    answer); with the exact reachable margins it holds every sum that matters (exact).
    Returns k, STREAM_EXHAUSTED or OVER_CAPACITY.
    """
    n = stream.shape[0]
    w_lo = lo - eps
    w_hi = hi + eps
    capacity = 1024
    sums = np.empty(capacity)
    buf = np.empty(capacity)
    sums[0] = 0.0
    size = 1
    for k in range(n + 1):
        if k >= first_check:
            # Only sums inside the window can cover; they form a contiguous sorted run.
            start = 0
            while start < size and sums[start] < w_lo:
                start += 1
            stop = size
            while stop > start and sums[stop - 1] > w_hi:
                stop -= 1
            if covers(sums[start:stop], stop - start, lo, hi, eps):
                return k
        if k == n:
            break
        if 2 * size > capacity:
            new_capacity = capacity
            while new_capacity < 2 * size:
                new_capacity *= 2
            if new_capacity > capacity_limit:
                return OVER_CAPACITY
            sums = _grow(sums, size, new_capacity)
            buf = np.empty(new_capacity)
            capacity = new_capacity
        size = _merge_window(sums, size, stream[k], w_lo - keep_pos[k + 1],
                             w_hi - keep_neg[k + 1], buf)
        sums, buf = buf, sums
    return STREAM_EXHAUSTED


@kernel
def first_covering_n(stream, lo, hi, eps, first_check, capacity_limit):
    """Smallest n such that the subset sums of stream[:n] cover [lo, hi] within eps.

    Pass 1 keeps only sums inside the window (a sub-collection), giving an upper
    bound n_up. Pass 2 prunes with the exact reachability of stream[:n_up], which
    keeps every sum that can matter for any n <= n_up, so its first covering level
    is the exact answer.
    """
    n = stream.shape[0]
    zeros = np.zeros(n + 1)
    n_up = _windowed_cover_level(stream, lo, hi, eps, first_check, zeros, zeros, capacity_limit)
    if n_up < 0:
        return n_up
    neg, pos = _suffix_bounds(stream[:n_up])
    # A small slack keeps sums whose reachability is decided by rounding.
    slack = 1e-12 * (1.0 + pos[0] - neg[0])
    return _windowed_cover_level(stream[:n_up], lo, hi, eps, first_check, neg - slack,
                                 pos + slack, capacity_limit)


@parallel_kernel
def first_covering_n_many(streams, lo, hi, eps, first_check, capacity_limit, out):
    """``first_covering_n`` for each row of ``streams`` (parallel over trials)."""
    for t in prange(streams.shape[0]):
        out[t] = first_covering_n(streams[t], lo, hi, eps, first_check, capacity_limit)
