"""slth: the strong lottery ticket hypothesis, made concrete and checkable.

Subpackages are imported lazily so that ``import slth`` stays cheap and numba
compiles (or loads from its cache) only what is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("distributions", "rss", "mrss", "nets", "tickets", "bounds", "verify",
               "experiments")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"slth.{name}")
    raise AttributeError(f"module 'slth' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])
