"""numba kernels of the multidimensional random subset sum (MRSS) solvers.

Kernels only compute: inputs are validated, cast to C-contiguous float64 and
allocated by :mod:`slth.mrss.solve`. Norms are passed as integer codes
(0: infinity norm, 1: l1 norm, 2: l2 norm) and compared through a monotone
"cost" (the norm itself for codes 0 and 1, the squared norm for code 2), so a
partial cost can stop a scan as soon as it exceeds the best one found.

Randomness of the local search comes from a splitmix64 stream whose 64-bit seed
is drawn by numpy per problem, so results do not depend on thread scheduling.
All helpers live in this module (numba's cache does not track other files).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from slth._numba import kernel, parallel_kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@kernel
def half_sums(vectors):
    """All 2^h subset sums of the h rows of ``vectors``; row i holds the set of bits of i."""
    h, d = vectors.shape
    out = np.zeros((1 << h, d))
    for j in range(h):
        step = 1 << j
        for i in range(step):
            for k in range(d):
                out[step + i, k] = out[i, k] + vectors[j, k]
    return out


@kernel
def bits_to_mask(index, h, mask, offset):
    """Set ``mask[offset + j]`` for every bit j of ``index`` (the layout of :func:`half_sums`)."""
    for j in range(h):
        mask[offset + j] = (index >> j) & 1 == 1


@kernel
def _next_u64(state):
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@kernel
def _randint(state, n):
    return np.int64(_next_u64(state) % np.uint64(n))


@kernel
def _cost(r, norm_code):
    c = 0.0
    if norm_code == 0:
        for k in range(r.shape[0]):
            a = abs(r[k])
            if a > c:
                c = a
    elif norm_code == 1:
        for k in range(r.shape[0]):
            c += abs(r[k])
    else:
        for k in range(r.shape[0]):
            c += r[k] * r[k]
    return c


@kernel
def _cost_of_difference(u, w, norm_code, bound):
    """Cost of ``u - w``, or any value >= ``bound`` as soon as the partial cost reaches it."""
    c = 0.0
    for k in range(u.shape[0]):
        a = abs(u[k] - w[k])
        if norm_code == 0:
            if a > c:
                c = a
        elif norm_code == 1:
            c += a
        else:
            c += a * a
        if c >= bound:
            return c
    return c


@kernel
def _reach(cost, norm_code):
    """Largest |difference| in one coordinate compatible with a cost below ``cost``."""
    return np.sqrt(cost) if norm_code == 2 else cost


@kernel
def _residual(vectors, target, mask, r):
    n, d = vectors.shape
    for k in range(d):
        r[k] = target[k]
    for i in range(n):
        if mask[i]:
            for k in range(d):
                r[k] -= vectors[i, k]


@kernel
def _local_search(vectors, mask, r, norm_code, max_moves, depth, w, u, v):
    """Best-improvement descent over moves of up to ``depth`` (1-3) flips; returns the cost.

    Single flips and pairs are scanned at every step; triples only when no
    single flip or pair improves. ``r`` holds the residual
    target - sum(vectors[mask]) on entry and on exit.
    """
    n, d = vectors.shape
    current = _cost(r, norm_code)
    for _ in range(max_moves):
        best = current
        bi = -1
        bj = -1
        for i in range(n):
            sign = -1.0 if mask[i] else 1.0
            for k in range(d):
                w[i, k] = sign * vectors[i, k]
                u[i, k] = r[k] - w[i, k]
            c = _cost(u[i], norm_code)
            if c < best:
                best = c
                bi = i
                bj = -1
        bl = -1
        if depth >= 2:
            # Candidates sorted by their first coordinate: only a window around the
            # value that would cancel the residual can beat the best cost.
            order = np.argsort(w[:, 0])
            first = w[order, 0]
            for i in range(n):
                half = _reach(best, norm_code)
                lo = np.searchsorted(first, u[i, 0] - half, side="left")
                hi = np.searchsorted(first, u[i, 0] + half, side="right")
                for idx in range(lo, hi):
                    j = order[idx]
                    if j <= i:
                        continue
                    c = _cost_of_difference(u[i], w[j], norm_code, best)
                    if c < best:
                        best = c
                        bi = i
                        bj = j
            if bi < 0 and depth >= 3:
                for i in range(n):
                    for j in range(i + 1, n):
                        for k in range(d):
                            v[k] = u[i, k] - w[j, k]
                        half = _reach(best, norm_code)
                        lo = np.searchsorted(first, v[0] - half, side="left")
                        hi = np.searchsorted(first, v[0] + half, side="right")
                        for idx in range(lo, hi):
                            l = order[idx]
                            if l <= j:
                                continue
                            c = _cost_of_difference(v, w[l], norm_code, best)
                            if c < best:
                                best = c
                                bi = i
                                bj = j
                                bl = l
        if bi < 0:
            break
        mask[bi] = not mask[bi]
        if bj >= 0:
            mask[bj] = not mask[bj]
        if bl >= 0:
            mask[bl] = not mask[bl]
        for k in range(d):
            r[k] = u[bi, k]
            if bj >= 0:
                r[k] -= w[bj, k]
            if bl >= 0:
                r[k] -= w[bl, k]
        current = best
    return current


@kernel
def _chain(vectors, mask, r, norm_code, length, locked, path, trial):
    """One ejection chain: up to ``length`` best single flips, each vector at most once.

    Worsening flips are allowed; the chain is cut back to its best prefix.
    Returns True when that prefix improves the cost (``mask`` and ``r`` updated).
    """
    n, d = vectors.shape
    start = _cost(r, norm_code)
    best = start
    best_len = 0
    for k in range(d):
        trial[k] = r[k]
    for i in range(n):
        locked[i] = False
    steps = min(length, n)
    for step in range(steps):
        pick = -1
        pick_cost = np.inf
        for i in range(n):
            if locked[i]:
                continue
            sign = -1.0 if mask[i] else 1.0
            c = 0.0
            for k in range(d):
                a = abs(trial[k] - sign * vectors[i, k])
                if norm_code == 0:
                    if a > c:
                        c = a
                elif norm_code == 1:
                    c += a
                else:
                    c += a * a
                if c >= pick_cost:
                    break
            if c < pick_cost:
                pick_cost = c
                pick = i
        sign = -1.0 if mask[pick] else 1.0
        for k in range(d):
            trial[k] -= sign * vectors[pick, k]
        mask[pick] = not mask[pick]
        locked[pick] = True
        path[step] = pick
        if pick_cost < best:
            best = pick_cost
            best_len = step + 1
    for step in range(steps - 1, best_len - 1, -1):
        i = path[step]
        mask[i] = not mask[i]
    if best_len == 0:
        return False
    for step in range(best_len):
        i = path[step]
        sign = 1.0 if mask[i] else -1.0
        for k in range(d):
            r[k] -= sign * vectors[i, k]
    return best < start


@kernel
def _descend(vectors, mask, r, norm_code, max_moves, depth, chain, w, u, v, locked, path,
             trial):
    """Local search, then ejection chains of length ``chain`` while they improve."""
    _local_search(vectors, mask, r, norm_code, max_moves, depth, w, u, v)
    if chain > 0:
        for _ in range(max_moves):
            if not _chain(vectors, mask, r, norm_code, chain, locked, path, trial):
                break
            _local_search(vectors, mask, r, norm_code, max_moves, depth, w, u, v)


@kernel
def heuristic_one(vectors, target, init, use_init, norm_code, restarts, kicks, kick_size,
                  max_moves, depth, chain, seed, best_mask):
    """Iterated local search for one target; writes ``best_mask`` and returns its cost.

    Each of ``restarts`` starts is a random subset improved by one greedy pass
    of flips (in the l2 norm) over a random order of the vectors (the first
    start is ``init`` when ``use_init``), followed by a descent; each of
    ``kicks`` perturbations flips ``kick_size`` random entries of the start's
    best mask and descends again, keeping the result when it is no worse.
    Descents use moves of up to ``depth`` flips, then ejection chains of
    length ``chain`` while they improve.
    """
    n, d = vectors.shape
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed
    w = np.empty((n, d))
    u = np.empty((n, d))
    v = np.empty(d)
    r = np.empty(d)
    mask = np.zeros(n, dtype=np.bool_)
    local = np.zeros(n, dtype=np.bool_)
    order = np.arange(n)
    locked = np.zeros(n, dtype=np.bool_)
    path = np.zeros(n, dtype=np.int64)
    trial = np.empty(d)
    overall = np.inf
    for start in range(restarts):
        if start == 0 and use_init:
            for i in range(n):
                mask[i] = init[i]
            _residual(vectors, target, mask, r)
        else:
            for i in range(n - 1, 0, -1):
                j = _randint(state, i + 1)
                order[i], order[j] = order[j], order[i]
            # A random subset, then a greedy pass of flips in the squared l2 norm
            # (in the infinity norm a single flip rarely lowers the largest
            # coordinate, and starts would hardly differ).
            for i in range(n):
                mask[i] = (_next_u64(state) >> np.uint64(63)) == np.uint64(1)
            _residual(vectors, target, mask, r)
            current = _cost(r, 2)
            for t in range(n):
                i = order[t]
                sign = -1.0 if mask[i] else 1.0
                c = 0.0
                for k in range(d):
                    a = r[k] - sign * vectors[i, k]
                    c += a * a
                if c < current:
                    mask[i] = not mask[i]
                    for k in range(d):
                        r[k] -= sign * vectors[i, k]
                    current = c
        _descend(vectors, mask, r, norm_code, max_moves, depth, chain, w, u, v, locked, path,
                 trial)
        _residual(vectors, target, mask, r)
        start_best = _cost(r, norm_code)
        for i in range(n):
            local[i] = mask[i]
        for _ in range(kicks):
            for i in range(n):
                mask[i] = local[i]
            for _ in range(kick_size):
                i = _randint(state, n)
                mask[i] = not mask[i]
            _residual(vectors, target, mask, r)
            _descend(vectors, mask, r, norm_code, max_moves, depth, chain, w, u, v, locked, path,
                     trial)
            _residual(vectors, target, mask, r)
            c = _cost(r, norm_code)
            if c <= start_best:
                start_best = c
                for i in range(n):
                    local[i] = mask[i]
        if start_best < overall:
            overall = start_best
            for i in range(n):
                best_mask[i] = local[i]
    return overall


@parallel_kernel
def heuristic_many(vectors, targets, init, use_init, norm_code, restarts, kicks, kick_size,
                   max_moves, depth, chain, seeds, masks, costs):
    """:func:`heuristic_one` for each row of ``targets``, in parallel over targets.

    ``vectors`` has shape (m, n, d) or (1, n, d) (shared); row t writes only
    ``masks[t]`` and ``costs[t]``.
    """
    m = targets.shape[0]
    shared = vectors.shape[0] == 1
    for t in prange(m):
        v = vectors[0] if shared else vectors[t]
        costs[t] = heuristic_one(v, targets[t], init[t], use_init, norm_code, restarts, kicks,
                                 kick_size, max_moves, depth, chain, seeds[t], masks[t])
