"""``slth proofs`` and ``python -m proofs_check``: run the machine-checked lemmas of the
``proofs_check`` package, one line each; exit status 1 if any fails."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["add_arguments", "build_parser", "main", "register", "report"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options shared by ``slth proofs`` and ``python -m proofs_check``."""
    parser.add_argument("patterns", nargs="*", metavar="PATTERN",
                        help="run only checks whose name matches (shell-style, e.g. 'lueker_*')")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the detail of every check (failures always get theirs)")
    return parser


def register(sub) -> None:
    """Add ``proofs``."""
    p = sub.add_parser("proofs", help="run the machine-checked lemmas behind the constructions",
                       description="Symbolic, numeric and sampled checks of the facts the "
                                   "constructions and certified bounds rely on; exit status 1 "
                                   "when any check fails.")
    add_arguments(p)
    p.set_defaults(func=report)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m proofs_check`` (the options of ``slth proofs``)."""
    return add_arguments(argparse.ArgumentParser(
        prog="python -m proofs_check",
        description="Machine-checked lemmas behind the SLTH constructions of slth."))


def report(args, out=None) -> int:
    """Run the checks selected by parsed ``args``; print to ``out`` (stdout); return the status."""
    import proofs_check
    from slth._output import dumps

    out = sys.stdout if out is None else out
    if args.list:
        for entry in proofs_check.list_checks(args.patterns or None):
            print(entry.name, file=out)
        return 0
    t0 = time.perf_counter()

    def show(check):
        if not args.json:
            print(check.line(), file=out, flush=True)
            if args.verbose:
                print(f"      {check.detail}", file=out, flush=True)

    results = proofs_check.run(args.patterns or None, progress=show)
    elapsed = time.perf_counter() - t0
    failed = [c for c in results if not c.passed]
    if args.json:
        print(dumps({"passed": not failed, "seconds": elapsed,
                     "checks": [c.as_dict() for c in results]}), file=out)
    else:
        if failed and not args.verbose:
            print("\nFailures:", file=out)
            for c in failed:
                print(f"  {c.name}: {c.detail}", file=out)
        print(f"\n{len(results) - len(failed)}/{len(results)} checks passed in {elapsed:.1f} s",
              file=out)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m proofs_check``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return report(args)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
