"""MRSS coverage estimates against brute force, scipy's binomial interval and each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from naive import best_vector_subset
from scipy import stats

from slth import mrss
from slth.cli import main


def trial_data(seed, trials, n, d, kind, num=4, points=None):
    """Vectors and targets of each trial, rebuilt from the documented seeding scheme."""
    out = []
    for child in np.random.SeedSequence(seed).spawn(trials):
        vec_seed, tgt_seed, _ = child.spawn(3)
        x = mrss.sample_vectors("uniform", n, d, vec_seed)
        if kind == "grid":
            z = mrss.cover_targets(d, "grid", points=points)
        else:
            z = np.random.default_rng(tgt_seed).uniform(-1, 1, (num, d))
        out.append((x, z))
    return out


def brute_covered(x, z, eps):
    return all(best_vector_subset(x, t)[0] <= eps for t in z)


# ---------------------------------------------------------------- intervals and targets


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (37, 40), (1, 1)])
def test_clopper_pearson_matches_scipy(k, n):
    lo, hi = mrss.clopper_pearson(k, n, 0.9)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
    assert abs(float(lo) - ci.low) < 1e-10 and abs(float(hi) - ci.high) < 1e-10


def test_clopper_pearson_bad_input():
    with pytest.raises(ValueError, match="successes <= trials"):
        mrss.clopper_pearson(5, 4)
    with pytest.raises(ValueError, match="confidence must lie in the open interval"):
        mrss.clopper_pearson(1, 4, 1.0)


def test_cover_targets():
    g = mrss.cover_targets(1, "grid", points=5)
    np.testing.assert_array_equal(g[:, 0], [-1, -0.5, 0, 0.5, 1])
    assert mrss.cover_targets(2).shape == (121, 2)
    assert mrss.cover_targets(3, "grid").shape == (125, 3)
    r = mrss.cover_targets(5, num=10, seed=1)
    assert r.shape == (10, 5) and np.all(np.abs(r) <= 1)
    np.testing.assert_array_equal(r, mrss.cover_targets(5, num=10, seed=1))
    with pytest.raises(ValueError, match="kind must be one of"):
        mrss.cover_targets(2, "sobol")
    with pytest.raises(ValueError, match="over 10\\*\\*6"):
        mrss.cover_targets(9, "grid", points=10)


# ---------------------------------------------------------------- success probability


def test_success_probability_matches_brute_force():
    n, d, eps, trials = 9, 2, 0.12, 6
    est = mrss.success_probability(n, d, eps, targets="random", num_targets=4, trials=trials,
                                   seed=5)
    wins = sum(brute_covered(x, z, eps)
               for x, z in trial_data(5, trials, n, d, "random"))
    assert est.successes == wins and est.trials == trials and est.method == "exact"
    lo, hi = mrss.clopper_pearson(wins, trials)
    assert est.ci_low == float(lo) and est.ci_high == float(hi)
    assert 0 < wins < trials  # an informative case, not a trivial one


def test_success_probability_grid_matches_brute_force():
    n, d, eps, trials = 7, 1, 0.06, 5
    est = mrss.success_probability(n, d, eps, grid_points=9, trials=trials, seed=2)
    wins = sum(brute_covered(x, z, eps)
               for x, z in trial_data(2, trials, n, d, "grid", points=9))
    assert est.successes == wins and est.targets == 9


# ---------------------------------------------------------------- min_samples


def test_min_samples_matches_brute_force_scan():
    d, eps, trials = 2, 0.15, 5
    res = mrss.min_samples(eps, d, targets="random", num_targets=3, trials=trials, n_max=12,
                           seed=3)
    for t, (x, z) in enumerate(trial_data(3, trials, 12, d, "random", num=3)):
        expected = next((n for n in range(1, 13) if brute_covered(x[:n], z, eps)), 13)
        assert res.n[t] == expected
    assert res.exact.all() and res.trials == trials


def test_min_samples_consistent_with_success_probability():
    kw = dict(targets="random", num_targets=8, trials=12, seed=4)
    res = mrss.min_samples(0.1, 3, n_max=24, **kw)
    for n in (int(res.n.min()), int(np.median(res.n)), int(res.n.max())):
        est = mrss.success_probability(n, 3, 0.1, **kw)
        assert est.successes == int((res.n <= n).sum())
    p, lo, hi = res.success(np.array([res.n.min() - 1, res.n.max()]))
    assert p[0] == 0.0 and p[1] == 1.0 and lo[1] < 1.0 and hi[0] > 0.0


def test_min_samples_heuristic_is_an_upper_bound():
    kw = dict(targets="random", num_targets=4, trials=6, n_max=30, seed=6)
    exact = mrss.min_samples(0.1, 2, method="exact", **kw)
    heur = mrss.min_samples(0.1, 2, method="heuristic", heuristic_step=1, **kw)
    assert (heur.n >= exact.n).all()
    assert not heur.exact.any() and exact.exact.all()
    auto = mrss.min_samples(0.1, 2, exact_max_n=8, heuristic_step=1, **kw)
    assert (auto.n >= exact.n).all()
    np.testing.assert_array_equal(auto.exact, exact.n <= 8)


def test_min_samples_quantiles():
    res = mrss.MinSamples(np.array([5, 3, 9, 4, 7, 11, 6, 8, 10, 12]),
                          np.ones(10, dtype=bool), 2, 0.1, 11, 11, 4, "uniform")
    assert res.quantile(0.5) == 7 and res.quantile(0.9) == 11 and res.quantile(0.95) is None
    lo, hi = res.quantile_interval(0.5, 0.9)
    s = np.sort(res.n)
    # Order statistics: ranks from the binomial(10, 0.5) quantiles.
    assert lo == s[int(stats.binom.ppf(0.05, 10, 0.5)) - 1]
    assert hi == s[int(stats.binom.ppf(0.95, 10, 0.5))]
    # P(rank interval covers the median) >= 0.9 by the binomial argument.
    a, b = int(stats.binom.ppf(0.05, 10, 0.5)), int(stats.binom.ppf(0.95, 10, 0.5)) + 1
    assert stats.binom.cdf(b - 1, 10, 0.5) - stats.binom.cdf(a - 1, 10, 0.5) >= 0.9


def test_coverage_bad_input():
    with pytest.raises(ValueError, match="eps must be > 0"):
        mrss.min_samples(0.0, 2)
    with pytest.raises(ValueError, match="d must be >= 1"):
        mrss.success_probability(5, 0, 0.1)
    with pytest.raises(ValueError, match=r"targets must have shape \(m, 2\)"):
        mrss.success_probability(5, 2, 0.1, targets=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="method must be one of"):
        mrss.min_samples(0.1, 2, method="milp")
    with pytest.raises(ValueError, match="dist must be one of"):
        mrss.min_samples(0.1, 2, dist="cauchy")
    with pytest.raises(ValueError, match="vectors: .*max_bytes"):
        mrss.success_probability(30, 2, 0.1, trials=1, max_bytes=1000)


# ---------------------------------------------------------------- command line


def test_cli_solve_json(capsys):
    assert main(["mrss", "solve", "--n", "10", "--d", "2", "--targets", "2",
                 "--method", "exact", "heuristic", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert len(rows) == 4 and {r["method"] for r in rows} == {"exact", "heuristic"}
    x = mrss.sample_vectors("uniform", 10, 2, np.random.default_rng(0))
    for r in rows:
        value = x[r["subset"]].sum(axis=0)
        assert abs(np.abs(np.array(r["target"]) - value).max() - r["error"]) <= 1e-12
        if r["method"] == "exact":
            assert abs(r["error"] - best_vector_subset(x, r["target"])[0]) <= 1e-12


def test_cli_cover_table_and_errors(capsys):
    assert main(["mrss", "cover", "--d", "1", "--eps", "0.1", "--trials", "5",
                 "--no-progress"]) == 0
    assert "n@0.9" in capsys.readouterr().out
    assert main(["mrss", "cover", "--d", "2", "--eps", "0.2", "--n", "8", "--trials", "4",
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["results"][0]
    assert row["n"] == 8 and 0 <= row["probability"] <= 1
    with pytest.raises(SystemExit) as exc:
        main(["mrss", "solve", "--n", "4", "--d", "2", "--target", "0.1"])
    assert exc.value.code == 2
    assert "--target needs d=2 numbers" in capsys.readouterr().err
