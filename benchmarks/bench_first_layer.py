"""Benchmark: cost against accuracy of the depth-L+1 first layer's subset sums.

Usage::

    python benchmarks/bench_first_layer.py [--quick] [--json] [--problems P] [--tol T ...]

The first layer of a :func:`slth.tickets.burkholz` ticket holds nearly all of its
subset-sum problems: for a 784-300-100-10 ReLU target at the formula's width (n = 75,
eps = 0.01) one per input, sign and read copy of each neuron, 14.3 million, each over
about 125 products ``v u`` of a U[-1, 1] and a U[-2, 2] entry. Their first attempt and
the refinement aimed at the certified bound (tolerance 1.0e-7 there, its
``params["refine_tols"][0][0]``) are most of the build time.

This draws problems as that layer's are (a univariate layer of blocks of 250 neurons per
input, source rows of U[-1, 1], targets U[-1, 1]: 260,288 problems, about a minute) and
solves them with :func:`slth.tickets.burkholz.first_layer_solver` on all threads, in two
batches of about 2^16 weights like the build's:

1. first attempts alone: fine windows of 12 to 22 values and the k-tree over 48 (the
   build's default), per problem: time, its ratio to the k-tree's, and error quantiles;
2. the whole pipeline (first attempt, further windows, refinement) at each tolerance of
   ``--tol``, for the k-tree and the fine-window first attempts.

Each row projects the layer's solve time on this machine: ``--problems`` (default the
784-300-100-10 ticket's first-layer count) times the time per problem. For the k-tree at
the ticket's tolerance this gives 135 s where the build's first layer took about 120 s
(its solve phase, 150 s, less the later layers). Every reported error is checked against
one recomputed from the kept entries alone (sums of ``v u`` per weight).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np
from tqdm import tqdm

from slth import bounds
from slth._output import dumps, format_table
from slth.tickets.burkholz import TREE_VALUES, first_layer_solver

#: First-layer weight problems of the 784-300-100-10 ReLU ticket at n = 75 (seed 0): both
#: signs of 784 inputs for each of its 9,152 read copies (30 of each of 300 neurons, and a
#: few more that the later layers' last exact attempts reach).
TICKET_PROBLEMS = 2 * 784 * 9_152

#: Its first layer's refinement tolerance (``params["refine_tols"][0][0]``, 1.008e-7).
TICKET_TOL = 1.0e-7

#: Second attempts' threshold of that build: ``eps / (2 L max(widths))``.
RETRY_TOL = 0.01 / (2 * 3 * 784)

#: Univariate neurons per input of that ticket (both signs), at the formula's n = 75
#: (slth.bounds.FORMULAS["burkholz"], this package's calibrated C).
BLOCK = 2 * bounds.burkholz_block(bounds.burkholz_n([784, 300, 100, 10], 0.01, 0.01))
MAX_VALUES = 22             # burkholz's default
INPUTS = 784
BATCH_ROWS = (1 << 16) // INPUTS    # the build's batches: about 2^16 weights


def draw_problems(inputs: int, rows: int, seed: int = 0):
    """A univariate layer ``u`` and source rows ``W`` and targets like the first layer's."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-2.0, 2.0, inputs * BLOCK)
    W = rng.uniform(-1.0, 1.0, (rows, inputs * BLOCK))
    targets = rng.uniform(-1.0, 1.0, (rows, inputs))
    return u, W, targets


def recomputed_errors(u, W, targets, pieces, inputs: int) -> np.ndarray:
    """``|w - sum of kept v u|`` per row, input and sign, from the kept entries alone."""
    sums = np.zeros((2, W.shape[0], inputs))
    for side, (r, c, v) in enumerate(zip(*pieces, strict=True)):
        if not np.array_equal(W[r, c], v) or np.any((u[c] > 0) != (side == 0)):
            raise AssertionError("kept entries that are not the source's of their side")
        np.add.at(sums[side], (r, c // BLOCK), v * u[c])
    return np.abs(targets[None] - sums)


def solve(u, W, targets, inputs: int, tree: bool, first_values: int, tol: float,
          threads: int, batch_rows: int) -> tuple[float, np.ndarray]:
    """Seconds and errors ``(2, rows, inputs)`` of one pipeline over all rows."""
    solver = first_layer_solver(u, inputs, BLOCK, MAX_VALUES, True, 1.0,
                                np.inf if np.isinf(tol) else RETRY_TOL, tol, tree, first_values)
    errors = np.empty((2, W.shape[0], inputs))
    rows, cols, vals = [], [], []
    seconds = 0.0
    for r0 in range(0, W.shape[0], batch_rows):
        batch = slice(r0, r0 + batch_rows)
        t0 = time.perf_counter()
        r, c, v, e = solver.solve_rows(W[batch], targets[batch], r0, {"threads": threads})
        seconds += time.perf_counter() - t0
        errors[:, batch] = e
        rows.append(r)
        cols.append(c)
        vals.append(v)
    pieces = [[np.concatenate([x[s] for x in part]) for s in range(2)]
              for part in (rows, cols, vals)]
    check = recomputed_errors(u, W, targets, pieces, inputs)
    if not np.allclose(check, errors, rtol=0.0, atol=1e-12):
        raise AssertionError(f"reported errors differ from the kept entries' by "
                             f"{np.abs(check - errors).max():.3g}")
    return seconds, errors


def _row(name, seconds, errors, problems, tol=np.inf) -> dict:
    e = errors.ravel()
    per = seconds / e.size
    row = {"attempt": name, "us_per_problem": 1e6 * per, "median": float(np.median(e)),
           "rms": float(np.sqrt(np.mean(e * e))), "p99": float(np.quantile(e, 0.99)),
           "max": float(e.max()), "projected_s": per * problems}
    if np.isfinite(tol):
        row = {"tol": tol, **row, "above_tol": float(np.mean(e > tol))}
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer problems, two tolerances")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--problems", type=int, default=TICKET_PROBLEMS,
                    help="problems of the projected layer (default: the 784-300-100-10 "
                         f"ticket's, {TICKET_PROBLEMS:,})")
    ap.add_argument("--tol", type=float, nargs="+", default=None,
                    help=f"refinement tolerances (default {TICKET_TOL:g} (the ticket's), "
                         "3e-7, 1e-6, 3e-6)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    args = ap.parse_args(argv)
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    tols = args.tol or ([TICKET_TOL, 1e-6] if args.quick else [TICKET_TOL, 3e-7, 1e-6, 3e-6])
    # two batches, so that a fine first attempt can widen after the first as in the build
    batch_rows = 4 if args.quick else BATCH_ROWS
    inputs, rows = INPUTS, 2 * batch_rows
    u, W, targets = draw_problems(inputs, rows)
    # warm-up: compile (or load) the kernels on a few rows, not timed
    for tree in (True, False):
        solve(u[:2 * BLOCK], W[:2, :2 * BLOCK], targets[:2, :2], 2, tree,
              TREE_VALUES if tree else 20, TICKET_TOL, threads, 1)
    firsts = [(f"fine {k}", False, k) for k in (12, 14, 16, 18, 20, 22)]
    firsts.append((f"tree {TREE_VALUES}", True, TREE_VALUES))
    pipelines = [(f"tree {TREE_VALUES} + refine", True, TREE_VALUES),
                 ("fine 20 + refine", False, 20), ("fine 16 + refine", False, 16)]
    jobs = [(name, tree, k, np.inf) for name, tree, k in firsts]
    jobs += [(name, tree, k, tol) for tol in tols for name, tree, k in pipelines]
    first_rows, pipe_rows = [], []
    for name, tree, k, tol in tqdm(jobs, desc="first-layer pipelines", leave=False):
        seconds, errors = solve(u, W, targets, inputs, tree, k, tol, threads, batch_rows)
        (pipe_rows if np.isfinite(tol) else first_rows).append(
            _row(name, seconds, errors, args.problems, tol))
    base = first_rows[-1]["us_per_problem"]
    for r in first_rows:
        r["ratio_to_tree"] = r["us_per_problem"] / base
    meta = {"cores": os.cpu_count(), "threads": threads, "problems_measured": 2 * rows * inputs,
            "problems_projected": args.problems, "python": sys.version.split()[0]}
    if args.json:
        print(dumps({"meta": meta, "first_attempts": first_rows, "pipelines": pipe_rows}))
        return 0
    print(f"# {meta}")
    print("\nfirst attempts alone")
    print(format_table(first_rows, ["attempt", "us_per_problem", "ratio_to_tree", "median",
                                    "rms", "p99", "max", "projected_s"]))
    print("\nwhole pipeline at each refinement tolerance")
    print(format_table(pipe_rows, ["tol", "attempt", "us_per_problem", "median", "rms", "p99",
                                   "max", "above_tol", "projected_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
