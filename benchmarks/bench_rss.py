"""Speed of the 1-D random subset-sum engine against plain-numpy baselines, same process.

Usage::

    python benchmarks/bench_rss.py            # the sizes of the issue (a few minutes)
    python benchmarks/bench_rss.py --quick    # smaller sizes, a smoke run
    python benchmarks/bench_rss.py --json     # machine-readable output

Each row gives the absolute time of slth and of a plain-numpy implementation of
the same exact computation (enumerate subset sums with numpy, sort, search),
their ratio, and whether both found the same answers. Kernels are compiled
(or loaded from numba's cache) by a warm-up call before timing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numba
import numpy as np

from slth import rss
from slth._output import dumps, format_table

# ----------------------------------------------------------------- numpy baselines

def numpy_subset_sums(values: np.ndarray) -> np.ndarray:
    """All 2^n subset sums by repeated concatenation (plain numpy)."""
    sums = np.zeros(1)
    for x in values:
        sums = np.concatenate([sums, sums + x])
    return sums


def numpy_solve_error(values: np.ndarray, target: float) -> float:
    """Meet in the middle in numpy: sort one half, search it for every sum of the other."""
    h = values.size // 2
    left = numpy_subset_sums(values[:h])
    right = np.sort(numpy_subset_sums(values[h:]))
    pos = np.clip(np.searchsorted(right, target - left), 1, right.size - 1)
    return float(min(np.abs(target - left - right[pos]).min(),
                     np.abs(target - left - right[pos - 1]).min()))


def numpy_covering_radius(values: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> float:
    """Sort all subset sums, then take the largest half-gap (clipped to [lo, hi]) in numpy."""
    sums = np.sort(numpy_subset_sums(values))
    first, last = np.searchsorted(sums, lo) - 1, np.searchsorted(sums, hi, side="right") + 1
    points = np.concatenate([[-np.inf], sums[max(first, 0):last], [np.inf]])
    p, q = points[:-1], points[1:]
    left, right = np.maximum(p, lo), np.minimum(q, hi)
    ok = left <= right
    p, q, left, right = p[ok], q[ok], left[ok], right[ok]
    with np.errstate(invalid="ignore"):
        mid = np.where(np.isinf(p), left, np.where(np.isinf(q), right, (p + q) / 2))
    z = np.clip(mid, left, right)
    return float(np.minimum(z - p, q - z).max())


def numpy_first_covering_n(stream: np.ndarray, eps: float) -> int:
    """Smallest n with covering_radius(stream[:n]) <= eps, checking n = 1, 2, ... in numpy."""
    for n in range(1, stream.size + 1):
        if 2.0**n * 2 * eps < 2.0:
            continue
        if numpy_covering_radius(stream[:n]) <= eps:
            return n
    raise RuntimeError("stream too short")


# ----------------------------------------------------------------- timing

def timed(fn, *args, repeat: int = 1, **kwargs):
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_solve(n: int, targets: int, baseline_targets: int, rng) -> dict:
    values = rng.uniform(-1, 1, n)
    zs = rng.uniform(-1, 1, targets)
    rss.solve(values, 0.0)  # warm-up / compile
    t_slth, errors = timed(lambda: [rss.solve(values, z).error for z in zs])
    t_np, np_errors = timed(lambda: [numpy_solve_error(values, z) for z in zs[:baseline_targets]])
    per_slth, per_np = t_slth / targets, t_np / baseline_targets
    return {"benchmark": f"solve n={n}", "size": f"{targets} targets",
            "slth_s": per_slth, "numpy_s": per_np, "speedup": per_np / per_slth,
            "unit": "s per solve", "target": "<= 0.020 s per solve",
            "met": per_slth <= 0.020,
            "same_answer": bool(np.allclose(errors[:baseline_targets], np_errors, atol=1e-12))}


def bench_solve_many(m: int, n: int, baseline_problems: int, rng) -> dict:
    values = rng.uniform(-1, 1, (m, n))
    zs = rng.uniform(-1, 1, m)
    rss.solve_many(values[:2], zs[:2])
    t_slth, (_, errors) = timed(rss.solve_many, values, zs)
    t_np, np_errors = timed(lambda: [numpy_solve_error(values[i], zs[i])
                                     for i in range(baseline_problems)])
    rate, np_rate = m / t_slth, baseline_problems / t_np
    return {"benchmark": f"solve_many n={n}", "size": f"{m} problems",
            "slth_s": t_slth, "numpy_s": t_np * m / baseline_problems,
            "speedup": rate / np_rate, "unit": f"s for {m} ({rate:,.0f}/s)",
            "target": ">= 50,000 problems/s", "met": rate >= 50_000,
            "same_answer": bool(np.allclose(errors[:baseline_problems], np_errors, atol=1e-12))}


def bench_covering_radius(n: int, rng) -> dict:
    values = rng.uniform(-1, 1, n)
    rss.covering_radius(values[:4])
    t_slth, radius = timed(rss.covering_radius, values, repeat=3)
    t_np, np_radius = timed(numpy_covering_radius, values)
    return {"benchmark": f"covering_radius n={n}", "size": f"2^{n} sums",
            "slth_s": t_slth, "numpy_s": t_np, "speedup": t_np / t_slth, "unit": "s",
            "target": ">= 10x numpy", "met": t_np / t_slth >= 10,
            "same_answer": bool(abs(radius - np_radius) <= 1e-12)}


def bench_min_samples(eps: float, trials: int, baseline_trials: int) -> dict:
    rss.min_samples(0.1, trials=2, seed=0, progress=False)
    start = time.perf_counter()
    n = rss.min_samples(eps, "uniform", trials=trials, seed=0, progress=True)
    t_slth = time.perf_counter() - start
    streams = [rss.trial_stream("uniform", 0, t, int(n[t])) for t in range(baseline_trials)]
    t_np, np_n = timed(lambda: [numpy_first_covering_n(s, eps) for s in streams])
    per_slth, per_np = t_slth / trials, t_np / baseline_trials
    return {"benchmark": f"min_samples eps={eps:g}", "size": f"{trials} trials",
            "slth_s": t_slth, "numpy_s": per_np * trials, "speedup": per_np / per_slth,
            "unit": f"s (median n = {np.median(n):g}, max {n.max()})",
            "target": "<= 60 s", "met": t_slth <= 60,
            "same_answer": bool(np.array_equal(n[:baseline_trials], np_n))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--only", nargs="+",
                        choices=["solve", "solve_many", "cover", "min_samples"])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(2024)
    only = set(args.only or ["solve", "solve_many", "cover", "min_samples"])
    rows = []
    if "solve" in only:
        rows.append(bench_solve(32 if args.quick else 40, 50 if args.quick else 1000,
                                5 if args.quick else 20, rng))
    if "solve_many" in only:
        rows.append(bench_solve_many(10_000 if args.quick else 100_000, 20,
                                     200 if args.quick else 1000, rng))
    if "cover" in only:
        rows.append(bench_covering_radius(18 if args.quick else 24, rng))
    if "min_samples" in only:
        rows.append(bench_min_samples(1e-3 if args.quick else 1e-5,
                                      50 if args.quick else 1000, 2))
    env = {"cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
           "numba": numba.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    if args.json:
        print(dumps({"environment": env, "results": rows}))
    else:
        print("slth rss benchmarks (numpy baseline: same exact computation, same process)")
        print(", ".join(f"{k}={v}" for k, v in env.items()))
        print(format_table(rows, ["benchmark", "size", "slth_s", "numpy_s", "speedup", "unit",
                                  "target", "met", "same_answer"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
