"""The ``slth`` command.

Each subcommand lives in a module of this package that defines
``register(subparsers)``; :data:`COMMANDS` lists them in the order of ``slth --help``.
"""

from __future__ import annotations

import argparse
import importlib

from slth import __version__

COMMANDS: tuple[str, ...] = ("rss", "mrss", "ticket", "verify", "sweep", "plot",
                             "verify_bounds", "slack", "widths", "proofs")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="slth",
        description="Strong lottery tickets, made concrete: random subset sum, tickets, bounds.",
    )
    parser.add_argument("--version", action="version", version=f"slth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"slth.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``slth`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError) as exc:
        # Bad input is reported as a one-line error, not a traceback.
        parser.exit(2, f"slth {args.command}: error: {exc}\n")
