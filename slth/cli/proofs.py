"""``slth proofs``: run the machine-checked lemmas of the ``proofs_check`` package."""

from __future__ import annotations

import argparse


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
    p.set_defaults(func=_proofs)


def _proofs(args) -> int:
    from proofs_check.__main__ import report

    return report(args)
