"""slth.lab: searching strong tickets with PyTorch, beside the constructed ones.

An optional part (``pip install "slth[lab]"``: the CPU build of PyTorch); ``import slth``
never imports it. Its names are loaded on first use (``slth.lab.to_torch``, ``from
slth.lab import to_torch``); without PyTorch that raises an ``ImportError`` naming the
extra.

* :mod:`slth.lab.thread_counts`: PyTorch's and numba's thread counts, set together;
* :mod:`slth.lab.convert`: slth networks, ticket sources and tickets as masked torch
  modules with frozen weights, and searched masks back to tickets;
* :mod:`slth.lab.checks`: :func:`slth.verify.check` for searched tickets, with the reason
  when the construction's certificate does not apply to their masks;
* :mod:`slth.lab.search`: edge-popup and GEM-MINER;
* :mod:`slth.lab.subset_sum`: GEM-MINER's relaxed subset sum against the exact one;
* :mod:`slth.lab.data`: offline data sets (digits, MNIST-5k, MNIST-1D, teacher-student);
* :mod:`slth.lab.masks`: global magnitude, random and N:M masks, their overlap;
* :mod:`slth.lab.imp`: iterative magnitude pruning with rewinding (Frankle & Carbin);
* :mod:`slth.lab.essential`: one-shot pruning and essential sparsity (Jaiswal et al.);
* :mod:`slth.lab.bip`: BiP, pruning as bi-level optimisation, and HYDRA (Zhang et al.);
* :mod:`slth.lab.inertial`: exact-Hessian checks of the inertial-manifold conditions;
* :mod:`slth.lab.gsm`: Global Sparse Momentum SGD (Ding et al.);
* :mod:`slth.lab.transfer`: ticket transfer across data sets (Morcos et al.).
"""

import importlib

#: Public name -> the submodule that defines it (loaded on first use).
_NAMES = {
    "INSTALL_HINT": "_torch",
    "certificate_gap": "checks", "check": "checks", "layout_support": "checks",
    "MaskedCNN": "convert", "MaskedMLP": "convert", "to_ticket": "convert",
    "to_torch": "convert", "torch_dtype": "convert",
    "SearchResult": "search", "edge_popup": "search", "gem_miner": "search",
    "relaxed_subset_sum": "subset_sum", "subset_sum_by_gradient": "subset_sum",
    "load_dataset": "data", "lenet": "imp", "iou": "masks", "magnitude_masks": "masks",
    "nm_masks": "masks", "essential_sparsity": "essential", "knee": "essential",
    "diagnose": "inertial",
    "get_threads": "thread_counts", "set_threads": "thread_counts", "threads": "thread_counts",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"slth.lab.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'slth.lab' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NAMES])
