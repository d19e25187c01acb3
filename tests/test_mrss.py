"""Multidimensional random subset sum: solvers against brute force, scipy and slth.rss."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import best_vector_subset

from slth import mrss
from slth._numba import num_threads

TOL = 1e-12
solve_module = importlib.import_module("slth.mrss.solve")
NORMS = [np.inf, 1, 2]


def instance(n, d, seed, dist="uniform"):
    x = mrss.sample_vectors(dist, n, d, seed=seed)
    z = np.random.default_rng(seed + 1000).uniform(-1, 1, d)
    return x, z


def recomputed(x, z, mask, norm):
    """The reported error's documented formula (the same sums on every CPU)."""
    return mrss.subset_error(x, z, mask, norm)


# ---------------------------------------------------------------- exact


@pytest.mark.parametrize("d", [1, 2, 3, 9])
@pytest.mark.parametrize("n", [1, 2, 7, 14])
@pytest.mark.parametrize("norm", NORMS)
def test_exact_equals_brute_force(n, d, norm):
    for seed in range(3):
        x, z = instance(n, d, seed)
        best, _ = best_vector_subset(x, z, ord=norm)
        r = mrss.solve(x, z, norm=norm)
        assert r.mask.dtype == np.bool_ and r.mask.shape == (n,)
        assert r.error == recomputed(x, z, r.mask, norm)
        np.testing.assert_array_equal(r.value, x[r.mask].sum(axis=0))
        assert abs(r.error - best) <= TOL
        assert r.optimal and r.gap == 0.0 and r.lower_bound == r.error
        assert r.method == "exact" and r.seconds >= 0.0 and r.norm == float(norm)


@pytest.mark.parametrize("d", [2, 9])
def test_exact_pruned_chunks_equal_brute_force(d, monkeypatch):
    # Tiny chunks: many rounds of queries pruned by the best distance so far.
    monkeypatch.setattr(solve_module, "_FIRST_CHUNK", 2)
    monkeypatch.setattr(solve_module, "_CHUNK", 8)
    for seed in range(4):
        x, z = instance(13, d, seed)
        for norm in NORMS:
            assert abs(mrss.solve(x, z, norm=norm).error
                       - best_vector_subset(x, z, ord=norm)[0]) <= TOL


def test_exact_equals_brute_force_several_default_chunks():
    # n = 20: 1024 sums in the queried half, i.e. more than one default chunk.
    x, z = instance(20, 2, 7)
    assert abs(mrss.solve(x, z).error - best_vector_subset(x, z)[0]) <= TOL


@settings(max_examples=25)
@given(st.integers(1, 10), st.integers(1, 4), st.integers(0, 2**32 - 1),
       st.sampled_from(["uniform", "normal", "nsn", "nsn_vector"]))
def test_exact_property(n, d, seed, dist):
    x, z = instance(n, d, seed, dist)
    assert abs(mrss.solve(x, z).error - best_vector_subset(x, z)[0]) <= TOL


def test_exact_planted_solution_is_found():
    x, _ = instance(16, 9, 3)
    planted = np.random.default_rng(5).random(16) < 0.5
    r = mrss.solve(x, x[planted].sum(axis=0))
    assert r.error <= 1e-14
    np.testing.assert_array_equal(r.mask, planted)


def test_exact_memory_refused_before_allocating():
    x, z = instance(30, 3, 0)
    need = mrss.exact_bytes(30, 3)
    with pytest.raises(ValueError, match=r"vectors: .*n=30.*max_bytes.*heuristic"):
        mrss.solve(x, z, max_bytes=need - 1)
    assert mrss.solve(x[:10], z, max_bytes=mrss.exact_bytes(10, 3)).optimal
    # The estimate covers at least the two tables of half sums.
    assert need >= 8 * 3 * 2 * 2**15
    assert mrss.exact_bytes(40, 9) > 8 * mrss.exact_bytes(32, 9)


# ---------------------------------------------------------------- milp


@pytest.mark.parametrize("d", [1, 2, 3, 9])
@pytest.mark.parametrize("norm", [np.inf, 1])
def test_milp_equals_brute_force(d, norm):
    for seed in range(2):
        x, z = instance(9, d, seed)
        best, _ = best_vector_subset(x, z, ord=norm)
        r = mrss.solve(x, z, method="milp", norm=norm)
        assert r.method == "milp" and r.optimal
        assert r.error == recomputed(x, z, r.mask, norm)
        # HiGHS proves optimality up to its absolute gap (1e-6) and tolerances.
        assert best - TOL <= r.error <= best + 1e-6
        assert 0.0 <= r.gap <= 1e-6 + TOL and r.lower_bound <= r.error


def test_milp_time_limit_reports_a_valid_bound():
    x, z = instance(40, 9, 1)
    r = mrss.solve(x, z, method="milp", time_limit=0.2)
    assert r.error == recomputed(x, z, r.mask, np.inf)
    assert 0.0 <= r.lower_bound <= r.error and r.gap == r.error - r.lower_bound
    if not r.optimal:
        assert r.gap > 0.0


def test_milp_rejects_l2():
    x, z = instance(4, 2, 0)
    with pytest.raises(ValueError, match="norm=2.*milp"):
        mrss.solve(x, z, method="milp", norm=2)


# ---------------------------------------------------------------- heuristic


@pytest.mark.parametrize("d", [1, 2, 3, 9])
@pytest.mark.parametrize("norm", NORMS)
def test_heuristic_never_beats_optimum(d, norm):
    for seed in range(4):
        x, z = instance(12, d, seed)
        best, _ = best_vector_subset(x, z, ord=norm)
        r = mrss.solve(x, z, method="heuristic", norm=norm, seed=seed)
        assert r.error == recomputed(x, z, r.mask, norm)
        assert r.error >= best - TOL
        assert not r.optimal and np.isnan(r.gap) and np.isnan(r.lower_bound)


@pytest.mark.parametrize("d", [1, 2, 3, 9])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_heuristic_optimal_when_every_subset_is_one_move_away(n, d):
    # With moves of up to 3 flips, every subset of n <= 3 vectors is one move away.
    for seed in range(5):
        x, z = instance(n, d, seed)
        best, _ = best_vector_subset(x, z)
        assert abs(mrss.solve(x, z, method="heuristic", restarts=1, kicks=0).error
                   - best) <= TOL


@pytest.mark.parametrize("d", [3, 9])
def test_heuristic_finds_optimum_on_easy_instances(d):
    # Easy: n = 8 in d >= 3, few near-optimal subsets; 8 restarts find the optimum.
    for seed in range(10):
        x, z = instance(8, d, seed)
        best, _ = best_vector_subset(x, z)
        r = mrss.solve(x, z, method="heuristic", restarts=8, kicks=2)
        assert abs(r.error - best) <= TOL


def test_heuristic_finds_planted_pairs():
    # From the empty mask, a target equal to the sum of two vectors is one pair move away.
    x, _ = instance(64, 9, 2)
    empty = np.zeros(64, dtype=bool)
    for i, j in [(0, 1), (5, 63), (17, 40)]:
        r = mrss.solve(x, x[i] + x[j], method="heuristic", restarts=1, kicks=0, init=empty)
        assert r.error <= 1e-14
        assert sorted(np.flatnonzero(r.mask)) == [i, j]


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("norm", NORMS)
def test_heuristic_descent_ends_in_a_local_optimum(depth, norm):
    # Independent check of the windowed scans: no move of <= depth flips improves.
    from itertools import combinations

    x, z = instance(16, 3, depth)
    r = mrss.solve(x, z, method="heuristic", norm=norm, restarts=1, kicks=0, chain=0,
                   depth=depth, init=np.zeros(16, dtype=bool))
    signed = np.where(r.mask, -1.0, 1.0)[:, None] * x  # flipping i subtracts signed[i]
    residual = z - x[r.mask].sum(axis=0)
    for size in range(1, depth + 1):
        moves = np.array(list(combinations(range(16), size)))
        after = residual - signed[moves].sum(axis=1)
        assert np.linalg.norm(after, ord=norm, axis=1).min() >= r.error - 1e-12


def test_heuristic_chains_never_hurt_from_the_same_start():
    x, z = instance(60, 9, 3)
    start = np.zeros(60, dtype=bool)
    plain = mrss.solve(x, z, method="heuristic", restarts=1, chain=0, init=start)
    chained = mrss.solve(x, z, method="heuristic", restarts=1, chain=12, init=start)
    assert chained.error <= plain.error + TOL


def test_heuristic_deterministic_and_seeded():
    x, z = instance(80, 9, 4)
    a = mrss.solve(x, z, method="heuristic", seed=11)
    b = mrss.solve(x, z, method="heuristic", seed=11)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.error == b.error
    others = [mrss.solve(x, z, method="heuristic", seed=s).error for s in range(12, 16)]
    assert len({a.error, *others}) > 1  # the seed matters


def test_heuristic_identical_in_another_process():
    import subprocess
    import sys

    code = ("import numpy as np; from slth import mrss; "
            "x = mrss.sample_vectors('nsn_vector', 70, 9, seed=3); "
            "z = np.random.default_rng(4).uniform(-1, 1, (3, 9)); "
            "b = mrss.solve_many(x, z, method='heuristic', seed=5); "
            "print(np.packbits(b.masks).tobytes().hex(), b.errors.tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    x = mrss.sample_vectors("nsn_vector", 70, 9, seed=3)
    z = np.random.default_rng(4).uniform(-1, 1, (3, 9))
    with num_threads(1):
        b = mrss.solve_many(x, z, method="heuristic", seed=5)
    assert out == [np.packbits(b.masks).tobytes().hex(), b.errors.tobytes().hex()]


def test_heuristic_warm_start_never_worse():
    x, z = instance(40, 4, 6)
    first = mrss.solve(x, z, method="heuristic", restarts=1, kicks=0)
    again = mrss.solve(x, z, method="heuristic", restarts=1, kicks=0, init=first.mask, seed=3)
    assert again.error <= first.error + TOL


def test_heuristic_effort_helps_on_average():
    # More restarts and kicks keep the best of a superset of the starts.
    x, z = instance(48, 9, 8)
    low = mrss.solve(x, z, method="heuristic", restarts=1, kicks=0).error
    high = mrss.solve(x, z, method="heuristic", restarts=6, kicks=6).error
    assert high <= low + TOL


# ---------------------------------------------------------------- solve_many


def test_solve_many_exact_shared_and_per_target():
    x, _ = instance(12, 3, 0)
    z = np.random.default_rng(1).uniform(-1, 1, (5, 3))
    shared = mrss.solve_many(x, z)
    per = mrss.solve_many(np.broadcast_to(x, (5, 12, 3)), z)
    np.testing.assert_array_equal(shared.masks, per.masks)
    for i in range(5):
        assert shared.errors[i] == mrss.solve(x, z[i]).error
        assert abs(shared.errors[i] - best_vector_subset(x, z[i])[0]) <= TOL
    assert shared.optimal.all() and (shared.gaps == 0).all() and len(shared) == 5
    one = shared[2]
    assert isinstance(one, mrss.MRSSResult) and one.error == shared.errors[2]


def test_solve_many_per_target_vectors_are_used():
    xs = mrss.sample_vectors("nsn_vector", 10, 2, seed=3, sets=4)
    z = np.random.default_rng(2).uniform(-1, 1, (4, 2))
    batch = mrss.solve_many(xs, z)
    for i in range(4):
        assert abs(batch.errors[i] - best_vector_subset(xs[i], z[i])[0]) <= TOL
        np.testing.assert_array_equal(batch.values[i], xs[i][batch.masks[i]].sum(axis=0))


def test_solve_many_milp_matches_exact():
    x, _ = instance(8, 2, 5)
    z = np.random.default_rng(3).uniform(-1, 1, (3, 2))
    milp = mrss.solve_many(x, z, method="milp")
    exact = mrss.solve_many(x, z)
    np.testing.assert_allclose(milp.errors, exact.errors, atol=1e-6)
    assert milp.optimal.all()


@pytest.mark.parametrize("n", [48, 100])
def test_solve_many_heuristic_parallel_equals_serial_and_single(n):
    x, _ = instance(n, 9, 1)
    z = np.random.default_rng(4).uniform(-1, 1, (12, 9))
    par = mrss.solve_many(x, z, method="heuristic", seed=21)
    with num_threads(1):
        ser = mrss.solve_many(x, z, method="heuristic", seed=21)
    np.testing.assert_array_equal(par.masks, ser.masks)
    np.testing.assert_array_equal(par.errors, ser.errors)
    children = np.random.SeedSequence(21).spawn(12)
    for i in (0, 7, 11):
        single = mrss.solve(x, z[i], method="heuristic", seed=children[i])
        np.testing.assert_array_equal(single.mask, par.masks[i])
    exact = mrss.solve_many(x[:14], z, threads=1)
    heur = mrss.solve_many(x[:14], z, method="heuristic")
    assert (heur.errors >= exact.errors - TOL).all()


# ---------------------------------------------------------------- d = 1 and slth.rss


def test_one_dimension_agrees_with_rss():
    from slth import rss

    rng = np.random.default_rng(9)
    for n in (1, 5, 16):
        values = rng.uniform(-1, 1, n)
        for target in rng.uniform(-2, 2, 5):
            expected = rss.solve(values, target)
            for norm in NORMS:
                got = mrss.solve(values[:, None], [target], norm=norm)
                assert abs(got.error - expected.error) <= TOL
            heur = mrss.solve(values[:, None], [target], method="heuristic")
            assert heur.error >= expected.error - TOL


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("method", ["exact", "milp", "heuristic"])
def test_bad_input(method):
    x, z = instance(5, 3, 0)
    with pytest.raises(ValueError, match=r"target must have d=3.*shape \(2,\)"):
        mrss.solve(x, z[:2], method=method)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="vectors must be finite"):
        mrss.solve(bad, z, method=method)
    with pytest.raises(ValueError, match="target must be finite"):
        mrss.solve(x, [0.0, np.inf, 0.0], method=method)
    with pytest.raises(ValueError, match="at least one vector"):
        mrss.solve(np.zeros((0, 3)), z, method=method)
    with pytest.raises(ValueError, match=r"d >= 1"):
        mrss.solve(np.zeros((4, 0)), np.zeros(0), method=method)
    with pytest.raises(ValueError, match="vectors must be 2-D"):
        mrss.solve(x[0], z, method=method)
    with pytest.raises(TypeError, match="vectors must be an array of real numbers"):
        mrss.solve([["a", "b", "c"]], z, method=method)
    with pytest.raises(ValueError, match=r"norm must be one of .* got 3"):
        mrss.solve(x, z, method=method, norm=3)
    with pytest.raises(ValueError, match=r"norm must be one of .* got 'l2'"):
        mrss.solve(x, z, method=method, norm="l2")


def test_bad_method_and_options():
    x, z = instance(5, 3, 0)
    with pytest.raises(ValueError, match=r"method must be one of 'exact', 'milp', 'heuristic'"):
        mrss.solve(x, z, method="greedy")
    with pytest.raises(ValueError, match="time_limit must be > 0"):
        mrss.solve(x, z, method="milp", time_limit=0)
    with pytest.raises(ValueError, match="restarts must be >= 1"):
        mrss.solve(x, z, method="heuristic", restarts=0)
    with pytest.raises(ValueError, match="depth must be <= 3"):
        mrss.solve(x, z, method="heuristic", depth=4)
    with pytest.raises(ValueError, match="chain must be >= 0"):
        mrss.solve(x, z, method="heuristic", chain=-1)
    with pytest.raises(ValueError, match=r"init must have shape \(5,\)"):
        mrss.solve(x, z, method="heuristic", init=np.zeros(4, dtype=bool))
    with pytest.raises(TypeError, match="init must be a boolean mask"):
        mrss.solve(x, z, method="heuristic", init=np.zeros(5))
    with pytest.raises(TypeError, match="seed must be"):
        mrss.solve(x, z, method="heuristic", seed=-1)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        mrss.solve_many(x, z[None], threads=0)
    assert mrss.solve(x, z, norm="inf").norm == np.inf


def test_solve_many_bad_shapes():
    x, _ = instance(5, 3, 0)
    with pytest.raises(ValueError, match=r"targets must have d=3 columns"):
        mrss.solve_many(x, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"targets must be 2-D"):
        mrss.solve_many(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"per-target vectors of shape \(2, 5, 3\) need 2"):
        mrss.solve_many(np.stack([x, x]), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"init must have shape \(1, 5\)"):
        mrss.solve_many(x, np.zeros((1, 3)), method="heuristic", init=np.zeros(5, dtype=bool))


# ---------------------------------------------------------------- vectors


def test_sample_vectors_shapes_and_prefix():
    for dist in mrss.VECTOR_DISTRIBUTIONS:
        x = mrss.sample_vectors(dist, 7, 3, seed=4)
        assert x.shape == (7, 3) and x.dtype == np.float64
        np.testing.assert_array_equal(mrss.sample_vectors(dist, 4, 3, seed=4), x[:4])
        s = mrss.sample_vectors(dist, 7, 3, seed=4, sets=2)
        assert s.shape == (2, 7, 3)
        np.testing.assert_array_equal(mrss.sample_vectors(dist, 4, 3, seed=4, sets=2),
                                      s[:, :4])
    with pytest.raises(ValueError, match="dist must be one of"):
        mrss.sample_vectors("cauchy", 3, 2)
    with pytest.raises(ValueError, match="d must be >= 1"):
        mrss.sample_vectors("uniform", 3, 0)


def test_nsn_vector_construction():
    # Independent construction: a_i * G_(j,i,:) from the documented draw order.
    x = mrss.sample_vectors("nsn_vector", 5, 3, seed=8, sets=2)
    raw = np.random.default_rng(8).standard_normal((5, 1 + 2 * 3))
    for j in range(2):
        np.testing.assert_array_equal(x[j], raw[:, :1] * raw[:, 1 + 3 * j:1 + 3 * (j + 1)])


def test_nsn_vector_dependency_structure():
    n = 40_000
    dep = mrss.sample_vectors("nsn_vector", n, 2, seed=1, sets=2)
    iid = mrss.sample_vectors("nsn", n, 2, seed=1)
    # Unit variance entries in both.
    assert abs(dep.var() - 1.0) < 0.05 and abs(iid.var() - 1.0) < 0.05
    # |X_i1| and |X_i2| are correlated through a_i (correlation (4/pi^2 - 4/pi^2 ...)>0.2),
    # within one vector and across the sets; independent entries are not.
    within = np.corrcoef(np.abs(dep[0, :, 0]), np.abs(dep[0, :, 1]))[0, 1]
    across = np.corrcoef(np.abs(dep[0, :, 0]), np.abs(dep[1, :, 0]))[0, 1]
    indep = np.corrcoef(np.abs(iid[:, 0]), np.abs(iid[:, 1]))[0, 1]
    assert within > 0.15 and across > 0.15 and abs(indep) < 0.03


@pytest.mark.parametrize("norm", NORMS)
def test_reported_error_formula_against_exact_sums(norm):
    """``subset_error`` (the formula every reported error uses) against the same norm
    computed with exactly rounded sums (math.fsum), and one row against a batch."""
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (9, 5))
    z = rng.uniform(-1, 1, 5)
    mask = rng.random(9) < 0.5
    r = [z[j] - math.fsum(x[mask, j]) for j in range(5)]
    exact = (max(map(abs, r)) if norm == np.inf else math.fsum(map(abs, r)) if norm == 1
             else math.sqrt(math.fsum(v * v for v in r)))
    assert mrss.subset_error(x, z, mask, norm) == pytest.approx(exact, rel=1e-14, abs=1e-15)
    rows = z - np.stack([x[mask].sum(axis=0), x[~mask].sum(axis=0)])
    batch = mrss.residual_norm(rows, norm)
    assert batch.shape == (2,) and batch[0] == mrss.subset_error(x, z, mask, norm)
    assert mrss.residual_norm(np.zeros((3, 0)), norm).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="norm must be one of"):
        mrss.residual_norm(rows, 3)
