"""Sweeps: grids of experiments, run locally or on dask, stored in SQLite, plotted.

* :class:`Sweep` / :func:`load_sweep` -- a grid of configs (TOML file or dict),
  expanded into tasks with deterministic keys (:mod:`slth.experiments.grid`);
* :func:`run` -- skip finished tasks, compute the rest on a local process pool or
  dask.distributed, write each result in its own transaction
  (:mod:`slth.experiments.run`);
* :class:`Store` -- the SQLite results file, with tables as numpy structured
  arrays and CSV export (:mod:`slth.experiments.store`);
* :mod:`slth.experiments.plots` -- overparameterization curves, samples needed vs
  log(1/eps), success-probability heatmaps;
* :func:`verify_bounds` -- the fixed bound-verification suite behind
  ``slth verify-bounds`` (:mod:`slth.experiments.suite`).

Examples
--------
>>> from slth.experiments import Sweep
>>> len(Sweep([{"experiment": "pensia", "eps": 0.1, "width_factor": [0.5, 1.0],
...             "seed": [0, 1]}]))
4
"""

from __future__ import annotations

from slth.experiments.grid import Sweep, Task, canonical, load_sweep, task_key
from slth.experiments.registry import CONSTRUCTIONS, EXPERIMENTS, Construction, run_config
from slth.experiments.run import RunSummary, run
from slth.experiments.store import Store, to_records, write_csv

__all__ = ["Sweep", "Task", "load_sweep", "canonical", "task_key", "CONSTRUCTIONS",
           "EXPERIMENTS", "Construction", "run_config", "run", "RunSummary", "Store",
           "to_records", "write_csv", "verify_bounds"]


def __getattr__(name: str):
    if name == "verify_bounds":
        from slth.experiments.suite import verify_bounds

        return verify_bounds
    raise AttributeError(f"module 'slth.experiments' has no attribute {name!r}")
