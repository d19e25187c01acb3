"""The batched subset-sum search every construction shares.

A construction reduces each target weight to a random subset-sum problem over the
candidate values its source offers (products of two source weights, or plain source
weights), and solves millions of them in batches. This module holds that search:

* :func:`solve_problems`: exact subset sums of a batch (meet in the middle,
  :func:`slth.rss.solve_many`), grouped by the number of valid candidates;
* :func:`solve_greedy_window`: greedy on the target's sign, then an exact window (or a
  k-tree) over a few values, for problems with many candidates;
* :func:`solve_with_retry`, :func:`second_attempt`, :func:`refine_windows`: further
  attempts for the problems whose error is above a tolerance;
* :class:`UnivariateLayer`: the problems of a univariate (sign-split or linear-regime)
  layer and the layer after it, with candidates gathered from the source rows;
* :func:`kept_entries`, :func:`prefix_index`: the kept weights as COO pieces, and the
  candidate indices of each block;
* :func:`progress_bar`: the tqdm bar of a build.

Every reported error is recomputed from the chosen values, added in index order
(:func:`achieved_errors`). The kernels of the approximate searches are in
:mod:`slth.rss.window_kernels`, those of the exact search in :mod:`slth.rss.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import prange
from tqdm import tqdm

from slth._numba import num_threads, parallel_kernel
from slth._validate import check_choice
from slth.rss import window_kernels
from slth.rss.solve import _check_n, subset_sums

__all__ = ["UnivariateLayer", "achieved_errors", "kept_entries", "prefix_index",
           "progress_bar", "refine_windows", "second_attempt", "solve_greedy_window",
           "solve_problems", "solve_with_retry"]

#: Problems per call to the subset-sum engine (bounds the temporary arrays).
CHUNK = 1 << 16

#: Window orders of :func:`solve_greedy_window` and their kernel codes.
WINDOW_ORDERS = {"largest": window_kernels.WINDOW_LARGEST,
                 "smallest": window_kernels.WINDOW_SMALLEST,
                 "first": window_kernels.WINDOW_FIRST, "fine": window_kernels.WINDOW_FINE,
                 "tree": window_kernels.WINDOW_TREE,
                 "tree_wide": window_kernels.WINDOW_TREE_WIDE}


def solve_problems(values, targets, valid, *, threads=None, max_bytes=None):
    """Exact subset sums for a batch; invalid (padding) entries are never selected.

    Problems are grouped by their number of valid values, each group solved with exactly
    that many (exact subset sum costs ``2^(k/2)`` per problem, so padding would make every
    problem pay for the longest). Returns masks ``(m, k)`` and the achieved errors
    ``|t - sum(values[mask])|``, recomputed here from the masks.
    """
    from slth.rss import solve_many

    m, k = values.shape
    if k == 0 or m == 0:
        return np.zeros((m, k), dtype=bool), np.abs(targets)
    v = np.where(valid, values, 0.0)
    counts = valid.sum(axis=1)
    masks = np.zeros((m, k), dtype=bool)
    if (counts == k).all():        # the common case: nothing to pack
        for s in range(0, m, CHUNK):
            masks[s:s + CHUNK] = solve_many(np.ascontiguousarray(v[s:s + CHUNK]),
                                            np.ascontiguousarray(targets[s:s + CHUNK]),
                                            max_bytes=max_bytes, threads=threads)[0]
        return masks, achieved_errors(v, masks, targets, threads)
    order = np.argsort(~valid, axis=1, kind="stable")         # valid entries first
    packed = np.take_along_axis(v, order, axis=1)
    for cnt in np.unique(counts):
        if cnt == 0:
            continue
        rows = np.flatnonzero(counts == cnt)
        for s in range(0, rows.size, CHUNK):
            r = rows[s:s + CHUNK]
            sub = np.asarray(solve_many(np.ascontiguousarray(packed[r, :cnt]),
                                        np.ascontiguousarray(targets[r]),
                                        max_bytes=max_bytes, threads=threads)[0], dtype=bool)
            full = np.zeros((r.size, k), dtype=bool)
            np.put_along_axis(full, order[r, :cnt], sub, axis=1)
            masks[r] = full
    return masks, achieved_errors(v, masks, targets, threads)


def achieved_errors(values, masks, targets, threads=None):
    """``|targets - sum(values[mask])|`` per row, the chosen values added in index order
    (:func:`slth.rss.subset_sums`)."""
    return np.abs(targets - subset_sums(values, masks, threads))


def _check_window(k: int, opts: dict) -> None:
    """Refuse windows whose exact search would not fit in ``opts["max_bytes"]`` (on the
    threads in use)."""
    import numba

    _check_n(k, numba.get_num_threads(), opts.get("max_bytes"), "k")


def solve_greedy_window(values, valid, targets, k: int, opts: dict, order: str = "largest"):
    """Subset sums that reach far: greedy on the target's sign, then an exact window.

    Per problem, the valid values of the target's sign are taken largest first while
    their sum stays within ``|target|``; the residual is then solved exactly over a
    window of the remaining valid values, ``ceil(k / 2)`` of the target's sign and
    ``k // 2`` of the other (fewer when a side runs out). Unlike the ``k`` values of
    largest magnitude, this window cannot be one-sided, and the greedy part reaches
    targets beyond the sum of ``k`` values. ``order`` (one of :data:`WINDOW_ORDERS`)
    picks the window's values of each sign: the ``"largest"`` magnitudes (reach), the
    ``"smallest"`` (a fine grid around a small residual), or the ``"first"`` ones in
    column order. ``"fine"`` reverses the two steps: the smallest magnitudes of each
    sign are set aside for the window first, and the greedy part then takes every
    other value of the target's sign, largest first, that still fits within
    ``|target|`` (skipping those that overshoot). The residual ends below the smallest
    skipped value, where the window's small values form the finest grid of sums: on
    products of uniforms it reaches the error of an exact prefix with about two fewer
    values. ``"tree"`` selects as ``"fine"`` does and searches the window (``k`` a
    multiple of 8, at most 64) with a k-tree instead
    (:func:`slth.rss.window_kernels.tree_search`): not exact, but on products of
    uniforms 48 values reach about the median error of a fine window of 24 at under half
    its cost; ``"tree_wide"`` keeps twice the sums per merge, for about 1.3 times the
    cost. Deterministic.

    Returns masks over all candidates ``(m, kall)`` and the achieved errors.

    Examples
    --------
    >>> v = np.array([[0.9, -1.5, -1.4, -1.3, 0.4, 0.3, -0.2, 0.05]])
    >>> masks, err = solve_greedy_window(v, np.ones_like(v, bool), np.array([1.6]), 4, {})
    >>> masks.astype(int).tolist(), round(float(err[0]), 12)
    ([[1, 0, 0, 0, 1, 1, 0, 0]], 0.0)
    """
    code = WINDOW_ORDERS[check_choice(order, "order", tuple(WINDOW_ORDERS))]
    m, kall = values.shape
    masks = np.zeros((m, kall), dtype=bool)
    errors = np.empty(m)
    tree = order in ("tree", "tree_wide")
    if tree and (k % 8 or not 8 <= k <= 64):
        raise ValueError(f"k must be a multiple of 8 between 8 and 64 for order {order!r}, "
                         f"got {k!r}")
    with num_threads(opts.get("threads")):
        if not tree:                    # a k-tree's lists are small
            _check_window(k, opts)
        window_kernels.greedy_window_solve(np.ascontiguousarray(values, dtype=np.float64),
                                           np.ascontiguousarray(valid),
                                           np.ascontiguousarray(targets), k, code, masks, errors)
    return masks, errors


def solve_with_retry(values, valid, targets, k: int, tol: float, opts: dict,
                     span: int | None = None, orders=("largest",), first: str | None = None,
                     exhaustive: int = 0, refine_tol: float = np.inf, refine_values: int = 0):
    """Subset sums over at most ``k`` of the candidate values of each problem.

    First attempt: the first ``k`` valid candidates (a prefix, in neuron order), or, with
    ``first`` (a window order), :func:`solve_greedy_window` over the first ``span``
    candidates, for targets beyond the reach of ``k`` values. Problems whose error
    exceeds ``tol`` get further attempts, :func:`solve_greedy_window` over their first
    ``span`` candidates (default all) with each window order of ``orders`` in turn (see
    :func:`second_attempt`), when there are more than ``k``, and unless the first attempt
    was exact over all their valid candidates; the best answer is kept. Deterministic.

    Problems above ``refine_tol`` then get finer windows of up to ``refine_values``
    values (:func:`refine_windows`). With ``exhaustive >= span``, problems still above
    ``tol`` then get attempts exact
    over their first ``span``, ``span + 1``, ..., ``min(kall, exhaustive)`` candidates
    in turn, each for those still above ``tol``: candidates beyond ``span`` are used only
    where the first ``span`` cannot reach ``tol``, and as few of them as that takes. An
    exact attempt over ``w`` values costs about ``2^(w / 2)``.

    Returns masks over all candidates ``(m, kall)`` and the achieved errors.

    Examples
    --------
    Six values, windows of two: they stay 0.07 away from the target; the exact attempt
    over all six candidates reaches it (0.74 + 0.35 - 0.67).

    >>> v = np.array([[0.74, 0.27, -0.01, -0.67, 0.35, -0.36]])
    >>> t, ok = np.array([0.42]), np.ones_like(v, bool)
    >>> round(float(solve_with_retry(v, ok, t, 2, 1e-9, {}, first="fine")[1][0]), 12)
    0.07
    >>> _, err = solve_with_retry(v, ok, t, 2, 1e-9, {}, first="fine", exhaustive=6)
    >>> round(float(err[0]), 12)
    0.0
    """
    m, kall = values.shape
    k = min(k, kall)
    span = kall if span is None else min(span, kall)
    masks = np.zeros((m, kall), dtype=bool)
    if first is None:
        sub, err = solve_problems(values[:, :k], targets, valid[:, :k], **opts)
        masks[:, :k] = sub
    else:
        masks[:, :span], err = solve_greedy_window(values[:, :span], valid[:, :span], targets,
                                                   k, opts, first)
    settled = exact_over_all(valid[:, :span], k, first)
    rows, sub2 = second_attempt(err, targets, k, tol, opts, span,
                                lambda bad: (values[bad, :span], valid[bad, :span]), orders,
                                settled=settled)
    masks[rows] = False
    masks[rows, :span] = sub2
    refine_windows(masks, err, targets, k, refine_tol, refine_values, opts,
                   lambda bad: (values[bad, :span], valid[bad, :span]),
                   valid[:, :span].sum(axis=1))
    for width in range(span, min(kall, exhaustive) + 1):
        above = err > tol
        if width == span:       # only where the first attempt was not exact over them
            bad = np.flatnonzero(above if settled is None else above & ~settled)
        else:                   # only where the new candidate is valid
            bad = np.flatnonzero(above & valid[:, width - 1])
        if not bad.size:
            continue
        sub, err2 = solve_problems(values[bad, :width], targets[bad], valid[bad, :width],
                                   **opts)
        improved = err2 < err[bad]
        better = bad[improved]
        err[better] = err2[improved]
        masks[better] = False
        masks[better, :width] = sub[improved]
    return masks, err


def refine_windows(masks, err, targets, k: int, tol: float, max_values: int, opts: dict,
                   candidates, counts, tree_values: int = 0):
    """Finer windows for the problems whose error is above ``tol``.

    ``"fine"`` windows (:func:`solve_greedy_window`) of ``k + 2, k + 4, ...,
    max_values`` values in turn, each for the problems still above ``tol`` that have
    more valid candidates (``counts``) than the previous window held; the better answer
    is kept. Each step costs about twice the one before per problem, on fewer problems:
    the errors that a certified bound cannot afford are driven down where they occur.
    With ``tree_values``, a ``"tree_wide"`` window of that many values comes first
    (after a ``"tree"`` first attempt it leaves about a tenth of the problems for the
    fine windows, at about half their cost). ``candidates(bad)`` returns the values and
    validity of those problems; ``masks`` (at least as wide) and ``err`` are updated in
    place. Returns the number of problems of the first step.
    """
    first = 0
    steps = [(tree_values, "tree_wide")] if tree_values else []
    steps += [(width, "fine") for width in range(k + 2, max_values + 1, 2)]
    for width, order in steps:
        above = err > tol
        bad = np.flatnonzero(above if order == "tree_wide" else above & (counts > width - 2))
        if not bad.size:
            break
        first = first or bad.size
        values, ok = candidates(bad)
        sub, e = solve_greedy_window(values, ok, targets[bad], width, opts, order)
        better = e < err[bad]
        rows = bad[better]
        err[rows] = e[better]
        masks[rows] = False
        masks[rows, :sub.shape[1]] = sub[better]
    return first


def exact_over_all(valid, k: int, first: str | None = None):
    """Problems whose first attempt with ``k`` values was exact over all their valid
    candidates, so that no further attempt can improve it: those with no valid candidate
    after the first ``k`` (a prefix, ``first=None``), or with at most ``k`` valid ones
    (a ``"fine"`` window holds them all and its greedy part takes none). ``None`` for
    the other windows, whose greedy part commits to values first."""
    if first is None:
        return ~valid[:, k:].any(axis=1)
    if first == "fine":
        return valid.sum(axis=1) <= k
    return None


def second_attempt(err, targets, k: int, tol: float, opts: dict, width: int, candidates,
                   orders=("largest",), settled=None):
    """The further attempts of :func:`solve_with_retry` for the problems with ``err > tol``.

    One :func:`solve_greedy_window` per window order in ``orders``, each for the problems
    still above ``tol`` and not ``settled`` (a boolean mask of problems already solved
    exactly over all their candidates, see :func:`exact_over_all`). ``candidates(bad)``
    returns the values and validity ``(len(bad), width)`` of those problems (built only
    for them); nothing is retried when ``width <= k``. Updates ``err`` in place and
    returns the rows whose answer improved, with their best masks over their candidates.
    """
    rows, masks = [np.zeros(0, dtype=np.int64)], [np.zeros((0, width), dtype=bool)]
    for order in orders if width > k else ():
        above = err > tol
        bad = np.flatnonzero(above if settled is None else above & ~settled)
        if not bad.size:
            break
        values, valid = candidates(bad)
        sub, err2 = solve_greedy_window(values, valid, targets[bad], k, opts, order)
        better = err2 < err[bad]
        err[bad[better]] = err2[better]
        rows.append(bad[better])
        masks.append(sub[better])
    rows, masks = np.concatenate(rows), np.concatenate(masks)
    # a row improved twice keeps its last (best) answer
    last = rows.size - 1 - np.unique(rows[::-1], return_index=True)[1]
    return rows[last], masks[last]


@parallel_kernel
def _gather_scaled(W, rows, blocks, idx, scale, out):  # pragma: no cover - compiled
    # out[b] = W[rows[b], idx[blocks[b]]] * scale[blocks[b]]: the candidates of the problems
    # to retry, in one pass (numpy's fancy indexing builds index arrays of the same size)
    for b in prange(rows.shape[0]):
        r = rows[b]
        i = blocks[b]
        for t in range(idx.shape[1]):
            out[b, t] = W[r, idx[i, t]] * scale[i, t]


@parallel_kernel
def _count_kept(masks, counts):  # pragma: no cover - compiled
    for p in prange(masks.shape[0]):
        kept = 0
        for t in range(masks.shape[1]):
            kept += masks[p, t]
        counts[p] = kept


@parallel_kernel
def _kept_entries(W, idx, masks, starts, row0, rows, cols, vals):  # pragma: no cover
    # the kept weights of problem p = r d_in + i, in (p, t) order from starts[p]: source
    # row row0 + r, column idx[i, t], value W[r, idx[i, t]] (np.nonzero and fancy
    # indexing, in one parallel pass)
    d_in = idx.shape[0]
    for p in prange(masks.shape[0]):
        r = p // d_in
        i = p - r * d_in
        o = starts[p]
        for t in range(masks.shape[1]):
            if masks[p, t]:
                c = idx[i, t]
                rows[o] = row0 + r
                cols[o] = c
                vals[o] = W[r, c]
                o += 1


def kept_entries(W, idx, masks, row0: int, threads=None):
    """COO pieces (rows, cols, values) of the weights ``masks`` keeps.

    Problem ``p = r d_in + i`` (``d_in = idx.shape[0]``) keeps ``W[r, idx[i, t]]`` where
    ``masks[p, t]``; its source row is ``row0 + r``. Entries are in (problem, position)
    order.

    Examples
    --------
    >>> W = np.arange(8.0).reshape(2, 4)
    >>> idx = np.array([[0, 1], [2, 3]])
    >>> masks = np.array([[True, False], [True, True], [False, False], [False, True]])
    >>> [a.tolist() for a in kept_entries(W, idx, masks, 10)]
    [[10, 10, 10, 11], [0, 2, 3, 3], [0.0, 2.0, 3.0, 7.0]]
    """
    counts = np.empty(masks.shape[0], dtype=np.int64)
    with num_threads(threads):
        _count_kept(masks, counts)
        starts = np.zeros(masks.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        total = int(starts[-1])
        rows = np.empty(total, dtype=np.int64)
        cols = np.empty(total, dtype=np.int64)
        vals = np.empty(total)
        _kept_entries(W, idx, masks, starts, row0, rows, cols, vals)
    return rows, cols, vals


def prefix_index(select: np.ndarray, blocks: int, m: int, cap: int):
    """Per block of ``m`` consecutive neurons, the first ``cap`` indices with ``select``.

    Returns ``idx`` (blocks, k) of global neuron indices (0 where padded) and ``valid``.
    """
    sel = select.reshape(blocks, m)
    rank = np.cumsum(sel, axis=1) - 1
    k = int(min(cap, sel.sum(axis=1).max(initial=0)))
    idx = np.zeros((blocks, k), dtype=np.int64)
    valid = np.zeros((blocks, k), dtype=bool)
    b, pos = np.nonzero(sel & (rank < k))
    idx[b, rank[b, pos]] = b * m + pos
    valid[b, rank[b, pos]] = True
    return idx, valid


class UnivariateLayer:
    """The univariate layer of a sign-split (or linear-regime) pair, and its solver.

    ``u[s]`` is the weight of hidden neuron ``s`` to its input ``s // m``. Every
    subset-sum problem uses at most ``cap`` values. The first attempt is exact over the
    first ``cap`` candidates of each half block, or, with ``first`` (a window order of
    :func:`solve_greedy_window`), a greedy window of ``first_values`` values over all of
    them; problems still above ``tol`` get the further attempts of ``orders``, and those
    above ``refine_tol`` finer windows of up to ``refine_values`` values
    (:func:`refine_windows`). Once more than half of the problems solved so far needed
    the first finer window, the first attempts of the later calls use it directly (two
    more values: its cost is about 1.5 times that of the first attempt, which it makes
    redundant); this depends only on the earlier calls' results. A ``"tree"`` first
    attempt (a k-tree search over ``first_values`` values, not bounded by ``cap``) is
    followed by the same further attempts, and by fine windows from ``cap + 2`` values.

    With ``positive_only`` (sign split only), only the neurons with ``u > 0`` are
    candidates and only that side is solved: for ReLU neurons whose inputs are
    themselves ReLU outputs (``x >= 0``), ``relu(u x) = 0`` whenever ``u < 0``, so the
    other half block is dead and a subset sum over it could change nothing.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u = rng.uniform(-1.0, 1.0, 2 * 8)             # d_in = 2 inputs, blocks of m = 8
    >>> W = rng.uniform(-1.0, 1.0, (3, 16))
    >>> wt = rng.uniform(-0.5, 0.5, (3, 2))
    >>> both = UnivariateLayer(u, 2, 8, 8, homogeneous=True).solve_rows(W, wt, 0, {})
    >>> live = UnivariateLayer(u, 2, 8, 8, homogeneous=True,
    ...                        positive_only=True).solve_rows(W, wt, 0, {})
    >>> len(both[3]), len(live[3]), bool((u[np.concatenate(live[1])] > 0).all())
    (2, 1, True)
    >>> bool(np.array_equal(both[3][0], live[3][0]))   # the same answers on the live side
    True
    """

    def __init__(self, u: np.ndarray, d_in: int, m: int, cap: int, homogeneous: bool,
                 gain: float = 1.0, tol: float = np.inf, orders=("largest",),
                 first: str | None = None, first_values: int | None = None,
                 refine_tol: float = np.inf, refine_values: int = 0,
                 positive_only: bool = False):
        self.u, self.d_in, self.m, self.gain, self.cap, self.tol = u, d_in, m, gain, cap, tol
        self.refine_tol, self.refine_values = refine_tol, refine_values
        self.orders, self.first = orders, first
        self.first_values = (cap if first_values is None else
                             first_values if first == "tree" else min(first_values, cap))
        self.homogeneous = homogeneous
        self.first_extra = 0                # values added to first_values (see above)
        self._solved = self._refined = 0
        if positive_only and not homogeneous:
            raise ValueError("positive_only=True needs homogeneous=True (a sign-split layer), "
                             "got homogeneous=False")
        if homogeneous:
            self.sides = [prefix_index(u > 0, d_in, m, m)]
            if not positive_only:
                self.sides.append(prefix_index(u < 0, d_in, m, m))
        else:
            self.sides = [prefix_index(np.ones_like(u, dtype=bool), d_in, m, m)]

    @property
    def values_per_problem(self) -> int:
        """Values searched jointly per problem (a k-tree's window, else at most ``cap``)."""
        most = self.first_values if self.first == "tree" else self.cap
        return min(most, max(s[0].shape[1] for s in self.sides))

    def solve_rows(self, W: np.ndarray, wt: np.ndarray, row0: int, opts: dict):
        """Solve every weight of the rows ``W`` (source rows) against targets ``wt``.

        The first attempt gathers only the candidates it reads (the prefix of each half
        block, or all of them for a ``first`` window), the further attempts
        (:func:`second_attempt`) all of them, and only for the problems that need it.
        Returns COO pieces (rows, cols, values) of the kept weights and one error
        array ``(R, d_in)`` per side solved (``u > 0`` first).
        """
        R, d_in = W.shape[0], self.d_in
        targets = wt.reshape(-1)
        tree = self.first == "tree"           # its leaves keep their size; short rows pad
        rows, cols, vals, errs = [], [], [], []
        for idx, valid in self.sides:
            kall = idx.shape[1]
            k = min(self.cap, kall)
            scale = self.u[idx] * self.gain                          # (d_in, kall)

            def candidates(bad, idx=idx, scale=scale, valid=valid):
                r, i = np.divmod(bad, d_in)
                values = np.empty((bad.size, idx.shape[1]))
                with num_threads(opts.get("threads")):
                    _gather_scaled(W, r, i, idx, scale, values)
                return values, valid[i]

            k_first = (k if self.first is None else self.first_values if tree
                       else min(self.first_values + self.first_extra, kall))
            if self.first is None:
                values = W[:, idx[:, :k]] * scale[:, :k]              # (R, d_in, k)
                sub = np.zeros((R * d_in, kall), dtype=bool)
                sub[:, :k], err = solve_problems(
                    values.reshape(R * d_in, k), targets,
                    np.broadcast_to(valid[:, :k], (R, d_in, k)).reshape(R * d_in, k), **opts)
                del values
            else:
                sub = np.zeros((R * d_in, kall), dtype=bool)
                err = np.empty(R * d_in)
                with num_threads(opts.get("threads")):
                    if not tree:                # a k-tree's lists are small
                        _check_window(k_first, opts)
                    window_kernels.gathered_window_solve(W, idx, scale, valid, targets, k_first,
                                                         WINDOW_ORDERS[self.first], sub, err)
            settled = exact_over_all(valid, k_first, self.first)      # per input block
            again, sub2 = second_attempt(err, targets, k, self.tol, opts, kall, candidates,
                                         self.orders,
                                         None if settled is None else np.tile(settled, R))
            sub[again] = sub2
            self._refined += refine_windows(sub, err, targets, k if tree else k_first,
                                            self.refine_tol,
                                            self.refine_values, opts, candidates,
                                            np.tile(valid.sum(axis=1), R),
                                            tree_values=k_first if tree else 0)
            self._solved += R * d_in
            r, c, v = kept_entries(W, idx, sub, row0, opts.get("threads"))
            rows.append(r)
            cols.append(c)
            vals.append(v)
            errs.append(err.reshape(R, d_in))
        if (self.first not in (None, "tree") and 2 * self._refined > self._solved
                and self.first_values + self.first_extra + 2 <= self.refine_values):
            self.first_extra += 2
            self._solved = self._refined = 0
        return rows, cols, vals, errs


def progress_bar(total: int, enabled: bool | None, problems: int, desc: str):
    if enabled is None:
        enabled = problems > 250_000
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="block")
