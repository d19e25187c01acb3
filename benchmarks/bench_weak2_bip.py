"""Benchmark: inertial-manifold diagnostics of a 64-16-10 network on scikit-learn's digits.

Usage::

    python benchmarks/bench_weak2_bip.py [--seeds S] [--json out.json]

For each seed (:func:`slth.lab.inertial.diagnose`, 30 epochs of SGD, lr 0.1, batch 128,
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
    args = ap.parse_args()
    set_threads(1)
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


if __name__ == "__main__":
    main()
