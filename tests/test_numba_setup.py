"""Compilation: one specialisation per kernel, caching from a read-only install, and
cached kernels that call jitted code of their own file only, or of a file their module
pins at its current digest."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numba
import numpy as np
from numba.core.caching import NullCache
from numba.core.registry import CPUDispatcher as Dispatcher

import slth
from slth import rss
from slth._numba import source_digest
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


def _calls_into_other_files(dispatcher) -> list[str]:
    """The jitted functions from other source files that ``dispatcher`` calls by name.

    numba's cache checks only the caller's own file, so a cached caller of such a
    function would keep running the callee's old machine code after the callee changes.
    """
    py_func = dispatcher.py_func
    own_file = inspect.getfile(py_func)
    names = set(py_func.__code__.co_names)
    reachable = {name: py_func.__globals__.get(name) for name in names}
    reachable.update(zip(py_func.__code__.co_freevars,
                         (cell.cell_contents for cell in py_func.__closure__ or ()), strict=True))
    found = []
    for obj in reachable.values():
        candidates = ([getattr(obj, attr) for attr in names if hasattr(obj, attr)]
                      if isinstance(obj, types.ModuleType) else [obj])
        for candidate in candidates:
            if (isinstance(candidate, Dispatcher)
                    and inspect.getfile(candidate.py_func) != own_file):
                found.append(f"{candidate.py_func.__module__}.{candidate.py_func.__name__}")
    return sorted(set(found))


def _pin_problems(module, calls) -> list[str]:
    """What ``module`` lacks to let its cached kernels make ``calls`` (jitted functions of
    other files, named as :func:`_calls_into_other_files` names them): each called module
    must be pinned in the module's ``KERNEL_SOURCES`` at its file's current
    :func:`~slth._numba.source_digest`, and each pin must be of a called module. Every
    problem says what to change in the pin.
    """
    pins = getattr(module, "KERNEL_SOURCES", {})
    where = f"{module.__name__} ({getattr(module, '__file__', '?')})"
    called: dict[str, list[str]] = {}
    for call in sorted(calls):
        callee_module, name = call.rsplit(".", 1)
        called.setdefault(callee_module, []).append(name)
    problems = []
    for callee_module, names in called.items():
        digest = source_digest(callee_module)
        if pins.get(callee_module) != digest:
            state = (f"pins it at {pins[callee_module]!r}, not its current digest"
                     if callee_module in pins else "does not pin it")
            problems.append(
                f"{where} calls {callee_module}.{{{', '.join(names)}}} and {state}: put "
                f'"{callee_module}": "{digest}" in its KERNEL_SOURCES')
    for pinned in sorted(set(pins) - set(called)):
        problems.append(f"{where} pins {pinned} in KERNEL_SOURCES, but no cached kernel of "
                        f"it calls that module: remove the pin")
    return problems


def test_no_cached_kernel_calls_a_kernel_of_another_file_unpinned():
    """A cached kernel calls jitted functions of its own file, or of a file its module
    pins at the current digest (so that editing the callee forces an edit of the caller's
    file, which invalidates the caller's cache)."""
    problems = []
    for info in pkgutil.walk_packages(slth.__path__, "slth."):
        if info.name.endswith("__main__"):       # runs the command line
            continue
        module = importlib.import_module(info.name)
        calls = set()
        for obj in vars(module).values():
            if (isinstance(obj, Dispatcher) and obj.__module__ == module.__name__
                    and not isinstance(obj._cache, NullCache)):
                calls.update(_calls_into_other_files(obj))
        problems += _pin_problems(module, calls)
    assert problems == [], "\n".join(problems)


def test_pin_check_fails_for_a_missing_stale_or_unused_pin(tmp_path, monkeypatch):
    """The pin check names the digest to put in a missing pin or one left behind by an
    edit of the callee's file, and accepts the current one."""
    callee = tmp_path / "pinned_callee.py"
    callee.write_bytes(b"x = 1\r\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    caller = types.ModuleType("fake_caller")
    calls = ["pinned_callee.f", "pinned_callee.g"]
    before = source_digest("pinned_callee")
    assert len(before) == 16
    callee.write_bytes(b"x = 1\n")                # line endings do not count
    assert source_digest("pinned_callee") == before

    missing = _pin_problems(caller, calls)
    assert missing == [f"fake_caller (?) calls pinned_callee.{{f, g}} and does not pin it: put "
                       f'"pinned_callee": "{before}" in its KERNEL_SOURCES']
    caller.KERNEL_SOURCES = {"pinned_callee": before}
    assert _pin_problems(caller, calls) == []

    callee.write_bytes(b"x = 2\n")                # the callee's file changes
    after = source_digest("pinned_callee")
    assert after != before
    stale = _pin_problems(caller, calls)
    assert len(stale) == 1
    assert f"pins it at {before!r}" in stale[0]
    assert f'"pinned_callee": "{after}"' in stale[0]
    assert _pin_problems(caller, []) == [
        "fake_caller (?) pins pinned_callee in KERNEL_SOURCES, but no cached kernel of it "
        "calls that module: remove the pin"]


def test_cross_file_call_detector_finds_one():
    """The detector above flags a jitted caller of a kernel from another file, whether
    reached through its module or imported by name."""
    from slth.rss import window_kernels
    from slth.rss.window_kernels import window_work

    @numba.njit
    def through_module(row):
        return window_kernels.window_solve_row(row, row > 0, 0.0, 8, 0, row > 0, None)

    @numba.njit
    def by_name(kall):
        return window_work(kall, 8, 0)

    @numba.njit
    def local_only(x):
        return x + 1

    assert _calls_into_other_files(through_module) == [
        "slth.rss.window_kernels.window_solve_row"]
    assert _calls_into_other_files(by_name) == ["slth.rss.window_kernels.window_work"]
    assert _calls_into_other_files(local_only) == []
