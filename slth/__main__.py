"""``python -m slth`` is the ``slth`` command."""

import sys

from slth.cli import main

sys.exit(main())
