"""slth.lab: searching strong tickets with PyTorch, beside the constructed ones.

An optional part (``pip install "slth[lab]"``: the CPU build of PyTorch); ``import slth``
never imports it, and importing it without PyTorch raises an ``ImportError`` naming the
extra.

* :mod:`slth.lab.threads`: PyTorch's and numba's thread counts, set together;
* :mod:`slth.lab.convert`: slth networks, ticket sources and tickets as masked torch
  modules with frozen weights, and searched masks back to tickets;
* :mod:`slth.lab.check`: :func:`slth.verify.check` for searched tickets, with the reason
  when the construction's certificate does not apply to their masks;
* :mod:`slth.lab.search`: edge-popup and GEM-MINER;
* :mod:`slth.lab.subset_sum`: GEM-MINER's relaxed subset sum against the exact one.
"""

from slth.lab._torch import INSTALL_HINT
from slth.lab.check import certificate_gap, check, layout_support
from slth.lab.convert import MaskedCNN, MaskedMLP, to_ticket, to_torch, torch_dtype
from slth.lab.search import SearchResult, edge_popup, gem_miner
from slth.lab.subset_sum import relaxed_subset_sum, subset_sum_by_gradient
from slth.lab.threads import get_threads, set_threads, threads

__all__ = ["INSTALL_HINT", "MaskedCNN", "MaskedMLP", "SearchResult", "certificate_gap", "check",
           "edge_popup", "gem_miner", "get_threads", "layout_support", "relaxed_subset_sum",
           "set_threads", "subset_sum_by_gradient", "threads", "to_ticket", "to_torch",
           "torch_dtype"]
