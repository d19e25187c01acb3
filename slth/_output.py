"""Tables and JSON for the command line, the benchmarks and ``python -m proofs_check``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0.0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3e}"
        return f"{value:.6g}"
    return str(value)


def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """Plain-text table with right-aligned columns, one row per mapping.

    Examples
    --------
    >>> print(format_table([{"n": 3, "error": 0.25}]))
    n  error
    -  -----
    3   0.25
    """
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values):
        # First column left-aligned (labels), the rest right-aligned (numbers).
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    lines = [line(columns), line(["-" * len(c) for c in columns])]
    lines += [line(r) for r in cells]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def dumps(payload) -> str:
    """JSON text for numpy-bearing payloads (arrays become lists)."""
    return json.dumps(_jsonable(payload), indent=2, allow_nan=True)
