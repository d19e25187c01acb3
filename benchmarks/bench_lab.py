"""Benchmark: search against construction (experiments lab_subset_sum and lab_teacher_student).

Usage::

    python benchmarks/bench_lab.py [--quick] [--subset K] [--steps S] [--workers W]
                                   [--store FILE] [--json]

The full teacher-student grid of issue 25 runs through the sweep framework
(:func:`slth.experiments.run`, an SQLite store: an interrupted run resumes where it
stopped): 3 targets (4-4-2, 4-8-2, 8-16-4, ReLU) x 5 widths (1/16, 1/8, 1/4, 1/2 and 1
times the formula's n) x 4 densities (0.2 %, 2 %, 10 % and the constructed ticket's) x
2 searchers (edge-popup, GEM-MINER) x 3 seeds = 360 runs on Pensia's source
(``--construction burkholz`` for Burkholz's), each ``--steps`` search steps (default
1000) with batches of 256 inputs from the theorem's domain; beside it, the subset-sum
experiment at n in {8, 16, 24, 32} with 500 targets.

Reported: total and per-experiment wall time, seconds per search step (median per
target and width), and the smallest-width table
(:func:`slth.experiments.lab.smallest_widths`): the smallest width at which search
reaches an empirical sup error <= eps, for eps in {0.1, 0.03, 0.01}, beside the width
at which the construction is certified within eps and the formula's n.

``--subset K`` runs K tasks of the full grid chosen at random (seed 0) and extrapolates
its time: the measured task-seconds times (tasks of the grid) / K, over the workers (tasks are
independent, so the wall time of the full grid is about that sum over the workers);
the same from the tasks' CPU seconds gives the time on cores not shared with other
work (on a loaded machine the wall times also count waiting).
``--quick`` is the CI smoke size (one target, two widths, two densities, 40 steps).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict

import numpy as np

from slth._output import dumps, format_table
from slth.experiments import Store, Sweep, run
from slth.experiments.lab import format_widths_table, smallest_widths

FULL_TS = {"widths": [[4, 4, 2], [4, 8, 2], [8, 16, 4]],
           "width_factor": [0.0625, 0.125, 0.25, 0.5, 1.0],
           "density": [0.002, 0.02, 0.1, "constructed"],
           "searcher": ["edge_popup", "gem_miner"], "seed": [0, 1, 2]}
QUICK_TS = {"widths": [[4, 4, 2]], "width_factor": [0.0625, 0.25],
            "density": [0.02, "constructed"], "searcher": ["edge_popup", "gem_miner"],
            "seed": [0], "steps": 40, "train_samples": 512, "samples": 256, "starts": 1}
FULL_SS = {"n": [8, 16, 24, 32], "targets": 500}
QUICK_SS = {"n": [8, 16], "targets": 50, "steps": 300}


def grids(quick: bool, steps: int | None, construction: str) -> list[dict]:
    ts = dict(QUICK_TS if quick else FULL_TS)
    if steps is not None:
        ts["steps"] = steps
    return [{"experiment": "lab_teacher_student", "construction": construction, **ts},
            {"experiment": "lab_subset_sum", **(QUICK_SS if quick else FULL_SS)}]


def step_table(rows: list[dict]) -> list[dict]:
    """Median seconds per search step per target, width and searcher."""
    groups = defaultdict(list)
    for r in rows:
        if r["experiment"] == "lab_teacher_student":
            c = r["config"]
            groups[("-".join(map(str, c["widths"])), r["n"], r["searcher"])].append(r)
    return [{"target": t, "n": n, "source": "-".join(map(str, rs[0]["widths"])),
             "searcher": s, "runs": len(rs),
             "ms per step": round(1e3 * statistics.median(r["seconds_per_step"] for r in rs), 3),
             "s per run": round(statistics.median(r["timings"]["total"] for r in rs), 2)}
            for (t, n, s), rs in sorted(groups.items())]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke size")
    p.add_argument("--subset", type=int, default=None, metavar="K",
                   help="run K random tasks of the grid and extrapolate the full time")
    p.add_argument("--steps", type=int, default=None, help="search steps (default 1000)")
    p.add_argument("--construction", default="pensia", choices=("pensia", "burkholz"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--store", default=None, help="results file (default: a temporary one)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    sweep = Sweep(grids(args.quick, args.steps, args.construction), name="bench_lab")
    tasks = sweep.tasks()
    chosen = tasks
    if args.subset is not None and args.subset < len(tasks):
        pick = np.sort(np.random.default_rng(0).choice(len(tasks), args.subset,
                                                       replace=False))
        chosen = [tasks[i] for i in pick]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or os.path.join(tmp, "bench_lab.sqlite")
        sub = Sweep([t.config for t in chosen], name="bench_lab")
        t0 = time.perf_counter()
        summary = run(sub, path, workers=args.workers, progress=False)
        wall = time.perf_counter() - t0
        with Store(path) as st:
            keys = {t.key for t in chosen}
            rows = [r for r in st.rows() if r["key"] in keys]
    per_exp = defaultdict(lambda: {"tasks": 0, "task_seconds": 0.0, "cpu_seconds": 0.0})
    for r in rows:
        per_exp[r["experiment"]]["tasks"] += 1
        per_exp[r["experiment"]]["task_seconds"] += r["timings"]["total"]
        per_exp[r["experiment"]]["cpu_seconds"] += r["timings"]["cpu"]
    task_seconds = sum(v["task_seconds"] for v in per_exp.values())
    cpu_seconds = sum(v["cpu_seconds"] for v in per_exp.values())
    out = {
        "grid_tasks": len(tasks), "run_tasks": len(chosen), "finished": summary.finished,
        "skipped": summary.skipped, "failed": summary.failed, "workers": args.workers,
        "wall_seconds": round(wall, 1), "task_seconds": round(task_seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "per_experiment": {k: {"tasks": v["tasks"], "task_seconds": round(v["task_seconds"], 1),
                               "cpu_seconds": round(v["cpu_seconds"], 1)}
                           for k, v in sorted(per_exp.items())},
        "steps_per_search": chosen[0].config.get("steps"),
        "step_times": step_table(rows),
        "smallest_widths": smallest_widths(rows),
    }
    if len(chosen) < len(tasks):
        scale = len(tasks) / len(chosen)
        out["extrapolated_full_wall_seconds"] = round(task_seconds * scale / args.workers, 1)
        out["extrapolated_full_cpu_seconds"] = round(cpu_seconds * scale / args.workers, 1)
    if args.json:
        print(dumps(out))
        return out
    print(f"lab benchmark: {len(chosen)} of {len(tasks)} tasks, {args.workers} workers, "
          f"{out['steps_per_search']} steps per search")
    print(f"wall {out['wall_seconds']} s, task-seconds {out['task_seconds']} s, task CPU "
          f"seconds {out['cpu_seconds']} s ({summary.skipped} already in the store, "
          f"{summary.failed} failed)")
    for k, v in out["per_experiment"].items():
        print(f"  {k}: {v['tasks']} tasks, {v['task_seconds']} task-seconds, "
              f"{v['cpu_seconds']} CPU seconds")
    if "extrapolated_full_wall_seconds" in out:
        print(f"extrapolated full grid on {args.workers} workers: "
              f"{out['extrapolated_full_wall_seconds']} s from the measured task-seconds, "
              f"{out['extrapolated_full_cpu_seconds']} s from their CPU seconds (the time "
              f"on otherwise idle cores), each x {len(tasks)}/{len(chosen)} / {args.workers}")
    print("\nseconds per search step (median):")
    print(format_table(out["step_times"]))
    print("\nsmallest width with sup error <= eps (median over seeds), beside the "
          "construction's certified width and the formula's n:")
    print(format_widths_table(out["smallest_widths"]))
    return out


if __name__ == "__main__":
    main()
