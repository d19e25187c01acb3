"""``slth rss``: random subset sum from the command line."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from slth import distributions
from slth._output import dumps, format_table


def _add_values_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--values", type=float, nargs="+", metavar="X", help="explicit values")
    src.add_argument("--n", type=int, help="draw this many random values")
    p.add_argument("--dist", default="uniform", choices=distributions.NAMES,
                   help="distribution of drawn values (default: uniform)")
    p.add_argument("--seed", type=int, default=0, help="seed of drawn values (default: 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _values(args) -> np.ndarray:
    if args.values is not None:
        return np.asarray(args.values, dtype=np.float64)
    if args.n < 0:
        raise ValueError(f"--n must be >= 0, got {args.n}")
    return distributions.sample(args.dist, args.n, args.seed)


def register(sub) -> None:
    """Add ``rss solve``, ``rss cover`` and ``rss min-samples``."""
    rss_parser = sub.add_parser("rss", help="random subset sum (1-D)",
                                description="Exact random subset sum in one dimension.")
    rss_sub = rss_parser.add_subparsers(dest="rss_command", metavar="ACTION", required=True)

    p = rss_sub.add_parser("solve", help="best subset for one or more targets")
    _add_values_source(p)
    p.add_argument("--target", type=float, nargs="+", required=True, metavar="Z")
    p.set_defaults(func=_solve)

    p = rss_sub.add_parser("cover", help="exact covering radius of the subset sums")
    _add_values_source(p)
    p.add_argument("--interval", type=float, nargs=2, default=(-1.0, 1.0), metavar=("LO", "HI"))
    p.set_defaults(func=_cover)

    p = rss_sub.add_parser(
        "min-samples", help="samples needed to cover [-1, 1] within eps (per trial, exact)")
    p.add_argument("--eps", type=float, nargs="+", default=[1e-2, 1e-3], metavar="EPS")
    p.add_argument("--dist", nargs="+", default=["uniform"], choices=distributions.NAMES)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", type=float, nargs=2, default=(-1.0, 1.0), metavar=("LO", "HI"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_min_samples)


def _solve(args) -> int:
    from slth import rss

    values = _values(args)
    rows = []
    for target in args.target:
        r = rss.solve(values, target)
        rows.append({"target": target, "value": r.value, "error": r.error,
                     "subset_size": int(r.mask.sum()),
                     "subset": np.flatnonzero(r.mask).tolist()})
    if args.json:
        print(dumps({"values": values, "results": rows}))
    else:
        print(f"n = {values.size} values; exact optimum per target")
        print(format_table(rows))
    return 0


def _cover(args) -> int:
    from slth import rss

    values = _values(args)
    start = time.perf_counter()
    radius = rss.covering_radius(values, tuple(args.interval))
    row = {"n": values.size, "interval": f"[{args.interval[0]:g}, {args.interval[1]:g}]",
           "covering_radius": radius, "seconds": time.perf_counter() - start}
    print(dumps(row) if args.json else format_table([row]))
    return 0


def _min_samples(args) -> int:
    from slth import rss

    rows = []
    for dist in args.dist:
        for eps in args.eps:
            start = time.perf_counter()
            n = rss.min_samples(eps, dist, trials=args.trials, seed=args.seed,
                                interval=tuple(args.interval),
                                progress=False if args.no_progress or args.json else None)
            rows.append({
                "dist": dist, "eps": eps, "trials": args.trials,
                "lower_bound": math.ceil(math.log2((args.interval[1] - args.interval[0])
                                                   / (2 * eps))),
                "mean_n": float(n.mean()), "median_n": float(np.median(n)),
                "p90_n": float(np.percentile(n, 90)), "max_n": int(n.max()),
                "n/log2(1/eps)": float(n.mean() / math.log2(1 / eps)),
                "seconds": time.perf_counter() - start,
            })
    if args.json:
        print(dumps(rows))
    else:
        print("Samples until the subset sums cover the interval within eps (exact, per trial);")
        print("lower_bound is the counting bound: 2^n sums must eps-cover the interval.")
        print(format_table(rows))
    return 0
