"""The check record, the registry of checks and the helpers shared by the checks.

A check function takes the claim it examines as a keyword argument, with the
true claim (usually the object of :mod:`slth` that embodies it) as the default,
and returns a :class:`Check`. Passing a deliberately wrong claim must make the
check report ``passed=False``; the test suite does exactly that for every check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import sympy as sp

from slth._validate import check_int, check_open_unit

__all__ = ["Check", "Entry", "REGISTRY", "register", "clopper_pearson", "nonnegative_polynomial",
           "poly_abs_max"]


@dataclass(frozen=True)
class Check:
    """Outcome of one check.

    Attributes
    ----------
    name : str
        Registry key (filled in by :func:`proofs_check.run`; the function name otherwise).
    statement : str
        The fact, in words.
    method : str
        How it was established: ``symbolic``, ``numeric`` (with its tolerance) or
        ``sampled`` (with its confidence level), possibly combined.
    passed : bool
        Whether the claim was established.
    detail : str
        Figures behind the verdict (and the reason of a failure).
    seconds : float
        Wall time of the check.

    Examples
    --------
    >>> c = Check("x", "1 + 1 = 2", "symbolic", True, "")
    >>> c.status
    'PASS'
    """

    name: str
    statement: str
    method: str
    passed: bool
    detail: str = ""
    seconds: float = field(default=0.0, compare=False)

    @property
    def status(self) -> str:
        """``"PASS"`` or ``"FAIL"``."""
        return "PASS" if self.passed else "FAIL"

    def as_dict(self) -> dict:
        """Plain dict (for JSON), with the status."""
        return {**asdict(self), "status": self.status}

    def line(self) -> str:
        """One line: status, statement, method."""
        return f"{self.status}  {self.statement}  [{self.method}]"


@dataclass(frozen=True)
class Entry:
    """A registered check: a name, the function and the keyword arguments of this instance."""

    name: str
    func: Callable[..., Check]
    kwargs: dict = field(default_factory=dict)

    def __call__(self) -> Check:
        t0 = time.perf_counter()
        try:
            result = self.func(**self.kwargs)
        except Exception as exc:  # a check that crashes has not established its claim
            result = Check(self.name, f"{self.name} (raised)", "-", False,
                           f"{type(exc).__name__}: {exc}")
        return Check(self.name, result.statement, result.method, bool(result.passed),
                     result.detail, time.perf_counter() - t0)


#: Every check of ``python -m proofs_check``, in the order they run.
REGISTRY: list[Entry] = []


def register(name: str, func: Callable[..., Check], **kwargs) -> None:
    """Add a check instance to :data:`REGISTRY` (names are unique)."""
    if any(e.name == name for e in REGISTRY):
        raise ValueError(f"name: a check named {name!r} is already registered")
    REGISTRY.append(Entry(name, func, dict(kwargs)))


def clopper_pearson(successes: int, trials: int, confidence: float = 0.99):
    """One-sided Clopper-Pearson bounds on a success probability.

    Returns ``(low, high)``: each holds on its own side with probability at least
    ``confidence`` (the two-sided exact interval at level ``2 confidence - 1``).

    Examples
    --------
    >>> low, high = clopper_pearson(100, 100, 0.99)
    >>> round(low, 4), high          # 0.01 ** (1 / 100)
    (0.955, 1.0)
    """
    trials = check_int(trials, "trials", minimum=1)
    successes = check_int(successes, "successes", minimum=0, maximum=trials)
    from scipy import stats

    confidence = check_open_unit(confidence, "confidence")
    if confidence <= 0.5:
        raise ValueError(f"confidence must be > 0.5 for a one-sided bound, got {confidence!r}")
    ci = stats.binomtest(successes, trials).proportion_ci(
        confidence_level=2.0 * confidence - 1.0, method="exact")
    return float(ci.low), float(ci.high)


def nonnegative_polynomial(expr, symbols) -> tuple[bool, str]:
    """Certificate that ``expr >= 0`` for positive values of ``symbols``.

    True when ``expr`` expands to a polynomial in ``symbols`` whose coefficients
    are all non-negative numbers (a sufficient condition on the positive orthant).

    Examples
    --------
    >>> a, b = sp.symbols("a b", positive=True)
    >>> nonnegative_polynomial((a + b)**2 - 2*a*b, [a, b])[0]
    True
    >>> nonnegative_polynomial(a - b, [a, b])[0]
    False
    """
    poly = sp.Poly(sp.expand(expr), *symbols)
    coeffs = poly.coeffs()
    bad = [c for c in coeffs if not (c.is_number and c >= 0)]
    if bad:
        return False, f"coefficient {bad[0]} of {sp.expand(expr)} is not a non-negative number"
    return True, "all coefficients non-negative" if coeffs != [0] else "identically zero"


def poly_abs_max(poly_expr, s, lo, hi):
    """Exact ``max |p(s)|`` over ``[lo, hi]`` for a polynomial ``p`` (sympy numbers).

    The maximum of ``|p|`` is attained at an endpoint or at a real root of ``p'``.

    Examples
    --------
    >>> s = sp.Symbol("s")
    >>> poly_abs_max(1 - s**2, s, -1, 1)
    1
    """
    p = sp.Poly(sp.expand(poly_expr), s)
    lo, hi = sp.nsimplify(lo), sp.nsimplify(hi)
    candidates = [lo, hi] + [r for r in sp.real_roots(p.diff(s)) if lo <= r <= hi]
    values = [sp.Abs(p.as_expr().subs(s, c)) for c in candidates]
    best = values[0]
    for v in values[1:]:
        if sp.N(v - best, 50) > 0:
            best = v
    return sp.nsimplify(best) if best.is_rational else best


def max_rel_diff(a, b) -> float:
    """Largest ``|a - b| / max(|b|, tiny)`` over two arrays (NaN counts as infinite)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    d = np.where(np.isnan(d), np.inf, d)
    return float(d.max(initial=0.0))
