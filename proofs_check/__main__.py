"""``python -m proofs_check``: run every check, one line each; exit status 1 if any fails.

The command line is that of ``slth proofs`` (:mod:`slth.cli.proofs`).
"""

from __future__ import annotations

import sys

from slth.cli.proofs import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
