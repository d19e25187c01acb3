"""Compilation: one specialisation per kernel, and caching from a read-only install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import slth
from slth import rss
from slth.rss import kernels


def test_public_api_funnels_every_input_into_one_specialisation():
    # int lists, float32, strided and 0-d targets all reach the kernels as float64/C arrays,
    # so each kernel compiles once per session whatever the callers pass.
    before = len(kernels.solve_one.signatures)
    rss.solve([1, 2, 3], 2)
    rss.solve(np.arange(6, dtype=np.float32)[::2], np.float32(1.5))
    rss.solve(np.array([0.5, 0.25]), np.array(0.3))
    after = len(kernels.solve_one.signatures)
    assert after == max(before, 1)
    rss.solve_many(np.ones((3, 4), dtype=np.float32).T, [1, 2, 3, 4])
    rss.solve_many(np.asfortranarray(np.ones((4, 3))), [1.0, 2.0, 3.0, 4.0])
    assert len(kernels.solve_rows.signatures) == 1


def test_read_only_install_still_caches(tmp_path):
    """With the package directory unwritable, numba caches in the user cache directory."""
    site = tmp_path / "site"
    shutil.copytree(Path(slth.__file__).parent, site / "slth",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [p for p in (site / "slth").rglob("*") if p.is_dir()] + [site / "slth"]:
        # A file where numba would put its in-tree cache makes that location unusable even
        # for root, for whom permission bits do not count; the modes cover everyone else.
        (folder / "__pycache__").write_text("")
    for path in sorted((site / "slth").rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONDONTWRITEBYTECODE="1")
    code = ("from slth import rss; from slth.rss import kernels; "
            "r = rss.solve([0.5, -0.3, 0.9], 0.6); assert r.mask.tolist() == [False, True, True]; "
            "print(kernels.solve_one.stats.cache_hits, kernels.solve_one.__module__)")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "Counter()" in first.stdout         # compiled, nothing cached yet
    assert "Counter()" not in second.stdout    # the second process loaded the cache
    assert any((tmp_path / "cache").rglob("*.nbi"))
    for path in (site / "slth").rglob("*"):
        path.chmod(0o755)
