"""Input checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` with a message that names the
argument, the bad value and what is allowed. Kernels never see unchecked input.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable

import numpy as np

#: Memory an exact enumeration may allocate unless the caller says otherwise.
#: Override per call with ``max_bytes=`` or for a process with ``SLTH_MAX_BYTES``.
DEFAULT_MAX_BYTES = int(os.environ.get("SLTH_MAX_BYTES", 4 * 2**30))

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def as_generator(seed: SeedLike, name: str = "seed") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for an int, SeedSequence, Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError(
        f"{name} must be a non-negative int, a numpy Generator, a SeedSequence or None, "
        f"got {seed!r}"
    )


def as_seed_sequence(seed: SeedLike, name: str = "seed") -> np.random.SeedSequence:
    """Return a ``SeedSequence`` (a Generator contributes fresh entropy drawn from it)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4))
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise TypeError(
        f"{name} must be a non-negative int, a numpy Generator, a SeedSequence or None, "
        f"got {seed!r}"
    )


def as_float_array(x, name: str, ndim: int | Iterable[int] | None = None) -> np.ndarray:
    """Convert to a C-contiguous float64 array, checking dimensionality and finiteness."""
    try:
        arr = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {x!r}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if not all_finite(arr):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} must be finite, found {bad!r}")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of ``arr`` is finite.

    A NaN or an infinity makes the sum non-finite, so a finite sum settles it in one pass
    without a temporary array; only a sum that overflows is checked entry by entry.

    Examples
    --------
    >>> all_finite(np.array([1e308, 1e308])), all_finite(np.array([1.0, np.nan]))
    (True, False)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    return bool(np.all(np.isfinite(arr)))


def as_float(x, name: str) -> float:
    """A finite real scalar (0-d arrays accepted)."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {x!r}")
    value = float(x)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_open_unit(x, name: str) -> float:
    """A real number strictly between 0 and 1 (eps, delta, probabilities)."""
    value = as_float(x, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return value


def check_positive(x, name: str) -> float:
    """A finite real number > 0."""
    value = as_float(x, name)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_int(x, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer within [minimum, maximum]."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {x!r}")
    value = int(x)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_threads(threads) -> int | None:
    """``None`` (the default thread count) or a thread count of at least 1."""
    return None if threads is None else check_int(threads, "threads", minimum=1)


def check_out(out, shape: tuple[int, ...], name: str = "out") -> None:
    """Refuse an output array that is not a writeable C-contiguous float64 array of
    ``shape`` (``None`` passes)."""
    if out is None or (isinstance(out, np.ndarray) and out.dtype == np.float64
                       and out.shape == tuple(shape) and out.flags.c_contiguous
                       and out.flags.writeable):
        return
    got = (f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray)
           else type(out).__name__)
    raise ValueError(f"{name} must be a writeable C-contiguous float64 array of shape "
                     f"{tuple(shape)}, got {got}")


def check_choice(x, name: str, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = tuple(choices)
    if x not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {x!r}")
    return x


def check_interval(interval, name: str = "interval") -> tuple[float, float]:
    """A finite interval (lo, hi) with lo < hi."""
    try:
        lo, hi = interval
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a pair (lo, hi), got {interval!r}") from exc
    lo, hi = as_float(lo, f"{name}[0]"), as_float(hi, f"{name}[1]")
    if not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi, got {(lo, hi)!r}")
    return lo, hi


def check_widths(widths, name: str = "widths") -> tuple[int, ...]:
    """Layer widths (or channels) of a network: at least an input and an output, each >= 1."""
    try:
        w = tuple(widths)
    except TypeError as exc:
        raise TypeError(f"{name} must be a sequence of ints, got {widths!r}") from exc
    if len(w) < 2:
        raise ValueError(f"{name} must list at least an input and an output width, got {w!r}")
    return tuple(check_int(x, f"{name}[{i}]", minimum=1) for i, x in enumerate(w))


def check_increasing_ints(values, name: str, minimum: int | None = None,
                          maximum: int | None = None) -> list[int]:
    """A strictly increasing list of integers within [minimum, maximum] (may be empty).

    Examples
    --------
    >>> check_increasing_ints((1, 2, 5), "epochs", minimum=1)
    [1, 2, 5]
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of integers such as [1, 2, 5], got {values!r}")
    v = [check_int(x, f"{name}[{i}]", minimum, maximum) for i, x in enumerate(values)]
    if any(b <= a for a, b in zip(v[:-1], v[1:], strict=True)):
        raise ValueError(f"{name} must be strictly increasing, got {v}")
    return v


def format_bytes(nbytes: float) -> str:
    """Human-readable size, e.g. ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def resolve_max_bytes(max_bytes) -> int:
    """``None`` means the default cap; otherwise a positive integer number of bytes."""
    if max_bytes is None:
        return DEFAULT_MAX_BYTES
    return check_int(max_bytes, "max_bytes", minimum=1)


def check_memory(nbytes: float, max_bytes: int, argument: str, what: str, hint: str = "") -> None:
    """Refuse, before allocating, work whose memory estimate exceeds ``max_bytes``."""
    if nbytes > max_bytes:
        raise ValueError(
            f"{argument}: {what} needs about {format_bytes(nbytes)}, over the limit of "
            f"{format_bytes(max_bytes)} (max_bytes){'; ' + hint if hint else ''}"
        )
