"""``python -m proofs_check``: run every check, one line each; exit status 1 if any fails."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main", "build_parser", "report"]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Options shared by ``python -m proofs_check`` and ``slth proofs``."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m proofs_check",
        description="Machine-checked lemmas behind the SLTH constructions of slth.")
    parser.add_argument("patterns", nargs="*", metavar="PATTERN",
                        help="run only checks whose name matches (shell-style, e.g. 'lueker_*')")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the detail of every check (failures always get theirs)")
    return parser


def report(args, out=sys.stdout) -> int:
    """Run the checks selected by parsed ``args``; print; return the exit status."""
    import proofs_check

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
        from slth.cli._output import dumps

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
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return report(args)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
