"""One place for the numba options every kernel uses.

``kernel`` is for serial kernels, ``parallel_kernel`` for kernels whose outer
loop is a ``prange`` over independent problems or trials. Both cache their
machine code (``cache=True``); when the package directory is read-only numba
falls back to its user-wide cache directory (or ``NUMBA_CACHE_DIR``), so a
read-only install still caches. numba checks a cached function against its own
source file only: a caller in another file would keep the callee's old machine
code after the callee changed. So a cached kernel calls jitted functions of its
own file only, unless its module pins the callee's file: a module-level dict
``KERNEL_SOURCES`` maps each module whose jitted functions its kernels call to
that module's current :func:`source_digest`. An edit of the callee's file then
needs a new pin, and that edit of the caller's file invalidates the caller's
cache (numba compares the file's stamp); pins chain, so an edit reaches callers
of callers too. ``tests/test_numba_setup.py`` checks both rules and names the
digest a stale pin needs. No ``fastmath``: it drops NaN/inf semantics and
changes comparisons against eps.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
from pathlib import Path

import numba

kernel = functools.partial(numba.njit, cache=True, nogil=True, error_model="numpy")
parallel_kernel = functools.partial(
    numba.njit, cache=True, nogil=True, error_model="numpy", parallel=True
)


@contextlib.contextmanager
def num_threads(n: int | None):
    """Run the enclosed parallel kernels on ``n`` threads (``None``: leave as is).

    Examples
    --------
    >>> from slth._numba import num_threads
    >>> with num_threads(1):
    ...     pass
    """
    if n is None:
        yield
        return
    if int(n) < 1 or int(n) > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(
            f"threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}, got {n!r}"
        )
    previous = numba.get_num_threads()
    numba.set_num_threads(int(n))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def source_digest(module_name: str) -> str:
    """Short sha256 hex digest (16 digits) of the source file of ``module_name``, its
    ``\\r\\n`` line endings read as ``\\n``; the value a ``KERNEL_SOURCES`` pin holds.

    The module itself is not imported (its parent packages are).

    Examples
    --------
    >>> from slth._numba import source_digest
    >>> len(source_digest("slth._numba"))
    16
    """
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.has_location or not str(spec.origin).endswith(".py"):
        raise ValueError(f"no Python source file for module {module_name!r}")
    text = Path(spec.origin).read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(text).hexdigest()[:16]
