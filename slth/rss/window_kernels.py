"""numba kernels of the approximate subset-sum searches of the ticket constructions (no
validation here).

Per problem (a row of candidate values and a target): a greedy part on the target's sign,
then a window of the remaining values searched exactly by
:func:`slth.rss.kernels.solve_one`, or by a k-tree (:func:`tree_search`, whose root lists
:func:`slth.rss.kernels.closest_pair` scans). Masks are boolean over a row's candidates,
and errors add the chosen values in index order, as
:func:`slth.rss.kernels.masked_row_sums` does.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from slth._numba import kernel, parallel_kernel
from slth.rss.kernels import closest_pair, solve_one

#: Source digests (:func:`slth._numba.source_digest`) of the files whose jitted functions
#: these kernels call: ``solve_one`` and ``closest_pair`` of the exact solver. numba checks
#: a cached kernel against its own file only, so the callees' machine code cached with these
#: kernels would outlive an edit of kernels.py; that edit makes this pin stale
#: (tests/test_numba_setup.py fails and gives the new digest), and updating it here
#: invalidates this file's cache.
KERNEL_SOURCES = {"slth.rss.kernels": "43920768d64e2411"}


#: Window orders of :func:`greedy_window_row`: remaining values by decreasing magnitude,
#: by increasing magnitude, or in index order; or the smallest magnitudes set aside
#: before a first-fit greedy part (:func:`_fine_row`), searched exactly or by a k-tree
#: (:func:`tree_search`) that keeps :func:`tree_keep` sums per merge, or twice that.
WINDOW_LARGEST, WINDOW_SMALLEST, WINDOW_FIRST, WINDOW_FINE, WINDOW_TREE = 0, 1, 2, 3, 4
WINDOW_TREE_WIDE = 5


@kernel
def _select_top(row, cls, want, key_sign, cap, out):
    """Write to ``out`` the indices j with ``cls[j] == want`` ordered by decreasing
    ``key_sign * |row[j]|``, ties by increasing j, only the first ``cap``; returns their
    count. ``key_sign`` 1: largest magnitudes first, -1: smallest, 0: index order.

    A bounded insertion: an index that would land beyond ``cap`` is dropped at once, so
    a short selection costs about one comparison per candidate.
    """
    n = 0
    if cap <= 0:
        return 0
    for j in range(row.shape[0]):
        if cls[j] != want:
            continue
        x = key_sign * abs(row[j])
        if n == cap:
            if key_sign * abs(row[out[n - 1]]) >= x:
                continue
            n -= 1
        pos = n
        while pos > 0 and key_sign * abs(row[out[pos - 1]]) < x:
            out[pos] = out[pos - 1]
            pos -= 1
        out[pos] = j
        n += 1
    return n


#: candidate classes in :func:`greedy_window_row`
_INVALID, _SAME, _OTHER, _TAKEN = 0, 1, 2, 3

#: largest values of the target's sign first kept in order for the greedy part (more
#: are ordered only when the greedy part gets that far)
_GREEDY_CAP = 16


@kernel(inline="always")
def _keep_smallest(keys, idx, n, cap, x, j):
    """Insert key ``x`` (index ``j``) into the ascending ``keys[:n]``, keeping at most
    ``cap`` entries; equal keys keep index order. Returns the new count."""
    if n == cap:
        if keys[n - 1] <= x:
            return n
        n -= 1
    pos = n
    while pos > 0 and keys[pos - 1] > x:
        keys[pos] = keys[pos - 1]
        idx[pos] = idx[pos - 1]
        pos -= 1
    keys[pos] = x
    idx[pos] = j
    return n + 1


@kernel
def _fine_row(row, valid, t, k, greedy, window, window_ok, keys, idx):
    """The :data:`WINDOW_FINE` selection of one row; returns the residual.

    With ``s`` the target's sign (+1 for zero), the window takes the ``(k + 1) // 2``
    valid values of sign ``s`` of smallest magnitude and the ``k // 2`` smallest of the
    other sign (a side that runs short leaves its slots to the other). The greedy part
    then takes the other values of sign ``s``, largest first, each one that still fits
    within ``|t|``: the residual ends below the smallest value it skipped, within the
    window's reach, whose small values give a fine grid of sums there. ``keys`` and
    ``idx`` are work arrays of ``2 len(row) + 2`` entries.
    """
    kall = row.shape[0]
    s = -1.0 if t < 0.0 else 1.0
    signed = keys[kall + 1:]         # s * row, NaN for invalid entries
    n_same = 0
    n_valid = 0
    for j in range(kall):
        x = s * row[j] if valid[j] else np.nan
        signed[j] = x
        n_valid += valid[j]
        n_same += x > 0.0
    cap_same = min(n_same, max((k + 1) // 2, k - (n_valid - n_same)))
    cap_other = min(n_valid - n_same, k - cap_same)
    # the window: the smallest magnitudes of sign s in keys[:cap_same], of the other
    # sign in keys[cap_same:k], both in one pass
    other_keys = keys[cap_same:]
    other_idx = idx[cap_same:]
    n = 0
    n_other = 0
    for j in range(kall):
        x = signed[j]
        if x > 0.0:
            n = _keep_smallest(keys, idx, n, cap_same, x, j)
        elif x <= 0.0:
            n_other = _keep_smallest(other_keys, other_idx, n_other, cap_other, -x, j)
    threshold = keys[n - 1] if n == cap_same and n < n_same else np.inf
    for q in range(n):
        window[q] = idx[q]
        window_ok[q] = True
    for q in range(n_other):
        window[cap_same + q] = other_idx[q]
        window_ok[cap_same + q] = True
    # greedy candidates: values of sign s above the window and within reach, largest first
    reach = abs(t)
    n = 0
    for j in range(kall):
        x = signed[j]
        if x > threshold and x <= reach:
            n = _keep_smallest(keys, idx, n, kall, -x, j)
    total = 0.0
    for q in range(n):
        if total - keys[q] <= reach:
            total -= keys[q]
            greedy[idx[q]] = True
    acc = 0.0
    for j in range(kall):          # summed in index order
        if greedy[j]:
            acc += row[j]
    return t - acc


@kernel
def greedy_window_row(row, valid, t, k, order, greedy, window, window_ok, cls, top, keys):
    """One row: a greedy prefix on the target's sign, then a window for an exact search.

    Valid values of the target's sign are taken largest first (ties by index) while
    their sum stays within ``|t|`` (``greedy``); returns what remains. ``window`` (k
    entries) holds ``(k + 1) // 2`` of the remaining values of the target's sign, then
    ``k // 2`` valid values of the other sign (or zero); ``order`` picks them: the
    largest magnitudes (:data:`WINDOW_LARGEST`), the smallest (:data:`WINDOW_SMALLEST`),
    ties by index, or the first ones (:data:`WINDOW_FIRST`). :data:`WINDOW_FINE` sets
    the window aside first and fits the greedy part around it (:func:`_fine_row`).
    ``window_ok`` is False for padding. Large values reach far; small ones, or a mix,
    resolve a small residual finely.

    ``greedy`` (len(row)) and ``window_ok`` (k) must be all False on entry; ``cls``,
    ``top`` and ``keys`` are work arrays of ``len(row)``, ``len(row) + 1`` and
    ``2 len(row) + 2`` entries.
    """
    if order == WINDOW_FINE or order >= WINDOW_TREE:
        return _fine_row(row, valid, t, k, greedy, window, window_ok, keys, top)
    kall = row.shape[0]
    half_same = (k + 1) // 2
    key_sign = 1.0 if order == WINDOW_LARGEST else (-1.0 if order == WINDOW_SMALLEST
                                                    else 0.0)
    sgn = np.sign(t)
    ns = 0
    for j in range(kall):
        if not valid[j]:
            cls[j] = _INVALID
        elif sgn != 0.0 and np.sign(row[j]) == sgn:
            cls[j] = _SAME
            ns += 1
        else:
            cls[j] = _OTHER
    reach = abs(t)
    total = 0.0
    cap = min(ns, _GREEDY_CAP)
    n_top = _select_top(row, cls, _SAME, 1.0, cap, top)
    p = 0
    while True:
        while p < n_top and total + abs(row[top[p]]) <= reach:
            total += abs(row[top[p]])
            p += 1
        if p < n_top or n_top == ns:
            break
        # the greedy part got past the ordered ones: order them all
        n_top = _select_top(row, cls, _SAME, 1.0, ns, top)
    acc = 0.0
    for q in range(p):
        cls[top[q]] = _TAKEN
    for j in range(kall):          # summed in index order
        if cls[j] == _TAKEN:
            greedy[j] = True
            acc += row[j]
    n_same = _select_top(row, cls, _SAME, key_sign, half_same, top)
    for q in range(n_same):
        window[q] = top[q]
        window_ok[q] = True
    n_other = _select_top(row, cls, _OTHER, key_sign, k - half_same, top)
    for q in range(n_other):
        window[half_same + q] = top[q]
        window_ok[half_same + q] = True
    return t - acc


#: levels of the k-tree search of :data:`WINDOW_TREE` windows (2^levels sorted lists)
TREE_LEVELS = 3


@kernel
def tree_keep(b):
    """Sums kept per merged list of a k-tree over lists of ``b`` values: 1.25 * 2^b, measured
    on first-layer problems of burkholz (125 products of uniforms, 48 values, one
    thread): 64 left 7.5 % of them above 1e-7 at 16.4 us per problem, 80 left 2.7 % at
    17.5 us, 128 left 0.3 % at 20.5 us; with fine windows for those left, 80 is the
    cheapest."""
    return (5 << b) // 4


@kernel
def order_keep(order, b):
    """Sums kept per merge by a k-tree window of ``order`` over lists of ``b`` values: a
    :data:`WINDOW_TREE_WIDE` tree keeps twice :func:`tree_keep`. On the problems a
    :data:`WINDOW_TREE` search leaves above 5e-8 (11 % of them, at 17 us each), it
    leaves 3 % of those, at about half the cost of exact windows of 24 to 28 values."""
    return 2 * tree_keep(b) if order == WINDOW_TREE_WIDE else tree_keep(b)


@kernel
def window_work(kall, k, order):
    """Work arrays of :func:`window_solve_row` for rows of ``kall`` values, windows of k."""
    leaves = 1 << TREE_LEVELS
    if order >= WINDOW_TREE:            # tree lists; no exact search
        b = k // leaves
        cap = 2 * order_keep(order, b)
        width = max(1 << b, cap)
        ma = mb = 1
    else:                               # exact search over two halves; no tree
        b = cap = width = 1
        h = k // 2
        ma, mb = 2 << h, 2 << (k - h)
    return (np.empty(kall, np.int8), np.empty(kall + 1, np.int64), np.empty(2 * kall + 2),
            np.empty(k, np.int64), np.empty(k, np.bool_), np.empty(k), np.empty(k, np.int64),
            np.empty(ma), np.empty(ma, np.uint8), np.empty(mb), np.empty(mb, np.uint8),
            np.empty(leaves, np.int64),            # leaf sizes of a tree window
            (np.empty((2, leaves, width)), np.empty((2, leaves, width), np.uint64),
             np.empty(1 << b), np.empty(1 << b, np.uint64), np.empty(leaves, np.int64),
             np.empty(2 * leaves), np.empty(2 * leaves), np.empty(2 * leaves),
             np.empty(leaves), np.empty(cap), np.empty(cap, np.uint64),
             np.empty(cap + 1, np.int64), np.empty(cap, np.int64)))


@kernel
def _leaf_sums(values, bit0, s0, m0, s1, m1):
    """Sorted subset sums of ``values`` with their bit masks (bit ``bit0 + i`` for value i).

    Merged as :func:`slth.rss.kernels.sorted_subset_sums` merges, two chains per level
    (from the front and from the back), carrying masks instead of flags. Each step picks
    its source by index arithmetic rather than by branches, which the data make
    unpredictable (8 leaves of 6 values: 2.8 us against 4.0 us with branches). Returns
    the arrays holding the result (``s0, m0`` or ``s1, m1``)."""
    s0[0] = 0.0
    m0[0] = 0
    size = 1
    for i in range(values.shape[0]):
        x = values[i]
        bit = np.uint64(1) << np.uint64(bit0 + i)
        last = 2 * size - 1
        af, bf, ae, be = 0, 0, size - 1, size - 1
        for t in range(size):
            sa = s0[af]
            sb = s0[bf] + x
            front_b = np.int64(sb < sa)     # ties: the subset without x first
            s1[t] = sb if front_b else sa
            m1[t] = m0[af + (bf - af) * front_b] | (bit * np.uint64(front_b))
            af += 1 - front_b
            bf += front_b
            ea = s0[ae]
            eb = s0[be] + x
            back_b = np.int64(eb >= ea)
            s1[last - t] = eb if back_b else ea
            m1[last - t] = m0[ae + (be - ae) * back_b] | (bit * np.uint64(back_b))
            be -= back_b
            ae -= 1 - back_b
        s0, s1 = s1, s0
        m0, m1 = m1, m0
        size *= 2
    return s0, m0


@kernel
def _pairs_between(a_s, a_m, b_s, b_m, lo, hi, out_s, out_m):
    """Pairs of the ascending ``a_s`` and ``b_s`` whose sum lies in ``[lo, hi]`` (sums and
    or-ed masks, unsorted), as many as ``out_s`` holds; returns their count."""
    nb = b_s.shape[0]
    cap = out_s.shape[0]
    start = nb                  # b_s[start:end] + a is in [lo, hi]; both only move down
    end = nb
    n = 0
    for i in range(a_s.shape[0]):
        a = a_s[i]
        while start > 0 and b_s[start - 1] + a >= lo:
            start -= 1
        while end > 0 and b_s[end - 1] + a > hi:
            end -= 1
        stop = min(end, start + cap - n)
        ma = a_m[i]
        for j in range(start, stop):
            out_s[n] = a + b_s[j]
            out_m[n] = ma | b_m[j]
            n += 1
        if n == cap:
            break
    return n


@kernel
def _sort_between(s, m, n, lo, hi, counts, key, out_s, out_m):
    """``s[:n]`` (in ``[lo, hi]``) with ``m[:n]``, sorted ascending into ``out_*``: a
    counting sort into n buckets (stable), then an insertion sort, which only has to
    reorder entries within a bucket (about one each)."""
    scale = n / (hi - lo) if hi > lo else 0.0
    for q in range(n + 1):
        counts[q] = 0
    for q in range(n):
        k = min(max(int((s[q] - lo) * scale), 0), n - 1)
        key[q] = k
        counts[k + 1] += 1
    for q in range(n):
        counts[q + 1] += counts[q]
    for q in range(n):
        p = counts[key[q]]
        counts[key[q]] = p + 1
        out_s[p] = s[q]
        out_m[p] = m[q]
    for q in range(1, n):
        if out_s[q - 1] > out_s[q]:
            _keep_smallest(out_s, out_m, q, n, out_s[q], out_m[q])


@kernel
def tree_search(values, sizes, b, t, work, keep):
    """A subset of ``values`` whose sum is close to ``t``, by a k-tree search (Wagner's
    generalized birthday algorithm, as Lyubashevsky applied it to dense subset sums).

    Leaf q of the :data:`TREE_LEVELS`-level tree holds ``values[q b : q b + sizes[q]]``
    and their sorted subset sums. Each node has a target (the root ``t``; a node's
    deviation from the mean of its sums is split between its children in proportion to
    their variances); merging two children keeps the pairs whose sum lies in a window
    around the node's target that holds about ``keep`` of them (its width
    from the density of the pair sums: normal at the first merge, uniform windows
    after), sorted. The root's two lists are scanned for the closest sum
    (:func:`slth.rss.kernels.closest_pair`). Each merge level gains a factor of about
    ``keep`` (:func:`tree_keep`) in accuracy, at a cost linear in the lists' sizes: on
    products of uniforms, ``8 * 6`` values reach about the median error of an exact fine
    window of 24 values (2^12 sums per half) at under half its cost. Not exact: the
    windows can miss the best subset. Returns the subset's bit mask over positions of
    ``values`` (0 when a window came out empty).
    """
    lists_s, lists_m, buf_s, buf_m, cnt, mean, var, tgt, wid, tmp_s, tmp_m, counts, key = work
    leaves = 1 << TREE_LEVELS
    for q in range(leaves):
        v = values[q * b:q * b + sizes[q]]
        s, mk = _leaf_sums(v, q * b, lists_s[0, q], lists_m[0, q], buf_s, buf_m)
        cnt[q] = 1 << sizes[q]
        if sizes[q] % 2:                # the result is in the buffer
            lists_s[0, q, :cnt[q]] = s[:cnt[q]]
            lists_m[0, q, :cnt[q]] = mk[:cnt[q]]
        s1 = 0.0
        s2 = 0.0
        for i in range(sizes[q]):
            s1 += v[i]
            s2 += v[i] * v[i]
        mean[leaves + q] = 0.5 * s1     # of the leaf's subset sums
        var[leaves + q] = 0.25 * s2
    for h in range(leaves - 1, 0, -1):  # heap order: node h has children 2h, 2h + 1
        mean[h] = mean[2 * h] + mean[2 * h + 1]
        var[h] = var[2 * h] + var[2 * h + 1]
    tgt[1] = t
    for h in range(1, leaves):
        v_sum = var[2 * h] + var[2 * h + 1]
        dev = tgt[h] - mean[h]
        tgt[2 * h] = mean[2 * h] + (dev * (var[2 * h] / v_sum) if v_sum > 0.0 else 0.0)
        tgt[2 * h + 1] = tgt[h] - tgt[2 * h]
    cur = 0
    nodes = leaves
    while nodes > 2:
        half = nodes // 2
        for p in range(half):
            h = half + p
            na = cnt[2 * p]
            nb = cnt[2 * p + 1]
            if nodes == leaves:
                z = (tgt[h] - mean[h]) ** 2 / (2.0 * var[h]) if var[h] > 0.0 else np.inf
                dens = na * nb * np.exp(-z) / np.sqrt(2.0 * np.pi * var[h]) if z < np.inf \
                    else 0.0
            else:
                dens = na * nb / max(wid[2 * p], wid[2 * p + 1])
            w = keep / dens if dens > 0.0 else np.inf
            lo = tgt[h] - 0.5 * w
            hi = tgt[h] + 0.5 * w
            n = _pairs_between(lists_s[cur, 2 * p, :na], lists_m[cur, 2 * p, :na],
                               lists_s[cur, 2 * p + 1, :nb], lists_m[cur, 2 * p + 1, :nb],
                               lo, hi, tmp_s, tmp_m)
            if n:
                lo = max(lo, tmp_s[:n].min())   # a finite range for the buckets
                hi = min(hi, tmp_s[:n].max())
            _sort_between(tmp_s, tmp_m, n, lo, hi, counts, key, lists_s[1 - cur, p],
                          lists_m[1 - cur, p])
            cnt[p] = n
            # the next merge's density: the window, or the spread of few sums found in
            # an unbounded one
            wid[p] = min(w, (hi - lo) * (n + 1) / (n - 1)) if n > 1 else w
        cur = 1 - cur
        nodes = half
    if cnt[0] == 0 or cnt[1] == 0:
        return np.uint64(0)
    i, j, _ = closest_pair(lists_s[cur, 0, :cnt[0]], lists_s[cur, 1, :cnt[1]], t)
    return lists_m[cur, 0, i] | lists_m[cur, 1, j]


@kernel
def window_solve_row(row, valid, t, k, order, mask, work):
    """:func:`greedy_window_row`, then the window's valid values, in window order, solved exactly
    against the residual by :func:`slth.rss.kernels.solve_one` (as
    :func:`slth.rss.kernels.solve_rows` would solve them); a :data:`WINDOW_TREE` window is
    dealt, smallest magnitudes first, to the leaves of :func:`tree_search` instead
    (``k // 2^TREE_LEVELS`` values each).

    ``mask`` (all False on entry) receives the greedy part and the chosen window values;
    returns ``|t - sum|`` with the chosen values added in index order. ``work`` is
    :func:`window_work` for this ``order``.
    """
    (cls, top, keys, window, window_ok, packed, at, a_work, a_flags, b_work, b_flags, sizes,
     tree) = work
    window_ok[:] = False
    resid = greedy_window_row(row, valid, t, k, order, mask, window, window_ok, cls, top, keys)
    n = 0
    if order >= WINDOW_TREE:
        leaves = 1 << TREE_LEVELS
        b = k // leaves
        sizes[:] = 0
        # the window holds each sign's values by increasing magnitude: dealing them in
        # turn gives every leaf a similar spread
        g = 0
        for q in range(k):
            if window_ok[q] and sizes[g] < b:
                pos = g * b + sizes[g]
                packed[pos] = row[window[q]]
                at[pos] = window[q]
                sizes[g] += 1
                g = (g + 1) % leaves
        bits = tree_search(packed[:leaves * b], sizes, b, resid, tree, order_keep(order, b))
        for q in range(leaves * b):
            if (bits >> np.uint64(q)) & np.uint64(1):
                mask[at[q]] = True
    else:
        for q in range(k):
            if window_ok[q]:
                packed[n] = row[window[q]]
                at[n] = window[q]
                n += 1
        bits = solve_one(packed[:n], resid, a_work, a_flags, b_work, b_flags)
        for q in range(n):
            if (bits >> np.uint64(q)) & np.uint64(1):
                mask[at[q]] = True
    total = 0.0
    for j in range(row.shape[0]):          # summed in index order
        if mask[j]:
            total += row[j]
    return abs(t - total)


@parallel_kernel
def greedy_window_solve(values, valid, targets, k, order, masks, errors):
    """Per row, :func:`greedy_window_row`, then the window solved exactly
    (:func:`window_solve_row`), in one pass. ``masks`` must be all False on entry.
    """
    m, kall = values.shape
    chunk = 64
    for c in prange((m + chunk - 1) // chunk):
        work = window_work(kall, k, order)
        for r in range(c * chunk, min(m, (c + 1) * chunk)):
            errors[r] = window_solve_row(values[r], valid[r], targets[r], k, order, masks[r],
                                         work)


@parallel_kernel
def gathered_window_solve(W, idx, scale, valid, targets, k, order, masks, errors):
    """:func:`greedy_window_solve` on candidates gathered from the rows of ``W``.

    Problem ``p = r d_in + i`` (``d_in = idx.shape[0]``) has the candidates
    ``W[r, idx[i]] * scale[i]``, valid where ``valid[i]``, and the target ``targets[p]``;
    they are gathered row by row, so the ``(rows * d_in, kall)`` candidate matrix is
    never formed. ``masks`` must be all False on entry.
    """
    d_in, kall = idx.shape
    m = targets.shape[0]
    chunk = 64
    for c in prange((m + chunk - 1) // chunk):
        work = window_work(kall, k, order)
        row = np.empty(kall)
        for p in range(c * chunk, min(m, (c + 1) * chunk)):
            r = p // d_in
            i = p - r * d_in
            for t in range(kall):
                row[t] = W[r, idx[i, t]] * scale[i, t]
            errors[p] = window_solve_row(row, valid[i], targets[p], k, order, masks[p], work)
