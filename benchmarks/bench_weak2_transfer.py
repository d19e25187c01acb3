"""Benchmark: ticket transfer from MNIST-5k 8x8 to digits (Morcos et al. 2019), one seed.

Usage::

    python benchmarks/bench_weak2_transfer.py [--levels L] [--epochs E] [--json out.json]

The ``"ticket_transfer"`` experiment (:mod:`slth.experiments.weak_transfer`), LeNet-300-100,
IMP at 20 % a level (``L = 14``: 4.4 % density) with late resetting to iteration 10,
``E`` epochs a run (about 150 s in all), for the four
sources: all 4,000 MNIST-5k 8x8 training images or 500 of them, SGD (lr 0.1) or Adam
(lr 1e-3). Per level: density, the transferred ticket's, the target's own ticket's and
the random ticket's test accuracy on digits. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import time

from slth.experiments.grid import Sweep
from slth.experiments.registry import run_config
from slth.lab import set_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", type=int, default=14)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    set_threads(1)
    out = []
    for limit in (0, 500):
        for opt, lr in (("sgd", 0.1), ("adam", 1e-3)):
            config = {"experiment": "ticket_transfer", "source_limit": limit,
                      "optimizer": opt, "lr": lr, "levels": args.levels,
                      "epochs": args.epochs, "seed": 0}
            task, = Sweep.from_dict({"name": "bench-transfer", "grid": [config]}).tasks()
            t0 = time.perf_counter()
            r = run_config(task.config, threads=1)
            print(f"source MNIST-5k 8x8, {r['source_size']} images, {opt}: "
                  f"{time.perf_counter() - t0:.1f} s")
            print(f"{'density':>8} {'transfer':>8} {'own':>6} {'random':>6} {'source':>6}")
            for d, a, o, rnd, s in zip(r["density"], r["transfer"], r["own"], r["random"],
                                       r["source"], strict=True):
                print(f"{d:>8.4f} {a:>8.3f} {o:>6.3f} {rnd:>6.3f} {s:>6.3f}")
            out.append(r)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
