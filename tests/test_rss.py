"""The 1-D random subset-sum engine against brute force over all subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from naive import all_subset_sums, best_subset_error
from naive import covering_radius as naive_radius

from slth import rss
from slth._numba import num_threads

TOL = 1e-12

finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------- solve

@pytest.mark.parametrize("n", [0, 1, 2, 5, 9, 12, 16])
def test_solve_matches_brute_force(n):
    rng = np.random.default_rng(n)
    values = rng.uniform(-1, 1, n)
    for target in rng.uniform(-1.5, 1.5, 8):
        r = rss.solve(values, target)
        assert r.mask.dtype == bool and r.mask.shape == (n,)
        assert r.value == rss.subset_sums(values, r.mask)       # the documented formula
        assert r.value == pytest.approx(math.fsum(values[r.mask]), rel=1e-14, abs=1e-15)
        assert r.error == abs(target - r.value)
        assert r.error <= best_subset_error(values, target) + TOL


@given(st.lists(finite, max_size=12), finite)
def test_solve_property(values, target):
    r = rss.solve(values, target)
    assert abs(r.error - best_subset_error(values, target)) <= TOL


@pytest.mark.parametrize(
    "values, target, expected",
    [
        ([], 0.3, 0.3),                       # n = 0: only the empty sum
        ([0.4], 1.0, 0.6),                    # n = 1
        ([0.2, 0.5, 0.7], -0.4, 0.4),         # all positive, negative target: empty subset
        ([0.3, 0.3, 0.3], 0.6, 0.0),          # duplicates
        ([0.0, 0.0, 0.25], 0.25, 0.0),        # zeros
        ([0.1, -0.2, 0.4], 50.0, 49.5),       # target far outside the reachable range
        ([0.1, -0.2, 0.4], -50.0, 49.8),
    ],
)
def test_solve_edge_cases(values, target, expected):
    assert rss.solve(values, target).error == pytest.approx(expected, abs=TOL)


def test_solve_n_40_agrees_with_sorted_sums_of_halves():
    # Independent check at a size brute force cannot reach: numpy enumerates each half,
    # np.searchsorted finds, for every left sum, the best right partner.
    rng = np.random.default_rng(3)
    values = rng.uniform(-1, 1, 36)
    left, right = all_subset_sums(values[:18]), np.sort(all_subset_sums(values[18:]))
    for target in rng.uniform(-1, 1, 3):
        pos = np.clip(np.searchsorted(right, target - left), 1, right.size - 1)
        best = np.minimum(np.abs(target - left - right[pos]),
                          np.abs(target - left - right[pos - 1]))
        assert rss.solve(values, target).error == pytest.approx(best.min(), abs=TOL)


@pytest.mark.parametrize("na, nb", [(0, 0), (0, 1), (3, 3), (4, 5), (2, 6)])
def test_merging_two_halves_together_equals_two_merges(na, nb):
    """The two halves merged in one loop: the sums and every merge flag as two calls,
    and the sums those of numpy's enumeration, sorted."""
    from slth.rss import kernels

    rng = np.random.default_rng(na * 10 + nb)
    va, vb = rng.uniform(-1, 1, na), rng.uniform(-1, 1, nb)
    vb[:min(na, nb)] = va[:min(na, nb)]            # equal sums: ties on both sides

    def work(k):
        return np.empty(1 << k), np.empty(1 << k), np.zeros(2 << k, np.uint8)

    (sa, ba, fa), (sb, bb, fb) = work(na), work(nb)
    a1 = kernels.sorted_subset_sums(va, sa, ba, fa).copy()
    b1 = kernels.sorted_subset_sums(vb, sb, bb, fb).copy()
    (sa2, ba2, fa2), (sb2, bb2, fb2) = work(na), work(nb)
    a2, b2 = kernels.sorted_subset_sums_pair(va, vb, sa2, ba2, fa2, sb2, bb2, fb2)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(fa, fa2)
    np.testing.assert_array_equal(fb, fb2)
    np.testing.assert_array_equal(a2, np.sort(all_subset_sums(va)))
    np.testing.assert_array_equal(b2, np.sort(all_subset_sums(vb)))


# ---------------------------------------------------------------- solve_many

@pytest.mark.parametrize("n", [0, 1, 7, 14])
def test_solve_many_rows_match_brute_force(n):
    rng = np.random.default_rng(10 + n)
    values = rng.uniform(-1, 1, (130, n))   # more rows than one parallel chunk
    targets = rng.uniform(-1, 1, 130)
    masks, errors = rss.solve_many(values, targets)
    assert masks.shape == (130, n) and masks.dtype == bool
    np.testing.assert_array_equal(errors, np.abs(targets - np.where(masks, values, 0).sum(1)))
    best = [best_subset_error(v, t) for v, t in zip(values, targets, strict=True)]
    np.testing.assert_allclose(errors, best, atol=TOL, rtol=0)


def test_solve_many_shared_values_match_brute_force():
    rng = np.random.default_rng(5)
    values = rng.normal(size=15)
    targets = rng.uniform(-2, 2, 200)
    masks, errors = rss.solve_many(values, targets)
    sums = all_subset_sums(values)
    best = np.abs(targets[:, None] - sums[None, :]).min(axis=1)
    np.testing.assert_allclose(errors, best, atol=TOL, rtol=0)
    np.testing.assert_array_equal(errors, np.abs(targets - rss.subset_sums(values, masks)))
    np.testing.assert_allclose(errors, np.abs(targets - (masks * values).sum(1)), rtol=0,
                               atol=1e-14)


def test_solve_many_agrees_with_solve_and_is_thread_independent():
    rng = np.random.default_rng(8)
    values = rng.uniform(-1, 1, (300, 20))
    targets = rng.uniform(-1, 1, 300)
    with num_threads(1):
        serial = rss.solve_many(values, targets)
    parallel = rss.solve_many(values, targets, threads=2)
    np.testing.assert_array_equal(serial.masks, parallel.masks)
    np.testing.assert_array_equal(serial.errors, parallel.errors)
    for r in range(0, 300, 37):
        one = rss.solve(values[r], targets[r])
        assert one.error == pytest.approx(serial.errors[r], abs=TOL)
        if np.array_equal(one.mask, serial.masks[r]):     # one formula: the same error
            assert one.error == serial.errors[r]


# ---------------------------------------------------------------- covering radius

@pytest.mark.parametrize("n", [0, 1, 4, 10, 16])
@pytest.mark.parametrize("interval", [(-1.0, 1.0), (0.3, 0.9), (-2.5, -1.0)])
def test_covering_radius_matches_brute_force(n, interval):
    rng = np.random.default_rng(n)
    values = rng.uniform(-1, 1, n)
    assert rss.covering_radius(values, interval) == pytest.approx(
        naive_radius(values, *interval), abs=TOL)


@given(st.lists(finite, max_size=11),
       st.tuples(finite, st.floats(0.01, 4.0)).map(lambda p: (p[0], p[0] + p[1])))
def test_covering_radius_property(values, interval):
    assert rss.covering_radius(values, interval) == pytest.approx(
        naive_radius(values, *interval), abs=1e-10)


def test_covering_radius_closed_forms():
    assert rss.covering_radius([]) == 1.0                       # only 0 against [-1, 1]
    assert rss.covering_radius([0.2, 0.5], (2.0, 3.0)) == pytest.approx(2.3)  # not containing 0
    # Sums of (-1, 1/2, 1/4, 1/8) are the grid -1, -7/8, ..., 7/8: the worst point is z = 1.
    assert rss.covering_radius([-1.0, 0.5, 0.25, 0.125]) == 0.125
    assert rss.covering_radius([-1.0, 0.5, 0.25, 0.125], (-1.0, 0.875)) == 0.0625


def test_covering_radius_prunes_far_sums():
    # 40 values, most far outside the interval: the reachable sums fit easily.
    values = np.concatenate([np.full(30, 10.0), np.random.default_rng(0).uniform(-1, 1, 12)])
    assert rss.covering_radius(values) == pytest.approx(
        naive_radius(values[30:], -1.0, 1.0), abs=TOL)


# ---------------------------------------------------------------- min_samples

@pytest.mark.parametrize("dist, eps", [("uniform", 0.05), ("normal", 0.02),
                                       ("nsn", 0.05), ("uniform_product", 0.05)])
def test_min_samples_is_the_first_covering_prefix(dist, eps):
    n = rss.min_samples(eps, dist, trials=6, seed=11, progress=False)
    for t, k in enumerate(n):
        stream = rss.trial_stream(dist, 11, t, int(k))
        assert rss.covering_radius(stream[:k]) <= eps
        assert rss.covering_radius(stream[:k - 1]) > eps


def test_min_samples_exact_where_window_alone_is_not():
    # Large values leave and re-enter the window: the first covering prefix needs them.
    n = rss.min_samples(0.1, "normal", trials=40, seed=2, interval=(-0.5, 0.5), progress=False)
    for t, k in enumerate(n):
        stream = rss.trial_stream("normal", 2, t, int(k))
        assert rss.covering_radius(stream[:k], (-0.5, 0.5)) <= 0.1 < rss.covering_radius(
            stream[:k - 1], (-0.5, 0.5))


def test_min_samples_reproducible_and_thread_independent():
    a = rss.min_samples(1e-3, trials=12, seed=4, threads=1, progress=False)
    b = rss.min_samples(1e-3, trials=12, seed=4, threads=2, progress=False)
    c = rss.min_samples(1e-3, trials=20, seed=4, progress=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c[:12])   # trial t's stream does not depend on trials
    assert a.min() >= np.log2(1 / 1e-3)        # counting lower bound


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, match", [
    (lambda: rss.solve([0.1, np.nan], 0.0), "values must be finite"),
    (lambda: rss.solve([0.1, 0.2], np.inf), "target must be finite"),
    (lambda: rss.solve([[0.1, 0.2]], 0.0), "values must be 1-D"),
    (lambda: rss.solve_many(np.zeros((3, 2)), [0.1, 0.2]), "3 rows but targets has 2"),
    (lambda: rss.solve_many(np.zeros((2, 2, 2)), [0.1, 0.2]), "values must be 1-D or 2-D"),
    (lambda: rss.solve_many([0.1], [[0.1]]), "targets must be 1-D"),
    (lambda: rss.covering_radius([0.1], (1.0, 0.0)), "interval must satisfy lo < hi"),
    (lambda: rss.covering_radius([np.inf]), "values must be finite"),
    (lambda: rss.min_samples(0.0), "eps must lie in the open interval"),
    (lambda: rss.min_samples(-0.1), "eps must lie in the open interval"),
    (lambda: rss.min_samples(0.1, "cauchy"), "dist must be one of"),
    (lambda: rss.min_samples(0.1, trials=0), "trials must be >= 1"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_memory_cap_refuses_before_allocating():
    with pytest.raises(ValueError, match=r"values: exact meet-in-the-middle over n=54.*max_bytes"):
        rss.solve(np.ones(54), 0.5)
    with pytest.raises(ValueError, match="n <= 62"):
        rss.solve(np.ones(63), 0.5, max_bytes=2**62)
    with pytest.raises(ValueError, match="values: .*max_bytes"):
        rss.solve_many(np.ones((4, 30)), np.zeros(4), max_bytes=2**20)
    with pytest.raises(ValueError, match=r"values: enumerating .* n=40"):
        rss.covering_radius(np.random.default_rng(0).uniform(-0.1, 0.1, 40), max_bytes=2**20)
    with pytest.raises(ValueError, match="eps: covering"):
        rss.min_samples(1e-9, trials=1, progress=False)
    with pytest.raises(ValueError, match="max_n"):
        rss.min_samples(1e-3, trials=2, max_n=5, progress=False)


def test_subset_sums_add_in_index_order():
    """``subset_sums`` against sums formed value by value in index order (Python floats),
    shared and per-row values alike; a shape mismatch is refused."""
    rng = np.random.default_rng(21)
    values = rng.uniform(-1, 1, (50, 13))
    masks = rng.random((50, 13)) < 0.5

    def in_order(row, mask):
        total = 0.0
        for v, keep in zip(row.tolist(), mask.tolist(), strict=True):
            if keep:
                total += v
        return total

    got = rss.subset_sums(values, masks, threads=2)
    assert got.tolist() == [in_order(v, m) for v, m in zip(values, masks, strict=True)]
    shared = rss.subset_sums(values[0], masks)
    assert shared.tolist() == [in_order(values[0], m) for m in masks]
    with pytest.raises(ValueError, match="do not match"):
        rss.subset_sums(values[:, :5], masks)
