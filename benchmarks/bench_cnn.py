"""Benchmark: CNN tickets (unstructured depth 2L and structured) for a 1-8-16 target, 3x3.

Usage::

    python benchmarks/bench_cnn.py [--quick] [--json]

Three tables, all measured in this process:

1. build and verify: for eps in {0.1, 0.05, 0.01}, the unstructured ticket at the width
   of its paper's formula (with this package's calibrated C), and the structured ticket at
   the widest width of the sweep (the structured formula, with its placeholder C, is far
   beyond what fits in memory; its figure is reported);
   ratio column: time over the unstructured build at the same eps.
2. the formulas' vs empirically sufficient channels per sign and block (``n``; the source
   layer pair of target layer l has ``2 n c_{l-1}`` random channels): the smallest ``n``
   of a grid whose ticket has empirical (resp. certified) max-norm error <= eps, next to
   the formula's ``n`` in :mod:`slth.bounds` (with the ``C`` of
   :data:`slth.bounds.FORMULAS`, named in the table). The structured solver's tolerance only decides
   when it stops adding kernels, so one structured build per ``n`` serves every eps.
3. forward speed of a batch of images: the structured ticket compacted (removed
   channels dropped) against the masked dense source it was pruned from (the baseline),
   and the same for the unstructured ticket; the target's own time for scale.

4. smallest certified width of the structured ticket (eps = 0.1, delta = 0.01) for the
   1-8-16 target with 3 x 3, 2 x 2 and 1 x 1 kernels and a 3-8-16 3 x 3 target
   (``--widths`` only runs this table): on a ladder ``n = 100 * 2^(i/2)``, the first
   ``n`` whose bound is <= eps, per solver setting (``group`` / ``refine`` of
   :func:`slth.tickets.cnn_structured`: ``16 / 0`` is the staged pass alone, the
   defaults add the removal-aware refinement) and per certificate (interval, sign-aware,
   LP; one build serves all three, each certificate in turn replacing the previous one),
   with build time and peak memory of the process. It assumes the bound falls with
   ``n`` (it does on these ladders, not provably). The code before the l1 objective is
   not reachable from here: its figures, measured with the same ladder, are in the
   README's benchmark section.

A warm-up build (numba compilation) runs first and is not timed. ``--quick`` uses 8x8
images and smaller grids; the full run uses 28x28 images for verification and speed.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import warnings

import numba
import numpy as np

from slth import bounds
from slth._output import dumps, format_table
from slth.nets import random_cnn_target
from slth.tickets import cnn_structured, cnn_unstructured
from slth.tickets.cnn_structured import ToleranceWarning
from slth.verify import check_cnn
from slth.verify.cnn import CNN_CERTIFICATES, cnn_certificates

EPS = (0.1, 0.05, 0.01)
DELTA = 0.01


def _timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def _median_time(fn, x, repeat: int) -> float:
    fn(x)                                        # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def build_verify(target, eps: float, n_struct: int, verify_kw: dict) -> list[dict]:
    rows = []
    t, b = _timed(cnn_unstructured, target, eps=eps, delta=DELTA, seed=0, progress=False)
    r, v = _timed(check_cnn, t, **verify_kw)
    base = b
    for name, ticket, bt, rep, vt in [("unstructured", t, b, r, v)]:
        rows.append(_bv_row(name, eps, ticket, bt, vt, rep, base))
    t, b = _timed(cnn_structured, target, eps=eps, delta=DELTA, seed=0, n=n_struct,
                  progress=False)
    r, v = _timed(check_cnn, t, **verify_kw)
    rows.append(_bv_row("structured", eps, t, b, v, r, base))
    return rows


def _bv_row(name, eps, ticket, build_s, verify_s, report, base) -> dict:
    s = ticket.structure()
    return {
        "construction": name, "eps": eps, "n": ticket.params["n"],
        "formula_n": ticket.params["formula_n"], "formula": ticket.formula, "build_s": build_s,
        "solve_s": ticket.timings.get("solve", float("nan")), "verify_s": verify_s,
        "build_ratio": build_s / base, "source_params": ticket.spec.n_params,
        "kept": ticket.kept, "sparsity": ticket.sparsity,
        "kernels_removed": s["kernels_removed"], "filters_removed": s["filters_removed"],
        "empirical": report.empirical, "certified": report.certified,
        "meets_eps": report.meets_eps,
    }


def _legend(rows) -> None:
    for label in dict.fromkeys(r["formula"] for r in rows):
        print(f"formula_n: {label}")


def sufficient(target, grid_u, grid_s, verify_kw: dict) -> list[dict]:
    """Smallest n of each grid with empirical / certified error <= eps."""
    ch, ks = target.channels, target.kernel_sizes
    rows = []
    # structured: the solver's tolerance only decides when to stop adding kernels, so one
    # build per n (at the smallest eps) serves every eps
    struct = {}
    for n in grid_s:
        t = cnn_structured(target, eps=min(EPS), delta=DELTA, seed=0, n=n, progress=False)
        r = check_cnn(t, **verify_kw)
        struct[n] = (r.empirical, r.certified)
    for eps in EPS:
        unstr = {}
        for n in grid_u:
            t = cnn_unstructured(target, eps=eps, delta=DELTA, seed=0, n=n, progress=False)
            r = check_cnn(t, **verify_kw)
            unstr[n] = (r.empirical, r.certified)

        def first(table, i, eps=eps):
            ok = [n for n in sorted(table) if table[n][i] <= eps]
            return ok[0] if ok else f">{max(table)}"

        formula_n = bounds.cnn_unstructured_n(ch, ks, eps, DELTA)
        rows.append({"construction": "unstructured", "eps": eps, "formula_n": formula_n,
                     "formula_source": "-".join(map(str, bounds.cnn_widths(ch, formula_n))),
                     "formula": bounds.FORMULAS["cnn_unstructured"].label(),
                     "empirical_sufficient_n": first(unstr, 0),
                     "certified_sufficient_n": first(unstr, 1),
                     "errors_at_grid": {n: round(v[0], 6) for n, v in unstr.items()}})
        formula_n = bounds.cnn_structured_channels(ch, ks, eps, DELTA)
        rows.append({"construction": "structured", "eps": eps, "formula_n": formula_n,
                     "formula_source": "-".join(map(str, bounds.cnn_widths(ch, formula_n))),
                     "formula": bounds.FORMULAS["cnn_structured"].label(),
                     "empirical_sufficient_n": first(struct, 0),
                     "certified_sufficient_n": first(struct, 1),
                     "errors_at_grid": {n: round(v[0], 6) for n, v in struct.items()}})
    return rows


def speed(target, n_struct: int, size: int, batch: int, repeat: int) -> list[dict]:
    x = np.random.default_rng(0).uniform(-1, 1, (batch, target.channels[0], size, size))
    rows = []
    t_target = _median_time(target, x, repeat)
    for name, ticket in [
        ("structured", cnn_structured(target, eps=min(EPS), delta=DELTA, seed=0, n=n_struct,
                                      progress=False)),
        ("unstructured", cnn_unstructured(target, eps=min(EPS), delta=DELTA, seed=0,
                                          progress=False)),
    ]:
        masked, small = ticket.network(), ticket.compact()
        diff = float(np.abs(masked(x) - small(x)).max())
        t_masked = _median_time(masked, x, repeat)
        t_small = _median_time(small, x, repeat)
        for what, net, sec in [("masked source (baseline)", masked, t_masked),
                               ("compacted ticket", small, t_small)]:
            rows.append({"construction": name, "network": what, "n": ticket.params["n"],
                         "channels": "-".join(map(str, net.channels)),
                         "params": net.n_params, "seconds": sec,
                         "ratio_vs_masked": sec / t_masked,
                         "speedup": t_masked / sec, "max_diff": diff})
    rows.append({"construction": "-", "network": "target", "n": "-",
                 "channels": "-".join(map(str, target.channels)),
                 "params": target.n_params, "seconds": t_target, "ratio_vs_masked": "-",
                 "speedup": "-", "max_diff": 0.0})
    return rows


#: Targets of the smallest-certified-width table: (channels, kernel side).
WIDTH_TARGETS = (((1, 8, 16), 3), ((1, 8, 16), 2), ((1, 8, 16), 1), ((3, 8, 16), 3))
#: Solver settings compared: (group, refine).
SOLVERS = ((16, 0), (20, 24))


def smallest_certified(channels, k: int, group: int, refine: int, n_max: int,
                       eps: float = 0.1) -> dict:
    """Climb the ladder until every certificate is <= eps (or ``n > n_max``)."""
    target = random_cnn_target(list(channels), k, padding="same" if k % 2 else k // 2,
                               seed=0)
    found: dict = {}
    last = {}
    for i in range(40):
        n = int(round(100 * 2 ** (i / 2)))
        if n > n_max or len(found) == len(CNN_CERTIFICATES):
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ToleranceWarning)
            ticket, build_s = _timed(cnn_structured, target, eps=eps, delta=DELTA, seed=0,
                                     n=n, group=group, refine=refine, progress=False)
        certs, _ = cnn_certificates(ticket)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        for name in CNN_CERTIFICATES:
            value = certs[name]
            if name not in found and not isinstance(value, str) and value <= eps:
                found[name] = {"n": n, "bound": value, "build_s": build_s,
                               "peak_gib": peak, "kept": ticket.kept,
                               "compact": "-".join(map(str, ticket.compact().channels))}
        last = {"n": n, **certs}
    rows = []
    for name in CNN_CERTIFICATES:
        f = found.get(name)
        rows.append({"target": "-".join(map(str, channels)) + f" {k}x{k}",
                     "group/refine": f"{group}/{refine}", "certificate": name,
                     "certified_n": f["n"] if f else f">{last.get('n')}",
                     "bound": f["bound"] if f else last.get(name),
                     "build_s": f["build_s"] if f else "-",
                     "peak_gib": f["peak_gib"] if f else "-",
                     "kept": f["kept"] if f else "-", "compact": f["compact"] if f else "-"})
    return rows


def widths_table(quick: bool) -> list[dict]:
    targets = WIDTH_TARGETS[1:3] if quick else WIDTH_TARGETS
    n_max = 3200 if quick else 36204
    return [row for ch, k in targets for group, refine in SOLVERS
            for row in smallest_certified(ch, k, group, refine, n_max)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8x8 images, smaller grids")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--widths", action="store_true",
                        help="only the smallest-certified-width table")
    args = parser.parse_args(argv)
    if args.widths:
        cnn_structured(random_cnn_target([1, 2], 3, seed=1), eps=0.2, delta=0.1, seed=0,
                       n=20)
        rows = widths_table(args.quick)
        if args.json:
            print(dumps({"widths": rows}))
        else:
            print("## smallest certified width of the structured ticket (eps = 0.1, "
                  f"delta = {DELTA}; peak_gib: the process's peak so far)")
            print(format_table(rows))
        return 0
    target = random_cnn_target([1, 8, 16], 3, padding="same", seed=0)
    size = 8 if args.quick else 28
    verify_kw = {"samples": 128, "seed": 0, "image_size": size}
    grid_u = [1, 2, 4, 8, 16, 32, 64]
    grid_s = [50, 200, 800] if args.quick else [50, 200, 800, 3200]
    n_struct = grid_s[-1]
    # warm-up: compile the subset-sum kernels
    warm = random_cnn_target([1, 2], 3, seed=1)
    cnn_unstructured(warm, eps=0.2, delta=0.1, seed=0, n=4)
    cnn_structured(warm, eps=0.2, delta=0.1, seed=0, n=20)

    t0 = time.perf_counter()
    bv = [row for eps in EPS for row in build_verify(target, eps, n_struct, verify_kw)]
    suf = sufficient(target, grid_u, grid_s, verify_kw)
    sp = speed(target, n_struct, size, 8, 3)
    meta = {"target": "1-8-16, 3x3, padding same", "image_size": size, "delta": DELTA,
            "threads": numba.get_num_threads(), "cpus": os.cpu_count(),
            "structured_formula_source_params":
                bounds.cnn_structured_channels(target.channels, 3, 0.1, DELTA) * 2
                * (1 + 8 * 8 + 8 * 16 * 9 + 1 * 8 * 9),
            "total_s": time.perf_counter() - t0}
    if args.json:
        print(dumps({"meta": meta, "build_verify": bv, "sufficient": suf, "speed": sp}))
        return 0
    print(f"# CNN tickets: target {meta['target']}, {size}x{size} images, delta={DELTA}, "
          f"{meta['threads']} numba threads")
    print("\n## build and verify (ratio: build time / unstructured build at the same eps)")
    print(format_table([{k: v for k, v in r.items() if k != "formula"} for r in bv]))
    _legend(bv)
    print("\n## channels per sign and block: the width formula's n vs empirically sufficient")
    print(format_table([{k: v for k, v in r.items() if k not in ("errors_at_grid", "formula")}
                        for r in suf]))
    _legend(suf)
    print("\nempirical max-norm error on the grids (n: error):")
    for r in suf:
        print(f"  {r['construction']:>12} eps={r['eps']}: {r['errors_at_grid']}")
    print("\n## forward pass speed (baseline: the masked dense source)")
    print(format_table(sp))
    print(f"\nstructured formula at eps=0.1 ({bounds.FORMULAS['cnn_structured'].label()}): "
          f"{meta['structured_formula_source_params']:,} source parameters (not built)")
    print(f"total {meta['total_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
