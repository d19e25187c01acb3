"""The one place slth.lab imports PyTorch: a clear error, naming the extra, when it is missing."""

from __future__ import annotations

#: How to install what slth.lab needs.
INSTALL_HINT = 'pip install "slth[lab]"'

try:
    import torch
    from torch import nn
    from torch.nn.utils import prune
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(f"slth.lab needs PyTorch, which is not installed: {INSTALL_HINT} "
                      "(the CPU build of torch 2.13.0)") from exc

__all__ = ["INSTALL_HINT", "nn", "prune", "torch"]
