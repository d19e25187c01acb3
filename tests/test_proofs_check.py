"""proofs_check: every check passes on the true claim and FAILs on a deliberately wrong one."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import sympy as sp
from scipy import special

import proofs_check
from proofs_check import _core, activations, bounds_checks, densities, lueker, propagation
from proofs_check.__main__ import main as pc_main
from slth import bounds, rss
from slth.nets import activations as act_mod


def _fails(check, *fragments):
    assert isinstance(check, proofs_check.Check)
    assert not check.passed, check.detail
    assert check.status == "FAIL"
    for f in fragments:
        assert f in check.detail, check.detail


def _passes(check):
    assert check.passed, check.detail
    assert check.status == "PASS"
    assert any(m in check.method for m in ("symbolic", "numeric", "sampled")), check.method


# ------------------------------------------------------------------ helpers
def test_clopper_pearson_closed_forms():
    # all successes: low = (1 - c)^(1/T); no success: high = 1 - (1 - c)^(1/T)
    for T in (1, 10, 500):
        low, high = _core.clopper_pearson(T, T, 0.99)
        assert low == pytest.approx(0.01 ** (1 / T), rel=1e-10) and high == 1.0
        low, high = _core.clopper_pearson(0, T, 0.95)
        assert low == 0.0 and high == pytest.approx(1 - 0.05 ** (1 / T), rel=1e-10)
    # interior: the bound solves the binomial tail equation
    low, high = _core.clopper_pearson(30, 100, 0.99)
    assert special.bdtrc(29, 100, low) == pytest.approx(0.01, rel=1e-8)
    assert special.bdtr(30, 100, high) == pytest.approx(0.01, rel=1e-8)


@pytest.mark.parametrize("args,exc", [((5, 4, 0.9), ValueError), ((-1, 4, 0.9), ValueError),
                                      ((1, 4, 0.4), ValueError), ((1, 4, 1.0), ValueError),
                                      ((1.5, 4, 0.9), TypeError)])
def test_clopper_pearson_bad_input(args, exc):
    with pytest.raises(exc):
        _core.clopper_pearson(*args)


def test_poly_abs_max_against_grid():
    s = sp.Symbol("s")
    rng = np.random.default_rng(0)
    for _ in range(5):
        coeffs = [sp.Rational(int(c), 7) for c in rng.integers(-9, 10, 5)]
        p = sum(c * s**k for k, c in enumerate(coeffs))
        exact = float(_core.poly_abs_max(p, s, -1, 1))
        grid = np.linspace(-1, 1, 200001)
        approx = np.abs(np.polyval([float(c) for c in coeffs[::-1]], grid)).max()
        assert exact >= approx - 1e-12 and exact == pytest.approx(approx, abs=1e-8)


def test_nonnegative_polynomial():
    a, b = sp.symbols("a b", positive=True)
    assert _core.nonnegative_polynomial(a**2 + a * b, [a, b]) == (
        True, "all coefficients non-negative")
    assert _core.nonnegative_polynomial(a - a, [a, b])[1] == "identically zero"
    assert not _core.nonnegative_polynomial(a * b - a, [a, b])[0]


def test_brute_covering_radius_against_rss():
    rng = np.random.default_rng(1)
    for n in range(1, 11):
        v = rng.uniform(-1, 1, n)
        assert lueker.brute_covering_radius(v) == pytest.approx(rss.covering_radius(v), abs=1e-12)
    assert lueker.brute_covering_radius([0.5, 0.5]) == 1.0
    with pytest.raises(ValueError, match="values"):
        lueker.brute_covering_radius(np.zeros(23))


def test_check_record_and_registry():
    c = proofs_check.Check("x", "s", "symbolic", False, "why")
    assert c.status == "FAIL" and c.as_dict()["status"] == "FAIL"
    assert c.line() == "FAIL  s  [symbolic]"
    names = [e.name for e in proofs_check.REGISTRY]
    assert len(names) == len(set(names)) >= 20
    with pytest.raises(ValueError, match="already registered"):
        _core.register("sign_split", activations.sign_split)
    with pytest.raises(ValueError, match="no check matches"):
        proofs_check.list_checks("no_such_check")
    assert [e.name for e in proofs_check.list_checks("lueker_*")][0].startswith("lueker_")


def test_crashing_check_is_a_failure():
    def boom():
        raise RuntimeError("broken")
    result = _core.Entry("boom", boom)()
    _fails(result, "RuntimeError: broken")


# ---------------------------------------------------------------- densities
def test_product_uniform_density():
    _passes(densities.product_uniform_density())
    _fails(densities.product_uniform_density(pdf=lambda x: -np.log(np.abs(x))))
    _fails(densities.product_uniform_density(pdf=lambda x: np.full(np.shape(x), 0.5)))
    # right inside [-1, 1] but not zero outside
    _fails(densities.product_uniform_density(
        pdf=lambda x: -np.log(np.minimum(np.abs(x), 1.0) + (np.abs(x) > 1)) / 2 + (np.abs(x) > 1)))


def test_nsn_density():
    _passes(densities.nsn_density())
    _fails(densities.nsn_density(pdf=lambda x: special.k0(np.abs(x)) / (2 * np.pi)))
    _fails(densities.nsn_density(pdf=lambda x: np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)))


@pytest.mark.parametrize("dist", list(densities.COMPONENTS))
def test_uniform_component(dist):
    _passes(densities.uniform_component(dist))
    a, c = densities.COMPONENTS[dist]
    _fails(densities.uniform_component(dist, c=c * sp.Rational(101, 100)))


def test_uniform_component_wrong_interval_and_bad_input():
    _fails(densities.uniform_component("uniform_product", a=1))      # pdf(1) = 0
    _fails(densities.uniform_component("uniform", a=2))
    with pytest.raises(ValueError, match="dist"):
        densities.uniform_component("cauchy")
    with pytest.raises(ValueError, match="positive"):
        densities.uniform_component("nsn", c=-1)


def test_samplers():
    from slth import distributions

    _passes(densities.samplers(size=5000))
    swapped = lambda d, n, s: distributions.sample(  # noqa: E731
        "uniform" if d == "uniform_product" else d, n, s)
    _fails(densities.samplers(sample=swapped, size=5000), "uniform_product")
    shifted = lambda d, x: distributions.cdf(d, np.asarray(x) - 1e-6)  # noqa: E731
    _fails(densities.samplers(cdf=shifted, dists=("nsn",), size=1000), "cdf abs. err")


# -------------------------------------------------------------- activations
def test_sign_split():
    _passes(activations.sign_split())
    _fails(activations.sign_split(phi=sp.Abs, slope=0), "phi(x) - phi(-x)")
    relu = lambda x: sp.Piecewise((x, x >= 0), (0, True))  # noqa: E731
    _fails(activations.sign_split(phi=relu, slope=sp.Rational(1, 2)))
    fake = dataclasses.replace(act_mod.get("relu"), fn=act_mod.get("softplus").fn)
    _fails(activations.sign_split(activations=[fake]), "library relu")
    _fails(activations.sign_split(activations=[act_mod.get("tanh")]), "not declared homogeneous")


def test_sign_split_error():
    _passes(activations.sign_split_error(samples=2000))
    # ReLU's factor max(|eA|, |eB|) is wrong for a leaky slope
    _fails(activations.sign_split_error(bound=lambda A, B, a: sp.Max(A, B), samples=2000),
           "not <=")
    _fails(activations.sign_split_error(bound=lambda A, B, a: sp.Max(A + a * B, B),
                                        samples=2000), "x = -p")
    # a valid but looser factor passes
    _passes(activations.sign_split_error(bound=lambda A, B, a: A + B, samples=2000))


@pytest.mark.parametrize("name", list(activations.SMOOTH))
def test_smooth_activation(name):
    act = act_mod.get(name)
    _passes(activations.smooth_activation(name))
    K, p = act.remainder
    _fails(activations.smooth_activation(dataclasses.replace(act, remainder=(0.9 * K, p))),
           "remainder K")
    _fails(activations.smooth_activation(dataclasses.replace(act, lipschitz=0.9 * act.lipschitz)),
           "lipschitz")
    _fails(activations.smooth_activation(dataclasses.replace(act, dphi0=act.dphi0 + 0.01)), "dphi0")
    _fails(activations.smooth_activation(dataclasses.replace(act, phi0=act.phi0 + 0.01)), "phi0")


def test_smooth_activation_wrong_order_and_bad_input():
    tanh = act_mod.get("tanh")
    # p = 4 would need tanh'''(0) = 0, but it is -2
    _fails(activations.smooth_activation(dataclasses.replace(tanh, remainder=(1.0, 4.0))),
           "phi^(j)(0)")
    _fails(activations.smooth_activation(dataclasses.replace(tanh, remainder=(1.0, 2.5))),
           "not an integer")
    _fails(activations.smooth_activation(dataclasses.replace(tanh, remainder=None)),
           "no tangent remainder")
    _fails(activations.smooth_activation(dataclasses.replace(tanh, fn=np.sin)), "library fn")
    with pytest.raises(ValueError, match="activation"):
        activations.smooth_activation("relu")


# -------------------------------------------------------------- propagation
def _no_hat(e, nhat, a, lam):
    return sum(lam[l] * e[l] * a[l] for l in range(len(e)))


def test_certified_bound_closed_form():
    e, nh, a, lam = [0.1, 0.2, 0.3], [1.5, 2.0, 3.0], [1.0, 2.0, 4.0], [1.0, 0.5, 1.0]
    want = 0.1 * 1.0 * (0.5 * 2.0) * 3.0 + 0.5 * 0.2 * 2.0 * 3.0 + 0.3 * 4.0
    assert propagation.certified_bound(e, nh, a, lam) == pytest.approx(want)
    with pytest.raises(ValueError, match="one entry per layer"):
        propagation.certified_bound([1], [1, 2], [1], [1])


def test_propagation_symbolic():
    _passes(propagation.propagation_symbolic())
    _fails(propagation.propagation_symbolic(bound=_no_hat), "unrolled recursion", "scalar chain")
    half = lambda *args: propagation.certified_bound(*args) / 2  # noqa: E731
    _fails(propagation.propagation_symbolic(bound=half, depths=(1,)))
    with pytest.raises(ValueError, match="depths"):
        propagation.propagation_symbolic(depths=(0,))


def test_propagation_numeric():
    _passes(propagation.propagation_numeric(instances=60, samples=64))
    _fails(propagation.propagation_numeric(bound=_no_hat, instances=60, samples=64), "violation")
    scaled = lambda *args: 0.999 * propagation.certified_bound(*args)  # noqa: E731
    _fails(propagation.propagation_numeric(bound=scaled, instances=30, samples=16))
    with pytest.raises(ValueError, match="instances"):
        propagation.propagation_numeric(instances=1)


def test_propagation_coordinatewise():
    _passes(propagation.propagation_coordinatewise(instances=60, samples=64))

    def no_propagation(E_abs, H_abs, P, lam):
        return lam[-1] * (E_abs[-1] @ P[-1])

    _fails(propagation.propagation_coordinatewise(bound=no_propagation, instances=60,
                                                  samples=64), "violation")
    with pytest.raises(ValueError, match="samples"):
        propagation.propagation_coordinatewise(samples=1)


def test_coordinate_bound_matches_norm_bound_on_chains():
    # 1 x 1 layers: both recursions coincide
    e, h, a = [0.1, 0.2], [1.3, 0.7], [2.0, 2.6]
    P = [np.array([2.0]), np.array([2.6])]
    got = propagation.coordinate_bound([np.array([[v]]) for v in e],
                                       [np.array([[v]]) for v in h], P, [1.0, 1.0])
    assert got[0] == pytest.approx(propagation.certified_bound(e, h, a, [1.0, 1.0]))


def test_remainder_sum():
    _passes(propagation.remainder_sum(instances=300))
    max_always = lambda c, p, r: r**p * np.max(c)  # noqa: E731
    _fails(propagation.remainder_sum(bound=max_always, instances=300), "violation")
    _fails(propagation.remainder_sum(bound=lambda c, p, r: 0.99 * propagation.remainder_sum_bound(
        c, p, r), instances=300))


def test_verify_certified():
    from slth import verify

    cases = propagation.TICKET_CASES[:1] + propagation.TICKET_CASES[3:4]
    _passes(propagation.verify_certified(cases=cases, samples=256))
    half = lambda t, r, n: (0.5 * verify.certified_error(t, r, n)[0], [])  # noqa: E731
    _fails(propagation.verify_certified(certify=half, cases=cases, samples=256), "violated")


# ------------------------------------------------------------------- bounds
def test_rss_width():
    _passes(bounds_checks.rss_width())
    wrong_fn = lambda eps, delta, C=3.0: max(1, math.ceil(C * math.log2(1 / max(eps, delta))))  # noqa: E731
    _fails(bounds_checks.rss_width(fn=wrong_fn), "stated formula")
    eps, delta, C = bounds_checks.EPS, bounds_checks.DELTA, bounds_checks.C
    _fails(bounds_checks.rss_width(expr=lambda: C * sp.log(1 / sp.Min(eps, delta))),
           "expression")
    _fails(bounds_checks.rss_width(expr=lambda: C * sp.log(1 / sp.Max(eps, delta), 2)))


def test_pensia_width():
    _passes(bounds_checks.pensia_width())

    def sum_instead_of_max(widths, eps, delta, C=3.0, radius=1.0):
        L = len(widths) - 1
        D = sum(math.sqrt(widths[l] * widths[l + 1]) for l in range(L))
        dw = delta / (2 * sum(widths[l] * widths[l + 1] for l in range(L)))
        return max(1, math.ceil(C * math.log2(1 / min(eps / (2 * L * D * radius), dw)) - 1e-9))

    _fails(bounds_checks.pensia_width(fn=sum_instead_of_max), "pensia_n")
    d, eps, delta, C = bounds_checks.D_, bounds_checks.EPS, bounds_checks.DELTA, bounds_checks.C
    _fails(bounds_checks.pensia_width(
        expr=lambda: C * sp.log(sp.Max(2 * d / eps, 2 * d**2 / delta), 2)), "expression")


def test_burkholz_width():
    _passes(bounds_checks.burkholz_width())

    def no_biases(widths, eps, delta, C=3.0):
        N = sum(widths[l + 1] * widths[l] for l in range(len(widths) - 1))
        return max(1, math.ceil(C * math.log2(N / min(eps, delta)) - 1e-9))

    _fails(bounds_checks.burkholz_width(fn=no_biases))
    N, eps, delta, C = bounds_checks.N_, bounds_checks.EPS, bounds_checks.DELTA, bounds_checks.C
    _fails(bounds_checks.burkholz_width(expr=lambda: C * sp.log(N / sp.Max(eps, delta), 2)))


def test_pensia_weight_eps():
    _passes(bounds_checks.pensia_weight_eps_suffices())
    four = lambda w, eps, r=1.0: 4 * bounds.pensia_weight_eps(w, eps, r)  # noqa: E731
    _fails(bounds_checks.pensia_weight_eps_suffices(weight_eps=four), "attained")
    # the library's formula holds on small balls too; eps / (2 L D r) alone does not there
    _passes(bounds_checks.pensia_weight_eps_suffices(radii=(0.1,)))

    def radius_only(widths, eps, r=1.0):
        pairs = zip(widths, widths[1:], strict=False)
        L, D = len(widths) - 1, max(np.sqrt(a * b) for a, b in pairs)
        return eps / (2 * L * D * r)

    _fails(bounds_checks.pensia_weight_eps_suffices(weight_eps=radius_only, radii=(0.1,)),
           "radius 0.1", "attained")


def test_attained_error_matches_closed_form():
    for d, L in ((1, 3), (4, 2)):
        e_w, r = 0.01, 0.5
        want = r * ((1 + e_w * d) ** L - 1)
        assert bounds_checks._attained(d, L, e_w, r) == pytest.approx(want, rel=1e-12)


# ------------------------------------------------------------------- Lueker
def test_lueker_coverage_confirmed_and_refuted():
    # the papers' form C log2(2/eps) = 13 samples at eps = 0.1: coverage about 0.97
    _passes(lueker.lueker_coverage(width=13, eps=0.1, delta=0.1, trials=600))
    _fails(lueker.lueker_coverage(width=7, eps=0.1, delta=0.1, trials=300), "refuted")
    _fails(lueker.lueker_coverage(width=13, eps=0.1, delta=0.1, trials=10), "inconclusive")


def test_lueker_coverage_default_width_and_bad_input():
    c = lueker.lueker_coverage(eps=0.01, delta=0.2, trials=200)      # rss_n = 20 >> needed
    _passes(c)
    assert c.detail.startswith(f"n = {bounds.rss_n(0.01, 0.2)};")
    with pytest.raises(ValueError, match="eps"):
        lueker.lueker_coverage(eps=0.0)
    with pytest.raises(ValueError, match="trials"):
        lueker.lueker_coverage(trials=0)


def test_counting_lower_bound():
    _passes(lueker.counting_lower_bound(trials=30))
    _fails(lueker.counting_lower_bound(lower=lambda eps: math.log2(1 / eps) + 6, trials=30), "<")


# ---------------------------------------------------------------- commands
@pytest.fixture
def wrong_claim_registered():
    """A deliberately wrong claim registered as a check, so that the exit status is 1."""
    four = lambda w, eps, r=1.0: 4 * bounds.pensia_weight_eps(w, eps, r)  # noqa: E731
    entry = proofs_check.Entry("wrong_weight_eps", bounds_checks.pensia_weight_eps_suffices,
                               {"weight_eps": four})
    proofs_check.REGISTRY.append(entry)
    yield entry.name
    proofs_check.REGISTRY.remove(entry)


def test_main_exit_codes_and_output(capsys, wrong_claim_registered):
    assert pc_main(["sign_split", "rss_width"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS  ReLU-like") and "[symbolic" in out[0]
    assert out[-1].startswith("2/2 checks passed")
    assert pc_main([wrong_claim_registered]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL") and "Failures:" in out
    assert pc_main(["--json", "sign_split"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] is True and payload["checks"][0]["status"] == "PASS"
    assert pc_main(["--list"]) == 0
    assert capsys.readouterr().out.split() == [e.name for e in proofs_check.REGISTRY]
    with pytest.raises(SystemExit) as exc:
        pc_main(["no_such_check"])
    assert exc.value.code == 2


def test_slth_proofs_command(capsys, wrong_claim_registered):
    from slth.cli import COMMANDS, main

    assert "proofs" in COMMANDS
    assert main(["proofs", "--json", "smooth_activation_tanh"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in payload["checks"]] == ["smooth_activation_tanh"]
    assert main(["proofs", wrong_claim_registered]) == 1
