"""Benchmark: build and verify tickets for a 784-300-100-10 target and a trained digits MLP.

Usage::

    python benchmarks/bench_tickets.py [--quick] [--json] [--burkholz-n N]

The depth-L+1 ticket at the width of its paper's formula (``formula_n``, with this
package's calibrated ``C``) solves tens of millions of subset-sum
problems for the large target (minutes, with a progress bar): as by default (a k-tree
first layer), with ``first_layer="fine"`` (exact windows: slower, fewer kept entries) and
with ``refine=False`` (no finer windows aimed at the certified bound). For each case:
build time and its phases (drawing the source, solving the subset sums, assembling the
sparse layers), verify time, source size, kept parameters, sparsity, the first layer's
refinement tolerance (``first_tol``; ``benchmarks/bench_first_layer.py`` sets the cost of
that layer's searches against their errors), certified and empirical error, the theorem's
eps, ``meets_eps`` (certified <= eps) and ``ok`` (the report is consistent: empirical <=
certified, and at the formula's width certified <= eps), and for the trained target the
test accuracy of target and ticket. A warm-up build (numba compilation) runs first and is
not timed. ``--quick``
uses a 100-50-10 target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np

from slth._output import dumps, format_table
from slth.nets import from_sklearn, random_target, scale_to_unit
from slth.tickets import burkholz, pensia
from slth.verify import check


def _row(name, ticket, report, build_s, verify_s, **extra) -> dict:
    return {
        "case": name, "n": ticket.params["n"], "formula_n": ticket.params["formula_n"],
        "formula": ticket.formula,
        "build_s": build_s,
        **{f"{phase}_s": ticket.timings.get(phase, float("nan"))
           for phase in ("draw", "solve", "assemble")},
        "verify_s": verify_s, "source_params": ticket.spec.n_params, "kept": ticket.kept,
        "sparsity": ticket.sparsity, "empirical": report.empirical,
        "certified": report.certified, "eps": report.eps, "meets_eps": report.meets_eps,
        "ok": report.ok, "first_tol": _first_tol(ticket), **extra,
    }


def _first_tol(ticket) -> float:
    """The first layer's refinement tolerance of a depth-L+1 ticket (NaN otherwise)."""
    tols = ticket.params.get("refine_tols")
    return float(tols[0][0]) if tols else float("nan")


def _case(name, build, verify_kw) -> dict:
    t0 = time.perf_counter()
    try:
        ticket = build()
    except ValueError as exc:       # refused (memory estimate): report the figure
        return {"case": name, "note": str(exc)}
    t1 = time.perf_counter()
    report = check(ticket, **verify_kw)
    t2 = time.perf_counter()
    return _row(name, ticket, report, t1 - t0, t2 - t1)


def digits_cases(eps: float, quick: bool, verify_kw: dict) -> list[dict]:
    """The trained digits target, pruned with the default ``max_values`` and with 24.

    24 values per subset-sum problem (per-weight accuracy about 2^-24 instead of 2^-22)
    give a certified bound at radius 8 less than half as large (0.0021 against 0.0050),
    at about twice the build time.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    hidden = (16,) if quick else (32,)
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=600, random_state=0)
    clf.fit(xtr, ytr)
    target = scale_to_unit(from_sklearn(clf), per="layer")[0]
    acc_target = float(np.mean(target(xte).argmax(1) == yte))
    acc_sklearn = float(clf.score(xte, yte))
    rows = []
    for kw in ({}, {"max_values": 24}):
        t0 = time.perf_counter()
        ticket = burkholz(target, eps=eps, delta=0.01, seed=0, progress=False, **kw)
        t1 = time.perf_counter()
        report = check(ticket, radius=8.0, **verify_kw)   # inputs in [0, 1]^64: ||x|| <= 8
        t2 = time.perf_counter()
        acc_ticket = float(np.mean(ticket(xte).argmax(1) == yte))
        name = f"burkholz digits 64-{hidden[0]}-10" + "".join(f" {k}={v}" for k, v in kw.items())
        rows.append(_row(name, ticket, report, t1 - t0, t2 - t1, acc_sklearn=acc_sklearn,
                         acc_target=acc_target, acc_ticket=acc_ticket,
                         acc_diff_points=100 * abs(acc_ticket - acc_target)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100-50-10 target instead")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--eps", type=float, default=0.01)
    ap.add_argument("--burkholz-n", type=int, default=None,
                    help="explicit n for the depth-L+1 ticket of the large target "
                         "(default: 6 with --quick, 10 otherwise)")
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--max-gib", type=float, default=16.0,
                    help="memory cap of the builds in GiB (default 16: the depth-L+1 ticket "
                         "at the formula's width needs several GiB)")
    args = ap.parse_args(argv)
    widths = [100, 50, 10] if args.quick else [784, 300, 100, 10]
    bn = args.burkholz_n or (6 if args.quick else 10)
    verify_kw = {"samples": args.samples, "seed": 0, "starts": 2, "maxiter": 30}
    eps = args.eps
    max_bytes = int(args.max_gib * (1 << 30))

    # warm-up: compile the kernels (not timed)
    check(pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=0), samples=16)
    check(burkholz(random_target([3, 4, 2], norm="max", bias=True, seed=0), eps=0.1,
                   delta=0.1, seed=0), samples=16)

    label = "-".join(map(str, widths))
    spectral = random_target(widths, seed=0)
    maxnorm = random_target(widths, norm="max", bias=True, seed=0)
    rows = [
        _case(f"pensia {label}", lambda: pensia(spectral, eps=eps, delta=0.01, seed=0,
                                                progress=False), verify_kw),
        _case(f"burkholz {label}", lambda: burkholz(maxnorm, eps=eps, delta=0.01, seed=0,
                                                    max_bytes=max_bytes), verify_kw),
        _case(f"burkholz {label} first_layer=fine",
              lambda: burkholz(maxnorm, eps=eps, delta=0.01, seed=0, max_bytes=max_bytes,
                               first_layer="fine", progress=False), verify_kw),
        _case(f"burkholz {label} refine=False",
              lambda: burkholz(maxnorm, eps=eps, delta=0.01, seed=0, max_bytes=max_bytes,
                               refine=False, progress=False), verify_kw),
        _case(f"burkholz {label} n={bn}",
              lambda: burkholz(maxnorm, eps=eps, delta=0.01, seed=0, n=bn, progress=False),
              verify_kw),
    ]
    try:
        rows += digits_cases(eps, args.quick, verify_kw)
    except ImportError:
        rows.append({"case": "digits", "note": "scikit-learn not installed"})
    meta = {"cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": sys.version.split()[0], "eps": eps}
    if args.json:
        print(dumps({"meta": meta, "rows": rows}))
    else:
        print(f"# {meta}")
        cols = ["case", "n", "formula_n", "build_s", "draw_s", "solve_s", "assemble_s",
                "verify_s", "source_params",
                "kept", "sparsity", "first_tol", "empirical", "certified", "eps", "meets_eps",
                "ok"]
        print(format_table([r for r in rows if "note" not in r], cols))
        for label in dict.fromkeys(r["formula"] for r in rows if "formula" in r):
            print(f"formula_n: {label}")
        for r in rows:
            if "note" in r:
                print(f"{r['case']}: {r['note']}")
        for r in rows:
            if "acc_ticket" in r:
                print(f"{r['case']}: test accuracy sklearn {r['acc_sklearn']:.4f}, target "
                      f"{r['acc_target']:.4f}, ticket {r['acc_ticket']:.4f} "
                      f"(difference {r['acc_diff_points']:.2f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
