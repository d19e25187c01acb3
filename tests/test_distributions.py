"""Samplers against their closed-form densities and moments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from slth import distributions


@pytest.mark.parametrize("name", distributions.NAMES)
def test_samples_follow_the_closed_form_cdf(name):
    x = distributions.sample(name, 20_000, seed=123)
    assert stats.kstest(x, lambda t: distributions.cdf(name, t)).pvalue > 0.01


@pytest.mark.parametrize("name", distributions.NAMES)
def test_sample_moments(name):
    d = distributions.get(name)
    x = d.sample(200_000, seed=7)
    se = np.sqrt(d.variance / x.size)
    assert abs(x.mean() - d.mean) < 5 * se
    assert x.var() == pytest.approx(d.variance, rel=0.03)


@pytest.mark.parametrize("name", distributions.NAMES)
def test_density_integrates_to_cdf(name):
    # An independent check of each closed-form cdf: quadrature of the density.
    for x in (-2.0, -0.6, 0.3, 0.9, 3.0):
        mass, _ = integrate.quad(lambda t: distributions.pdf(name, t), 0.0, x, limit=200,
                                 points=[0.0] if x else None)
        assert distributions.cdf(name, x) - 0.5 == pytest.approx(mass, abs=1e-8)


def test_known_densities():
    assert distributions.pdf("uniform_product", 0.5) == pytest.approx(-np.log(0.5) / 2)
    assert distributions.pdf("normal", 0.0) == pytest.approx(stats.norm.pdf(0.0))
    assert distributions.cdf("normal", 1.3) == pytest.approx(stats.norm.cdf(1.3))
    assert distributions.cdf("uniform", 0.2) == pytest.approx(stats.uniform(-1, 2).cdf(0.2))


def test_streams_are_prefix_consistent_and_reproducible():
    for name in distributions.NAMES:
        long = distributions.sample(name, 50, seed=3)
        np.testing.assert_array_equal(long[:20], distributions.sample(name, 20, seed=3))
        rng = np.random.default_rng(3)
        np.testing.assert_array_equal(long, distributions.sample(name, 50, rng))
    assert distributions.sample("nsn", (2, 3), seed=0).shape == (2, 3)


def test_sampling_into_out_gives_the_same_draws():
    """``out`` receives exactly the draws of a new array; uniform draws are numpy's own
    rng.uniform(-1, 1) (computed in place as 2 r - 1)."""
    for name in distributions.NAMES:
        out = np.full((40, 30), np.nan)
        got = distributions.sample(name, (40, 30), seed=11, out=out)
        assert got is out
        np.testing.assert_array_equal(out, distributions.sample(name, (40, 30), seed=11))
    np.testing.assert_array_equal(distributions.sample("uniform", 100_000, seed=5),
                                  np.random.default_rng(5).uniform(-1.0, 1.0, 100_000))
    np.testing.assert_array_equal(
        distributions.sample("uniform_product", 1000, seed=6),
        np.random.default_rng(6).uniform(-1.0, 1.0, (1000, 2)).prod(axis=-1))


@pytest.mark.parametrize("call, err, match", [
    (lambda: distributions.sample("cauchy", 3), ValueError, "dist must be one of"),
    (lambda: distributions.sample("uniform", -1), ValueError, "size must be"),
    (lambda: distributions.sample("uniform", 3, seed=-2), TypeError, "seed must be"),
    (lambda: distributions.sample("uniform", 3, seed="x"), TypeError, "seed must be"),
    (lambda: distributions.sample("uniform", 3, out=np.empty(4)), ValueError,
     r"out must be a writeable C-contiguous float64 array of shape \(3,\), got float64 array "
     r"of shape \(4,\)"),
    (lambda: distributions.sample("normal", (2, 3), out=np.empty((3, 2)).T), ValueError,
     "C-contiguous"),
    (lambda: distributions.sample("normal", 3, out=np.empty(3, np.float32)), ValueError,
     "float32 array"),
    (lambda: distributions.sample("normal", 3, out=[0.0, 0.0, 0.0]), ValueError, "got list"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
