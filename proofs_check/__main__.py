"""``python -m proofs_check``: run every check, one line each; exit status 1 if any fails."""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main", "build_parser", "report"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m proofs_check`` (the options of ``slth proofs``)."""
    from slth.cli.proofs import add_arguments

    return add_arguments(argparse.ArgumentParser(
        prog="python -m proofs_check",
        description="Machine-checked lemmas behind the SLTH constructions of slth."))


def report(args, out=None) -> int:
    """Run the checks selected by parsed ``args``; print to ``out`` (stdout); return the status."""
    import proofs_check

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
