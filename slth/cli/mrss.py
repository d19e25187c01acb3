"""``slth mrss``: multidimensional random subset sum from the command line."""

from __future__ import annotations

import math

import numpy as np

from slth._output import dumps, format_table

_NORMS = {"inf": np.inf, "1": 1, "2": 2}


def register(sub) -> None:
    """Add ``mrss solve`` and ``mrss cover``."""
    from slth.mrss import METHODS, VECTOR_DISTRIBUTIONS

    parser = sub.add_parser("mrss", help="multidimensional random subset sum",
                            description="Random subset sum of vectors in R^d (infinity norm "
                                        "by default): solvers and coverage estimates.")
    mrss_sub = parser.add_subparsers(dest="mrss_command", metavar="ACTION", required=True)

    p = mrss_sub.add_parser("solve", help="best subset of n random vectors for given targets")
    p.add_argument("--n", type=int, required=True, help="number of random vectors")
    p.add_argument("--d", type=int, required=True, help="dimension")
    p.add_argument("--dist", default="uniform", choices=VECTOR_DISTRIBUTIONS,
                   help="vector distribution (default: uniform)")
    p.add_argument("--seed", type=int, default=0, help="seed of vectors and targets (default 0)")
    tgt = p.add_mutually_exclusive_group()
    tgt.add_argument("--target", type=float, nargs="+", metavar="Z",
                     help="one target: d numbers")
    tgt.add_argument("--targets", type=int, default=1, metavar="M",
                     help="draw M uniform targets in [-1, 1]^d (default 1)")
    p.add_argument("--method", nargs="+", default=["exact"], choices=METHODS,
                   help="solvers to run, each on the same instances (default: exact)")
    p.add_argument("--norm", default="inf", choices=tuple(_NORMS), help="error norm")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="time limit of the milp solver per target")
    p.add_argument("--restarts", type=int, default=None,
                   help="heuristic restarts (default: from n, about 1-5 ms per target)")
    p.add_argument("--kicks", type=int, default=0, help="heuristic kicks per restart (0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_solve)

    p = mrss_sub.add_parser("cover", help="success probability / samples needed to cover "
                                          "a target set within eps")
    p.add_argument("--d", type=int, nargs="+", required=True, help="dimension(s)")
    p.add_argument("--eps", type=float, nargs="+", default=[0.1], help="error bound(s)")
    p.add_argument("--n", type=int, nargs="+", default=None,
                   help="estimate the success probability at these n (default: the n at "
                        "which --prob is reached, per trial scan up to --n-max)")
    p.add_argument("--prob", type=float, default=0.9, help="target success probability")
    p.add_argument("--n-max", type=int, default=40, help="largest n scanned (default 40)")
    p.add_argument("--dist", default="uniform", choices=VECTOR_DISTRIBUTIONS)
    p.add_argument("--targets", default="auto", choices=("auto", "grid", "random"),
                   help="target set: grid (d <= 2 with auto) or random points of the cube")
    p.add_argument("--num-targets", type=int, default=64, help="random targets per trial")
    p.add_argument("--grid-points", type=int, default=None, help="grid points per axis")
    p.add_argument("--method", default="auto", choices=("auto", "exact", "heuristic"))
    p.add_argument("--exact-max-n", type=int, default=32,
                   help="largest n decided exactly with --method auto (default 32)")
    p.add_argument("--trials", type=int, default=50, help="independent trials (default 50)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cover)


def _solve(args) -> int:
    from slth import mrss

    if args.n < 1 or args.d < 1:
        raise ValueError(f"--n and --d must be >= 1, got n={args.n}, d={args.d}")
    rng = np.random.default_rng(args.seed)
    vectors = mrss.sample_vectors(args.dist, args.n, args.d, rng)
    if args.target is not None:
        targets = np.asarray([args.target], dtype=np.float64)
        if targets.shape[1] != args.d:
            raise ValueError(f"--target needs d={args.d} numbers, got {targets.shape[1]}")
    else:
        if args.targets < 1:
            raise ValueError(f"--targets must be >= 1, got {args.targets}")
        targets = rng.uniform(-1.0, 1.0, (args.targets, args.d))
    norm = _NORMS[args.norm]
    rows, payload = [], []
    for method in args.method:
        batch = mrss.solve_many(vectors, targets, method, norm, seed=args.seed,
                                time_limit=args.time_limit, restarts=args.restarts,
                                kicks=args.kicks)
        for i in range(len(batch)):
            r = batch[i]
            rows.append({"target": i, "method": method, "error": r.error,
                         "optimal": r.optimal, "gap": r.gap, "seconds": r.seconds,
                         "size": int(r.mask.sum())})
            payload.append({**rows[-1], "target": targets[i],
                            "subset": np.flatnonzero(r.mask)})
    if args.json:
        print(dumps({"n": args.n, "d": args.d, "dist": args.dist, "seed": args.seed,
                     "norm": args.norm, "results": payload}))
    else:
        print(f"n = {args.n} {args.dist} vectors in d = {args.d}, norm = {args.norm}")
        print(format_table(rows))
    return 0


def _cover(args) -> int:
    from slth import mrss

    rows = []
    for d in args.d:
        for eps in args.eps:
            common = dict(dist=args.dist, targets=args.targets, num_targets=args.num_targets,
                          grid_points=args.grid_points, trials=args.trials,
                          method=args.method, exact_max_n=args.exact_max_n, seed=args.seed,
                          progress=not args.no_progress and not args.json)
            counting = d * math.log2(1.0 / eps) if eps < 1 else 0.0
            if args.n:
                for n in args.n:
                    est = mrss.success_probability(n, d, eps, confidence=args.confidence,
                                                   **common)
                    rows.append({"d": d, "eps": eps, "n": n, "probability": est.probability,
                                 "ci_low": est.ci_low, "ci_high": est.ci_high,
                                 "method": est.method, "targets": est.targets})
            else:
                res = mrss.min_samples(eps, d, n_max=args.n_max, **common)
                lo, hi = res.quantile_interval(args.prob, args.confidence)
                rows.append({"d": d, "eps": eps, f"n@{args.prob:g}": res.quantile(args.prob),
                             "ci_low": lo, "ci_high": hi, "median": int(np.median(res.n)),
                             "exact": f"{int(res.exact.sum())}/{res.trials}",
                             "d*log2(1/eps)": counting, "targets": res.targets})
    if args.json:
        print(dumps({"dist": args.dist, "trials": args.trials, "seed": args.seed,
                     "results": rows}))
    else:
        if not args.n:
            print(f"smallest n with success probability >= {args.prob:g} ({args.trials} "
                  f"trials, {args.confidence:g} interval; None: beyond --n-max)")
        print(format_table(rows))
    return 0

