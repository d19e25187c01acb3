"""Activation facts the constructions use.

* Sign split (depth 2L and the ReLU variant of depth L+1): for ``phi(x) = x`` on
  ``x >= 0`` and ``a x`` on ``x < 0`` (ReLU: ``a = 0``), ``phi(x) - phi(-x) = (1 + a) x``,
  ``phi(c x) = c phi(x)`` for ``c >= 0``, hence ``phi(u x) = |u| phi(sign(u) x)`` and
  ``(w / (1 + a)) (phi(x) - phi(-x)) = w x`` -- checked symbolically for a symbolic slope.
* Smooth activations (the linear-regime first layer of depth L+1): the Lipschitz
  constant ``sup |phi'|``, ``phi(0)``, ``phi'(0)`` and the tangent remainder
  ``|phi(t) - phi(0) - phi'(0) t| <= K |t|^p`` (Taylor with Lagrange remainder:
  ``phi^(j)(0) = 0`` for ``2 <= j < p`` and ``K >= sup |phi^(p)| / p!``). Every derivative of
  tanh, the sigmoid and softplus is a polynomial in ``s = tanh(t)`` or ``tanh(t/2)``,
  ``s`` in [-1, 1], so each supremum is the exact maximum of a polynomial on an interval.

Each check compares what :mod:`slth.nets.activations` declares with the derivation.

Examples
--------
>>> smooth_activation("sigmoid").passed
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np
import sympy as sp

from proofs_check._core import Check, max_rel_diff, nonnegative_polynomial, poly_abs_max
from slth.nets import activations as act_mod

__all__ = ["sign_split", "sign_split_error", "smooth_activation", "SMOOTH"]


def _leaky_sym(a):
    return lambda x: sp.Piecewise((x, x >= 0), (a * x, True))


def sign_split(phi: Callable | None = None, slope=None,
               activations: Sequence[act_mod.Activation] | None = None) -> Check:
    """The sign-split identities of ReLU-like activations, symbolically and in the library.

    Parameters
    ----------
    phi : callable, optional
        ``phi(sympy_expr) -> sympy_expr``; default the leaky ReLU of slope ``slope``.
    slope : sympy expression, optional
        Negative-side slope claimed for ``phi``; default a symbol ``a >= 0`` (all
        slopes at once).
    activations : sequence of Activation, optional
        Library activations whose ``slope_neg`` is checked on a grid; default the
        homogeneous ones of ``slth.nets.activations`` plus ``leaky_relu(0.2)``.

    Returns
    -------
    Check

    Examples
    --------
    >>> sign_split().passed, sign_split(phi=sp.Abs, slope=0).passed
    (True, False)
    """
    a = sp.Symbol("a", nonnegative=True) if slope is None else sp.sympify(slope)
    phi = _leaky_sym(a) if phi is None else phi
    p, c, q, w = sp.symbols("p c q w", positive=True)
    wr = sp.Symbol("w_r", real=True)
    failures = []

    def same(lhs, rhs, what):
        if sp.simplify(sp.piecewise_fold(lhs - rhs)) != 0:
            failures.append(f"{what}: {sp.simplify(lhs)} != {sp.simplify(rhs)}")

    for x, case in ((p, "x > 0"), (-p, "x < 0"), (sp.Integer(0), "x = 0")):
        same(phi(x) - phi(-x), (1 + a) * x, f"phi(x) - phi(-x) = (1+a) x [{case}]")
        same(phi(c * x), c * phi(x), f"phi(c x) = c phi(x), c > 0 [{case}]")
        same(phi(q * x), q * phi(x), f"phi(u x) = |u| phi(x), u > 0 [{case}]")
        same(phi(-q * x), q * phi(-x), f"phi(u x) = |u| phi(-x), u < 0 [{case}]")
        same(wr / (1 + a) * (phi(x) - phi(-x)), wr * x,
             f"(w/(1+a))(phi(x) - phi(-x)) = w x [{case}]")
    same(phi(sp.Integer(0)), sp.Integer(0), "phi(0) = 0")
    if activations is None:
        activations = [v for v in act_mod.ACTIVATIONS.values() if v.homogeneous]
        activations.append(act_mod.leaky_relu(0.2))
    x = np.concatenate([-np.logspace(-6, 3, 40), [0.0], np.logspace(-6, 3, 40)])
    worst = 0.0
    for act in activations:
        if act.slope_neg is None:
            failures.append(f"{act.name}: not declared homogeneous (slope_neg is None)")
            continue
        s = act.slope_neg
        d1 = max_rel_diff(act(x) - act(-x), (1 + s) * x)
        d2 = max(max_rel_diff(act(cc * x), cc * act(x)) for cc in (0.3, 1.0, 7.5))
        d3 = max_rel_diff(act(x), np.where(x >= 0, x, s * x))
        lip = act.lipschitz >= max(1.0, s)
        worst = max(worst, d1, d2, d3)
        if max(d1, d2, d3) > 1e-14 or not lip:
            failures.append(f"library {act.name} (slope_neg={s}): rel. diffs {d1:.1e}, {d2:.1e}, "
                            f"{d3:.1e}, lipschitz {act.lipschitz}")
    names = ", ".join(f"{v.name}({v.slope_neg})" for v in activations)
    detail = ("; ".join(failures) if failures else
              f"all identities hold symbolically for slope {a} in the cases x > 0, x < 0, x = 0; "
              f"library [{names}]: max rel. diff {worst:.1e} on {x.size} points")
    return Check("sign_split",
                 "ReLU-like phi: phi(x) - phi(-x) = (1+a)x, phi(cx) = c phi(x) (c >= 0), "
                 "phi(ux) = |u| phi(sign(u) x)",
                 "symbolic (sympy, by cases) + numeric (library activations, rtol 1e-14)",
                 not failures, detail)


def _verify_split_bound(A, B, a):
    """The per-coordinate factor of the sign-split layer in ``slth.verify.certified_error``."""
    return sp.Max(A + a * B, a * A + B)


def _dominates(c, v, p, symbols, slope=None) -> bool:
    """``c p >= |v|`` for positive symbols, by a non-negative-polynomial certificate.

    ``Max(...)`` is at least each argument, so one dominating argument suffices. A
    ``slope`` symbol ``a`` is restricted to (0, 1) by writing ``a = b / (1 + b)``, ``b > 0``,
    and clearing the (positive) denominator.
    """
    if isinstance(c, sp.Max):
        return any(_dominates(arg, v, p, symbols, slope) for arg in c.args)
    b = sp.Symbol("b", positive=True)
    for s in (1, -1):
        expr = c * p - s * v
        syms = list(symbols)
        if slope is not None:
            expr = expr.subs(slope, b / (1 + b))
            syms = [b if x == slope else x for x in syms]
        num, den = sp.fraction(sp.together(expr))
        if not (den.is_positive and nonnegative_polynomial(num, syms)[0]):
            return False
    return True


def sign_split_error(bound: Callable = _verify_split_bound, samples: int = 20000,
                     seed: int = 0) -> Check:
    """Error of a sign-split layer: ``|eA phi(x) - eB phi(-x)| <= c(|eA|, |eB|, a) |x|``.

    A sign-split pair realises ``Ahat phi(x) - Bhat phi(-x)`` for a target ``w x``, with
    ``eA = Ahat - w/(1+a)``, ``eB = Bhat - w/(1+a)`` (``a`` the negative slope; ReLU: 0).
    :func:`slth.verify.certified_error` bounds the error per coordinate by
    ``max(|eA| + a |eB|, a |eA| + |eB|) |x|`` (for ReLU ``max(|eA|, |eB|) |x|``). Checked
    symbolically in all sign cases of ``eA``, ``eB``, ``x`` (non-negative polynomial
    certificates), and numerically with the library's leaky ReLU.

    Parameters
    ----------
    bound : callable
        ``bound(A, B, a)``: claimed factor, with ``A = |eA|``, ``B = |eB|``.
    samples, seed : int
        Random instances of the numeric part.

    Returns
    -------
    Check

    Examples
    --------
    >>> sign_split_error(samples=100).passed
    True
    >>> sign_split_error(bound=lambda A, B, a: sp.Max(A, B), samples=100).passed
    False
    """
    A, B, a, p = sp.symbols("A B a p", positive=True)
    phi = _leaky_sym(a)
    c = bound(A, B, a)
    failures = []
    for sa in (1, -1):
        for sb in (1, -1):
            for x in (p, -p):
                v = sp.expand(sa * A * phi(x) - sb * B * phi(-x))
                if not _dominates(c, v, p, [A, B, a, p], slope=a):
                    failures.append(f"eA = {sa}|eA|, eB = {sb}|eB|, x = {x}: |{v}| not <= "
                                    f"({c}) |x|")
    for A0, B0 in ((A, B), (A, 0), (0, B)):        # a = 0 (ReLU) as a limit case
        c0 = bound(A0, B0, 0) if A0 != 0 or B0 != 0 else 0
        for x in (p, -p):
            v0 = sp.expand(A0 * sp.Max(x, 0) - B0 * sp.Max(-x, 0))
            if c0 != 0 and not _dominates(c0, v0, p, [A, B, p]):
                failures.append(f"ReLU (a = 0), x = {x}: |{v0}| not <= ({c0}) |x|")
    rng = np.random.default_rng(seed)
    f = sp.lambdify((A, B, a), c, "numpy")
    eA, eB = rng.normal(0, 1, (2, samples)) * 10 ** rng.uniform(-3, 1, (2, samples))
    slopes = rng.choice([0.0, 0.01, 0.2, 0.9], samples)
    x = rng.normal(0, 1, samples) * 10 ** rng.uniform(-3, 3, samples)
    worst = 0.0
    for s in np.unique(slopes):
        k = slopes == s
        act = act_mod.leaky_relu(float(s))
        err = np.abs(eA[k] * act(x[k]) - eB[k] * act(-x[k]))
        cap = np.asarray(f(np.abs(eA[k]), np.abs(eB[k]), s), dtype=np.float64) * np.abs(x[k])
        worst = max(worst, float(np.max(err / cap)))
    if worst > 1 + 1e-12:
        failures.append(f"numeric: error / bound reaches {worst:.6g}")
    detail = ("; ".join(failures[:4]) if failures else
              f"8 sign cases certified for a symbolic slope 0 < a < 1, and a = 0; {samples} random "
              f"instances: "
              f"largest error/bound {worst:.6f}")
    return Check("sign_split_error",
                 f"sign-split layer error |eA phi(x) - eB phi(-x)| <= ({c}) |x|",
                 "symbolic (sympy, sign cases, non-negative polynomial certificates) + numeric "
                 f"({samples} instances, rel. slack 1e-12)", not failures, detail)


_t = sp.Symbol("t", real=True)

#: Smooth activations: exact form, kernel ``k(t)`` (tanh(t) or tanh(t/2)) and ``phi'`` in terms
#: of the kernel (shown equal to the derivative of the exact form).
SMOOTH = {
    "tanh": (sp.tanh(_t), sp.tanh(_t), 1 - sp.tanh(_t)**2),
    "sigmoid": (1 / (1 + sp.exp(-_t)), sp.tanh(_t / 2), (1 - sp.tanh(_t / 2)**2) / 4),
    "softplus": (sp.log(1 + sp.exp(_t)), sp.tanh(_t / 2), (1 + sp.tanh(_t / 2)) / 2),
}


def _equal(a, b) -> bool:
    return sp.simplify((a - b).rewrite(sp.exp)) == 0


def smooth_activation(activation: str | act_mod.Activation = "tanh", rtol: float = 1e-12) -> Check:
    """Lipschitz constant, value and slope at 0, and tangent remainder of a smooth activation.

    Parameters
    ----------
    activation : str or Activation
        A library activation (its name selects the exact form in :data:`SMOOTH`), or an
        ``Activation`` whose declared constants are examined.
    rtol : float
        Relative slack for comparing declared floats with exact values (1/3 is not a float).

    Returns
    -------
    Check

    Examples
    --------
    >>> import dataclasses
    >>> tanh = act_mod.get("tanh")
    >>> smooth_activation(dataclasses.replace(tanh, remainder=(0.1, 3.0))).passed
    False
    """
    act = act_mod.get(activation)
    if act.name not in SMOOTH:
        raise ValueError(f"activation must be one of {tuple(SMOOTH)} (by name), got {act.name!r}")
    exact, kernel, d1 = SMOOTH[act.name]
    s = sp.Symbol("s", real=True)
    failures = []
    if not _equal(sp.diff(exact, _t), d1):
        failures.append("phi' does not match its kernel form")

    def in_s(expr):
        out = sp.expand(expr.subs(kernel, s))
        if out.has(_t):
            raise ValueError(f"derivative {expr} is not a polynomial in {kernel}")
        return out

    derivs = [d1]
    K, p = act.remainder if act.remainder is not None else (None, None)
    top = int(p) if p is not None and float(p).is_integer() else 2
    for _ in range(1, max(top, 2)):
        derivs.append(sp.diff(derivs[-1], _t))
    phi0, dphi0 = sp.simplify(exact.subs(_t, 0)), sp.simplify(d1.subs(_t, 0))
    lip = poly_abs_max(in_s(d1), s, -1, 1)
    grid = np.linspace(-30.0, 30.0, 1201)
    ref = sp.lambdify(_t, exact, "mpmath")          # exact reference, no cancellation
    with mpmath.workdps(40):
        want = [float(ref(mpmath.mpf(float(g)))) for g in grid]
    fn_diff = max_rel_diff(act(grid), want)
    if fn_diff > 1e-13:
        failures.append(f"library fn differs from {exact} (rel. {fn_diff:.1e})")
    if abs(act.phi0 - float(phi0)) > rtol * max(1.0, abs(float(phi0))):
        failures.append(f"phi0 declared {act.phi0}, exact {phi0}")
    if abs(act.dphi0 - float(dphi0)) > rtol * max(1.0, abs(float(dphi0))):
        failures.append(f"dphi0 declared {act.dphi0}, exact {dphi0}")
    if act.lipschitz < float(lip) * (1 - rtol):
        failures.append(f"lipschitz declared {act.lipschitz} < sup|phi'| = {lip}")
    rem = "no remainder declared"
    if act.remainder is None:
        failures.append("no tangent remainder (K, p) declared")
    elif not float(p).is_integer() or p < 2:
        failures.append(f"remainder exponent p = {p} is not an integer >= 2 (no Taylor argument)")
    else:
        vanish = [sp.simplify(derivs[j - 1].subs(_t, 0)) for j in range(2, top)]
        if any(v != 0 for v in vanish):
            failures.append(f"phi^(j)(0) for 2 <= j < {top}: {vanish}, not all 0")
        sup = poly_abs_max(in_s(derivs[top - 1]), s, -1, 1)
        need = sup / sp.factorial(top)
        rem = f"sup|phi^({top})| = {sup}, so K >= {need}; declared K = {K:.6g}"
        if K < float(need) * (1 - rtol):
            failures.append(f"remainder K declared {K} < sup|phi^({top})|/{top}! = {need}")
    detail = ("; ".join(failures) if failures else
              f"phi(0) = {phi0}, phi'(0) = {dphi0}, sup|phi'| = {lip} "
              f"(declared {act.lipschitz:g}); "
              f"{rem}; library fn vs exact: rel. {fn_diff:.1e}")
    return Check(f"smooth_activation_{act.name}",
                 f"{act.name}: Lipschitz {act.lipschitz:g}, phi(0) = {act.phi0:g}, phi'(0) = "
                 f"{act.dphi0:g}, |phi(t) - phi(0) - phi'(0) t| <= {K:.4g} |t|^{p:g}"
                 if act.remainder else f"{act.name}: declared constants",
                 f"symbolic (sympy: derivatives as polynomials in {kernel}, exact maxima; "
                 f"declared floats rtol {rtol:g})", not failures, detail)
