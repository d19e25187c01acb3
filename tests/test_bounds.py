"""slth.bounds: closed forms, sympy expressions agree with the functions, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from slth import bounds


def test_rss_n_closed_form():
    assert bounds.rss_n(2**-10, 0.5, C=1.0) == 11
    assert bounds.rss_n(0.01, 0.001, C=2.0) == math.ceil(2 * math.log2(2000))
    assert bounds.rss_n(0.1, 0.1, dist="uniform_product") == math.ceil(5 * math.log2(20))
    # counting lower bound: 2^n subset sums must eps-cover an interval of length 2
    for eps in (0.1, 0.01, 1e-4):
        assert bounds.rss_n(eps, 0.5, C=1.0) >= math.log2(1 / eps)
    assert bounds.rss_n(0.01, 0.1) >= bounds.rss_n(0.1, 0.1)


def test_rss_expr_matches_function():
    e = bounds.rss_n_expr()
    eps, delta, C = sp.symbols("epsilon delta C", positive=True)
    for a, b, c in [(0.01, 0.1, 2.0), (0.2, 0.05, 1.5)]:
        val = float(e.subs({eps: a, delta: b, C: c}))
        assert math.ceil(val - 1e-9) == bounds.rss_n(a, b, c)


@pytest.mark.parametrize("d,L", [(4, 2), (30, 3), (784, 1)])
def test_pensia_expr_matches_function(d, L):
    widths = [d] * (L + 1)
    e = bounds.pensia_n_expr()
    sym = dict(zip(sp.symbols("d L epsilon delta C", positive=True),
                   [d, L, 0.01, 0.05, 3.0], strict=True))
    assert math.ceil(float(e.subs(sym)) - 1e-9) == bounds.pensia_n(widths, 0.01, 0.05, C=3.0)


def test_pensia_weight_eps_formula():
    assert bounds.pensia_weight_eps([4, 9, 2], 0.1) == pytest.approx(0.1 / (2 * 2 * 6))
    assert bounds.pensia_weight_eps([4, 9, 2], 0.1, radius=2) == pytest.approx(0.1 / 48)


def test_burkholz_expr_matches_function():
    widths = [5, 7, 3]
    N = 7 * 6 + 3 * 8
    e = bounds.burkholz_n_expr()
    sym = dict(zip(sp.symbols("N epsilon delta C", positive=True), [N, 0.01, 0.02, 2.5],
                   strict=True))
    assert math.ceil(float(e.subs(sym)) - 1e-9) == bounds.burkholz_n(widths, 0.01, 0.02, C=2.5)


def test_widths():
    assert bounds.pensia_widths([3, 4, 2], 5) == (3, 30, 4, 40, 2)
    # uniform sources: ceil(5 * 5 / 3) = 9 univariate neurons per sign and input
    assert bounds.burkholz_widths([3, 4, 2], 5) == (3, 72, 25, 2)
    assert bounds.burkholz_widths([3, 4, 2], 5, homogeneous=False) == (3, 36, 25, 2)
    assert bounds.burkholz_widths([3, 4, 2], 5, dist="normal") == (3, 40, 25, 2)
    assert bounds.burkholz_widths([784, 300, 100, 10], 20)[2] == 20 * 301


@pytest.mark.parametrize("n", [1, 2, 3, 25, 75])
def test_burkholz_block_follows_the_product_constant(n):
    ratio = bounds.RSS_C["uniform_product"] / bounds.RSS_C["uniform"]
    assert bounds.burkholz_block(n) == math.ceil(n * ratio - 1e-9) >= n
    assert bounds.burkholz_block(n, "normal") == n      # NSN products: the same constant
    with pytest.raises(ValueError, match="dist"):
        bounds.burkholz_block(n, "cauchy")


def test_rss_problems_counts_construction():
    from slth.nets import random_target
    from slth.tickets import burkholz

    t = burkholz(random_target([3, 4, 2], norm="max", bias=True, seed=0), eps=0.1,
                 delta=0.1, seed=0, n=3)
    solved = sum(int(np.size(e)) for e in t.errors.values())
    # errors are recorded per problem, including zero placeholders for constant rows
    assert bounds.rss_problems([3, 4, 2], "burkholz", 3) == solved
    assert bounds.rss_problems([3, 4, 2], "pensia") == 2 * (12 + 8)


@pytest.mark.parametrize("call", [
    lambda: bounds.rss_n(0.0, 0.1), lambda: bounds.rss_n(0.1, 1.0),
    lambda: bounds.rss_n(0.1, 0.1, C=-1), lambda: bounds.rss_n(0.1, 0.1, dist="cauchy"),
    lambda: bounds.pensia_n([3], 0.1, 0.1),
    lambda: bounds.pensia_n([3, 0], 0.1, 0.1), lambda: bounds.burkholz_n([3, 2], 2.0, 0.1),
    lambda: bounds.pensia_widths([3, 2], 0),
])
def test_bad_input(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("radius", [0.01, 0.1, 1.0, 5.0])
@pytest.mark.parametrize("L", [1, 3, 50])
def test_pensia_weight_eps_suffices(radius, L):
    # the propagation recursion of slth.verify with every per-weight error at eps_w
    widths = [4] * (L + 1)
    eps = 0.3
    e = bounds.pensia_weight_eps(widths, eps, radius)
    D = 4.0
    bound = L * e * D * radius * (1 + e * D) ** (L - 1)
    assert bound <= eps


@pytest.mark.parametrize("name,args", [
    ("rss", (0.01, 0.05)), ("mrss", (0.1, 2)), ("pensia", ([4, 4, 2], 0.1, 0.1)),
    ("burkholz", ([3, 4, 2], 0.1, 0.1)), ("cnn_unstructured", ([1, 2, 2], 3, 0.1, 0.1)),
    ("cnn_structured", ([1, 2, 2], 2, 0.1, 0.1)),
])
def test_formulas_match_their_functions_and_implied_constants_round_trip(name, args):
    """Each named formula gives the n of its public function at its default C, and the
    implied constant of every n from 1 to 60 gives that n back (the largest such C:
    a slightly larger one gives n + 1)."""
    f = bounds.FORMULAS[name]
    direct = {"rss": lambda C: bounds.rss_n(*args, C=C),
              "mrss": lambda C: bounds.mrss_n(*args, C=C),
              "pensia": lambda C: bounds.pensia_n(*args, C=C),
              "burkholz": lambda C: bounds.burkholz_n(*args, C=C),
              "cnn_unstructured": lambda C: bounds.cnn_unstructured_n(*args, C=C),
              "cnn_structured": lambda C: bounds.cnn_structured_channels(*args, C=C)}[name]
    assert f.n(*args) == direct(f.C)
    for n in range(1, 61):
        c = f.implied_C(n, *args)
        assert f.n(*args, C=c) == n == direct(c)
        assert f.n(*args, C=c * (1 + 1e-6)) == n + 1
    label = f.label()
    if f.stands_in is None:
        assert label.startswith(f"{f.paper}'s width formula with C = ")
    else:
        assert label.startswith(f"placeholder for {f.paper}'s width formula")
    assert ("calibration" in label) == (f.origin == "calibrated")
    assert "given by the caller" in f.label(C=f.C * 2)


def test_rss_formula_labels_the_constant_of_its_distribution():
    f = bounds.FORMULAS["rss"]
    assert f.default_C("uniform_product") == bounds.RSS_C["uniform_product"] == 5.0
    assert "C = 5 (this package's calibration)" in f.label(dist="uniform_product")
    assert "C = 3 (given by the caller)" in f.label(3.0, "uniform_product")
    assert "C = 3 (this package's calibration)" in f.label(3.0, "uniform")
    assert f.n(0.01, 0.01, C=f.default_C("uniform_product")) == bounds.rss_n(
        0.01, 0.01, dist="uniform_product")


def test_cnn_structured_placeholder_by_hand_and_by_its_sympy_expression():
    """The structured placeholder (Becchetti et al.'s i.i.d. MRSS rate with d = k^2, a
    union bound over the 2 sum_l c_{l-1} c_l kernels) against arithmetic done here and
    against its sympy expression evaluated numerically."""
    # 1-2-2 target, 2x2 kernels, eps = delta = 0.1: e = (1.1^(1/2) - 1) / (c k^2 = 8),
    # P = 2 (1*2 + 2*2) = 12, eta = min(e, 0.1 / 12) = e ~ 0.0061011, D = 4
    e = (math.sqrt(1.1) - 1) / 8
    assert e < 0.1 / 12
    lg = math.log2(1 / e)
    assert abs(lg - 7.356713) < 1e-6
    assert math.ceil(3 * 4**3 * lg * (lg + 2)) == 13217
    assert bounds.cnn_structured_channels([1, 2, 2], 2, 0.1, 0.1) == 13217
    # 1x1 kernels: D = 1 leaves log2(1/eta)^2, eta = delta / P = 0.1 / 12
    assert bounds.cnn_structured_eta([1, 2, 2], 1, 0.2, 0.1) == pytest.approx(0.1 / 12)
    assert bounds.cnn_structured_channels([1, 2, 2], 1, 0.2, 0.1) == math.ceil(
        3 * math.log2(120) ** 2)
    expr = bounds.cnn_structured_channels_expr()
    D, eta, C, a = sp.symbols("D eta C a", positive=True)
    for ch, k, eps, delta, c, ex in [([1, 2, 2], 2, 0.1, 0.1, 3.0, 3.0),
                                     ([1, 8, 16], 3, 0.1, 0.01, 3.0, 3.0),
                                     ([3, 4], [2], 0.03, 0.05, 0.5, 2.0),
                                     ([2, 2, 2], [3, 1], 0.2, 0.1, 1.0, 1.5)]:
        et = bounds.cnn_structured_eta(ch, k, eps, delta)
        side = max([k] if isinstance(k, int) else k)
        val = float(expr.subs({D: side**2, eta: et, C: c, a: ex}))
        assert math.ceil(val - 1e-9) == bounds.cnn_structured_channels(
            ch, k, eps, delta, C=c, kernel_exponent=ex)


def test_cnn_structured_label_reads_as_a_placeholder_with_its_parameters():
    f = bounds.FORMULAS["cnn_structured"]
    assert f.origin == "placeholder" and f.params == {"kernel_exponent": 3.0}
    label = f.label()
    for part in ("placeholder for da Cunha et al. 2023's width formula",
                 "not the paper's statement", "Becchetti et al. 2022's i.i.d. MRSS rate",
                 "d = k^2", "exponent a = 3,", "C = 3 (this package's choice, not fitted)",
                 "union bound over the P structured problems"):
        assert part in label, part
    assert "exponent a = 2," in f.label(kernel_exponent=2.0)
    assert "exponent a = 3," in f.label(kernel_exponent=None)
    assert "C = 5 (given by the caller)" in f.label(5.0)
    with pytest.raises(ValueError, match="kernel_exponent"):
        f.label(exponent=2.0)
    # a formula with only a placeholder constant keeps the usual label
    assert bounds.FORMULAS["mrss"].label() == (
        "Becchetti et al. 2022's width formula with C = 3 (a placeholder, not fitted)")
