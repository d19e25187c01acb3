"""Throughput of a sweep on 1 vs 2 local workers, and the cost of the results store.

Usage::

    python benchmarks/bench_sweep.py            # 200 small tasks
    python benchmarks/bench_sweep.py --quick    # 40 tasks, a smoke run
    python benchmarks/bench_sweep.py --json     # machine-readable output

Rows:

* ``1 worker`` (the baseline, tasks in this process, one numba thread each),
  ``1 worker, C numba threads`` (``run(..., threads=C)``, C the cores) and ``N workers``
  (a ``spawn`` process pool): wall time of
  the whole sweep into a fresh SQLite file, tasks per second, and the speed-up over the
  baseline. The pool's wall time includes starting the workers (importing
  numpy/numba/scipy and loading the compiled kernels); the time to the first finished
  task shows it. The baseline and the pool must store identical results (checked).
  ``mean_task_ms`` is the tasks' own time (several threads per tiny task can cost more
  than they gain, especially on a busy machine).
* ``store``: per-task cost of :meth:`Store.add` (one transaction, WAL,
  ``synchronous=NORMAL``), measured on its own over the same rows, and the framework
  overhead of a 1-worker run (wall time minus the tasks' own time) per task.

Kernels are compiled (or loaded from numba's cache) by ten warm-up tasks before timing;
the 1-worker sweep runs before and after the pool and the faster run is the baseline
(the machine's load drifts; both times are printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from slth._output import dumps, format_table
from slth.experiments import Store, Sweep, run, run_config
from slth.experiments.run import default_workers


def sweep_of(tasks: int) -> Sweep:
    """``tasks`` small tasks: a depth-2L ticket of a 3-3-2 target at half the formula's
    width, built and checked (128 inputs, one local maximisation), one seed per task."""
    return Sweep([{"experiment": "pensia", "widths": [3, 3, 2], "eps": 0.1,
                   "width_factor": 0.5, "samples": 128, "starts": 1,
                   "seed": list(range(tasks))}], name=f"bench-{tasks}")


def timed_run(sweep: Sweep, path: Path, workers: int, threads: int = 1) -> dict:
    t0 = time.perf_counter()
    summary = run(sweep, path, workers=workers, progress=False, threads=threads)
    wall = time.perf_counter() - t0
    with Store(path) as st:
        rows = st.rows()
    done = sorted(r["finished"] for r in rows)
    first = done[0]
    started = done[-1] - wall
    task_seconds = sum(r["timings"]["total"] for r in rows)
    assert summary.finished == len(sweep) and summary.failed == 0
    return {"workers": workers, "tasks": len(rows), "wall_s": wall,
            "tasks_per_s": len(rows) / wall, "first_result_s": first - started,
            "task_seconds": task_seconds, "rows": rows}


def store_cost(rows: list[dict], folder: Path) -> float:
    """Seconds per :meth:`Store.add` of these rows into a fresh file."""
    skip = {"key", "config", "version", "git_revision", "sweep", "finished"}
    results = [{k: v for k, v in r.items() if k not in skip and k not in r["config"]}
               for r in rows]
    with Store(folder / "store-only.sqlite") as st:
        t0 = time.perf_counter()
        for r, res in zip(rows, results, strict=True):
            st.add(r["key"], r["config"], res)
        return (time.perf_counter() - t0) / len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tasks", type=int, help="number of tasks (default 200, quick 40)")
    p.add_argument("--workers", type=int, default=2, help="pool size compared with 1")
    args = p.parse_args(argv)
    tasks = args.tasks or (40 if args.quick else 200)
    sweep = sweep_of(tasks)
    for t in sweep.tasks()[:10]:                     # warm-up: compile / load kernels
        run_config(t.config)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        # 1 worker before and after the pool; the faster of the two is the baseline
        first = timed_run(sweep, folder / "one-a.sqlite", 1)
        many = timed_run(sweep, folder / "many.sqlite", args.workers)
        second = timed_run(sweep, folder / "one-b.sqlite", 1)
        one = min(first, second, key=lambda r: r["wall_s"])
        one_walls = (first["wall_s"], second["wall_s"])
        multi = timed_run(sweep, folder / "one-multi.sqlite", 1, threads=default_workers())
        strip = ("timings", "finished")
        same = [{k: v for k, v in r.items() if k not in strip} for r in one["rows"]] == \
               [{k: v for k, v in r.items() if k not in strip} for r in many["rows"]]
        per_add = store_cost(one["rows"], folder)
    overhead = (one["wall_s"] - one["task_seconds"]) / tasks
    mean_task = one["task_seconds"] / tasks
    table = [
        {"run": "1 worker (baseline)", "tasks": tasks, "wall_s": one["wall_s"],
         "tasks_per_s": one["tasks_per_s"], "speedup": 1.0,
         "first_result_s": one["first_result_s"],
         "mean_task_ms": 1e3 * one["task_seconds"] / tasks},
        {"run": f"1 worker, {default_workers()} numba threads", "tasks": tasks,
         "wall_s": multi["wall_s"], "tasks_per_s": multi["tasks_per_s"],
         "speedup": one["wall_s"] / multi["wall_s"], "first_result_s": multi["first_result_s"],
         "mean_task_ms": 1e3 * multi["task_seconds"] / tasks},
        {"run": f"{args.workers} workers (spawn pool)", "tasks": tasks, "wall_s": many["wall_s"],
         "tasks_per_s": many["tasks_per_s"], "speedup": one["wall_s"] / many["wall_s"],
         "first_result_s": many["first_result_s"],
         "mean_task_ms": 1e3 * many["task_seconds"] / tasks},
    ]
    store = {"one_worker_runs_s": one_walls, "store_add_ms": 1e3 * per_add,
             "framework_overhead_ms_per_task": 1e3 * overhead,
             "mean_task_ms": 1e3 * mean_task,
             "store_share_of_task": per_add / mean_task, "identical_results": same,
             "cores": default_workers(), "cpu_count": os.cpu_count()}
    if args.json:
        print(dumps({"runs": table, "store": store}))
    else:
        print(f"sweep of {tasks} tasks (pensia 3-3-2 ticket at half the formula's width, "
              "built and checked); the pool's wall time includes starting its workers")
        print(format_table(table))
        print()
        print(format_table([{"measure": k, "value": v} for k, v in store.items()]))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
