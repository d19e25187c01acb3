"""Densities of the weight distributions and the uniform components the proofs extract.

* The product of two independent uniform[-1, 1] has density ``-ln|x| / 2`` on [-1, 1].
* The product of two independent N(0, 1) (NSN) has density ``K0(|x|) / pi``.
* Both integrate to 1, and both are bounded below on an interval around 0, so each
  is a mixture with a uniform component -- what Lueker-type random-subset-sum
  results need.

Each check compares a claimed density (by default the closed form of
:mod:`slth.distributions`) with one derived here independently.

Examples
--------
>>> product_uniform_density().passed
True
>>> import numpy as np
>>> product_uniform_density(pdf=lambda x: -np.log(np.abs(x))).passed   # forgot the 1/2
False
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
import sympy as sp
from scipy import integrate, special

from proofs_check._core import Check, max_rel_diff
from slth import distributions
from slth._validate import as_float, check_choice

__all__ = ["product_uniform_density", "nsn_density", "uniform_component", "COMPONENTS",
           "samplers"]

#: Points (in (0, 1]) where library densities are compared with the derived ones.
_GRID = np.array([1e-6, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0])


def _library_pdf(name: str) -> Callable:
    return lambda x: distributions.pdf(name, x)


def product_uniform_density(pdf: Callable | None = None, rtol: float = 1e-12) -> Check:
    """Density of the product of two independent uniform[-1, 1] variables.

    Derivation (sympy): for ``0 < z < 1``,
    ``f(z) = int f_X(t) f_Y(z/t) / |t| dt = 2 int_z^1 (1/2)(1/2) / t dt``
    (``|z/t| <= 1`` forces ``|t| >= z``), and ``f`` is even. The claimed ``pdf`` must
    agree with it at points of (0, 1], their negatives and outside [-1, 1] (where it is 0),
    and ``int_{-1}^1 f = 1``.

    Parameters
    ----------
    pdf : callable, optional
        Claimed density (vectorised); default ``slth.distributions.pdf("uniform_product", .)``.
    rtol : float
        Relative tolerance of the pointwise comparison.

    Returns
    -------
    Check
    """
    pdf = _library_pdf("uniform_product") if pdf is None else pdf
    rtol = as_float(rtol, "rtol")
    z, t = sp.symbols("z t", positive=True)
    derived = sp.simplify(2 * sp.integrate(sp.Rational(1, 4) / t, (t, z, 1)))
    expected = -sp.log(z) / 2
    same_form = sp.simplify(derived - expected) == 0
    total = sp.integrate(derived, (z, 0, 1)) * 2                 # even density
    f = sp.lambdify(z, derived, "numpy")
    pts = np.concatenate([_GRID, -_GRID])
    want = f(np.abs(pts))
    got = np.asarray(pdf(pts), dtype=np.float64)
    err = max_rel_diff(got, want)
    outside = np.asarray(pdf(np.array([-3.0, -1.5, 1.0 + 1e-9, 2.0])), dtype=np.float64)
    mass = sum(integrate.quad(lambda x: float(pdf(np.array([x]))[0]), a, b, limit=200)[0]
               for a, b in ((-1.0, 0.0), (0.0, 1.0)))
    passed = bool(same_form and total == 1 and err <= rtol and np.all(outside == 0.0)
                  and abs(mass - 1.0) < 1e-8)
    detail = (f"derived f(z) = {derived} on (0, 1); int_-1^1 f = {total}; claimed pdf vs derived: "
              f"max rel. diff {err:.2e} at {pts.size} points; outside [-1, 1]: "
              f"{outside.tolist()}; quad of claimed pdf over [-1, 1] = {mass:.12f}")
    return Check("product_uniform_density",
                 "product of two uniform[-1,1] has density -ln|x|/2 on [-1,1], integrating to 1",
                 f"symbolic (sympy convolution integral, normalisation) + numeric (pointwise "
                 f"rtol {rtol:g}, quad 1e-8)", passed, detail)


def nsn_density(pdf: Callable | None = None, rtol: float = 1e-10, digits: int = 40) -> Check:
    """Density of the product of two independent N(0, 1) variables (NSN): ``K0(|x|) / pi``.

    Derivation: ``f(z) = 2 int_0^inf phi(t) phi(z/t) / t dt`` for ``z > 0``. sympy evaluates
    ``int_0^inf exp(-(t^2 + z^2/t^2)/2) / t dt`` in closed form (a Meijer G-function), which
    is identified with ``K0(z)`` at sample points to ``digits`` digits (mpmath). Independently,
    the substitution ``t = sqrt(z) exp(s/2)`` turns the integrand into ``exp(-z cosh s)/2``
    (checked symbolically), and ``K0(z) = int_0^inf exp(-z cosh s) ds`` (DLMF 10.32.9) is
    checked by quadrature. Normalisation: ``int_0^inf K0 = pi/2`` (sympy).

    Parameters
    ----------
    pdf : callable, optional
        Claimed density; default ``slth.distributions.pdf("nsn", .)``.
    rtol : float
        Relative tolerance of the pointwise comparison of the claimed pdf.
    digits : int
        Working precision of the Meijer-G identification.

    Returns
    -------
    Check
    """
    pdf = _library_pdf("nsn") if pdf is None else pdf
    z, t, s = sp.symbols("z t s", positive=True)
    integrand = sp.exp(-(t**2 + z**2 / t**2) / 2) / t
    closed = sp.integrate(integrand, (t, 0, sp.oo))
    # f(z) = 2 int_0^oo phi(t) phi(z/t) / t dt with phi(x) = exp(-x^2/2) / sqrt(2 pi)
    density = 2 * closed / (2 * sp.pi)
    pts = ["0.001", "0.1", "0.5", "1", "2", "5", "12", "30"]
    g = sp.lambdify(z, density, "mpmath")
    with mpmath.workdps(digits):
        ident = max(abs(g(mpmath.mpf(p)) / (mpmath.besselk(0, mpmath.mpf(p)) / mpmath.pi) - 1)
                    for p in pts)
    closed_ok = not closed.has(sp.Integral) and ident < mpmath.mpf(10) ** (10 - digits)
    tt = sp.sqrt(z) * sp.exp(s / 2)
    subst = sp.simplify((integrand.subs(t, tt) * sp.diff(tt, s)
                         - sp.exp(-z * sp.cosh(s)) / 2).rewrite(sp.exp))
    # the integrand is below 1e-300 once z cosh s > 700: integrate up to there
    quad_err = max(abs(integrate.quad(lambda u, zz=zz: np.exp(-zz * np.cosh(u)), 0,
                                      float(np.arccosh(700.0 / zz + 1.0)), epsabs=0,
                                      epsrel=1e-12, limit=200)[0] - special.k0(zz)) / special.k0(zz)
                   for zz in (0.01, 0.3, 1.0, 4.0, 15.0))
    total = 2 * sp.integrate(sp.besselk(0, z), (z, 0, sp.oo)) / sp.pi
    grid = np.concatenate([_GRID, [1.5, 2.0, 4.0, 8.0, 20.0]])
    grid = np.concatenate([grid, -grid])
    want = np.array([float(mpmath.besselk(0, abs(g)) / mpmath.pi) for g in grid])
    got = np.asarray(pdf(grid), dtype=np.float64)
    err = max_rel_diff(got, want)
    mass = sum(integrate.quad(lambda x: float(pdf(np.array([x]))[0]), a, b, limit=200)[0]
               for a, b in ((-np.inf, 0.0), (0.0, np.inf)))
    passed = bool(closed_ok and subst == 0 and quad_err < 1e-9 and total == 1 and err <= rtol
                  and abs(mass - 1.0) < 1e-7)
    detail = (f"sympy: int = {closed}; |(int/pi) / (K0/pi) - 1| <= {float(ident):.1e} at "
              f"{len(pts)} points ({digits} digits); substitution residual {subst}; DLMF 10.32.9 "
              f"by quad: max rel. err {quad_err:.1e}; 2/pi int_0^oo K0 = {total}; claimed pdf vs "
              f"K0(|x|)/pi (mpmath): max rel. diff {err:.2e} at {grid.size} points; quad of "
              f"claimed pdf = {mass:.10f}")
    return Check("nsn_density",
                 "product of two N(0,1) has density K0(|x|)/pi, integrating to 1",
                 f"symbolic (sympy Meijer-G integral, substitution, normalisation) + numeric "
                 f"(mpmath {digits} digits, quad 1e-9, pointwise rtol {rtol:g})", passed, detail)


def _symbolic_density(name: str, x: sp.Symbol):
    """Density on its support's positive part as a sympy expression (the family is even;
    :data:`_SUPPORT` gives that part)."""
    return {
        "uniform": sp.Rational(1, 2),
        "normal": sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi),
        "nsn": sp.besselk(0, x) / sp.pi,
        "uniform_product": -sp.log(x) / 2,
        # 1 / (2 ln(1/gamma) |x|) on gamma <= |x| <= 1 (Orseau et al. 2020)
        "hyperbolic": 1 / (2 * sp.log(1 / sp.Float(distributions.HYPERBOLIC_GAMMA, 30)) * x),
    }[name]


#: Positive part of each support, ``(lo, hi)``: the density is zero outside.
_SUPPORT = {"uniform": (0.0, 1.0), "uniform_product": (0.0, 1.0),
            "hyperbolic": (distributions.HYPERBOLIC_GAMMA, 1.0)}


def _nonincreasing(name: str, x: sp.Symbol) -> tuple[bool, str]:
    """Symbolic proof that the density is non-increasing on (0, support)."""
    f = _symbolic_density(name, x)
    df = sp.diff(f, x)
    if name == "nsn":
        # K0' = -K1 and K1(x) = int_0^inf exp(-x cosh u) cosh u du with a positive integrand
        u = sp.Symbol("u", positive=True)
        integrand = sp.exp(-x * sp.cosh(u)) * sp.cosh(u)
        k1 = sp.besselk(1, x)
        ok = sp.simplify(df + k1 / sp.pi) == 0 and bool(integrand.is_positive)
        quad = max(abs(integrate.quad(lambda v, xx=xx: np.exp(-xx * np.cosh(v)) * np.cosh(v),
                                      0, float(np.arccosh(700.0 / xx + 1.0)), limit=200)[0]
                       / special.k1(xx) - 1) for xx in (0.1, 1.0, 5.0))
        ok = ok and quad < 1e-8
        return ok, f"f' = {df}; K1 = int_0^oo e^(-x cosh u) cosh u du > 0 (quad rel. {quad:.0e})"
    ok = df == 0 or bool(df.is_nonpositive)
    return ok, f"f' = {df}"


#: The uniform components this package relies on: (distribution, a, c) meaning
#: ``pdf >= c`` on ``[-a, a]``, so the law is a mixture giving weight ``2 a c`` to uniform[-a, a].
COMPONENTS = {
    "uniform": (1, sp.Rational(1, 2)),
    "normal": (1, sp.exp(-sp.Rational(1, 2)) / sp.sqrt(2 * sp.pi)),
    "nsn": (1, sp.besselk(0, 1) / sp.pi),
    "uniform_product": (sp.Rational(1, 2), sp.log(2) / 2),
}


def uniform_component(dist: str = "uniform_product", a=None, c=None) -> Check:
    """``pdf(x) >= c`` on ``[-a, a]``: a uniform component of mass ``2 a c``.

    The density is even; its derivative on ``(0, a)`` is shown non-positive
    symbolically, so the infimum over ``[-a, a]`` is ``f(a)``, compared exactly with ``c``.
    The library's closed-form pdf is also evaluated on a grid of ``[-a, a]`` (numeric).

    Parameters
    ----------
    dist : str
        One of ``slth.distributions.NAMES``.
    a, c : number or sympy expression, optional
        Claimed half-width and level; defaults from :data:`COMPONENTS`.

    Returns
    -------
    Check
    """
    dist = check_choice(dist, "dist", tuple(COMPONENTS))
    a0, c0 = COMPONENTS[dist]
    a = sp.nsimplify(a0 if a is None else a)
    c = sp.sympify(c0 if c is None else c)
    if not (sp.N(a) > 0 and sp.N(c) > 0):
        raise ValueError(f"a and c must be positive, got a={a}, c={c}")
    x = sp.Symbol("x", positive=True)
    mono, why = _nonincreasing(dist, x)
    f = _symbolic_density(dist, x)
    inf_value = f.subs(x, a) if not (dist in ("uniform", "uniform_product") and a > 1) else 0
    margin = sp.N(inf_value - c, 30)
    grid = np.linspace(-float(a), float(a), 2001)
    grid = grid[grid != 0.0]
    lib_min = float(np.min(distributions.pdf(dist, grid)))
    passed = bool(mono and margin >= 0 and lib_min >= float(c) * (1 - 1e-12))
    how = ("symbolic (derivative sign; K1 > 0 from its integral representation, checked by quad; "
           if dist == "nsn" else "symbolic (derivative sign; ")
    detail = (f"{why}; inf over [-{a}, {a}] = f({a}) = {sp.N(inf_value, 12)} vs c = {sp.N(c, 12)} "
              f"(margin {sp.N(margin, 6)}); library pdf min on grid {lib_min:.12g}; uniform "
              f"component mass 2ac = {sp.N(2 * a * c, 6)}")
    return Check(f"uniform_component_{dist}",
                 f"{dist} density >= {sp.N(c, 6)} on [-{a}, {a}] (uniform component of mass "
                 f"{sp.N(2 * a * c, 4)})",
                 how + "exact endpoint value) + numeric (library pdf on 2000 grid points)",
                 passed, detail)


def samplers(sample: Callable | None = None, cdf: Callable | None = None,
             dists: tuple[str, ...] = distributions.NAMES, size: int = 20000, seed: int = 0,
             level: float = 1e-3) -> Check:
    """The library's samplers draw from the densities checked above.

    Two parts per distribution: the closed-form ``cdf`` equals ``1/2 + int_0^x pdf``
    (quadrature of the symbolic density of :func:`_symbolic_density`, abs. 1e-12, at 24
    points), and a Kolmogorov-Smirnov test of ``size`` draws against that cdf does not
    reject at ``level``.

    Parameters
    ----------
    sample : callable, optional
        ``sample(dist, size, seed)``; default ``slth.distributions.sample``.
    cdf : callable, optional
        ``cdf(dist, x)``; default ``slth.distributions.cdf``.
    dists : tuple of str
        Distributions to check.
    size, seed : int
        Draws per distribution and seed (fixed, so the verdict is reproducible).
    level : float
        Significance level of the KS test.

    Returns
    -------
    Check
    """
    from scipy import stats

    sample = distributions.sample if sample is None else sample
    cdf = distributions.cdf if cdf is None else cdf
    x = sp.Symbol("x", positive=True)
    pts = np.array([0.01, 0.1, 0.3, 0.5, 0.8, 0.99, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0])
    rows, failures = [], []
    for dist in dists:
        dens = _symbolic_density(dist, x)
        f = sp.lambdify(x, dens, modules=["scipy", "numpy"])
        lo, hi = _SUPPORT.get(dist, (0.0, np.inf))

        def ref(t, f=f, lo=lo, hi=hi):
            u = min(abs(t), hi)
            half = (integrate.quad(lambda v: float(f(v)), lo, u, limit=200, epsabs=1e-14)[0]
                    if u > lo else 0.0)
            return 0.5 + np.sign(t) * half

        want = np.array([ref(t) for t in np.concatenate([pts, -pts])])
        got = np.asarray(cdf(dist, np.concatenate([pts, -pts])), dtype=np.float64)
        cdf_err = float(np.max(np.abs(got - want)))
        draws = np.asarray(sample(dist, size, seed), dtype=np.float64)
        ks = stats.kstest(draws, lambda t, d=dist: np.asarray(cdf(d, t), dtype=np.float64))
        rows.append(f"{dist}: cdf abs. err {cdf_err:.1e}, KS D = {ks.statistic:.4f}, "
                    f"p = {ks.pvalue:.3f}")
        if cdf_err > 1e-12 or ks.pvalue < level:
            failures.append(rows[-1])
    detail = ("; ".join(failures) if failures else "; ".join(rows))
    return Check("samplers",
                 "the samplers of slth.distributions draw from the checked densities "
                 f"({', '.join(dists)})",
                 f"numeric (cdf vs quadrature of the density, abs. 1e-12) + sampled (KS test, "
                 f"{size} draws, level {level:g})", not failures, detail)
