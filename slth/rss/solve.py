"""Exact 1-D random subset sum: the subset of ``values`` whose sum is closest to a target."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from slth._numba import num_threads
from slth._validate import (
    as_float,
    as_float_array,
    check_memory,
    resolve_max_bytes,
)
from slth.rss import kernels

__all__ = ["RSSResult", "ManySolution", "solve", "solve_many", "subset_sums", "mitm_bytes",
           "MAX_N"]

#: Largest n the exact solvers accept (subsets are 64-bit masks); memory caps it earlier.
MAX_N = 62


@dataclass(frozen=True)
class RSSResult:
    """Optimal subset for one target.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        The chosen subset.
    value : float
        The sum of ``values[mask]``, added in index order (:func:`subset_sums`).
    error : float
        ``abs(target - value)``: the smallest achievable, up to float rounding.
    """

    mask: NDArray[np.bool_]
    value: float
    error: float


class ManySolution(NamedTuple):
    """Optimal subsets of many independent problems: ``masks`` (m, n) and ``errors`` (m,)."""

    masks: NDArray[np.bool_]
    errors: NDArray[np.float64]


def mitm_bytes(n: int, problems_in_flight: int = 1) -> int:
    """Memory the meet-in-the-middle solver allocates for n values.

    Each half of size h keeps 2^h sums, a merge buffer, 2^(h+1) one-byte merge
    flags and, when the half is shared by many targets, 2^h subset masks
    (34 bytes per subset of a half).
    """
    h = n // 2
    return problems_in_flight * 34 * ((1 << h) + (1 << (n - h)))


def _check_n(n: int, problems_in_flight: int, max_bytes, argument: str) -> None:
    if n > MAX_N:
        raise ValueError(f"{argument}: exact subset sum supports n <= {MAX_N} values, got n={n}")
    check_memory(
        mitm_bytes(n, problems_in_flight), resolve_max_bytes(max_bytes), argument,
        f"exact meet-in-the-middle over n={n} values",
        "use fewer values per problem (a prefix keeps the error an upper bound) or raise max_bytes",
    )


def _bits_to_masks(bits: NDArray[np.uint64], n: int) -> NDArray[np.bool_]:
    shifts = np.arange(n, dtype=np.uint64)
    return ((bits[..., None] >> shifts) & np.uint64(1)).astype(bool)


def solve(values: ArrayLike, target: float, *, max_bytes: int | None = None) -> RSSResult:
    """Exact random subset sum: the subset of ``values`` whose sum is closest to ``target``.

    Meet in the middle: the sorted subset sums of each half are enumerated by
    merging (O(2^(n/2)) time and memory), then a two-pointer scan finds the best
    pair. The empty subset (sum 0) is allowed.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite real numbers, n <= 62 and within the memory cap.
    target : float
        Finite real number.
    max_bytes : int, optional
        Memory cap; default :data:`slth._validate.DEFAULT_MAX_BYTES` (4 GiB).

    Returns
    -------
    RSSResult
        ``mask``, ``value`` (= ``values[mask].sum()``) and ``error``.

    Raises
    ------
    ValueError
        NaN/inf input, values not 1-D, or an enumeration over the memory cap.

    Examples
    --------
    >>> from slth import rss
    >>> r = rss.solve([0.5, -0.3, 0.9, 0.25], 0.7)
    >>> r.mask.tolist(), round(r.value, 10), round(r.error, 10)
    ([True, False, False, True], 0.75, 0.05)
    """
    vals = as_float_array(values, "values", ndim=1)
    t = as_float(target, "target")
    n = vals.size
    _check_n(n, 1, max_bytes, "values")
    h = n // 2
    a_work, a_flags = _workspace("a", 2 << h)
    b_work, b_flags = _workspace("b", 2 << (n - h))
    # Two threads pay off only when each half has enough subsets to enumerate.
    solver = kernels.solve_one_threaded if n >= 32 else kernels.solve_one
    bits = solver(vals, t, a_work, a_flags, b_work, b_flags)
    mask = _bits_to_masks(np.array(bits, dtype=np.uint64), n)
    value = float(subset_sums(vals, mask))
    return RSSResult(mask=mask, value=value, error=abs(t - value))


def solve_many(
    values: ArrayLike,
    targets: ArrayLike,
    *,
    max_bytes: int | None = None,
    threads: int | None = None,
) -> ManySolution:
    """Exact subset sum for many independent problems, in parallel.

    Parameters
    ----------
    values : array_like, shape (m, n) or (n,)
        One row of values per problem, or one row shared by every target (then
        the half-sums are enumerated once and each target costs one scan).
    targets : array_like, shape (m,)
        One target per problem.
    max_bytes : int, optional
        Memory cap for the enumeration (all threads together).
    threads : int, optional
        numba threads to use; results do not depend on it.

    Returns
    -------
    ManySolution
        ``masks`` (m, n) bool and ``errors`` (m,) with
        ``errors == abs(targets - (values * masks).sum(1))``.

    Examples
    --------
    >>> import numpy as np
    >>> from slth import rss
    >>> vals = np.array([[0.5, -0.3, 0.9], [0.2, 0.4, -0.8]])
    >>> masks, errors = rss.solve_many(vals, [0.6, -0.4])
    >>> masks.tolist()
    [[False, True, True], [False, True, True]]
    >>> errors.round(12).tolist()
    [0.0, 0.0]
    """
    vals = as_float_array(values, "values", ndim=(1, 2))
    tgts = as_float_array(targets, "targets", ndim=1)
    shared = vals.ndim == 1
    m = tgts.size
    if not shared and vals.shape[0] != m:
        raise ValueError(
            f"values has {vals.shape[0]} rows but targets has {m} entries; they must match "
            "(or pass one shared row of values)"
        )
    n = vals.shape[-1]
    with num_threads(threads):
        import numba

        in_flight = 1 if shared else numba.get_num_threads()
        _check_n(n, in_flight, max_bytes, "values")
        if shared:
            h = n // 2
            a_sums, a_masks = _half_sums(vals[:h], 0)
            b_sums, b_masks = _half_sums(vals[h:], h)
            best_i = np.empty(m, dtype=np.int64)
            best_j = np.empty(m, dtype=np.int64)
            kernels.closest_pairs(a_sums, b_sums, tgts, best_i, best_j)
            bits = a_masks[best_i] | b_masks[best_j]
        else:
            bits = np.empty(m, dtype=np.uint64)
            if m:
                kernels.solve_rows(vals, tgts, bits)
    masks = _bits_to_masks(bits, n)
    errors = np.abs(tgts - subset_sums(vals, masks, threads))
    return ManySolution(masks=masks, errors=errors)


def subset_sums(values: ArrayLike, masks: ArrayLike, threads: int | None = None):
    """Sums of the chosen values, added in index order: the formula of every reported
    subset-sum value and error (:func:`solve`, :func:`solve_many` and the ticket
    constructions' searches), the order in which the kernels form subset sums.

    Parameters
    ----------
    values : array_like, shape (n,) or (m, n)
        Values, shared by all masks or one row per mask.
    masks : array_like of bool, shape (n,) or (m, n)
    threads : int, optional
        Threads (one per row: the sums do not depend on the count).

    Returns
    -------
    float or ndarray (m,)
        A float for one mask over one row of values.

    Examples
    --------
    >>> subset_sums([0.5, -0.25, 2.0], [True, True, False])
    0.25
    >>> subset_sums([0.5, -0.25, 2.0], [[True, False, True], [False, False, False]]).tolist()
    [2.5, 0.0]
    """
    vals = np.asarray(values, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    one = masks.ndim == 1
    masks2 = np.atleast_2d(masks)
    rows = np.broadcast_to(vals, masks2.shape) if vals.ndim == 1 else vals
    if rows.shape != masks2.shape:
        raise ValueError(f"values of shape {vals.shape} do not match masks of shape "
                         f"{masks.shape}")
    out = np.empty(masks2.shape[0])
    with num_threads(threads):
        kernels.masked_row_sums(np.ascontiguousarray(rows), np.ascontiguousarray(masks2), out)
    return float(out[0]) if one else out


_local = threading.local()
#: work arrays up to this size are kept between calls (fresh pages cost as much as the merge)
_KEEP_BYTES = 64 * 2**20


def _workspace(name: str, size: int):
    """Per-thread reusable work arrays (sums, flags) of at least ``size`` entries."""
    cached = getattr(_local, name, None)
    if cached is not None and cached[0].size >= size:
        return cached
    arrays = (np.empty(size), np.empty(size, dtype=np.uint8))
    if 9 * size <= _KEEP_BYTES:
        setattr(_local, name, arrays)
    return arrays


def _half_sums(half: NDArray[np.float64], bit_offset: int):
    """Sorted subset sums of one half and the bit mask of each (in global bit positions)."""
    k = half.size
    size = 1 << k
    flags = np.empty(2 * size, dtype=np.uint8)
    sums = kernels.sorted_subset_sums(half, np.empty(size), np.empty(size), flags)
    return sums, kernels.all_subset_bits(flags, k, bit_offset)
