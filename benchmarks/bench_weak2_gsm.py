"""Benchmark: Global Sparse Momentum SGD against one-shot pruning and IMP, one seed.

Usage::

    python benchmarks/bench_weak2_gsm.py [--full] [--epochs E] [--gsm-epochs G] [--json out.json]

The ``"gsm"`` experiment (:mod:`slth.experiments.weak_gsm`) on MNIST-5k (4,000 training
and 1,000 test images, the stratified split of seed 0), compressions 10x, 30x and 60x of
the prunable weights: the dense network trained ``E`` epochs (plain SGD, lr 0.1, batch
128); GSM ``G`` epochs from it (Nesterov momentum 0.9, lr 0.1, the decay set so that a
never-selected weight shrinks by ``exp(-10)``), pruned without fine-tuning; one-shot
magnitude pruning fine-tuned ``G`` epochs; IMP (20 % a level, rewound to the
initialisation, ``E`` epochs a level) at the first level at or below each density; the
ticket test (GSM's mask, the trained network's magnitude mask and a random mask with
GSM's layer counts, each on the initial weights, retrained ``E`` epochs); per-layer
densities.

Default: 8x8 images, LeNet-64-32. ``--full``: 28x28, LeNet-300-100. One torch thread.
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
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--gsm-epochs", type=int, default=40)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    set_threads(1)
    size, hidden = (28, [300, 100]) if args.full else (8, [64, 32])
    config = {"experiment": "gsm", "dataset": "mnist5k", "size": size, "hidden": hidden,
              "epochs": args.epochs, "gsm_epochs": args.gsm_epochs, "seed": 0}
    task, = Sweep.from_dict({"name": "bench-gsm", "grid": [config]}).tasks()
    t0 = time.perf_counter()
    r = run_config(task.config, threads=1)
    print(f"GSM, LeNet-{'-'.join(map(str, hidden))}, MNIST-5k {size}x{size}: dense "
          f"{args.epochs} epochs, GSM {args.gsm_epochs} epochs ({r['gsm_steps']} steps, "
          f"weight decay {r['weight_decay']:.3g}, never-selected factor "
          f"{r['decay_factor']:.2g}); dense test accuracy {r['dense_accuracy']:.3f}")
    print(f"{'comp':>5} {'GSM':>6} {'GSM-np':>6} {'1shot+ft':>8} {'IMP':>6} {'(dens)':>7} "
          f"{'tGSM':>6} {'tmag':>6} {'trand':>6} {'max|w|rm':>8} {'mean|w|rm':>9} "
          f"{'med|w|kept':>10}")
    for i, c in enumerate(r["compressions"]):
        imp_acc = r["imp_accuracy"][i] if r["imp_accuracy"] else float("nan")
        imp_den = r["imp_density"][i] if r["imp_density"] else float("nan")
        print(f"{c:>5.0f} {r['gsm_accuracy'][i]:>6.3f} {r['gsm_unpruned_accuracy'][i]:>6.3f} "
              f"{r['one_shot_accuracy'][i]:>8.3f} {imp_acc:>6.3f} {imp_den:>7.4f} "
              f"{r['ticket_gsm'][i]:>6.3f} {r['ticket_magnitude'][i]:>6.3f} "
              f"{r['ticket_random'][i]:>6.3f} {r['largest_removed'][i]:>8.3f} "
              f"{r['removed_mean'][i]:>9.4f} {r['kept_median'][i]:>10.3f}")
    print("per-layer densities (GSM | magnitude of the dense network):")
    for c, g, m in zip(r["compressions"], r["layer_density_gsm"],
                       r["layer_density_magnitude"], strict=True):
        print(f"  {c:>4.0f}x  " + " ".join(f"{v:.4f}" for v in g) + "  |  "
              + " ".join(f"{v:.4f}" for v in m))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
          + f" (wall {time.perf_counter() - t0:.1f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=1)


if __name__ == "__main__":
    main()
