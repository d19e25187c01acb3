"""Naive reference implementations, independent of the kernels under test.

Brute force over all 2^n subsets, used to check the exact solvers for small n.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def all_masks(n: int) -> np.ndarray:
    """All 2^n subsets of n items as a (2^n, n) bool array."""
    return np.array(list(itertools.product([False, True], repeat=n)), dtype=bool).reshape(2**n, n)


def all_subset_sums(values) -> np.ndarray:
    """Every subset sum (with multiplicity), in the order of :func:`all_masks`.

    Each sum adds its values in index order, as the kernels do (so one subset has one
    floating-point sum here and there, on any CPU; a product with the masks would go
    through BLAS, whose order of additions depends on the CPU).
    """
    sums = np.zeros(1)
    for v in np.asarray(values, dtype=np.float64):
        sums = np.stack([sums, sums + v], axis=1).ravel()   # the new value: the lowest bit
    return sums


def best_subset_error(values, target: float) -> float:
    """min over subsets S of |target - sum(values[S])|, by enumeration."""
    return float(np.min(np.abs(target - all_subset_sums(values))))


def covering_radius(values, lo: float, hi: float) -> float:
    """max over z in [lo, hi] of the distance to the nearest subset sum.

    The maximum of a distance-to-a-finite-set function over an interval is
    attained at an end point or at the midpoint between two consecutive points;
    this evaluates the function at all those candidates.
    """
    sums = np.unique(all_subset_sums(values))
    mids = (sums[:-1] + sums[1:]) / 2.0
    candidates = np.concatenate([[lo, hi], mids[(mids >= lo) & (mids <= hi)]])
    # nearest sum of each candidate: one of its two neighbours in the sorted sums
    pos = np.searchsorted(sums, candidates)
    left = sums[np.clip(pos - 1, 0, sums.size - 1)]
    right = sums[np.clip(pos, 0, sums.size - 1)]
    nearest = np.minimum(np.abs(candidates - left), np.abs(candidates - right))
    return float(nearest.max())


def best_vector_subset(vectors, target, ord=np.inf) -> tuple[float, np.ndarray]:
    """Multidimensional subset sum by enumeration: (min error, one optimal mask).

    min over subsets S of norm(target - sum of vectors[S]) with ``ord`` the
    norm (``np.inf``, 1 or 2); subsets are enumerated in blocks of 2^12 rows.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    n = vectors.shape[0]
    low = min(n, 12)
    low_masks = all_masks(low)
    best, best_mask = np.inf, None
    for high in itertools.product([False, True], repeat=n - low):
        high = np.array(high, dtype=bool)
        masks = np.concatenate([np.broadcast_to(high, (low_masks.shape[0], n - low)),
                                low_masks], axis=1)
        sums = masks.astype(np.float64) @ vectors
        errors = np.linalg.norm(target - sums, ord=ord, axis=1)
        i = int(np.argmin(errors))
        if errors[i] < best:
            best, best_mask = float(errors[i]), masks[i].copy()
    return best, best_mask


# --------------------------------------------------------------- networks (slth.nets)
def mlp_forward(weights, biases, activation, x) -> np.ndarray:
    """Forward pass of an MLP, one sample and one neuron at a time (no matrix products).

    ``activation`` is a scalar function applied to hidden layers; the last layer is linear.
    """
    weights = [np.asarray(w.toarray() if hasattr(w, "toarray") else w, dtype=np.float64)
               for w in weights]
    out = []
    for sample in np.atleast_2d(np.asarray(x, dtype=np.float64)):
        h = list(sample)
        for l, w in enumerate(weights):
            b = None if biases is None else biases[l]
            z = []
            for j in range(w.shape[0]):
                s = 0.0 if b is None else float(b[j])
                for i in range(w.shape[1]):
                    s += w[j, i] * h[i]
                z.append(s)
            h = [activation(v) for v in z] if l < len(weights) - 1 else z
        out.append(h)
    return np.array(out, dtype=np.float64)


def grid_sup_error(f, g, radius: float, dim: int, points: int) -> float:
    """max ||f(x) - g(x)||_2 over a dense grid of the l2 ball in dimension 1 or 2."""
    if dim == 1:
        x = np.linspace(-radius, radius, points)[:, None]
    elif dim == 2:
        r = np.linspace(0.0, radius, points // 8 + 1)
        a = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
        rr, aa = np.meshgrid(r, a)
        x = np.stack([(rr * np.cos(aa)).ravel(), (rr * np.sin(aa)).ravel()], axis=1)
    else:
        raise ValueError("dim must be 1 or 2")
    return float(np.max(np.linalg.norm(f(x) - g(x), axis=1)))


# --------------------------------------------------------------- CNNs (slth.nets.CNN)
def conv2d_loop(x, kernel, padding: int = 0, bias=None) -> np.ndarray:
    """Cross-correlation (stride 1, zero padding) by explicit loops over every index."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    B, C, H, W = x.shape
    c_out, _, kh, kw = kernel.shape
    xp = np.zeros((B, C, H + 2 * padding, W + 2 * padding))
    xp[:, :, padding:padding + H, padding:padding + W] = x
    Ho, Wo = H + 2 * padding - kh + 1, W + 2 * padding - kw + 1
    out = np.zeros((B, c_out, Ho, Wo))
    for b in range(B):
        for j in range(c_out):
            for r in range(Ho):
                for s in range(Wo):
                    acc = 0.0 if bias is None else float(bias[j])
                    for c in range(C):
                        for p in range(kh):
                            for q in range(kw):
                                acc += kernel[j, c, p, q] * xp[b, c, r + p, s + q]
                    out[b, j, r, s] = acc
    return out


def cnn_forward_loop(kernels, paddings, x, biases=None) -> np.ndarray:
    """A ReLU CNN (linear last layer) built from :func:`conv2d_loop`."""
    h = np.asarray(x, dtype=np.float64)
    for l, k in enumerate(kernels):
        h = conv2d_loop(h, k, paddings[l], None if biases is None else biases[l])
        if l < len(kernels) - 1:
            h = np.maximum(h, 0.0)
    return h


def greedy_window(values, valid, target: float, k: int, order: str = "largest"):
    """Greedy on the target's sign, then the best subset of a two-sided window (by loops).

    The window holds the remaining values of each sign with the largest or smallest
    magnitudes (ties by index), or the first ones. Returns the chosen mask and its error;
    the window is solved by brute force. ``"fine"``: the window (smallest magnitudes) is
    set aside first, then the greedy part takes every other value of the target's sign
    that still fits, largest first (:func:`fine_window`).
    """
    values = np.asarray(values, dtype=np.float64)
    if order == "fine":
        chosen, rest = fine_window(values, valid, target, k)
        return _best_window(values, target, chosen, rest)
    idx = [j for j in range(values.size) if valid[j]]
    sgn = np.sign(target)
    same = [j for j in idx if sgn != 0 and np.sign(values[j]) == sgn]
    other = [j for j in idx if j not in same]
    same.sort(key=lambda j: (-abs(values[j]), j))
    other.sort(key=lambda j: (-abs(values[j]), j))
    chosen, total = [], 0.0
    for j in same:
        if total + abs(values[j]) > abs(target):
            break
        chosen.append(j)
        total += abs(values[j])
    key = {"largest": lambda j: (-abs(values[j]), j), "smallest": lambda j: (abs(values[j]), j),
           "first": lambda j: j}[order]
    rest_same, other = sorted(same[len(chosen):], key=key), sorted(other, key=key)
    rest = rest_same[:(k + 1) // 2] + other[:k // 2]
    return _best_window(values, target, chosen, rest)


def fine_window(values, valid, target: float, k: int):
    """The greedy part and the window of the ``"fine"`` order, by sorting: returns both
    as index lists."""
    s = -1.0 if target < 0 else 1.0
    idx = [j for j in range(values.size) if valid[j]]
    same = sorted((j for j in idx if s * values[j] > 0), key=lambda j: (abs(values[j]), j))
    other = sorted((j for j in idx if s * values[j] <= 0), key=lambda j: (abs(values[j]), j))
    n_same = min(len(same), max((k + 1) // 2, k - len(other)))
    window = same[:n_same] + other[:k - n_same]
    above = abs(values[same[n_same - 1]]) if 0 < n_same < len(same) else np.inf
    chosen, total = [], 0.0
    for j in sorted(same[n_same:], key=lambda j: (-abs(values[j]), j)):
        if above < abs(values[j]) and total + abs(values[j]) <= abs(target):
            chosen.append(j)
            total += abs(values[j])
    return chosen, window


def _best_window(values, target, chosen, rest):
    """Greedy part ``chosen`` plus the best subset of ``rest`` (brute force)."""
    resid = target - sum(values[j] for j in chosen)
    best, best_sub = np.inf, ()
    for sub in itertools.chain.from_iterable(
            itertools.combinations(rest, r) for r in range(len(rest) + 1)):
        e = abs(resid - sum(values[j] for j in sub))
        if e < best - 1e-15:
            best, best_sub = e, sub
    mask = np.zeros(values.size, dtype=bool)
    mask[chosen + list(best_sub)] = True
    return mask, abs(target - values[mask].sum())


def index_order_errors(values, masks, targets):
    """``|target - sum of the chosen values|`` per row, added left to right in plain Python."""
    return np.array([abs(t - sum(v for v, chosen in zip(row, mrow, strict=True) if chosen))
                     for row, mrow, t in zip(values, masks, targets, strict=True)])


def k_tree(values, sizes, b: int, target: float, levels: int = 3, wide: bool = False):
    """The k-tree search of ``window_kernels.tree_search`` with plain Python lists and sorting.

    Leaf q holds ``values[q b : q b + sizes[q]]``; every list is a sorted list of (sum,
    positions). Each merge keeps about 1.25 * 2^b pairs (twice that when ``wide``).
    Returns the chosen positions.
    """
    leaves = 2 ** levels
    keep = (5 << b) // 4 * (2 if wide else 1)
    cap = 2 * keep
    mean, var = [0.0] * (2 * leaves), [0.0] * (2 * leaves)
    lists = []
    for q in range(leaves):
        pos = list(range(q * b, q * b + sizes[q]))
        sums = []
        for r in range(len(pos) + 1):
            for sub in itertools.combinations(pos, r):
                s = 0.0
                for j in sub:
                    s += values[j]
                sums.append((s, sub))
        lists.append(sorted(sums, key=lambda x: x[0]))
        s1 = s2 = 0.0
        for j in pos:
            s1 += values[j]
            s2 += values[j] * values[j]
        mean[leaves + q], var[leaves + q] = 0.5 * s1, 0.25 * s2
    for h in range(leaves - 1, 0, -1):
        mean[h] = mean[2 * h] + mean[2 * h + 1]
        var[h] = var[2 * h] + var[2 * h + 1]
    tgt = [0.0] * (2 * leaves)
    tgt[1] = target
    for h in range(1, leaves):
        v_sum = var[2 * h] + var[2 * h + 1]
        share = (tgt[h] - mean[h]) * (var[2 * h] / v_sum) if v_sum > 0 else 0.0
        tgt[2 * h] = mean[2 * h] + share
        tgt[2 * h + 1] = tgt[h] - tgt[2 * h]
    widths = [0.0] * leaves
    nodes = leaves
    while nodes > 2:
        half = nodes // 2
        merged, new_widths = [], []
        for p in range(half):
            h = half + p
            a, c = lists[2 * p], lists[2 * p + 1]
            if nodes == leaves:
                dens = (len(a) * len(c) * math.exp(-(tgt[h] - mean[h]) ** 2 / (2 * var[h]))
                        / math.sqrt(2 * math.pi * var[h]) if var[h] > 0 else 0.0)
            else:
                dens = len(a) * len(c) / max(widths[2 * p], widths[2 * p + 1])
            w = keep / dens if dens > 0 else math.inf
            lo, hi = tgt[h] - 0.5 * w, tgt[h] + 0.5 * w
            pairs = [(x + y, sx + sy) for x, sx in a for y, sy in c if lo <= x + y <= hi]
            pairs = pairs[:cap]               # the first ones in (a, c) order
            if pairs:
                lo = max(lo, min(x for x, _ in pairs))
                hi = min(hi, max(x for x, _ in pairs))
            n = len(pairs)
            new_widths.append(min(w, (hi - lo) * (n + 1) / (n - 1)) if n > 1 else w)
            merged.append(sorted(pairs, key=lambda x: x[0]))
        lists, widths, nodes = merged, new_widths, half
    if not lists[0] or not lists[1]:
        return []
    best = min(((abs(x + y - target), sx + sy) for x, sx in lists[0] for y, sy in lists[1]),
               key=lambda e: e[0])
    return sorted(best[1])


def tree_window(values, valid, target: float, k: int, wide: bool = False):
    """The ``"tree"`` window order (``"tree_wide"`` with ``wide``) by loops: the fine
    greedy part and window (:func:`fine_window`), the window dealt in turn to 8 leaves of
    ``k // 8`` values, and :func:`k_tree`. Returns the mask and its error."""
    values = np.asarray(values, dtype=np.float64)
    chosen, window = fine_window(values, valid, target, k)
    resid = target - sum(values[j] for j in sorted(chosen))
    b = k // 8
    leaves = [[] for _ in range(8)]
    for q, j in enumerate(window):
        leaves[q % 8].append(j)
    packed = [j for leaf in leaves for j in leaf + [None] * (b - len(leaf))]
    picked = k_tree([0.0 if j is None else values[j] for j in packed],
                    [len(leaf) for leaf in leaves], b, resid, wide=wide)
    mask = np.zeros(values.size, dtype=bool)
    mask[chosen + [packed[p] for p in picked]] = True
    return mask, abs(target - sum(values[j] for j in np.flatnonzero(mask)))


def used_neurons_loop(links, bias_masks, phi0) -> list:
    """The neurons taking part in a pruned network's function, by loops over dense masks.

    ``links[l]`` (bool, outputs x inputs) marks the kept connections of layer ``l``,
    ``bias_masks[l]`` its kept biases (or None), ``phi0[l]`` the value at 0 of the
    activation after layer ``l``. A hidden neuron takes part when a chain of kept weights
    (or a kept bias, or a non-zero phi(0)) reaches it from the inputs and another leads
    from it to the outputs; inputs and outputs count whole.
    """
    L = len(links)
    widths = [links[0].shape[1]] + [m.shape[0] for m in links]
    reached = [[True] * widths[0]]
    for l in range(L - 1):
        layer = []
        for j in range(widths[l + 1]):
            on = phi0[l] != 0.0 or (bias_masks[l] is not None and bool(bias_masks[l][j]))
            for i in range(widths[l]):
                on = on or (bool(links[l][j, i]) and reached[l][i])
            layer.append(on)
        reached.append(layer)
    leads = [None] * L + [[True] * widths[L]]
    for l in range(L - 1, 0, -1):
        leads[l] = [any(bool(links[l][k, i]) and leads[l + 1][k] for k in range(widths[l + 1]))
                    for i in range(widths[l])]
    return ([np.array(reached[0])]
            + [np.array(reached[l]) & np.array(leads[l]) for l in range(1, L)]
            + [np.array(leads[L])])
