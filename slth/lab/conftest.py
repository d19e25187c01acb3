"""Without PyTorch (the optional ``lab`` extra) the doctests of slth.lab are not collected."""

try:
    import torch  # noqa: F401
except ImportError:
    collect_ignore_glob = ["*.py"]
