"""One place for the numba options every kernel uses.

``kernel`` is for serial kernels, ``parallel_kernel`` for kernels whose outer
loop is a ``prange`` over independent problems or trials. Both cache their
machine code (``cache=True``); when the package directory is read-only numba
falls back to its user-wide cache directory (or ``NUMBA_CACHE_DIR``), so a
read-only install still caches. numba checks a cached function against its own
source file only, so a cached kernel calls jitted functions of its own file only
(a caller in another file would keep the callee's old machine code after the
callee changed; ``tests/test_numba_setup.py`` checks this). No ``fastmath``: it
drops NaN/inf semantics and changes comparisons against eps.
"""

from __future__ import annotations

import contextlib
import functools

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
