"""numba kernels of the exact 1-D random subset-sum solver, by meet in the middle (no
validation here).

All subset sums are formed by adding values in index order, so one subset has
one floating-point sum whichever kernel produced it (:func:`masked_row_sums` adds a
chosen subset in that order too). Subsets are ``uint64`` bit masks (bit i set when
value i is in the subset); callers keep n <= 62. The coverage kernels are in
:mod:`slth.rss.coverage_kernels`, the approximate searches of the ticket
constructions in :mod:`slth.rss.window_kernels`, which calls :func:`solve_one` and
:func:`closest_pair` and so pins this file's digest (``KERNEL_SOURCES``).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from slth._numba import kernel, parallel_kernel


@kernel(inline="always")
def _merge_step(sums, buf, level, x, t, last, af, bf, ae, be):
    """Step ``t`` of one merge level: output ``t`` from the front, ``last - t`` from the end.

    Two independent chains, one from each end, each write half of the output: twice
    the instruction-level parallelism of a single merge. Neither chain can run out of a
    list before writing its half, so no bounds checks are needed.
    """
    sa = sums[af]
    sb = sums[bf] + x
    front_a = np.int64(sa <= sb)  # ties: the subset without x first
    buf[t] = min(sa, sb)
    level[t] = 1 - front_a
    af += front_a
    bf += 1 - front_a
    ea = sums[ae]
    eb = sums[be] + x
    back_b = np.int64(eb >= ea)  # the same order seen from the end
    buf[last - t] = max(ea, eb)
    level[last - t] = back_b
    be -= back_b
    ae -= 1 - back_b
    return af, bf, ae, be


@kernel
def sorted_subset_sums(values, sums, buf, flags):
    """All 2^k subset sums of ``values`` (k = len) in ascending order.

    Level i merges the sorted sums of values[:i] with their copy shifted by
    values[i]. ``flags`` records, for each output position of each level,
    whether the sum came from the shifted copy (value i used): level i's 2^(i+1)
    flags start at offset 2^(i+1) - 2, so ``flags`` needs 2^(k+1) entries and
    :func:`subset_bits` recovers the subset of any sorted position. Storing one
    byte per step instead of a 64-bit subset mask halves the memory traffic.
    ``sums`` and ``buf`` need 2^k entries; returns the array holding the result.
    """
    none = np.zeros(1)                 # the empty first list of the pair
    return sorted_subset_sums_pair(values[:0], values, none, none, flags[:0], sums, buf,
                                   flags)[1]


@kernel
def sorted_subset_sums_pair(va, vb, a_sums, a_buf, a_flags, b_sums, b_buf, b_flags):
    """:func:`sorted_subset_sums` of ``va`` and of ``vb`` (``len(va) <= len(vb)``).

    The levels the two share run in one loop, four independent chains instead of two;
    the results, flags included, are those of two separate calls. Returns both sorted
    arrays.
    """
    a_sums[0] = 0.0
    b_sums[0] = 0.0
    size = 1
    for i in range(va.shape[0]):
        xa = va[i]
        xb = vb[i]
        la = a_flags[2 * size - 2:4 * size - 2]
        lb = b_flags[2 * size - 2:4 * size - 2]
        last = 2 * size - 1
        a0, a1, a2, a3 = 0, 0, size - 1, size - 1
        b0, b1, b2, b3 = 0, 0, size - 1, size - 1
        for t in range(size):
            a0, a1, a2, a3 = _merge_step(a_sums, a_buf, la, xa, t, last, a0, a1, a2, a3)
            b0, b1, b2, b3 = _merge_step(b_sums, b_buf, lb, xb, t, last, b0, b1, b2, b3)
        a_sums, a_buf = a_buf, a_sums
        b_sums, b_buf = b_buf, b_sums
        size *= 2
    for i in range(va.shape[0], vb.shape[0]):
        x = vb[i]
        level = b_flags[2 * size - 2:4 * size - 2]
        b0, b1, b2, b3 = 0, 0, size - 1, size - 1
        for t in range(size):
            b0, b1, b2, b3 = _merge_step(b_sums, b_buf, level, x, t, 2 * size - 1,
                                         b0, b1, b2, b3)
        b_sums, b_buf = b_buf, b_sums
        size *= 2
    return a_sums[:1 << va.shape[0]], b_sums[:size]


@kernel
def subset_bits(flags, k, position, bit_offset):
    """Bit mask (shifted by ``bit_offset``) of the subset at sorted ``position`` of level k."""
    bits = np.uint64(0)
    for i in range(k - 1, -1, -1):
        size = 1 << (i + 1)
        level = flags[size - 2:2 * size - 2]
        used = 0
        for t in range(position):
            used += level[t]
        if level[position]:
            bits |= np.uint64(1) << np.uint64(i + bit_offset)
            position = used
        else:
            position = position - used
    return bits


@kernel
def all_subset_bits(flags, k, bit_offset):
    """Bit masks of every sorted position of level k (replaying the merges' flags)."""
    masks = np.empty(1 << k, np.uint64)
    buf = np.empty(1 << k, np.uint64)
    masks[0] = 0
    size = 1
    for i in range(k):
        level = flags[2 * size - 2:4 * size - 2]
        bit = np.uint64(1) << np.uint64(i + bit_offset)
        # Both inputs of a merge appear in the output in their own order.
        a = 0
        b = 0
        for t in range(2 * size):
            if level[t]:
                buf[t] = masks[b] | bit
                b += 1
            else:
                buf[t] = masks[a]
                a += 1
        masks, buf = buf, masks
        size *= 2
    return masks[:size]


@kernel
def closest_pair(a_sums, b_sums, target):
    """Indices (i, j) minimising |a_sums[i] + b_sums[j] - target|; both sorted ascending.

    Two-pointer scans, run as two independent chains for instruction-level
    parallelism: the lower half of ``a_sums`` upwards against ``b_sums`` from the
    top, and the upper half downwards against ``b_sums`` from the bottom. The
    chains meet near the optimum, so together they take about len(a) + len(b)
    steps. Returns (i, j, error); ties go to the lower half's pair.
    """
    na = a_sums.shape[0]
    nb = b_sums.shape[0]
    mid = na // 2
    i1 = 0
    j1 = nb - 1
    i2 = na - 1
    j2 = 0
    best1 = np.inf
    best2 = np.inf
    bi1 = 0
    bj1 = 0
    bi2 = 0
    bj2 = 0
    live1 = i1 < mid
    live2 = i2 >= mid
    while live1 or live2:
        if live1:
            diff = a_sums[i1] + b_sums[j1] - target
            err = abs(diff)
            better = err < best1
            best1 = err if better else best1
            bi1 = i1 if better else bi1
            bj1 = j1 if better else bj1
            i1 += diff < 0.0
            j1 -= diff > 0.0
            live1 = diff != 0.0 and i1 < mid and j1 >= 0
        if live2:
            diff = a_sums[i2] + b_sums[j2] - target
            err = abs(diff)
            better = err < best2
            best2 = err if better else best2
            bi2 = i2 if better else bi2
            bj2 = j2 if better else bj2
            i2 -= diff > 0.0
            j2 += diff < 0.0
            live2 = diff != 0.0 and i2 >= mid and j2 < nb
    if best2 < best1:
        return bi2, bj2, best2
    return bi1, bj1, best1


@kernel(inline="always")
def _scan_step(a_sums, b_sums, sa, sb, target, i, j, best, bi, bj):
    """One step of a two-pointer scan for ``(a + sa) + (b + sb) ~ target``.

    Returns the updated ``(i, j, best, bi, bj, live)``; an exact hit ends the scan.
    """
    if i >= a_sums.shape[0] or j < 0:
        return i, j, best, bi, bj, False
    d = (a_sums[i] + sa) + (b_sums[j] + sb) - target
    e = abs(d)
    better = e < best
    best = e if better else best
    bi = i if better else bi
    bj = j if better else bj
    if d == 0.0:
        return a_sums.shape[0], j, best, bi, bj, False
    return i + (d < 0.0), j - (d > 0.0), best, bi, bj, True


@kernel
def _closest_four(a_sums, b_sums, xa, xb, target):
    """Closest ``(a + sa) + (b + sb)`` to ``target`` over a in ``a_sums``, b in ``b_sums``
    (both sorted ascending), ``sa`` in {0, xa}, ``sb`` in {0, xb}.

    The four combinations are four independent two-pointer scans, interleaved for
    instruction-level parallelism. Sums are formed as the merge would form them (the
    shifted value added last), so each subset has the same floating-point sum as in
    :func:`closest_pair`. Returns (combination, i, j, error); combination bit 0: xa
    used, bit 1: xb used; ties go to the lower combination.
    """
    top = b_sums.shape[0] - 1
    i0, j0, e0, p0, q0 = 0, top, np.inf, 0, 0
    i1, j1, e1, p1, q1 = 0, top, np.inf, 0, 0
    i2, j2, e2, p2, q2 = 0, top, np.inf, 0, 0
    i3, j3, e3, p3, q3 = 0, top, np.inf, 0, 0
    live = True
    while live:
        i0, j0, e0, p0, q0, l0 = _scan_step(a_sums, b_sums, 0.0, 0.0, target, i0, j0, e0, p0, q0)
        i1, j1, e1, p1, q1, l1 = _scan_step(a_sums, b_sums, xa, 0.0, target, i1, j1, e1, p1, q1)
        i2, j2, e2, p2, q2, l2 = _scan_step(a_sums, b_sums, 0.0, xb, target, i2, j2, e2, p2, q2)
        i3, j3, e3, p3, q3, l3 = _scan_step(a_sums, b_sums, xa, xb, target, i3, j3, e3, p3, q3)
        live = l0 or l1 or l2 or l3
    c, best, bi, bj = 0, e0, p0, q0
    if e1 < best:
        c, best, bi, bj = 1, e1, p1, q1
    if e2 < best:
        c, best, bi, bj = 2, e2, p2, q2
    if e3 < best:
        c, best, bi, bj = 3, e3, p3, q3
    return c, bi, bj, best


@kernel
def solve_one(values, target, a_work, a_flags, b_work, b_flags):
    """Exact subset closest to ``target`` by meet in the middle; returns its bit mask.

    With h = n // 2, ``a_work`` holds 2 * 2^h floats and ``a_flags`` 2^(h+1)
    bytes (likewise ``b_*`` for the n - h other values). The last value of each half
    is not merged in: the four ways of adding them are scanned together
    (:func:`_closest_four`), which replaces the two largest merges by independent scans.
    """
    n = values.shape[0]
    h = n // 2
    if h == 0:                     # n <= 1
        return np.uint64(1) if n == 1 and abs(values[0] - target) < abs(target) \
            else np.uint64(0)
    size_a = 1 << (h - 1)
    size_b = 1 << (n - h - 1)
    a_sums, b_sums = sorted_subset_sums_pair(values[:h - 1], values[h:n - 1], a_work[:size_a],
                                             a_work[size_a:], a_flags, b_work[:size_b],
                                             b_work[size_b:], b_flags)
    c, i, j, _ = _closest_four(a_sums, b_sums, values[h - 1], values[n - 1], target)
    bits = subset_bits(a_flags, h - 1, i, 0) | subset_bits(b_flags, n - h - 1, j, h)
    if c & 1:
        bits |= np.uint64(1) << np.uint64(h - 1)
    if c & 2:
        bits |= np.uint64(1) << np.uint64(n - 1)
    return bits


@parallel_kernel
def solve_one_threaded(values, target, a_work, a_flags, b_work, b_flags):
    """``solve_one`` with the two halves enumerated on two threads (for one large problem)."""
    n = values.shape[0]
    h = n // 2
    size_a = 1 << h
    size_b = 1 << (n - h)
    for half in prange(2):
        if half == 0:
            sorted_subset_sums(values[:h], a_work[:size_a], a_work[size_a:], a_flags)
        else:
            sorted_subset_sums(values[h:], b_work[:size_b], b_work[size_b:], b_flags)
    # After k merges the result sits in the first array when k is even, else in the buffer.
    a_sums = a_work[:size_a] if h % 2 == 0 else a_work[size_a:2 * size_a]
    b_sums = b_work[:size_b] if (n - h) % 2 == 0 else b_work[size_b:2 * size_b]
    i, j, _ = closest_pair(a_sums, b_sums, target)
    bits = np.zeros(2, np.uint64)
    for half in prange(2):
        if half == 0:
            bits[0] = subset_bits(a_flags, h, i, 0)
        else:
            bits[1] = subset_bits(b_flags, n - h, j, h)
    return bits[0] | bits[1]


@parallel_kernel
def solve_rows(values, targets, out_masks):
    """Row r: the exact subset of ``values[r]`` closest to ``targets[r]`` (parallel over rows)."""
    m, n = values.shape
    h = n // 2
    chunk = 64
    n_chunks = (m + chunk - 1) // chunk
    for c in prange(n_chunks):
        # Work arrays are allocated once per chunk of rows, not once per row.
        a_work = np.empty(2 << h)
        a_flags = np.empty(2 << h, np.uint8)
        b_work = np.empty(2 << (n - h))
        b_flags = np.empty(2 << (n - h), np.uint8)
        for r in range(c * chunk, min(m, (c + 1) * chunk)):
            out_masks[r] = solve_one(values[r], targets[r], a_work, a_flags, b_work, b_flags)


@parallel_kernel
def closest_pairs(a_sums, b_sums, targets, out_i, out_j):
    """``closest_pair`` for many targets over one pair of sorted half-sum lists."""
    for r in prange(targets.shape[0]):
        i, j, _ = closest_pair(a_sums, b_sums, targets[r])
        out_i[r] = i
        out_j[r] = j


@parallel_kernel
def masked_row_sums(values, masks, out):
    """``out[r]``: the sum of ``values[r, j]`` over ``masks[r, j]``, added in index order
    (parallel over rows; one thread per row, so the sums do not depend on the thread
    count)."""
    for r in prange(values.shape[0]):
        total = 0.0
        for j in range(values.shape[1]):
            if masks[r, j]:
                total += values[r, j]
        out[r] = total
