"""Without PyTorch (the optional ``lab`` extra) the doctests of slth.lab are not collected."""

import importlib.util

collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["*.py"]
