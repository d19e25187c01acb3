"""Thread counts of PyTorch and numba, set together.

PyTorch's intra-op pool and numba's parallel kernels are separate thread pools; on a
machine shared by several processes both are set explicitly, so that a search (torch)
and a subset-sum solve (numba) in one process use the counts asked for.

Examples
--------
>>> from slth.lab import set_threads
>>> previous = set_threads(1)
>>> sorted(previous)
['numba', 'torch']
>>> _ = set_threads(previous)
"""

from __future__ import annotations

import contextlib

import numba

from slth._validate import check_int
from slth.lab._torch import torch

__all__ = ["get_threads", "set_threads", "threads"]


def get_threads() -> dict[str, int]:
    """The thread counts in use: ``{"torch": ..., "numba": ...}``."""
    return {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()}


def set_threads(n) -> dict[str, int]:
    """Set the thread counts of PyTorch (``torch.set_num_threads``) and numba.

    Parameters
    ----------
    n : int or dict
        One count for both, or ``{"torch": ..., "numba": ...}`` (as returned here).
        numba's count is at most ``numba.config.NUMBA_NUM_THREADS``.

    Returns
    -------
    dict
        The counts in use before, to restore them.

    Raises
    ------
    ValueError
        A count below 1, or above numba's maximum.
    """
    counts = dict(n) if isinstance(n, dict) else {"torch": n, "numba": n}
    if set(counts) != {"torch", "numba"}:
        raise ValueError(f"n must be a count or a dict with keys 'torch' and 'numba', got {n!r}")
    t = check_int(counts["torch"], "n['torch']", minimum=1)
    top = numba.config.NUMBA_NUM_THREADS
    m = check_int(counts["numba"], "n['numba']", minimum=1, maximum=top)
    previous = get_threads()
    torch.set_num_threads(t)
    numba.set_num_threads(m)
    return previous


@contextlib.contextmanager
def threads(n):
    """Run the enclosed code with :func:`set_threads` ``(n)``, then restore the counts.

    Examples
    --------
    >>> from slth.lab import get_threads, threads
    >>> with threads(1):
    ...     get_threads()
    {'torch': 1, 'numba': 1}
    """
    previous = set_threads(n)
    try:
        yield
    finally:
        set_threads(previous)
