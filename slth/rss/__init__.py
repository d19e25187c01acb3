"""Random subset sum in one dimension: exact solvers and exact coverage.

Every SLTH construction reduces to random subset sum (RSS): given n random
values, pick the subset whose sum is closest to a target weight.

Examples
--------
>>> from slth import rss
>>> rss.solve([0.5, -0.3, 0.9], 0.6).mask.tolist()
[False, True, True]
"""

from slth.rss.coverage import covering_radius, min_samples, trial_stream
from slth.rss.solve import (
    MAX_N,
    ManySolution,
    RSSResult,
    mitm_bytes,
    solve,
    solve_many,
    subset_sums,
)

__all__ = [
    "MAX_N",
    "ManySolution",
    "RSSResult",
    "covering_radius",
    "min_samples",
    "mitm_bytes",
    "solve",
    "solve_many",
    "subset_sums",
    "trial_stream",
]
