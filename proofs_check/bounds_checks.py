"""The width formulas of :mod:`slth.bounds` against the formulas as the papers state them.

The papers give these formulas up to a constant ``C``; the checks run with several ``C``
(which constant the library uses, and where it comes from, is in
:data:`slth.bounds.FORMULAS`). For each theorem: the library's function agrees with the
stated formula (computed here independently, to 50 digits, then rounded up), the
library's sympy expression is the stated one, the width is non-increasing in eps and
delta (non-decreasing in 1/eps, 1/delta) and has the stated asymptotic order (limits of
ratios).

Stated formulas (see ``THEORY.md`` and the docstrings of :mod:`slth.bounds`):

* random subset sum (Lueker; Pensia et al. Cor. 3.3; da Cunha et al. 2023):
  ``n = C log2(2 / min(eps, delta))``, the papers' ``C log(2 / eps)``;
* depth 2L (Pensia et al. 2020): ``n = C log2(1 / min(eps_w, delta_w))`` with
  ``eps_w = eps / (2 L D r)``, ``D = max_l sqrt(d_l d_(l-1))``,
  ``delta_w = delta / (2 sum_l d_l d_(l-1))``, of the order
  ``log(d_(l-1) d_l L / min(eps, delta))`` the paper states;
* depth L+1 (Burkholz 2022): ``n = C log2(N / min(eps, delta))``, ``N`` the number of
  target weights and biases.

Examples
--------
>>> burkholz_width().passed
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np
import sympy as sp

from proofs_check._core import Check
from proofs_check.propagation import certified_bound
from slth import bounds

__all__ = ["rss_width", "pensia_width", "burkholz_width", "pensia_weight_eps_suffices"]

EPS, DELTA, C = sp.symbols("epsilon delta C", positive=True)
D_, L_, N_ = sp.symbols("d L N", positive=True)

_EPS_GRID = (0.5, 0.3, 0.1, 0.05, 2.0**-10, 0.01, 1e-3, 1e-6)
_C_GRID = (0.5, 1.0, 2.0, 3.0, 4.5)
_WIDTHS = ((1, 1), (3, 4, 2), (5, 7, 3), (784, 300, 100, 10), (2, 9, 9, 9, 1), (10, 1, 10))


def _ceil_exact(value: mpmath.mpf) -> tuple[int, bool]:
    """``max(1, ceil(value))``, and whether ``value`` lies within 1e-9 of an integer."""
    near = abs(value - mpmath.nint(value)) < mpmath.mpf("1e-9")
    return max(1, int(mpmath.ceil(value))), bool(near)


def _compare(fn_value: int, exact: mpmath.mpf, what: str, failures: list, notes: list):
    want, near = _ceil_exact(exact)
    if fn_value == want:
        return
    if near and fn_value == max(1, int(mpmath.nint(exact))):
        notes.append(f"{what}: exact value {mpmath.nstr(exact, 15)} within 1e-9 of an integer")
        return
    failures.append(f"{what}: function gives {fn_value}, stated formula {mpmath.nstr(exact, 12)} "
                    f"-> {want}")


def _branch(expr, keep):
    """Replace every Min/Max by its argument containing the symbol ``keep``."""
    def pick(*args):
        hits = [a for a in args if a.has(keep)]
        return hits[0] if hits else args[0]
    return expr.replace(sp.Min, pick).replace(sp.Max, pick)


def _signs(expr, wrt, want: str, failures: list, label: str):
    """Symbolic sign of d expr / d wrt ('neg', 'pos' or 'zero')."""
    d = sp.simplify(sp.diff(expr, wrt))
    ok = {"neg": d.is_negative, "pos": d.is_positive, "zero": d == 0}[want]
    if not ok:
        failures.append(f"{label}: d/d{wrt} = {d} is not {want}")


def _limit_ratio(num, den, var, point=0):
    return sp.limit(num / den, var, point, "+" if point == 0 else "-")


def _report(name, statement, method, failures, notes, ok_detail) -> Check:
    detail = "; ".join(failures) if failures else ok_detail
    if notes:
        detail += " | notes: " + "; ".join(notes)
    return Check(name, statement, method, not failures, detail)


_METHOD = ("symbolic (sympy: expression identity, derivative signs, limits) + numeric "
           "(function vs stated formula at 50 digits, {} points)")


def rss_width(fn: Callable = bounds.rss_n, expr: Callable = bounds.rss_n_expr) -> Check:
    """``slth.bounds.rss_n`` / ``rss_n_expr`` against ``C log2(2 / min(eps, delta))``.

    Parameters
    ----------
    fn : callable
        ``fn(eps, delta, C) -> int``.
    expr : callable
        ``expr() -> sympy expression`` in the symbols ``epsilon, delta, C`` (positive).

    Returns
    -------
    Check
    """
    stated = C * sp.log(2 / sp.Min(EPS, DELTA), 2)
    failures, notes = [], []
    e = expr()
    if sp.simplify(e - stated) != 0:
        failures.append(f"expression {e} != stated {stated}")
    count = 0
    for eps in _EPS_GRID:
        for delta in _EPS_GRID:
            for c in _C_GRID:
                with mpmath.workdps(50):
                    exact = mpmath.mpf(c) * mpmath.log(2 / mpmath.mpf(min(eps, delta)), 2)
                _compare(fn(eps, delta, c), exact, f"rss_n({eps}, {delta}, C={c})", failures, notes)
                count += 1
    for c in _C_GRID:
        for d in _EPS_GRID:
            for which, vals in (("eps", [fn(x, d, c) for x in sorted(_EPS_GRID)]),
                                ("delta", [fn(d, x, c) for x in sorted(_EPS_GRID)])):
                if any(b > a for a, b in zip(vals, vals[1:], strict=False)):
                    failures.append(f"rss_n not non-increasing in {which} (other = {d}, C={c}): "
                                    f"{vals}")
    be, bd = _branch(e, EPS), _branch(e, DELTA)
    _signs(be, EPS, "neg", failures, "branch eps < delta")
    _signs(be, DELTA, "zero", failures, "branch eps < delta")
    _signs(bd, DELTA, "neg", failures, "branch delta < eps")
    order = _limit_ratio(be, sp.log(1 / EPS), EPS)
    paper = _limit_ratio(be, C * sp.log(2 / EPS, 2), EPS)
    if not (order.is_positive and order.is_finite):
        failures.append(f"n / log(1/eps) -> {order} as eps -> 0, not Theta(log(1/eps))")
    if paper != 1:
        failures.append(f"n / (C log2(2/eps)) -> {paper}, not 1")
    if bounds.DEFAULT_C < 1:
        failures.append(f"DEFAULT_C = {bounds.DEFAULT_C} < 1: below the counting bound log2(1/eps)")
    return _report("rss_width", "rss_n = ceil(C log2(2/min(eps, delta))): stated formula, "
                   "non-increasing in eps and delta, Theta(log 1/min(eps, delta))",
                   _METHOD.format(count), failures, notes,
                   f"expression identical; {count} grid points agree; d/deps < 0; "
                   f"n/log(1/eps) -> {order}; n/(C log2(2/eps)) -> {paper}")


def _pensia_exact(widths: Sequence[int], eps, delta, c, r) -> mpmath.mpf:
    L = len(widths) - 1
    with mpmath.workdps(50):
        Dm = max(mpmath.sqrt(widths[l] * widths[l + 1]) for l in range(L))
        eps_w = mpmath.mpf(eps) / (2 * L * Dm * mpmath.mpf(r))
        delta_w = mpmath.mpf(delta) / (2 * sum(widths[l] * widths[l + 1] for l in range(L)))
        return mpmath.mpf(c) * mpmath.log(1 / min(eps_w, delta_w), 2)


def pensia_width(fn: Callable = bounds.pensia_n, expr: Callable = bounds.pensia_n_expr) -> Check:
    """``slth.bounds.pensia_n`` / ``pensia_n_expr`` against the stated depth-2L formula.

    Parameters
    ----------
    fn : callable
        ``fn(widths, eps, delta, C, radius) -> int``.
    expr : callable
        ``expr()``: sympy expression for equal widths ``d``, in ``d, L, epsilon, delta, C``.

    Returns
    -------
    Check
    """
    failures, notes = [], []
    count = 0
    for widths in _WIDTHS:
        for eps, delta in ((0.1, 0.1), (0.01, 0.05), (0.5, 1e-4), (1e-3, 0.2)):
            for c, r in ((3.0, 1.0), (1.0, 2.0), (2.5, 0.5)):
                exact = _pensia_exact(widths, eps, delta, c, r)
                _compare(fn(list(widths), eps, delta, c, r), exact,
                         f"pensia_n({list(widths)}, {eps}, {delta}, C={c}, r={r})", failures, notes)
                count += 1
    e = expr()
    stated_eq = C * sp.log(1 / sp.Min(EPS / (2 * L_ * D_), DELTA / (2 * L_ * D_**2)), 2)
    worst = 0
    for d, L, eps, delta, c in ((3, 2, "1/10", "1/10", 3), (784, 1, "1/100", "1/20", 3),
                                (30, 3, "1/1000", "1/2", "5/2"), (7, 5, "1/3", "1/1000", 1)):
        sub = {D_: d, L_: L, EPS: sp.Rational(eps), DELTA: sp.Rational(delta), C: sp.Rational(c)}
        worst = max(worst, abs(sp.N(e.subs(sub) - stated_eq.subs(sub), 50)))
        exact = _pensia_exact([d] * (L + 1), float(sp.Rational(eps)), float(sp.Rational(delta)),
                              float(sp.Rational(c)), 1.0)
        with mpmath.workdps(50):
            gap = abs(mpmath.mpf(str(sp.N(e.subs(sub), 50))) - exact)
        if gap > 1e-12:                    # float inputs of the mpmath formula
            failures.append(f"expression at {sub} = {sp.N(e.subs(sub))} != stated "
                            f"{mpmath.nstr(exact, 15)}")
    if worst > 1e-40:
        failures.append(f"expression differs from the equal-width stated formula by {worst}")
    be, bd = _branch(e, EPS), _branch(e, DELTA)
    for b, lab, var in ((be, "eps binding", EPS), (bd, "delta binding", DELTA)):
        _signs(b, var, "neg", failures, lab)
        _signs(b, D_, "pos", failures, lab)
        _signs(b, L_, "pos", failures, lab)
    paper = sp.log(D_**2 * L_ / sp.Min(EPS, DELTA), 2)
    limits = {}
    for b, keep in ((be, EPS), (bd, DELTA)):
        pb = _branch(paper, keep)
        for var, point in ((keep, 0), (D_, sp.oo), (L_, sp.oo)):
            lim = _limit_ratio(b, C * pb, var, point)
            limits[f"{keep}->{'0' if point == 0 else 'oo'} via {var}"] = lim
            if not (lim.is_positive and lim.is_finite):
                failures.append(f"ratio to the paper's C log(d^2 L / min) -> {lim} as {var} -> "
                                f"{point} ({keep} binding)")
    lims = ", ".join(f"{sp.sstr(v)}" for v in limits.values())
    return _report("pensia_width",
                   "pensia_n = ceil(C log2(1/min(eps/(2LDr), delta/(2 sum d_l d_(l-1))))), "
                   "of order log(d_(l-1) d_l L / min(eps, delta))",
                   _METHOD.format(count + 4), failures, notes,
                   f"{count} width/eps/delta/C/radius cases agree; expression = equal-width "
                   f"formula at 4 exact points (|diff| <= {sp.N(worst, 2)}); monotone in eps, "
                   f"delta, d, L on both branches; ratios to the paper's order tend to {lims}")


def burkholz_width(fn: Callable = bounds.burkholz_n,
                   expr: Callable = bounds.burkholz_n_expr) -> Check:
    """``slth.bounds.burkholz_n`` / ``burkholz_n_expr`` against ``C log2(N / min(eps, delta))``.

    Parameters
    ----------
    fn : callable
        ``fn(widths, eps, delta, C) -> int``.
    expr : callable
        ``expr()``: sympy expression in ``N, epsilon, delta, C``.

    Returns
    -------
    Check
    """
    failures, notes = [], []
    count = 0
    for widths in _WIDTHS:
        N = sum(widths[l + 1] * (widths[l] + 1) for l in range(len(widths) - 1))
        for eps in (0.3, 0.1, 0.01, 1e-4):
            for delta in (0.2, 0.01, 1e-6):
                for c in (1.0, 3.0, 0.7):
                    with mpmath.workdps(50):
                        exact = mpmath.mpf(c) * mpmath.log(N / mpmath.mpf(min(eps, delta)), 2)
                    _compare(fn(list(widths), eps, delta, c), exact,
                             f"burkholz_n({list(widths)}, {eps}, {delta}, C={c})", failures, notes)
                    count += 1
    stated = C * sp.log(N_ / sp.Min(EPS, DELTA), 2)
    e = expr()
    if sp.simplify(e - stated) != 0:
        failures.append(f"expression {e} != stated {stated}")
    be, bd = _branch(e, EPS), _branch(e, DELTA)
    _signs(be, EPS, "neg", failures, "eps binding")
    _signs(bd, DELTA, "neg", failures, "delta binding")
    _signs(be, N_, "pos", failures, "eps binding")
    lim_e = _limit_ratio(be, sp.log(N_ / EPS), EPS)
    lim_n = _limit_ratio(be, sp.log(N_ / EPS), N_, sp.oo)
    for lim, what in ((lim_e, "eps -> 0"), (lim_n, "N -> oo")):
        if not (lim.is_positive and lim.is_finite):
            failures.append(f"n / log(N/eps) -> {lim} as {what}")
    return _report("burkholz_width",
                   "burkholz_n = ceil(C log2(N/min(eps, delta))), N = sum d_l (d_(l-1) + 1): "
                   "stated formula, monotone, Theta(log(N/min(eps, delta)))",
                   _METHOD.format(count), failures, notes,
                   f"expression identical; {count} grid points agree; monotone; n/log(N/eps) -> "
                   f"{lim_e} (eps -> 0), {lim_n} (N -> oo)")


def _critical_t() -> float:
    """The root t* > 0 of (e^t - 1)/t = 2."""
    t = sp.Symbol("t", positive=True)
    return float(sp.nsolve(sp.exp(t) - 1 - 2 * t, t, 1.25))


def _attained(d: int, depth: int, e_w: float, radius: float) -> float:
    """Error of ``W_l = 11^T/d`` (norm 1), every entry off by ``e_w``, at ``x = r 1/sqrt(d)``."""
    w = np.full((d, d), 1.0 / d)
    x = np.full(d, radius / np.sqrt(d))
    f, g = x, x
    for _ in range(depth):
        f, g = np.maximum(w @ f, 0.0), np.maximum((w + e_w) @ g, 0.0)
    return float(np.linalg.norm(f - g))


def pensia_weight_eps_suffices(weight_eps: Callable = bounds.pensia_weight_eps,
                               radii: Sequence[float] = (1.0,),
                               eps_values: Sequence[float] = (0.01, 0.1, 0.3, 0.5, 0.9, 0.99),
                               depths: Sequence[int] = (1, 2, 3, 5, 10, 50)) -> Check:
    """Per-weight errors of at most ``pensia_weight_eps`` keep the depth-2L ticket eps-close.

    With ``||W_l|| <= 1``, ReLU and per-weight errors at most ``e_w``, every layer has
    ``||E_l|| <= e_w sqrt(d_l d_(l-1)) <= y = e_w D``, ``||What_l|| <= 1 + y`` and inputs of norm
    at most ``r``, so the propagation bound (:func:`proofs_check.propagation.certified_bound`)
    is ``B = r ((1 + y)^L - 1)``; a scalar chain (``w = 1``, ``what = 1 + e_w``) attains it at
    ``x = r``. The check evaluates ``B`` for the claimed ``e_w`` on widths
    ``[d] * (L + 1)`` and requires ``B <= eps``; ``B`` is attained (``W_l = 11^T / d``, every
    entry perturbed by ``e_w``, ``x = r 1 / sqrt(d)``), so a violation is an actual error.

    For the library's ``e_w = eps / (2 L D r)``: ``B <= r (exp(eps/(2r)) - 1) <= eps`` exactly
    when ``eps / (2 r) <= t*`` with ``(e^t* - 1)/t* = 2`` (t* = 1.2564): always on the unit
    ball, not for small radii.

    Parameters
    ----------
    weight_eps : callable
        ``weight_eps(widths, eps, radius) -> float``.
    radii, eps_values, depths : sequences
        Grid of the check.

    Returns
    -------
    Check
    """
    failures = []
    worst = (0.0, None)
    y, r, L = sp.symbols("y r L", positive=True)
    for depth in depths:
        gap = sp.expand(certified_bound([y] * depth, [1 + y] * depth, [r] * depth, [1] * depth)
                        - r * ((1 + y)**depth - 1))
        if gap != 0:
            failures.append(f"B = r((1+y)^L - 1) does not follow from the propagation bound "
                            f"(L={depth})")
    for rad in radii:
        for eps in eps_values:
            for depth in depths:
                for d in (1, 4):
                    widths = [d] * (depth + 1)
                    e_w = weight_eps(widths, eps, rad)
                    with mpmath.workdps(50):
                        yv = mpmath.mpf(e_w) * d                  # D = sqrt(d d) = d
                        B = certified_bound([yv] * depth, [1 + yv] * depth,
                                            [mpmath.mpf(rad)] * depth, [1] * depth)
                    if B / eps > worst[0]:
                        worst = (float(B / eps), (rad, eps, depth, d))
                    if B > eps * (1 + 1e-12):
                        failures.append(f"radius {rad}, eps {eps}, L {depth}, d {d}: bound "
                                        f"{float(B):.4g} > eps (attained: error "
                                        f"{_attained(d, depth, e_w, rad):.4g})")
    lim = sp.limit(r * ((1 + sp.Symbol("epsilon", positive=True) / (2 * L * r))**L - 1), L, sp.oo)
    tstar = _critical_t()
    statement = (f"pensia_weight_eps: per-weight errors <= eps/(2 L D r) give sup error <= eps "
                 f"(radius {', '.join(map(str, radii))})")
    note = (f"for e_w = eps/(2LDr): B -> {lim} as L -> oo; <= eps iff radius >= "
            f"eps/{2 * tstar:.4f}; the docstring's (eps/2) exp(eps/(2r)) <= eps needs radius "
            f">= eps/(2 ln 2)")
    detail = ("; ".join(failures[:4]) + f" ({len(failures)} grid points) | " + note
              if failures else
              f"largest B/eps = {worst[0]:.4f} at (radius, eps, L, d) = {worst[1]} | " + note)
    n = len(radii) * len(eps_values) * len(depths) * 2
    return Check(f"pensia_weight_eps_r{'_'.join(map(str, radii))}", statement,
                 f"symbolic (closed form of the bound for each L, limit L -> oo) + numeric "
                 f"(50 digits, {n} points)", not failures, detail)
