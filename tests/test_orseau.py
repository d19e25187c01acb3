"""Hyperbolic sources and the depth-2L tickets of Orseau, Hutter, Rivasplata (2020),
each result against an independent answer (scipy, brute force, plain loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from naive import best_subset_error, covering_radius, fine_window, grid_sup_error
from scipy import integrate, stats
from scipy.sparse import csr_matrix

from slth import bounds, distributions, rss
from slth.nets import MLP, random_target
from slth.tickets import Ticket, load, orseau, pensia
from slth.verify import certified_error, check
from slth.verify.dispatch import CERTIFICATES
from slth.verify.mlp import certify_orseau

GAMMA = 2.0**-10


# ------------------------------------------------------------------ distribution
@pytest.mark.parametrize("name,gamma", [("hyperbolic", GAMMA), ("hyperbolic:0.0625", 0.0625)])
def test_hyperbolic_magnitudes_are_scipy_loguniform_with_a_fair_sign(name, gamma):
    x = distributions.sample(name, 20_000, seed=5)
    ref = stats.loguniform(gamma, 1.0)
    assert stats.kstest(np.abs(x), ref.cdf).pvalue > 0.01
    assert stats.binomtest(int((x > 0).sum()), x.size).pvalue > 0.01
    t = np.array([0.001, gamma, 0.2, 0.7, 1.0])
    np.testing.assert_allclose(distributions.pdf(name, t), np.where(t >= gamma, ref.pdf(t) / 2,
                                                                    0.0), rtol=1e-12)
    np.testing.assert_allclose(distributions.cdf(name, t), 0.5 + ref.cdf(t) / 2, rtol=1e-12)
    np.testing.assert_allclose(distributions.cdf(name, -t), 0.5 - ref.cdf(t) / 2, atol=1e-15)


def test_hyperbolic_cdf_and_variance_by_quadrature():
    d = distributions.hyperbolic(0.01)
    for x in (0.005, 0.01, 0.3, 1.0, 2.0):
        kinks = [p for p in (0.01, 1.0) if p < x]
        mass, _ = integrate.quad(d.pdf, 0.0, x, points=kinks or None, limit=200,
                                 epsabs=1e-13)
        assert float(d.cdf(x)) - 0.5 == pytest.approx(mass, abs=1e-10)
    second, _ = integrate.quad(lambda t: t * t * d.pdf(t), 0.01, 1.0)
    assert d.variance == pytest.approx(2 * second, rel=1e-10)
    assert distributions.get(d.name).variance == d.variance


def test_hyperbolic_names_round_trip_and_streams_extend():
    assert distributions.get("hyperbolic:0.0009765625").name == "hyperbolic"
    assert distributions.get("hyperbolic:0.25").name == "hyperbolic:0.25"
    long = distributions.sample("hyperbolic:0.25", 30, seed=2)
    np.testing.assert_array_equal(long[:10], distributions.sample("hyperbolic:0.25", 10, seed=2))
    assert np.all((np.abs(long) >= 0.25) & (np.abs(long) <= 1.0))


@pytest.mark.parametrize("dist,err,match", [
    ("hyperbolic:2", ValueError, r"gamma must be in \(0, 1\).*got 2.0"),
    ("hyperbolic:0", ValueError, "gamma must be in"),
    ("hyperbolic:x", ValueError, "dist: the gamma of 'hyperbolic:x' must be a number"),
])
def test_hyperbolic_bad_gamma(dist, err, match):
    with pytest.raises(err, match=match):
        distributions.get(dist)
    with pytest.raises(TypeError, match="gamma must be a real number"):
        distributions.hyperbolic("0.1")


# ---------------------------------------------------------------------- RSS
def test_rss_solve_on_hyperbolic_values_is_exact():
    v = distributions.sample("hyperbolic", 14, seed=3)
    for z in (-0.9, -0.013, 0.0, 0.4, 1.0):
        res = rss.solve(v, z)
        assert res.error == pytest.approx(best_subset_error(v, z), abs=1e-12)


def test_min_samples_on_hyperbolic_matches_the_covering_radius():
    """min_samples (merging covered intervals) against the exact covering radius of the
    stream's prefixes, by brute force over all subsets (gamma = 1/4 keeps n small)."""
    for eps in (0.3, 0.05):
        ns = rss.min_samples(eps, "hyperbolic:0.25", trials=6, seed=9, progress=False)
        for t, n in enumerate(ns):
            stream = rss.trial_stream("hyperbolic:0.25", 9, t, int(n))
            assert n <= 16
            assert covering_radius(stream, -1.0, 1.0) <= eps + 1e-12
            assert covering_radius(stream[:-1], -1.0, 1.0) > eps


def test_rss_constant_of_hyperbolic_samples_reaches_its_coverage():
    """At rss_n with the calibrated RSS_C['hyperbolic'], the fraction of streams that
    cover [-1, 1] within eps is at least 1 - delta (on seeds other than the fit's)."""
    for eps in (0.1, 0.03):
        n = bounds.rss_n(eps, eps, dist="hyperbolic")
        ns = rss.min_samples(eps, "hyperbolic", trials=300, seed=77, progress=False)
        assert np.mean(ns <= n) >= 1 - eps
    assert bounds.FORMULAS["rss"].default_C("hyperbolic") == bounds.RSS_C["hyperbolic"] == 8.0


# -------------------------------------------------------------------- bounds
def test_orseau_formula_and_its_sympy_expression():
    f = bounds.FORMULAS["orseau"]
    assert f.origin == "calibrated" and f.C == bounds.ORSEAU_C
    assert f.label() == ("Orseau et al. 2020's width formula with C = 1.25 "
                         "(this package's calibration)")
    d_, L_, e_, dl_, C_ = sp.symbols("d L epsilon delta C", positive=True)
    for d, L, eps, delta in ((4, 2, 0.1, 0.1), (10, 3, 0.01, 0.05), (3, 1, 0.2, 0.001)):
        widths = [d] * (L + 1)
        expr = bounds.orseau_n_expr().subs({d_: d, L_: L, e_: eps, dl_: delta, C_: 1})
        assert float(expr) == pytest.approx(bounds.orseau_term(widths, eps, delta), rel=1e-12)
        n = bounds.orseau_n(widths, eps, delta)
        assert n == math.ceil(bounds.ORSEAU_C * float(expr) - 1e-9) == f.n(widths, eps, delta)
        # gamma^2 is at most the per-weight accuracy, gamma^2 * 4 above it
        g, ew = bounds.orseau_gamma(widths, eps), bounds.pensia_weight_eps(widths, eps)
        assert g * g <= ew < 4 * g * g
    for n in range(1, 40):
        assert f.n([4, 4, 2], 0.1, 0.1, C=f.implied_C(n, [4, 4, 2], 0.1, 0.1)) == n


def test_source_sizes_count_the_built_sources():
    """Parameter counts of both sources against the sources the builders draw."""
    target = random_target([3, 4, 2], seed=0)
    s = bounds.source_sizes([3, 4, 2], 0.1, 0.1)
    for name, build in (("pensia", pensia), ("orseau", orseau)):
        t = build(target, eps=0.1, delta=0.1, seed=0)
        assert t.params["n"] == s[name]["n"]
        assert t.widths == s[name]["widths"]
        assert t.spec.n_params == s[name]["params"]
        assert sum(w.size for w in t.source.weights) == s[name]["params"]
    assert s["ratio"] == s["orseau"]["params"] / s["pensia"]["params"]
    # per weight against per input neuron: the hidden widths differ by the factor d_l
    n = 7
    ow, pw = bounds.orseau_widths([784, 300, 100, 10], n), bounds.pensia_widths(
        [784, 300, 100, 10], n)
    assert [o // p for o, p in zip(ow[1::2], pw[1::2], strict=True)] == [300, 100, 10]
    big = bounds.source_sizes([784, 300, 100, 10], 0.01, 0.01)
    assert big["pensia"]["params"] == 151_051_824
    assert big["orseau"]["params"] > 1000 * big["pensia"]["params"]


# -------------------------------------------------------------------- tickets
@pytest.fixture(scope="module")
def ticket():
    return orseau(random_target([3, 4, 2], seed=1), eps=0.1, delta=0.1, seed=4)


def test_ticket_only_prunes_its_hyperbolic_source(ticket):
    src = ticket.source
    for w, s in zip(ticket.weights, src.weights, strict=True):
        w = w.tocoo()
        np.testing.assert_array_equal(w.data, s[w.row, w.col])
    g = bounds.orseau_gamma([3, 4, 2], 0.1)
    assert ticket.spec.dist == ticket.params["dist"] == f"hyperbolic:{g!r}"
    mags = np.abs(np.concatenate([s.ravel() for s in src.weights]))
    assert mags.min() >= g and mags.max() <= 1.0


def test_ticket_layout_one_block_per_target_weight(ticket):
    n, (_, d1, d2) = ticket.params["n"], ticket.target.widths
    m = 2 * n
    for l, d_out in enumerate((d1, d2)):
        U, V = ticket.weights[2 * l].tocoo(), ticket.weights[2 * l + 1].tocoo()
        block = U.row // m                          # = j d_out + i
        assert np.all(U.col == block // d_out)
        assert np.all((V.col // m) % d_out == V.row)
        if l > 0:                                   # ReLU inputs: no negative neuron kept
            assert np.all(U.data > 0)


def test_recorded_errors_are_the_decomposition_and_its_window(ticket):
    """Per target weight and sign: the effective weight recomputed with loops from the kept
    entries, the recorded error, and the error of the greedy decomposition plus exact
    window recomputed by the naive reference (sorting and brute force)."""
    n, k = ticket.params["n"], ticket.params["max_values"]
    m = 2 * n
    src = ticket.source
    for l in range(ticket.target.depth):
        w = ticket.target.weights[l]
        d_out, d_in = w.shape
        U, V = ticket.weights[2 * l].toarray(), ticket.weights[2 * l + 1].toarray()
        Us, Vs = src.weights[2 * l], src.weights[2 * l + 1]
        sides = [(1.0, "pos")] + ([(-1.0, "neg")] if l == 0 else [])
        for i in range(d_out):
            for j in range(d_in):
                cols = np.arange((j * d_out + i) * m, (j * d_out + i + 1) * m)
                u, v = Us[cols, j], Vs[i, cols]
                for side, key in sides:
                    eff = sum(abs(U[c, j]) * V[i, c] for c in cols if side * U[c, j] > 0)
                    rec = ticket.errors[f"layer{l + 1}_{key}"][i, j]
                    assert rec == pytest.approx(abs(eff - side * w[i, j]), abs=1e-12)
                    vals, valid = np.abs(u) * v, side * u > 0
                    chosen, window = fine_window(vals, valid, side * w[i, j], min(k, m))
                    resid = side * w[i, j] - vals[chosen].sum()
                    assert rec == pytest.approx(best_subset_error(vals[window], resid),
                                                abs=1e-12)
                    if valid.sum() <= 16:         # no subset does better than the optimum
                        assert rec >= best_subset_error(vals[valid], side * w[i, j]) - 1e-12


def test_folded_network_computes_the_ticket(ticket):
    from slth.verify.fold import folded_network

    x = np.random.default_rng(3).uniform(-1, 1, (50, 3))
    folded = folded_network(ticket)
    assert folded.widths == (3, 6, 4, 8, 2)      # per pair: [relu(x), relu(-x)], then folded
    np.testing.assert_allclose(folded(x), ticket(x), atol=1e-12)


def test_certificate_bounds_the_error_and_meets_eps(ticket):
    assert CERTIFICATES["orseau"] is certify_orseau
    report = check(ticket, samples=256, starts=2, seed=0)
    assert report.ok and report.meets_eps and report.certified <= 0.1
    assert report.empirical <= report.certified
    d = ticket.target.widths[0]
    x = np.random.default_rng(0).normal(size=(2000, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= np.random.default_rng(1).uniform(0, 1, (2000, 1)) ** (1 / d)
    direct = float(np.max(np.linalg.norm(ticket.target(x) - ticket(x), axis=1)))
    assert direct <= report.certified


def test_certificate_on_a_one_input_target_against_a_grid():
    target = MLP([np.array([[0.6], [-0.7]]), np.array([[0.5, -0.4]])], [None, None], "relu")
    t = orseau(target, eps=0.1, delta=0.1, seed=2, n=3)
    cert, _ = certified_error(t)
    assert grid_sup_error(target, t, 1.0, 1, 2001) <= cert


def test_certificate_fails_on_bad_tickets(ticket):
    # an output row that keeps nothing: the certificate must exceed eps, and the search
    # must find an input where the ticket is more than eps off
    V = ticket.weights[3].tolil()
    V[0, :] = 0
    V = csr_matrix(V)
    V.eliminate_zeros()
    bad = Ticket(ticket.target, ticket.spec, (*ticket.weights[:3], V), ticket.biases,
                 ticket.bias_masks, ticket.errors, ticket.params)
    report = check(bad, samples=256, starts=2, seed=0)
    assert report.certified > 0.1 and report.empirical > 0.1 and not report.meets_eps
    # an output that reads another output's block: not the construction's layout
    W = ticket.weights[1].tolil()
    m = 2 * ticket.params["n"]
    W[0, 1 * m] = ticket.source.weights[1][0, 1 * m]     # block (j=0, i=1) read by row 0
    foreign = Ticket(ticket.target, ticket.spec,
                     (ticket.weights[0], csr_matrix(W), *ticket.weights[2:]), ticket.biases,
                     ticket.bias_masks, ticket.errors, ticket.params)
    with pytest.raises(ValueError, match="outside its output's per-weight blocks"):
        certified_error(foreign)


def test_same_seed_same_ticket_across_threads_and_files(ticket, tmp_path):
    target = random_target([3, 4, 2], seed=1)
    again = orseau(target, eps=0.1, delta=0.1, seed=4, threads=1)
    for a, b in zip(ticket.weights, again.weights, strict=True):
        assert (a != b).nnz == 0
    path = tmp_path / "t.npz"
    ticket.save(path)
    loaded = load(path)
    assert loaded.spec.dist == ticket.spec.dist
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (5, 3))
    np.testing.assert_array_equal(loaded(x), ticket(x))
    np.testing.assert_array_equal(loaded.source.weights[0], ticket.source.weights[0])


@pytest.mark.parametrize("kwargs,err,match", [
    ({"dist": "uniform"}, ValueError, "dist must be 'hyperbolic' or 'hyperbolic:<gamma>' for "
     "orseau, got 'uniform'"),
    ({"eps": 1.5}, ValueError, "eps"),
    ({"n": 0}, ValueError, "n"),
    ({"max_values": 60}, ValueError, "max_values"),
])
def test_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        orseau(random_target([2, 2, 1], seed=0), **{"eps": 0.1, "delta": 0.1, **kwargs})
    with pytest.raises(ValueError, match="relu"):
        orseau(random_target([2, 2, 1], seed=0, activation="tanh"), eps=0.1)
