"""The LP certificate of CNN tickets: one linear program per output-pixel class.

The error at one output entry depends only on the receptive field of its pixel. Under
zero padding an intermediate activation at a position outside its image is exactly 0,
so what the pixel sees depends, on each axis, only on how far it is from the two
borders of the output, capped at ``sum(paddings)`` (farther than that, no padding is
read): the pixel's *class*. :func:`axis_classes` lists every class that occurs for some
image size, images smaller than the receptive field included.

:func:`interior_lp` writes both networks over the receptive-field patch, layer by
layer, and :func:`class_problem` derives each class's LP from it (variables outside the
image fixed to 0, their rows dropped): the input as ``x = p - q`` with ``p, q >= 0``,
``p + q <= radius`` (the convex hull of ``(relu(x), relu(-x))`` on ``[-radius, radius]``),
the target's convolutions ``z = K * h``, the ticket's in its exact effective form
``w = A * relu(x) + B * relu(-x)`` (first layer) and ``w = A * g`` (later layers, whose
inputs are ReLU outputs), each
ReLU by its triangle relaxation on the pre-activation bounds of the sign-aware
propagation, and the valid couplings ``elo <= w - z <= ehi`` and
``min(elo, 0) <= g - h <= max(ehi, 0)``. Its size does not depend on the ticket's
width. HiGHS maximises ``+-(z_j - w_j)`` at the centre pixel for each output channel,
and :func:`dual_bound` turns its dual values into a bound that holds whatever the
solver's accuracy (weak duality, with the rounding of the bound's own evaluation added).
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["LP_MAX_VARS", "LP_MAX_WORK", "axis_classes", "class_problem", "dual_bound",
           "interior_lp", "lp_certificate", "lp_size"]

#: Largest LP (variables) the certificate builds; above it the LP is skipped.
LP_MAX_VARS = 20_000

#: Largest total work (variables summed over all the LPs of a certificate).
LP_MAX_WORK = 3_000_000


def axis_classes(kernel_sizes, paddings) -> list[tuple[int, int]]:
    """The classes ``(left, right)`` of output pixels along one axis.

    ``left``, ``right``: the pixel's distances to the first and last output positions,
    each capped at ``sum(paddings)``, over every image size for which the network is
    defined (every intermediate size at least 1).

    Examples
    --------
    >>> axis_classes((3, 3), (1, 1))
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    >>> axis_classes((3,), (0,))
    [(0, 0)]
    """
    cap = sum(paddings)
    grow = [2 * p - k + 1 for k, p in zip(kernel_sizes, paddings, strict=True)]
    found = set()
    for size in range(1, 2 * cap + 3 + sum(abs(d) for d in grow)):
        sizes = np.cumsum([size, *grow])
        if sizes.min() < 1:
            continue
        out = int(sizes[-1])
        found.update((min(i, cap), min(out - 1 - i, cap)) for i in range(out))
    return sorted(found)


def _offsets(kernel_sizes, paddings, cls) -> list[np.ndarray]:
    """Per layer ``0..L`` the offsets (from the output pixel) of the valid positions on
    one axis, for the class ``cls = (left, right)``."""
    L = len(kernel_sizes)
    left, right = cls
    out = []
    for l in range(L + 1):
        ks, ps = kernel_sizes[l:], paddings[l:]
        lo = -sum(ps)
        hi = sum(k - 1 - p for k, p in zip(ks, ps, strict=True))
        top = right + sum(k - 1 - 2 * p for k, p in zip(ks, ps, strict=True))
        o = np.arange(lo, hi + 1)
        out.append(o[(o >= -left) & (o <= top)])
    return out


def lp_size(channels, kernel_sizes, paddings) -> tuple[int, int]:
    """``(variables of the largest class LP, number of LPs)`` of :func:`lp_certificate`."""
    L = len(kernel_sizes)
    cap = sum(paddings)
    offs = _offsets(kernel_sizes, paddings, (cap, cap))
    n = 2 * channels[0] * offs[0].size ** 2 + 2 * channels[L]
    n += sum(4 * channels[l] * offs[l].size ** 2 for l in range(1, L))
    classes = len(axis_classes(kernel_sizes, paddings)) ** 2
    return n, classes * 2 * channels[L]


class _Builder:
    """Sparse rows and variable boxes of one LP, appended block by block."""

    def __init__(self):
        self.lo, self.hi = [], []
        self.ub, self.eq = ([], [], [], []), ([], [], [], [])   # rows, cols, vals, rhs
        self.nrow = {"ub": 0, "eq": 0}
        self.owner = {"ub": [], "eq": []}       # the variable each row belongs to
        self.where = []                         # (layer, row offset, column offset)
        self.nvar = 0

    def var(self, lo, hi, layer: int, grid) -> np.ndarray:
        """Variables of shape ``(channels, rows, cols)`` at layer ``layer``'s positions
        ``grid = (row offsets, column offsets)``."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        idx = np.arange(self.nvar, self.nvar + lo.size).reshape(lo.shape)
        self.nvar += lo.size
        self.lo.append(lo.ravel())
        self.hi.append(hi.ravel())
        oy, ox = np.broadcast_arrays(grid[0][None, :, None], grid[1][None, None, :], lo)[:2]
        self.where.append(np.stack([np.full(lo.size, layer), oy.ravel(), ox.ravel()]))
        return idx

    def row(self, kind: str, terms, rhs) -> None:
        """Rows ``sum_k coef_k v[idx_k] (<= or ==) rhs``; ``terms``: ``(idx, coef)`` with
        ``idx`` of shape (rows,) or (rows, m) and ``coef`` broadcastable to it."""
        r, c, v, b = self.ub if kind == "ub" else self.eq
        rhs = np.asarray(rhs, float).ravel()
        if rhs.size == 0:
            return
        rows = self.nrow[kind] + np.arange(rhs.size)
        self.nrow[kind] += rhs.size
        self.owner[kind].append(np.asarray(terms[0][0]).reshape(rhs.size, -1)[:, 0])
        for idx, coef in terms:
            idx = np.asarray(idx).reshape(rhs.size, -1)
            coef = np.asarray(coef, float)
            coef = np.broadcast_to(coef.reshape(rhs.size, -1) if coef.ndim else coef,
                                   idx.shape)
            r.append(np.repeat(rows, idx.shape[1]))
            c.append(idx.ravel())
            v.append(coef.ravel())
        b.append(rhs)

    def matrices(self):
        out = []
        for kind, (r, c, v, b) in zip(("ub", "eq"), (self.ub, self.eq), strict=True):
            m = self.nrow[kind]
            mat = sparse.csr_matrix((np.concatenate(v) if v else [],
                                     (np.concatenate(r) if r else [],
                                      np.concatenate(c) if c else [])),
                                    shape=(m, self.nvar))
            mat.sum_duplicates()
            out += [mat, np.concatenate(b) if b else np.zeros(0)]
        owners = [np.concatenate(self.owner[k]) if self.owner[k] else np.zeros(0, int)
                  for k in ("ub", "eq")]
        return (out, np.concatenate(self.lo), np.concatenate(self.hi), owners,
                np.concatenate(self.where, axis=1))


def _relu_rows(b: _Builder, pre, post, lo, hi) -> None:
    """Triangle relaxation of ``post = relu(pre)`` given ``lo <= pre <= hi`` (per row);
    ``post``'s own box is ``[max(lo, 0), max(hi, 0)]``."""
    pre, post, lo, hi = (np.ravel(a) for a in (pre, post, lo, hi))
    b.row("ub", [(pre, 1.0), (post, -1.0)], np.zeros(pre.size))          # post >= pre
    on = lo >= 0
    b.row("ub", [(pre[on], -1.0), (post[on], 1.0)], np.zeros(int(on.sum())))
    mid = (lo < 0) & (hi > 0)
    s = hi[mid] / (hi[mid] - lo[mid])
    b.row("ub", [(post[mid], 1.0), (pre[mid], -s)], -s * lo[mid])


def _conv_rows(b: _Builder, out, ins, kernels, grid, prev_grid, pad) -> None:
    """Rows ``out = sum_i kernels[i] * ins[i]`` (cross-correlation, zero padding) at every
    position of ``grid``; ``ins[i]`` are index arrays on ``prev_grid`` (``-1``: outside
    the image, a zero)."""
    (oy, ox), (py, px) = grid, prev_grid
    k = kernels[0].shape[2]
    where_y = {int(o): i for i, o in enumerate(py)}
    where_x = {int(o): i for i, o in enumerate(px)}
    c_out = kernels[0].shape[0]
    for iy, y in enumerate(oy):
        for ix, x in enumerate(ox):
            terms = [(out[:, iy, ix], 1.0)]
            for ty, tx in product(range(k), range(k)):
                sy, sx = where_y.get(int(y) + ty - pad), where_x.get(int(x) + tx - pad)
                if sy is None or sx is None:
                    continue
                for idx, K in zip(ins, kernels, strict=True):
                    cols = np.broadcast_to(idx[:, sy, sx], (c_out, idx.shape[0]))
                    terms.append((cols, -K[:, :, ty, tx]))
            b.row("eq", terms, np.zeros(c_out))


def interior_lp(layers, state, radius: float, paddings):
    """Both networks over the receptive field of an interior output pixel.

    ``layers``: per target layer ``(K, A, B)``; ``state``: per layer the sign-aware
    bounds (``zl, zu, wl, wu, elo, ehi`` per channel). Returns ``(builder, z, w)``, with
    ``z``, ``w`` the indices of the target's and the ticket's outputs at the centre.
    Every variable is tagged with its layer and position and every row with the variable
    it belongs to, so that :func:`class_problem` derives the LP of any other class.
    """
    ks = [K.shape[2] for K, _, _ in layers]
    cap = sum(paddings)
    grids = list(zip(_offsets(ks, paddings, (cap, cap)), _offsets(ks, paddings, (cap, cap)),
                     strict=True))
    L = len(layers)
    b = _Builder()
    c0 = layers[0][0].shape[1]
    shape0 = (c0, grids[0][0].size, grids[0][1].size)
    p = b.var(np.zeros(shape0), np.full(shape0, radius), 0, grids[0])
    q = b.var(np.zeros(shape0), np.full(shape0, radius), 0, grids[0])
    b.row("ub", [(p, 1.0), (q, 1.0)], np.full(p.size, radius))
    h, g = (p, q), (p, q)
    for l, (K, A, B) in enumerate(layers):
        s = state[l]
        grid = grids[l + 1]
        shape = (K.shape[0], grid[0].size, grid[1].size)
        zl, zu, wl, wu, elo, ehi = (np.broadcast_to(s[key][:, None, None], shape)
                                    for key in ("zl", "zu", "wl", "wu", "elo", "ehi"))
        z = b.var(zl, zu, l + 1, grid)
        w = b.var(wl, wu, l + 1, grid)
        _conv_rows(b, z, h, [K, -K] if l == 0 else [K], grid, grids[l], paddings[l])
        _conv_rows(b, w, g, [A, B] if l == 0 else [A], grid, grids[l], paddings[l])
        b.row("ub", [(w, 1.0), (z, -1.0)], ehi)
        b.row("ub", [(z, 1.0), (w, -1.0)], -elo)
        if l == L - 1:
            return b, z[:, 0, 0], w[:, 0, 0]
        hh = b.var(np.maximum(zl, 0), np.maximum(zu, 0), l + 1, grid)
        gg = b.var(np.maximum(wl, 0), np.maximum(wu, 0), l + 1, grid)
        _relu_rows(b, z, hh, zl, zu)
        _relu_rows(b, w, gg, wl, wu)
        b.row("ub", [(gg, 1.0), (hh, -1.0)], np.maximum(ehi, 0))
        b.row("ub", [(hh, 1.0), (gg, -1.0)], -np.minimum(elo, 0))
        h, g = (hh,), (gg,)
    raise ValueError("layers must not be empty")


def class_problem(problem, kernel_sizes, paddings, cls):
    """The LP of the output-pixel class ``cls = ((left, right) rows, (left, right) cols)``
    from the interior one (:func:`interior_lp`'s ``builder.matrices()``): the variables
    at positions outside the image are fixed to 0 (zero padding) and their rows dropped.
    """
    (A_ub, b_ub, A_eq, b_eq), lo, hi, (own_ub, own_eq), where = problem
    rows = _offsets(kernel_sizes, paddings, cls[0])
    cols = _offsets(kernel_sizes, paddings, cls[1])
    inside = np.zeros(lo.size, dtype=bool)
    for l, (ry, cx) in enumerate(zip(rows, cols, strict=True)):
        at = where[0] == l
        inside[at] = np.isin(where[1, at], ry) & np.isin(where[2, at], cx)
    keep_ub, keep_eq = inside[own_ub], inside[own_eq]
    return (A_ub[keep_ub], b_ub[keep_ub], A_eq[keep_eq], b_eq[keep_eq],
            np.where(inside, lo, 0.0), np.where(inside, hi, 0.0), keep_ub, keep_eq)


def dual_bound(f, A_ub, b_ub, A_eq, b_eq, lo, hi, y_ub, y_eq) -> float:
    """An upper bound on ``max f^T v`` over ``A_ub v <= b_ub``, ``A_eq v = b_eq``,
    ``lo <= v <= hi``, valid for any multipliers (weak duality).

    ``y_ub`` is clipped to ``>= 0``; the bound is ``b_ub^T y_ub + b_eq^T y_eq +
    sum_i max(r_i lo_i, r_i hi_i)`` with ``r = f - A_ub^T y_ub - A_eq^T y_eq``, plus a
    bound on the floating-point rounding of its own evaluation.

    Examples
    --------
    >>> from scipy import sparse
    >>> A = sparse.csr_matrix([[1.0, 1.0]])
    >>> E = sparse.csr_matrix((0, 2))
    >>> f = np.array([1.0, 2.0])
    >>> lo, hi = np.zeros(2), np.ones(2)
    >>> round(dual_bound(f, A, np.array([1.0]), E, np.zeros(0), lo, hi,
    ...                  np.array([2.0]), np.zeros(0)), 9)       # max at (0, 1)
    2.0
    """
    y_ub = np.maximum(np.asarray(y_ub, float), 0.0)
    y_eq = np.asarray(y_eq, float)
    r = f - A_ub.T @ y_ub - A_eq.T @ y_eq
    u = np.finfo(float).eps
    per_col = np.diff(sparse.vstack([A_ub, A_eq]).tocsc().indptr)
    # |r_true - r| <= (terms per entry + 2) u (|f| + |A_ub|^T y_ub + |A_eq|^T |y_eq|)
    r_err = (per_col + 2) * u * (np.abs(f) + abs(A_ub).T @ y_ub + abs(A_eq).T @ np.abs(y_eq))
    box = np.maximum(r * lo, r * hi) + r_err * np.maximum(np.abs(lo), np.abs(hi))
    terms = np.concatenate([b_ub * y_ub, b_eq * y_eq, box])
    return float(terms.sum() + 2 * (terms.size + 2) * u * np.abs(terms).sum())


def _highs(lp, f):
    """HiGHS on one class LP (``lp`` from :func:`class_problem`), maximising ``f^T v``:
    its multipliers ``(y_ub, y_eq)`` (``>= 0`` on the inequalities), or ``None``."""
    A_ub, b_ub, A_eq, b_eq, lo, hi = lp[:6]
    res = linprog(-f, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                  bounds=np.column_stack([lo, hi]), method="highs",
                  options={"presolve": False})
    if res.status != 0:
        return None
    return -res.ineqlin.marginals, -res.eqlin.marginals


def _solve_class(lp, f, duals, floor: float) -> float:
    """Bound on ``max f^T v`` of one class LP: first the duals of an LP already solved
    (restricted to the rows this class keeps, still valid multipliers); HiGHS is run
    only if that bound is above ``floor``."""
    A_ub, b_ub, A_eq, b_eq, lo, hi, keep_ub, keep_eq = lp
    bound = np.inf
    if duals is not None:
        bound = dual_bound(f, A_ub, b_ub, A_eq, b_eq, lo, hi, duals[0][keep_ub],
                           duals[1][keep_eq])
        if bound <= floor:
            return bound
    # without duals the box alone still gives a bound
    y = _highs(lp, f) or (np.zeros(b_ub.size), np.zeros(b_eq.size))
    return min(bound, dual_bound(f, A_ub, b_ub, A_eq, b_eq, lo, hi, *y))


def _full_duals(lp, f):
    """HiGHS's multipliers of one class LP, scattered back onto the interior LP's rows."""
    y = _highs(lp, f)
    if y is None:
        return None
    keep_ub, keep_eq = lp[6:]
    y_ub, y_eq = np.zeros(keep_ub.size), np.zeros(keep_eq.size)
    y_ub[keep_ub], y_eq[keep_eq] = y
    return y_ub, y_eq


def lp_certificate(layers, state, radius: float, paddings):
    """The LP bound on the max-norm error over all output entries and image sizes, or
    the reason it was skipped.

    Returns
    -------
    (float or str, dict)
        The bound (before the package's rounding slack) or a reason; details: classes,
        LPs, variables of the largest LP, seconds, and the bound of each class.
    """
    ks = [K.shape[2] for K, _, _ in layers]
    channels = (layers[0][0].shape[1], *(K.shape[0] for K, _, _ in layers))
    nvar, nlp = lp_size(channels, ks, paddings)
    info = {"variables": nvar, "lps": nlp}
    if nvar > LP_MAX_VARS or nvar * nlp > LP_MAX_WORK:
        return (f"skipped: {nlp} LPs of up to {nvar} variables exceed the caps "
                f"LP_MAX_VARS={LP_MAX_VARS}, LP_MAX_WORK={LP_MAX_WORK} (variables summed "
                "over the LPs)"), info
    t0 = time.perf_counter()
    b, z, w = interior_lp(layers, state, radius, paddings)
    problem = b.matrices()
    axis = axis_classes(ks, paddings)
    classes = sorted(product(axis, axis), key=lambda c: (-sum(map(sum, c)), c))
    lps = [class_problem(problem, ks, paddings, cls) for cls in classes]  # interior first
    best, per_class = 0.0, dict.fromkeys(classes, 0.0)
    for j, sign in product(range(z.size), (1.0, -1.0)):
        f = np.zeros(b.nvar)
        f[z[j]], f[w[j]] = sign, -sign                       # +-(target - ticket)
        duals = _full_duals(lps[0], f)
        for cls, lp in zip(classes, lps, strict=True):
            v = _solve_class(lp, f, duals, best)
            per_class[cls] = max(per_class[cls], v)
            best = max(best, v)
    info.update(classes=len(classes), seconds=time.perf_counter() - t0,
                per_class=per_class)
    return best, info
