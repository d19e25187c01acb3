"""Benchmark: the CNN certificates and the empirical search on the structured ticket of
``bench_cnn.py`` (1-8-16 target, 3x3, padding same; n = 3200, eps = 0.1, delta = 0.01).

Usage::

    python benchmarks/bench_cnn_certificates.py [--size 8] [--json]

Prints each certificate (interval, sign-aware, LP) with the LP's classes, LPs and time,
and the empirical error of the search without (``steps=0``) and with gradient ascent,
on ``size x size`` images (128 random starts, seed 0).
"""

from __future__ import annotations

import argparse
import time

from slth._output import dumps, format_table
from slth.nets import random_cnn_target
from slth.tickets import cnn_structured
from slth.verify.cnn import cnn_certificates, cnn_empirical_error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8, help="image size of the search")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    target = random_cnn_target([1, 8, 16], 3, padding="same", seed=0)
    t0 = time.perf_counter()
    t = cnn_structured(target, eps=0.1, delta=0.01, seed=0, n=3200, progress=False)
    build = time.perf_counter() - t0
    found, layers = cnn_certificates(t)
    rows = [{"bound": k, "value": v, "seconds": "-"} for k, v in found.items()]
    lp = layers[-1]
    for steps in (0, 32):
        t1 = time.perf_counter()
        e, _ = cnn_empirical_error(t, samples=128, seed=0, image_size=args.size, steps=steps)
        rows.append({"bound": f"empirical (steps={steps})", "value": e,
                     "seconds": time.perf_counter() - t1})
    meta = {"build_s": build, "lp": lp, "image_size": args.size}
    if args.json:
        print(dumps({"meta": meta, "rows": rows}))
        return 0
    print(f"# n=3200 structured ticket, built in {build:.1f} s; LP: {lp}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
