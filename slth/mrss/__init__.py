"""Multidimensional random subset sum (MRSS).

Given n random vectors in R^d and a target z, choose a subset whose sum
approximates z, the error measured in the infinity norm (l1 and l2 also
supported). This is the subset-sum problem behind structured (filter / kernel)
pruning of CNNs (da Cunha, d'Amore, Natale, NeurIPS 2023).

- :func:`sample_vectors`: i.i.d. entries, or the NSN vectors ``a_i * G_i`` of
  structured pruning with their shared scalar factors.
- :func:`solve` / :func:`solve_many`: ``method="exact"`` (meet in the middle
  with a k-d tree, provably optimal), ``"milp"`` (HiGHS, with a time limit and a
  proven gap), ``"heuristic"`` (numba iterated local search).
- :func:`success_probability`, :func:`min_samples`: how likely n vectors are
  to approximate every target of a set within eps, with Clopper-Pearson
  intervals, and the n at which a success probability is reached.

Examples
--------
>>> from slth import mrss
>>> x = mrss.sample_vectors("uniform", 20, 2, seed=0)
>>> res = mrss.solve(x, [0.5, -0.25])
>>> res.optimal, res.mask.shape
(True, (20,))
"""

from slth.mrss.coverage import (
    CoverageEstimate,
    MinSamples,
    clopper_pearson,
    cover_targets,
    min_samples,
    success_at,
    success_probability,
)
from slth.mrss.solve import (
    METHODS,
    NORMS,
    MRSSBatch,
    MRSSResult,
    exact_bytes,
    residual_norm,
    solve,
    solve_many,
    subset_error,
)
from slth.mrss.vectors import VECTOR_DISTRIBUTIONS, sample_vectors

__all__ = [
    "METHODS", "NORMS", "VECTOR_DISTRIBUTIONS", "MRSSResult", "MRSSBatch", "CoverageEstimate",
    "MinSamples", "solve", "solve_many", "exact_bytes", "sample_vectors", "cover_targets",
    "success_probability", "min_samples", "clopper_pearson", "success_at", "residual_norm",
    "subset_error",
]
