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
    assert label.startswith(f"{f.paper}'s width formula with C = ")
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
