"""Random subset sum (Lueker-type statement) measured: coverage at the formula's width.

For i.i.d. samples whose law has a uniform component (see
:mod:`proofs_check.densities`), ``n = slth.bounds.rss_n(eps, delta)`` samples should
eps-cover [-1, 1] by subset sums with probability at least ``1 - delta``. The check
measures, per independent trial, the smallest covering ``n`` exactly
(:func:`slth.rss.min_samples`), counts the trials covered within the claimed ``n`` and
compares the one-sided Clopper-Pearson lower bound with ``1 - delta``: PASS when the
claim is confirmed at the confidence level, FAIL when it is refuted or the sample is
too small to confirm it (the detail says which). A few trials are re-checked by brute
force over all subsets. The papers give no constant for this ``n``; the default one,
:data:`slth.bounds.RSS_C`, is this package's calibration, fitted with the same estimator
(:func:`slth.rss.min_samples`), so a PASS re-checks that fit, not a constant of the papers.

Examples
--------
>>> counting_lower_bound(trials=20, dists=("uniform",)).passed
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from proofs_check._core import Check, clopper_pearson
from slth import bounds, rss
from slth._validate import check_int, check_open_unit

__all__ = ["lueker_coverage", "counting_lower_bound", "brute_covering_radius"]


def brute_covering_radius(values, lo: float = -1.0, hi: float = 1.0) -> float:
    """Covering radius of ``[lo, hi]`` by all ``2^n`` subset sums (brute force, n <= 22).

    Examples
    --------
    >>> brute_covering_radius([1.0, -1.0, 0.5])
    0.25
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size > 22:
        raise ValueError(f"values must be 1-D with at most 22 entries, got shape {v.shape}")
    sums = np.zeros(1)
    for x in v:
        sums = np.concatenate([sums, sums + x])
    s = np.unique(sums)
    r = 0.0
    if s[0] > lo:
        r = max(r, s[0] - lo)
    if s[-1] < hi:
        r = max(r, hi - s[-1])
    a, b = s[:-1], s[1:]
    keep = (b > lo) & (a < hi)
    mid = np.clip((a[keep] + b[keep]) / 2, lo, hi)
    if mid.size:
        r = max(r, float(np.max(np.minimum(mid - a[keep], b[keep] - mid))))
    return float(r)


def _status(low: float, high: float, target: float) -> str:
    if low >= target:
        return "confirmed"
    if high < target:
        return "refuted"
    return "inconclusive (more trials needed)"


def lueker_coverage(width: Callable | int = bounds.rss_n, dist: str = "uniform",
                    eps: float = 0.001, delta: float = 0.01, trials: int = 1000, seed: int = 0,
                    confidence: float = 0.99, brute_force: int = 5) -> Check:
    """Coverage of [-1, 1] within eps by subset sums of ``width`` samples is at least 1 - delta.

    Parameters
    ----------
    width : callable or int
        The claimed sample size: ``width(eps, delta, dist=dist) -> int`` (default
        ``slth.bounds.rss_n``, with the default constant of ``dist``) or an int.
    dist : str
        Sample distribution (``slth.distributions.NAMES``).
    eps, delta : float in (0, 1)
        Accuracy and failure probability of the claim.
    trials : int
        Independent streams.
    seed : int
        Root seed of :func:`slth.rss.min_samples`.
    confidence : float
        Confidence level of the one-sided Clopper-Pearson bounds.
    brute_force : int
        Trials (those with at most 20 samples needed) re-checked by brute force.

    Returns
    -------
    Check
    """
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    trials = check_int(trials, "trials", minimum=1)
    n = width(eps, delta, dist=dist) if callable(width) else check_int(width, "width", minimum=1)
    m = rss.min_samples(eps, dist, trials=trials, seed=seed, progress=False)
    k = int(np.sum(m <= n))
    low, high = clopper_pearson(k, trials, confidence)
    target = 1.0 - delta
    status = _status(low, high, target)
    cross, bad = 0, []
    for t in np.flatnonzero((m <= 20) & (m >= 2))[:brute_force]:
        stream = rss.trial_stream(dist, seed, int(t), int(m[t]))
        r_n, r_prev = brute_covering_radius(stream), brute_covering_radius(stream[:-1])
        cross += 1
        if not r_n <= eps < r_prev:
            bad.append(f"trial {t}: n={m[t]}, brute-force radii {r_n:.4g} / {r_prev:.4g}")
    passed = status == "confirmed" and not bad
    detail = (f"n = {n}; covered in {k}/{trials} trials (p = {k / trials:.4f}); one-sided "
              f"{confidence:.0%} Clopper-Pearson [{low:.4f}, {high:.4f}] vs 1 - delta = "
              f"{target:g}: {status}; P(cover) at n-1, n, n+1, n+2: "
              f"{', '.join(f'{np.mean(m <= j):.4f}' for j in range(n - 1, n + 3))}; "
              f"brute force agrees on {cross - len(bad)}/{cross} trials")
    if bad:
        detail += "; brute force disagrees: " + "; ".join(bad)
    return Check(f"lueker_{dist}",
                 f"{n} i.i.d. {dist} samples eps-cover [-1,1] (eps={eps:g}) with prob. >= "
                 f"{target:g}",
                 f"sampled ({trials} trials, exact coverage per trial, one-sided Clopper-Pearson "
                 f"at {confidence:.0%}) + brute force", passed, detail)


def counting_lower_bound(lower: Callable = bounds.counting_lower_n,
                         eps_values: Sequence[float] = (0.1, 0.01),
                         dists: Sequence[str] = ("uniform", "nsn", "uniform_product"),
                         trials: int = 100, seed: int = 1) -> Check:
    """No sample of fewer than ``log2(1/eps)`` values eps-covers [-1, 1].

    ``2^n`` sums cover at most ``2^n 2 eps`` of the line, so covering length 2 needs
    ``n >= log2(1/eps)`` (solved symbolically); the claim may not exceed the smallest
    integer above it. Measured: every trial's smallest covering ``n`` respects the claimed
    ``lower(eps)``.

    Parameters
    ----------
    lower : callable
        Claimed lower bound ``lower(eps)`` (default :func:`slth.bounds.counting_lower_n`).
    eps_values, dists, trials, seed
        The grid of measurements.

    Returns
    -------
    Check
    """
    n, e = sp.symbols("n epsilon", positive=True)
    root = sp.solve(sp.Eq(2**n * 2 * e, 2), n)
    derived = len(root) == 1 and sp.simplify(root[0] - sp.log(1 / e, 2)) == 0
    rows, bad = [], []
    for dist in dists:
        for eps in eps_values:
            m = rss.min_samples(eps, dist, trials=trials, seed=seed, progress=False)
            lb = lower(eps)
            rows.append(f"{dist} eps={eps:g}: min {m.min()} >= {lb:.3f}, mean {m.mean():.2f}")
            if m.min() < lb:
                bad.append(rows[-1].replace(">=", "<"))
            if lb > math.ceil(math.log2(1.0 / eps) - 1e-9):
                bad.append(f"claim {lb:g} > ceil(log2(1/eps)) = "
                           f"{math.ceil(math.log2(1.0 / eps) - 1e-9)} at eps={eps:g}")
    passed = derived and not bad
    detail = ("; ".join(bad) if bad else "; ".join(rows)) + (
        f"; 2^n * 2 eps = 2 solved: n = {root}")
    return Check("counting_lower_bound",
                 "covering [-1,1] within eps needs n >= log2(1/eps) samples (2^n sums)",
                 f"symbolic (sympy solve) + sampled ({trials} trials x {len(dists)} dists x "
                 f"{len(eps_values)} eps, exact per trial)", passed, detail)
