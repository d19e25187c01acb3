"""Benchmark of the MRSS solvers against HiGHS (scipy.optimize.milp) in the same process.

Three parts, each printed as a table with absolute times and ratios:

1. exact (meet in the middle + k-d tree) vs milp without time limit, n = 28,
   d = 9: both must reach the same optimum; the time ratio is milp / exact.
2. heuristic vs milp with a time limit, n = 64 and 256, d = 9: the error of the
   heuristic relative to milp's and to the best known error (the smaller of
   milp's and a long heuristic run), and the time per target.
3. coverage: per d in {1, 2, 4, 9} and eps in {0.1, 0.05, 0.01}, the smallest n
   at which 90% of the trials eps-approximate every target of the set (grid for
   d <= 2, random points of the cube otherwise), next to the counting bound
   d log2(1/eps) and the shape d^3 log(1/eps) (log(1/eps) + log d) of the
   upper bound of Becchetti et al.

Usage::

    python benchmarks/bench_mrss.py [--quick] [--json] [--parts 1 2 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from slth import mrss
from slth._output import dumps, format_table


def _instances(n, d, count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        out.append((mrss.sample_vectors("uniform", n, d, rng), rng.uniform(-1.0, 1.0, d)))
    return out


def _timed(fn):
    """Result, wall-clock seconds and CPU seconds of this process (robust to a busy machine)."""
    c0, t0 = time.process_time(), time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0, time.process_time() - c0


def warm_up():
    x, z = _instances(12, 3, 1, 0)[0]
    for method in mrss.METHODS:
        mrss.solve(x, z, method=method)
    mrss.solve_many(x, z[None], method="heuristic")


def part_exact(quick: bool, progress) -> list[dict]:
    # Both on one thread: HiGHS runs its branch and bound serially.
    rows = []
    for i, (x, z) in enumerate(progress(_instances(28, 9, 2 if quick else 5, 1),
                                        "exact vs milp")):
        ex, t_ex, c_ex = _timed(lambda x=x, z=z: mrss.solve(x, z, "exact", threads=1))
        mi, t_mi, c_mi = _timed(lambda x=x, z=z: mrss.solve(x, z, "milp"))
        rows.append({"instance": i, "n": 28, "d": 9, "exact_s": t_ex, "milp_s": t_mi,
                     "speedup": t_mi / t_ex, "exact_cpu_s": c_ex, "milp_cpu_s": c_mi,
                     "cpu_speedup": c_mi / c_ex, "exact_error": ex.error, "milp_error": mi.error,
                     "same_optimum": bool(abs(ex.error - mi.error) <= 1e-6 and mi.optimal)})
    return rows


def part_heuristic(quick: bool, progress) -> list[dict]:
    rows = []
    limit = 2.0 if quick else 10.0
    count = 2 if quick else 5
    for n in (64, 256):
        for i, (x, z) in enumerate(progress(_instances(n, 9, count, 2 + n),
                                            f"heuristic n={n}")):
            # Median of 5 runs (each gives the same mask): robust to a busy machine.
            runs = [_timed(lambda x=x, z=z, i=i: mrss.solve(x, z, "heuristic", seed=i))
                    for _ in range(5)]
            he = runs[0][0]
            t_he = float(np.median([t for _, t, _ in runs]))
            c_he = float(np.median([c for _, _, c in runs]))
            mi, t_mi, _ = _timed(lambda x=x, z=z: mrss.solve(x, z, "milp", time_limit=limit))
            long = mrss.solve(x, z, "heuristic", seed=i, restarts=64, kicks=4)
            best = min(mi.error, long.error)
            rows.append({"n": n, "instance": i, "heuristic_ms": 1e3 * t_he,
                         "heuristic_cpu_ms": 1e3 * c_he,
                         "heuristic_error": he.error, "milp_s": t_mi, "milp_error": mi.error,
                         "milp_bound": mi.lower_bound, "vs_milp": he.error / mi.error,
                         "best_known": best, "vs_best": he.error / best})
    return rows


def part_coverage(quick: bool, progress) -> list[dict]:
    rows = []
    settings = {  # d: (n_max, exact_max_n, num_targets, trials, quick trials)
        1: (40, 40, 64, 40, 10), 2: (40, 40, 64, 40, 10), 4: (48, 40, 32, 40, 10),
        9: (40, 40, 8, 20, 5),
    }
    for d, (n_max, exact_max_n, num_targets, full, short) in progress(settings.items(),
                                                                     "coverage"):
        unreached = False
        for eps in (0.1, 0.05, 0.01):
            t0 = time.perf_counter()
            row = {"d": d, "eps": eps}
            if unreached:
                row_prev = rows[-1]
                # Same seed, same vectors and targets: covering within a smaller eps
                # implies covering within a larger one, so no trial can succeed.
                row.update({"targets": row_prev["targets"], "trials": row_prev["trials"],
                            "n90": None, "n90_low": None, "n90_high": None,
                            "median": f"> {n_max}", "p_at_n_max": 0.0,
                            "exact_trials": row_prev["exact_trials"], "n_max": n_max})
            else:
                res = mrss.min_samples(eps, d, trials=short if quick else full, n_max=n_max,
                                       exact_max_n=exact_max_n, num_targets=num_targets,
                                       seed=d, heuristic_step=2)
                lo, hi = res.quantile_interval(0.9)
                p_max = float(res.success([n_max])[0][0])
                row.update({"targets": res.targets, "trials": res.trials,
                            "n90": res.quantile(0.9), "n90_low": lo, "n90_high": hi,
                            "median": float(np.median(res.n)) if np.median(res.n) <= n_max
                            else f"> {n_max}", "p_at_n_max": p_max,
                            "exact_trials": int(res.exact.sum()), "n_max": n_max})
                unreached = p_max == 0.0 and bool(res.exact.all())
            log_e = math.log(1.0 / eps)
            row.update({"d*log2(1/eps)": d * math.log2(1.0 / eps),
                        "d^3*log(1/eps)*(log(1/eps)+log d)":
                            d ** 3 * log_e * (log_e + math.log(d)),
                        "seconds": time.perf_counter() - t0})
            rows.append(row)
    return rows


def growth(rows: list[dict]) -> list[dict]:
    """n90(d) / n90(1) per eps, next to the same ratio of the two bounds."""
    out = []
    for eps in (0.1, 0.05, 0.01):
        by_d = {r["d"]: r for r in rows if r["eps"] == eps}
        if 1 not in by_d or by_d[1]["n90"] is None:
            continue
        base = by_d[1]
        for d, r in sorted(by_d.items()):
            ratio = None if r["n90"] is None else r["n90"] / base["n90"]
            out.append({"eps": eps, "d": d, "n90": r["n90"], "n90/n90(d=1)": ratio,
                        "counting ratio": r["d*log2(1/eps)"] / base["d*log2(1/eps)"],
                        "d^3 bound ratio": r["d^3*log(1/eps)*(log(1/eps)+log d)"]
                        / base["d^3*log(1/eps)*(log(1/eps)+log d)"]})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer instances and trials")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    args = parser.parse_args(argv)

    if args.json:
        def progress(it, desc):
            return it
    else:
        from tqdm.auto import tqdm

        def progress(it, desc):
            return tqdm(list(it), desc=desc, leave=False, file=sys.stderr)

    warm_up()
    report = {"quick": args.quick}
    if 1 in args.parts:
        report["exact_vs_milp"] = part_exact(args.quick, progress)
    if 2 in args.parts:
        report["heuristic_vs_milp"] = part_heuristic(args.quick, progress)
    if 3 in args.parts:
        report["coverage"] = part_coverage(args.quick, progress)
        report["coverage_growth"] = growth(report["coverage"])
    if args.json:
        print(dumps(report))
        return 0
    if "exact_vs_milp" in report:
        rows = report["exact_vs_milp"]
        print("1. exact vs milp (no time limit), n = 28, d = 9, infinity norm")
        print(format_table(rows))
        print(f"   median speedup (milp time / exact time): wall "
              f"{np.median([r['speedup'] for r in rows]):.1f}x, CPU "
              f"{np.median([r['cpu_speedup'] for r in rows]):.1f}x; min wall "
              f"{min(r['speedup'] for r in rows):.1f}x; same optimum in "
              f"{sum(r['same_optimum'] for r in rows)}/{len(rows)}\n")
    if "heuristic_vs_milp" in report:
        rows = report["heuristic_vs_milp"]
        print("2. heuristic (default effort) vs milp with a time limit, d = 9")
        print(format_table(rows))
        for n in (64, 256):
            sel = [r for r in rows if r["n"] == n]
            wall = np.median([r["heuristic_ms"] for r in sel])
            cpu = np.median([r["heuristic_cpu_ms"] for r in sel])
            print(f"   n = {n}: median {wall:.2f} ms per target (CPU {cpu:.2f} ms); "
                  f"error / milp's: max {max(r['vs_milp'] for r in sel):.2f}; "
                  f"error / best known: max {max(r['vs_best'] for r in sel):.2f}")
        print()
    if "coverage" in report:
        print("3. coverage: smallest n with >= 90% success (95% interval of the 0.9-quantile)")
        print(format_table(report["coverage"]))
        print("\n   growth with d (ratios to d = 1)")
        print(format_table(report["coverage_growth"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
