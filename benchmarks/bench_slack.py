"""The slack table: how much wider than necessary the width formulas are, and its cost.

Usage::

    python benchmarks/bench_slack.py            # 20 seeds, eps in {0.1, 0.03, 0.01}
    python benchmarks/bench_slack.py --quick    # 4 seeds, eps 0.1: a smoke run
    python benchmarks/bench_slack.py --json     # machine-readable output

For pensia, orseau (hyperbolic sources), burkholz (ReLU and tanh) and fischer_burkholz
(ReLU with biases) on 4-4-2 targets, malach on a 2-2-1 target (its formula's n is
polynomial in 1/eps: the search stops at n = 2048), cnn_unstructured on a 1-2-2 target with
3x3 kernels, cnn_structured on a 1-2-2 target with 2x2 kernels and burkholz_cnn,
burkholz_cnn_2l (ReLU and tanh, biases) on a 1-2-2 target with 3x3 kernels, at each eps:
the formula's n (with the C in use, named in each row), the smallest n certified within eps
and the smallest n empirically within eps for a fraction 1 - delta = 0.9 of the seeds,
their ratio, the implied constant C*, and the seconds each search took
(:func:`slth.experiments.slack.ticket_slack`, every task on its own process of a local
pool; the lemmas' rows from :func:`slth.experiments.slack.lemma_slack`, 200 trials,
uniform, uniform-product and hyperbolic samples).

Baseline, in the same process: the search's doubling and bisection against a scan of
every n from 1 up to the certified n found (what one would do without the search), on
the pensia eps = 0.1 row: widths evaluated and seconds, and the same answer (checked).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from slth._output import dumps
from slth.cli.slack import print_slack
from slth.experiments import Store, Sweep, run
from slth.experiments.slack import (
    required_passes,
    slack_table,
    ticket_setup,
    ticket_slack,
    width_passes,
)

CASES = ({"of": "pensia"}, {"of": "orseau"},
         {"of": "burkholz", "activation": ["relu", "tanh"]},
         {"of": "fischer_burkholz"}, {"of": "malach"},
         {"of": "cnn_unstructured", "kernel": 3}, {"of": "cnn_structured", "kernel": 2},
         {"of": "burkholz_cnn", "activation": ["relu", "tanh"], "kernel": 3},
         {"of": "burkholz_cnn_2l", "activation": ["relu", "tanh"], "kernel": 3})


def sweep_of(seeds: int, eps: list[float]) -> Sweep:
    grids = [{"experiment": "slack", "eps": eps, "trials": seeds, **case} for case in CASES]
    grids.append({"experiment": "slack", "of": "rss", "eps": eps, "trials": 200,
                  "dist": ["uniform", "uniform_product", "hyperbolic"]})
    grids.append({"experiment": "slack", "of": "mrss", "eps": eps[:2], "d": 2, "trials": 40})
    return Sweep(grids, name="bench-slack")


def baseline(seeds: int) -> dict:
    """Doubling and bisection against a scan of every n, on one row, in this process."""
    t0 = time.perf_counter()
    row = ticket_slack("pensia", eps=0.1, seeds=seeds)
    search_s = time.perf_counter() - t0
    construction, config, target = ticket_setup("pensia", eps=0.1)
    need, first, t0 = required_passes(seeds, 0.1), None, time.perf_counter()
    for n in range(1, row.certified_n + 1):
        passes = width_passes(construction, config, target, n, seeds)
        if n in row.evaluations and passes != row.evaluations[n]:
            raise RuntimeError(f"n={n}: the scan counted {passes}, the search "
                               f"{row.evaluations[n]}")
        if passes[0] >= need:
            first = n
            break
    scan_s = time.perf_counter() - t0
    return {"search_widths": len(row.evaluations), "search_s": search_s,
            "scan_widths": n, "scan_s": scan_s, "certified_n": row.certified_n,
            "scan_n": first, "speedup": scan_s / search_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--workers", type=int)
    args = p.parse_args(argv)
    seeds, eps = (4, [0.1]) if args.quick else (20, [0.1, 0.03, 0.01])
    sweep = sweep_of(seeds, eps)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "slack.sqlite"
        t0 = time.perf_counter()
        summary = run(sweep, db, workers=args.workers, progress=not args.json)
        wall = time.perf_counter() - t0
        with Store(db) as st:
            rows = st.rows()
    lines = slack_table(rows)
    seconds = {(r["of"], r["target"], r["eps"]): r["seconds"] for r in rows}
    for line in lines:
        line["seconds"] = round(seconds[(line["of"], line["target"], line["eps"])], 2)
    base = baseline(seeds)
    if args.json:
        print(dumps({"rows": lines, "wall_s": wall, "tasks": len(rows), "baseline": base,
                     "failures": summary.failures}))
    else:
        print_slack(lines)
        print("\nseconds per search:", ", ".join(f"{x['of']} {x['target']} eps={x['eps']:g}: "
                                                 f"{x['seconds']}" for x in lines))
        print(f"\n{len(rows)} searches in {wall:.1f} s (wall, {args.workers or 'all'} "
              "workers)")
        print(f"baseline (pensia 4-4-2, eps 0.1, {seeds} seeds): the search evaluated "
              f"{base['search_widths']} widths in {base['search_s']:.2f} s, a scan of every "
              f"n {base['scan_widths']} widths in {base['scan_s']:.2f} s "
              f"({base['speedup']:.1f}x); the search found n = {base['certified_n']}, the "
              f"scan n = {base['scan_n']} (they differ only where success is not monotone "
              "in n)")
    for f in summary.failures:
        print(f"task failed: {f['error']}", file=sys.stderr)
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
