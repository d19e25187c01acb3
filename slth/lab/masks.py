"""Pruning masks of trained networks: global magnitude, random, N:M; their overlap.

Masks are lists of boolean numpy arrays, one per prunable weight matrix (``True``:
kept). These functions only compute masks; :mod:`slth.lab.imp` applies them with
``torch.nn.utils.prune``.

* :func:`magnitude_masks` -- remove the ``count`` kept weights of smallest magnitude over
  all layers together (global pruning, open_lth's ``pruning/sparse_global.py``,
  ``Strategy.prune``; see its notes on ties);
* :func:`random_masks` -- the same number of kept weights per layer, at random positions
  (open_lth's ``lottery/branch/randomly_prune.py``, its layer-wise strategy (check));
* :func:`nm_masks` -- N:M patterns: in each group of M consecutive weights, the N largest;
* :func:`iou` -- intersection over union of two masks.

Examples
--------
>>> import numpy as np
>>> w = [np.array([[0.1, -3.0], [2.0, 0.5]]), np.array([[-1.0, 0.2]])]
>>> [m.astype(int).tolist() for m in magnitude_masks(w, 3)]
[[[0, 1], [1, 0]], [[1, 0]]]
>>> nm_masks([np.array([[4.0, -1.0, 0.5, -2.0]])], 2, 4)[0].astype(int).tolist()
[[1, 0, 0, 1]]
"""

from __future__ import annotations

import math

import numpy as np

from slth._validate import as_generator, check_int

__all__ = ["density", "imp_count", "iou", "magnitude_masks", "nm_masks", "random_masks",
           "sparsity_count"]


def _weights(weights, name="weights") -> list[np.ndarray]:
    out = [np.asarray(w) for w in weights]
    if not out:
        raise ValueError(f"{name} must hold at least one weight array")
    return out


def _masks(masks, weights, name="masks") -> list[np.ndarray]:
    if masks is None:
        return [np.ones(w.shape, dtype=bool) for w in weights]
    masks = [np.asarray(m) for m in masks]
    if len(masks) != len(weights) or any(m.shape != w.shape
                                         for m, w in zip(masks, weights, strict=True)):
        raise ValueError(f"{name} must have one array per weight, of the same shapes; got "
                         f"{[m.shape for m in masks]} for {[w.shape for w in weights]}")
    if any(not np.isin(m, (0, 1)).all() for m in masks):
        raise ValueError(f"{name} must be binary (0/1 or bool)")
    return [m.astype(bool) for m in masks]


def density(masks) -> float:
    """Fraction of kept entries over all masks."""
    masks = _weights(masks, "masks")
    return float(sum(int(np.count_nonzero(m)) for m in masks) / sum(m.size for m in masks))


def imp_count(remaining: int, fraction: float) -> int:
    """Weights one IMP level removes: ``ceil(fraction * remaining)`` (open_lth's
    ``number_of_weights_to_prune``).

    Examples
    --------
    >>> imp_count(1000, 0.2), imp_count(7, 0.2)
    (200, 2)
    """
    remaining = check_int(remaining, "remaining", minimum=0)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    return min(remaining, math.ceil(fraction * remaining))


def sparsity_count(total: int, sparsity: float) -> int:
    """Weights one-shot pruning to ``sparsity`` removes: ``round(sparsity * total)``."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity!r}")
    return int(round(sparsity * total))


def magnitude_masks(weights, count: int, masks=None) -> list[np.ndarray]:
    """Remove the ``count`` kept weights of smallest ``|w|`` over all layers together.

    Parameters
    ----------
    weights : list of arrays
        The prunable weights (the output layer and the biases left out by the caller).
    count : int
        How many of the kept weights to remove (at most as many as are kept).
    masks : list of bool arrays, optional
        The current masks (default: all kept). Removed weights stay removed.

    Notes
    -----
    Exactly ``count`` weights go: ties in ``|w|`` are broken by position (layer order,
    then row-major), by a stable sort. open_lth keeps ``|w| > threshold`` with
    ``threshold = sort(|w|)[count]``, which removes ``count + 1`` weights (more on ties);
    here the count is exact, so the density after ``k`` levels is the one
    :func:`imp_count` predicts.
    """
    weights = _weights(weights)
    masks = _masks(masks, weights)
    kept = sum(int(np.count_nonzero(m)) for m in masks)
    count = check_int(count, "count", minimum=0, maximum=kept)
    scores = np.concatenate([np.abs(w.astype(np.float64)).ravel()[m.ravel()]
                             for w, m in zip(weights, masks, strict=True)])
    drop = np.argsort(scores, kind="stable")[:count]
    flat_kept = np.ones(kept, dtype=bool)
    flat_kept[drop] = False
    out, start = [], 0
    for m in masks:
        new = m.copy()
        idx = np.flatnonzero(m.ravel())
        new.ravel()[idx] = flat_kept[start:start + idx.size]
        start += idx.size
        out.append(new)
    return out


def random_masks(masks, seed) -> list[np.ndarray]:
    """Masks with the same number of kept entries per layer as ``masks``, at positions
    drawn uniformly at random from ``seed``.

    Examples
    --------
    >>> m = random_masks([np.eye(3, dtype=bool)], seed=0)
    >>> int(m[0].sum())
    3
    """
    masks = [np.asarray(m).astype(bool) for m in _weights(masks, "masks")]
    rng = as_generator(seed)
    out = []
    for m in masks:
        flat = np.zeros(m.size, dtype=bool)
        flat[rng.permutation(m.size)[:int(np.count_nonzero(m))]] = True
        out.append(flat.reshape(m.shape))
    return out


def nm_masks(weights, n: int, m: int) -> list[np.ndarray]:
    """N:M masks: in each group of ``m`` consecutive weights, keep the ``n`` largest ``|w|``.

    Groups run along a weight matrix's rows (its inputs, as in NVIDIA's 2:4 pattern),
    over the row-major flattening: where the number of inputs is not a multiple of ``m``
    (LeNet-300-100's 300 inputs for 4:8) a group crosses a row end. The density is exactly
    ``n / m``. Ties are broken by position.

    Raises
    ------
    ValueError
        ``n`` not in [1, m], or a weight whose size is not a multiple of ``m``.
    """
    weights = _weights(weights)
    m = check_int(m, "m", minimum=1)
    n = check_int(n, "n", minimum=1, maximum=m)
    out = []
    for i, w in enumerate(weights):
        if w.size % m:
            raise ValueError(f"weights[{i}] has {w.size} entries, not a multiple of m={m}")
        groups = np.abs(w.astype(np.float64)).reshape(-1, m)
        # the n largest of each group: argsort of -|w| (stable: earlier position first)
        top = np.argsort(-groups, axis=1, kind="stable")[:, :n]
        keep = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(keep, top, True, axis=1)
        out.append(keep.reshape(w.shape))
    return out


def iou(a, b) -> float:
    """Intersection over union of two masks (over all layers together).

    Examples
    --------
    >>> iou([np.array([1, 1, 0, 0])], [np.array([0, 1, 1, 0])])
    0.3333333333333333
    """
    a, b = _weights(a, "a"), _weights(b, "b")
    b = _masks(b, a, "b")
    a = _masks(a, a, "a")
    inter = sum(int(np.count_nonzero(x & y)) for x, y in zip(a, b, strict=True))
    union = sum(int(np.count_nonzero(x | y)) for x, y in zip(a, b, strict=True))
    return inter / union if union else 1.0
