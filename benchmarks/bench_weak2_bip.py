"""Benchmark: BiP against its baselines; inertial-manifold diagnostics on digits.

Usage::

    python benchmarks/bench_weak2_bip.py [--seeds S] [--json out.json]
    python benchmarks/bench_weak2_bip.py --bip [--json out.json]

``--bip``: the ``"bip"`` experiment (:func:`slth.experiments.weak_bip.run_bip`) at its
defaults: LeNet-300-100 on MNIST-5k at 8x8 (4,000 training images), trained 20 epochs;
at densities 20, 5, 2 and 1 %, BiP (10 epochs), HYDRA (10 epochs of scores, 10 of
fine-tuning), one-shot magnitude pruning plus 10 epochs of fine-tuning and IMP (21
levels of 20 epochs, the level of nearest density): test accuracy and wall seconds.

Without it: for each seed (:func:`slth.lab.inertial.diagnose`, 30 epochs of SGD, lr 0.1, batch 128,
1,437 training images): the full-batch gradient norm after 10 SGD steps and after
training, the exact Hessian's (1,210 x 1,210) fraction of negative eigenvalues, the
sampled Lipschitz constant of the remainder (32 pairs, radius 0.1), the largest gap, the
predicted dimension N, the prunable weights kept at the essential sparsity, whether the
theory's two conditions hold, and the seconds. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from slth.lab import set_threads
from slth.lab.data import load_dataset
from slth.lab.inertial import diagnose


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--bip", action="store_true")
    args = ap.parse_args()
    set_threads(1)
    if args.bip:
        return bip_table(args.json)
    print(f"{'seed':>4} {'|g| 10 st':>9} {'|g| end':>8} {'neg frac':>8} {'2 Lip':>8} "
          f"{'max gap':>8} {'N':>5} {'kept@ES':>7} {'params':>6} {'holds':>5} {'acc':>6} "
          f"{'s':>6}")
    out = []
    for seed in range(args.seeds):
        data = load_dataset("digits", seed=seed)
        t0 = time.perf_counter()
        r = diagnose(data, hidden=(16,), seed=seed)
        sec = time.perf_counter() - t0
        holds = r["dissipative"] and r["gap_condition"]
        print(f"{seed:>4} {r['grad_norm_early']:>9.4f} {r['grad_norm_trained']:>8.4f} "
              f"{r['negative_fraction']:>8.4f} {2 * r['lip']:>8.4f} {r['gaps'].max():>8.4f} "
              f"{r['predicted_dimension']!s:>5} {r['essential_kept']:>7} "
              f"{r['parameters']:>6} {holds!s:>5} {r['test_accuracy']:>6.3f} {sec:>6.1f}")
        out.append({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                   | {"seed": seed, "seconds": sec})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh)


def bip_table(path) -> None:
    from slth.experiments.grid import Sweep
    from slth.experiments.registry import run_config

    task, = Sweep.from_dict({"grid": [{"experiment": "bip"}]}).tasks()
    r = run_config(task.config)
    print(f"dense accuracy {r['dense_accuracy']:.3f} ({r['dense_seconds']:.1f} s)")
    print(f"{'density':>7} {'BiP':>6} {'s':>5} {'HYDRA':>6} {'s':>5} {'1-shot+FT':>9} {'s':>5} "
          f"{'IMP dens':>8} {'IMP':>6} {'s':>6}")
    for i, d in enumerate(r["densities"]):
        print(f"{d:>7.2f} {r['bip_accuracy'][i]:>6.3f} {r['bip_seconds'][i]:>5.1f} "
              f"{r['hydra_accuracy'][i]:>6.3f} {r['hydra_seconds'][i]:>5.1f} "
              f"{r['one_shot_finetune_accuracy'][i]:>9.3f} "
              f"{r['one_shot_finetune_seconds'][i]:>5.1f} {r['imp_density'][i]:>8.4f} "
              f"{r['imp_accuracy'][i]:>6.3f} {r['imp_seconds'][i]:>6.1f}")
    print(f"total {r['timings']['total']:.1f} s")
    if path:
        with open(path, "w") as fh:
            json.dump(r, fh)


if __name__ == "__main__":
    main()
