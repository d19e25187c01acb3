"""The layers of the package: no module imports from a higher layer, and no import cycles.

Every ``import`` of every module counts, function-level (lazy) ones included: a lazy import
still makes the importer depend on the imported module.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layers from the bottom: a module may import from its own layer and the ones before it.
#: A module belongs to the longest entry that is its name or a prefix of it followed by a
#: dot (``"slth"`` is the package's ``__init__`` alone: it holds the version). The order is
#: that of the package map in README ("How the code is laid out"): ``bounds`` holds
#: formulas only and serves constructions and checks alike; ``proofs_check`` checks the
#: library and is run by the command line.
LAYERS = (
    ("slth", "slth._numba", "slth._validate", "slth._output"),
    ("slth.distributions", "slth.bounds"),
    ("slth.rss",),
    ("slth.mrss",),
    ("slth.nets",),
    ("slth.tickets",),
    ("slth.verify",),
    ("slth.lab",),
    ("slth.experiments",),
    ("proofs_check",),
    ("slth.cli", "slth.__main__", "proofs_check.__main__"),
)


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of ``slth`` and ``proofs_check``."""
    found = {}
    for package in ("slth", "proofs_check"):
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, source: str, modules, is_package: bool = False) -> set[str]:
    """The modules of ``modules`` that the module ``name`` with text ``source`` imports.

    ``from package import x`` counts as importing the module ``package.x`` when there is
    one, else ``package``; a name that is not a module of ``modules`` resolves to its
    longest prefix that is. Relative imports start from ``name`` itself for a package's
    ``__init__`` (``is_package``), else from its package.
    """
    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if is_package else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                      # relative: from the importer's package
                anchor = package.split(".")
                base = ".".join(anchor[:len(anchor) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in modules else resolve(base))
    out.discard(None)
    out.discard(name)
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its file)."""
    modules = module_names(root)
    return {name: imports_of(name, path.read_text(), modules, path.name == "__init__.py")
            for name, path in modules.items()}


def layer_of(name: str, layers=LAYERS) -> int:
    """Index of the layer ``name`` belongs to (the longest matching entry)."""
    best, where = "", None
    for index, entries in enumerate(layers):
        for entry in entries:
            exact = entry == "slth"
            if (name == entry or (not exact and name.startswith(entry + "."))) \
                    and len(entry) > len(best):
                best, where = entry, index
    if where is None:
        raise ValueError(f"module {name!r} belongs to no layer of {layers}")
    return where


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """``"importer -> imported"`` for every import from a higher layer."""
    return sorted(f"{src} -> {dst}" for src, targets in graph.items() for dst in targets
                  if layer_of(dst, layers) > layer_of(src, layers))


def import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (modules in order, the first repeated at the end), or ``None``."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_no_module_imports_from_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert import_cycle(import_graph()) is None


def test_every_module_has_a_layer():
    for name in import_graph():
        layer_of(name)


def test_the_graph_sees_lazy_and_relative_imports():
    modules = {"slth", "slth.a", "slth.b", "slth.pkg", "slth.pkg.c"}
    source = ("import numpy\n"
              "def f():\n    from slth import a\n    from slth.pkg.c import x\n"
              "from . import b\n")
    assert imports_of("slth.pkg.c2", source, modules) == {"slth.a", "slth.pkg.c", "slth.pkg"}
    assert imports_of("slth.z", "from .b import y\nimport slth.pkg.c\n", modules) == {
        "slth.b", "slth.pkg.c"}
    assert imports_of("slth.pkg", "from . import c\nfrom .. import a\n", modules,
                      is_package=True) == {"slth.pkg.c", "slth.a"}


def test_checks_fail_on_an_upward_import_and_on_a_cycle():
    """The checks above are not vacuous: a construction importing its checker, a cycle
    within a layer and a module outside every layer are all caught."""
    graph = import_graph()
    graph["slth.tickets.burkholz"] = graph["slth.tickets.burkholz"] | {"slth.verify"}
    assert upward_imports(graph) == ["slth.tickets.burkholz -> slth.verify"]
    graph = import_graph()
    graph["slth.experiments.plots"] = graph["slth.experiments.plots"] | {"slth.experiments.suite"}
    cycle = import_cycle(graph)
    assert cycle is not None and {"slth.experiments.plots", "slth.experiments.suite"} <= set(cycle)
    with pytest.raises(ValueError, match="no layer"):
        layer_of("slthx.other")
