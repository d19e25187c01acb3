"""slth.lab: searching strong tickets with PyTorch, beside the constructed ones.

An optional part (``pip install "slth[lab]"``: the CPU build of PyTorch); ``import slth``
never imports it, and importing it without PyTorch raises an ``ImportError`` naming the
extra.

* :mod:`slth.lab.threads`: PyTorch's and numba's thread counts, set together;
* :mod:`slth.lab.convert`: slth networks, ticket sources and tickets as masked torch
  modules with frozen weights, and searched masks back to tickets;
* :mod:`slth.lab.check`: :func:`slth.verify.check` for searched tickets, with the reason
  when the construction's certificate does not apply to their masks;
* :mod:`slth.lab.search`: edge-popup and GEM-MINER.
"""

from slth.lab._torch import INSTALL_HINT
from slth.lab.check import certificate_gap, check, layout_support
from slth.lab.convert import MaskedCNN, MaskedMLP, to_ticket, to_torch, torch_dtype
from slth.lab.search import SearchResult, edge_popup, gem_miner
from slth.lab.threads import get_threads, set_threads, threads

__all__ = ["INSTALL_HINT", "MaskedCNN", "MaskedMLP", "SearchResult", "certificate_gap", "check",
           "edge_popup", "gem_miner", "get_threads", "layout_support", "set_threads", "threads",
           "to_ticket", "to_torch", "torch_dtype"]
