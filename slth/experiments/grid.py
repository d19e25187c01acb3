"""Sweeps: grids of experiment configs, declared in TOML, a dict or on the command line.

A sweep file::

    name = "small"                 # optional (default: the file name)

    [defaults]                     # optional: fields shared by every grid below
    eps = 0.1
    seed = [0, 1, 2]               # or: seeds = 3  (meaning seeds 0, 1, 2)

    [[grid]]
    experiment = ["pensia", "burkholz"]
    widths = [[4, 4, 2], [8, 8, 2]]
    width_factor = [0.25, 0.5, 1.0]

    [[grid]]
    experiment = "rss"
    eps = [0.1, 0.01, 0.001]
    dist = ["uniform", "nsn"]

Every list is an axis, every scalar a fixed value; each ``[[grid]]`` expands to the
cross product of its axes (``widths`` takes a list of widths, or one). Fields left
out take the experiment's defaults (:mod:`slth.experiments.registry`). A task's
config is the full dict of fields, defaults included; its key is a hash of that
config's canonical JSON, so the same task always has the same key.

Examples
--------
>>> sweep = Sweep.from_dict({"grid": [{"experiment": "rss", "eps": [0.1, 0.01],
...                                    "trials": 5}]}, name="demo")
>>> [t.config["eps"] for t in sweep.tasks()]
[0.1, 0.01]
>>> sweep.tasks()[0].key == Sweep.from_dict(sweep.to_dict()).tasks()[0].key
True
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slth.experiments.registry import REQUIRED, get_experiment

__all__ = ["Task", "Sweep", "canonical", "task_key", "load_sweep"]

_TOP_KEYS = ("name", "defaults", "grid")


def canonical(config: Mapping) -> str:
    """Canonical JSON of a config: sorted keys, no spaces, floats as Python's repr.

    Examples
    --------
    >>> canonical({"eps": 0.1, "experiment": "rss"})
    '{"eps":0.1,"experiment":"rss"}'
    """
    return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)


def task_key(config: Mapping) -> str:
    """Deterministic key of a task: the first 32 hex digits of sha256(canonical JSON).

    Examples
    --------
    >>> task_key({"eps": 0.1, "experiment": "rss"}) == task_key({"experiment": "rss",
    ...                                                           "eps": 0.1})
    True
    """
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Task:
    """One config of a sweep and its key."""

    key: str
    config: dict

    @property
    def experiment(self) -> str:
        return self.config["experiment"]


def _axis(value, vector: bool) -> list:
    """A field's values: a scalar is one value, a list is an axis."""
    if vector:
        # widths: [4, 4, 2] is one value, [[4, 4, 2], [8, 8, 2]] an axis
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (list, tuple)) for v in value):
            return list(value)
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _expand_grid(block: Mapping, where: str) -> list[dict]:
    if not isinstance(block, Mapping):
        raise TypeError(f"{where} must be a table of fields, got {block!r}")
    block = dict(block)
    if "experiment" not in block:
        raise ValueError(f"{where}: missing field 'experiment' (e.g. experiment = \"pensia\")")
    if "seeds" in block:
        if "seed" in block:
            raise ValueError(f"{where}: give either 'seed' (a list of seeds) or 'seeds' (a "
                             f"count), not both; got seed={block['seed']!r}, "
                             f"seeds={block['seeds']!r}")
        count = block.pop("seeds")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{where}.seeds must be a positive int (seeds 0..seeds-1), "
                             f"got {count!r}")
        block["seed"] = list(range(count))
    names = _axis(block.pop("experiment"), False)
    if not names:
        raise ValueError(f"{where}.experiment must name at least one experiment")
    configs = []
    for name in names:
        exp = get_experiment(name)
        unknown = sorted(set(block) - set(exp.names))
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r} for experiment {name!r}; "
                             f"allowed: {', '.join(exp.names)}")
        axes = []
        for p in exp.params:
            if p.name in block:
                values = _axis(block[p.name], p.vector)
                if not values:
                    raise ValueError(f"{where}.{p.name} is an empty list")
                values = [p.convert(v, f"{where}.{p.name}" + (f"[{i}]" if len(values) > 1
                                                             else ""))
                          for i, v in enumerate(values)]
            elif p.default is REQUIRED:
                raise ValueError(f"{where}: field {p.name!r} is required for experiment "
                                 f"{name!r} ({p.help})")
            else:
                values = [p.default]
            axes.append((p.name, values))
        if exp.family == "ticket" and "n" in block and "width_factor" in block:
            raise ValueError(f"{where}: give either 'n' or 'width_factor', not both")
        for combo in itertools.product(*(v for _, v in axes)):
            config = {"experiment": name, **dict(zip((k for k, _ in axes), combo,
                                                      strict=True))}
            if exp.check is not None:
                exp.check(config, where)
            configs.append(config)
    return configs


class Sweep:
    """A named list of grids; :meth:`tasks` expands them (validated) into :class:`Task`.

    Parameters
    ----------
    grids : sequence of mappings
        Each with ``experiment`` and any fields; lists are axes.
    name : str
        Name recorded with the results.
    defaults : mapping, optional
        Fields shared by every grid (a grid's own value wins).
    """

    def __init__(self, grids: Sequence[Mapping], name: str = "sweep",
                 defaults: Mapping | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if isinstance(grids, Mapping) or not isinstance(grids, Sequence) or not grids:
            raise ValueError(f"grid must be a non-empty list of tables ([[grid]] in TOML), "
                             f"got {grids!r}")
        defaults = dict(defaults or {})
        if not isinstance(defaults, dict):
            raise TypeError(f"defaults must be a table, got {defaults!r}")
        self.name = name
        self.defaults = defaults
        self.grids = [dict(g) if isinstance(g, Mapping) else g for g in grids]
        self._tasks = self._expand()

    def _expand(self) -> list[Task]:
        tasks, seen = [], set()
        for i, g in enumerate(self.grids):
            if not isinstance(g, Mapping):
                raise TypeError(f"grid[{i}] must be a table of fields, got {g!r}")
            merged = {**self.defaults, **g}
            if "seed" in g and "seeds" in self.defaults:
                merged.pop("seeds")
            if "seeds" in g and "seed" in self.defaults:
                merged.pop("seed")
            for config in _expand_grid(merged, f"grid[{i}]"):
                key = task_key(config)
                if key not in seen:          # the same config twice is one task
                    seen.add(key)
                    tasks.append(Task(key, config))
        return tasks

    def tasks(self) -> list[Task]:
        """All tasks, in declaration order, without duplicates."""
        return list(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def to_dict(self) -> dict:
        """The declaration (``Sweep.from_dict(s.to_dict())`` gives the same tasks)."""
        out: dict = {"name": self.name, "grid": self.grids}
        if self.defaults:
            out["defaults"] = self.defaults
        return out

    @classmethod
    def from_dict(cls, spec: Mapping, name: str | None = None) -> Sweep:
        """A sweep from a parsed TOML/JSON document (keys ``name``, ``defaults``, ``grid``)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"sweep must be a table, got {spec!r}")
        unknown = sorted(set(spec) - set(_TOP_KEYS))
        if unknown:
            raise ValueError(f"sweep: unknown top-level key {unknown[0]!r}; allowed: "
                             f"{', '.join(_TOP_KEYS)} (fields of a grid go in [[grid]] or "
                             "[defaults])")
        if "grid" not in spec:
            raise ValueError("sweep: no [[grid]] table; declare at least one, e.g. "
                             "[[grid]] experiment = \"rss\" eps = [0.1, 0.01]")
        grids = spec["grid"]
        if isinstance(grids, Mapping):
            grids = [grids]
        return cls(grids, name=spec.get("name", name or "sweep"),
                   defaults=spec.get("defaults"))

    def __repr__(self) -> str:
        return f"Sweep(name={self.name!r}, tasks={len(self)})"


def toml_module():
    """``tomllib`` (Python >= 3.11) or ``tomli``; ``ValueError`` when neither exists."""
    try:
        import tomllib
    except ModuleNotFoundError:        # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:
            raise ValueError("reading TOML needs Python >= 3.11 or the 'tomli' package; "
                             "a .json sweep file works everywhere") from exc
    return tomllib


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read a sweep file (TOML; ``.json`` also accepted).

    Raises
    ------
    ValueError
        Unreadable file, TOML syntax errors (with line and column), unknown
        experiments or fields, bad values.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"sweep file {os.fspath(path)!r} cannot be read: {exc}") from exc
    if p.suffix == ".json":
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"sweep file {os.fspath(path)!r} is not valid JSON: {exc}") \
                from exc
    else:
        tomllib = toml_module()
        try:
            spec = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"sweep file {os.fspath(path)!r} is not valid TOML: {exc}") \
                from exc
    try:
        return Sweep.from_dict(spec, name=p.stem)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"sweep file {os.fspath(path)!r}: {exc}") from exc
