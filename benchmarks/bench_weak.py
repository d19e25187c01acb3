"""Benchmark: IMP and essential sparsity on LeNet-300-100, MNIST-5k (28x28), one seed.

Usage::

    python benchmarks/bench_weak.py [--quick] [--epochs E] [--levels L] [--json out.json]
    python benchmarks/bench_weak.py --checkpoints [1,2,5,10,20,40] [--epochs E]

1. IMP (:func:`slth.lab.imp.imp`, rewinding to the initial weights, 20 % of the remaining
   prunable weights per level) down to ``0.8^L`` density: per level, the density, the
   test accuracy of the IMP ticket, of the random-reinit and random-prune baselines, and
   the seconds of the IMP run and of the level with its baselines. 4,000 training images,
   1,000 test images (the stratified split of seed 0), SGD lr 0.1, batch 128, ``E``
   epochs per run (open_lth's 40 epochs of MNIST are 16,000 iterations; 20 epochs here
   are 640).
2. Essential sparsity of the dense trained network (level 0): one-shot global magnitude
   pruning on 60 sparsities, the essential sparsity (<= 1 point drop), the knee, N:M
   patterns, and the IoU of the one-shot mask with the IMP mask of each level.

3. (``--pretrain``, alone) the pre-train-then-fine-tune protocol: LeNet-300-100
   pre-trained 15 epochs on 0 (none), 500, 1,000, 2,000 and 4,000 MNIST-5k images at 8x8,
   new output layer, fine-tuned 15 epochs on scikit-learn's digits, then pruned in one
   shot: the essential sparsity on digits against the pre-training set size.

4. (``--checkpoints``, alone) essential sparsity along training: one dense run of
   LeNet-300-100 on MNIST-5k (the split and seed of 1.), ``E`` epochs (default: the last
   checkpoint), and at each checkpoint epoch the test accuracy, the essential sparsity
   and the knee of the one-shot curve on 60 sparsities
   (:func:`slth.lab.essential.along_checkpoints`), with the seconds of each measurement
   and of the whole run.

One torch thread. ``--quick``: 8x8 images, LeNet-64-32, 6 levels, 15 epochs.
"""

from __future__ import annotations

import argparse
import json
import time

from slth.experiments.weak import sparsity_grid
from slth.lab import set_threads
from slth.lab.data import load_dataset
from slth.lab.essential import (
    along_checkpoints,
    essential_sparsity,
    knee,
    nm_curve,
    one_shot_curve,
    one_shot_masks,
)
from slth.lab.imp import apply_masks, imp, lenet, rewind
from slth.lab.masks import iou


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--levels", type=int, default=None)
    ap.add_argument("--every", type=int, default=None, help="baselines every N levels")
    ap.add_argument("--pretrain", action="store_true")
    ap.add_argument("--checkpoints", nargs="?", const="1,2,5,10,20,40", default=None,
                    help="epochs, comma-separated (default 1,2,5,10,20,40)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    set_threads(1)
    if args.pretrain:
        return pretrain_table()
    size, hidden = (8, (64, 32)) if args.quick else (28, (300, 100))
    if args.checkpoints is not None:
        epochs = [int(e) for e in args.checkpoints.strip("[]").split(",")]
        return checkpoint_table(epochs, args.epochs, size, hidden, args.json)
    epochs = args.epochs or 15
    every = args.every or (1 if args.quick else 3)
    levels = args.levels if args.levels is not None else (6 if args.quick else 18)
    data = load_dataset("mnist5k", seed=0, size=size)
    t0 = time.perf_counter()
    print(f"IMP, LeNet-{'-'.join(map(str, hidden))}, MNIST-5k {size}x{size}, {epochs} epochs "
          f"a run, baselines every {every} levels")
    print(f"{'level':>5} {'density':>8} {'IMP':>6} {'reinit':>6} {'random':>6} "
          f"{'IMP s':>6} {'level s':>7}", flush=True)

    def show(r):
        def f(v):
            return "   -  " if v is None else f"{v:6.3f}"
        print(f"{r['level']:5d} {r['density']:8.4f} {f(r['accuracy'])} "
              f"{f(r['reinit_accuracy'])} {f(r['random_prune_accuracy'])} "
              f"{r['seconds']:6.1f} {r['total_seconds']:7.1f}", flush=True)

    res = imp(data, hidden=hidden, levels=levels, epochs=epochs, baselines_every=every,
              seed=0, on_level=show)
    imp_seconds = time.perf_counter() - t0
    print(f"{res.prunable} prunable weights, IMP total {imp_seconds:.1f} s")

    t1 = time.perf_counter()
    model = lenet(data.features, data.classes, hidden, seed=0)
    apply_masks(model, res.masks[0])
    rewind(model, res.trained[0])
    grid = sparsity_grid(60)
    acc = one_shot_curve(model, data.x_test, data.y_test, grid)
    dense = float(acc[0])
    es = essential_sparsity(grid, acc, dense)
    kn = knee(grid, acc)
    nm = nm_curve(model, data.x_test, data.y_test)
    overlap = [iou(one_shot_masks(model, 1 - r["density"]), m)
               for r, m in zip(res.levels[1:], res.masks[1:], strict=True)]
    es_seconds = time.perf_counter() - t1
    print(f"\nEssential sparsity of the dense network (test accuracy {dense:.3f}): "
          f"{es:.3f} (<= 1 point drop); knee {kn:.3f}; {es_seconds:.1f} s")
    print("one-shot: " + ", ".join(f"{s:.3f}:{a:.3f}" for s, a in zip(grid, acc, strict=True)
                                   if s >= 0.5))
    print("N:M: " + ", ".join(f"{k} {v:.3f}" for k, v in nm.items()))
    print("IoU(one-shot, IMP) by level: " + ", ".join(
        f"{r['density']:.3f}:{o:.3f}" for r, o in zip(res.levels[1:], overlap, strict=True)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"levels": res.levels, "imp_seconds": imp_seconds, "epochs": epochs,
                       "hidden": hidden, "size": size, "sparsity": grid,
                       "one_shot_accuracy": acc.tolist(), "essential_sparsity": es,
                       "knee": kn, "nm": nm, "iou": overlap,
                       "essential_seconds": es_seconds}, f, indent=1)


def pretrain_table() -> None:
    from slth.experiments.grid import Sweep
    from slth.experiments.registry import run_config

    print("pre-training images  dense acc  essential sparsity  knee  2:4 acc  seconds")
    for pre in (0, 500, 1000, 2000, 4000):
        cfg = {"experiment": "essential_sparsity", "dataset": "digits", "epochs": 15,
               "pretrain": pre, "pretrain_epochs": 15, "points": 60, "imp_levels": 0}
        task = Sweep.from_dict({"grid": [cfg]}).tasks()[0]
        t0 = time.perf_counter()
        r = run_config(task.config)
        print(f"{pre:19d}  {r['dense_accuracy']:9.3f}  {r['essential_sparsity']:18.3f}  "
              f"{r['knee']:.3f}  {r['nm']['2:4']:7.3f}  {time.perf_counter() - t0:7.1f}",
              flush=True)


def checkpoint_table(checkpoints, epochs, size, hidden, json_path) -> None:
    data = load_dataset("mnist5k", seed=0, size=size)
    epochs = epochs or checkpoints[-1]
    print(f"Essential sparsity along training, LeNet-{'-'.join(map(str, hidden))}, MNIST-5k "
          f"{size}x{size}, {epochs} epochs, one-shot curve on 60 sparsities")
    print("epoch  test acc  essential sparsity   knee  measure s")
    t0 = time.perf_counter()
    rows = along_checkpoints(data, checkpoints, sparsity_grid(60), hidden=hidden,
                             epochs=epochs, seed=0)
    total = time.perf_counter() - t0
    for r in rows:
        print(f"{r['epoch']:5d}  {r['accuracy']:8.3f}  {r['essential_sparsity']:18.3f}  "
              f"{r['knee']:.3f}  {r['seconds']:9.2f}")
    print(f"total {total:.1f} s (training and measurements)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"rows": rows, "seconds": total, "epochs": epochs, "hidden": hidden,
                       "size": size}, f, indent=1)


if __name__ == "__main__":
    main()
