"""CNN tickets (unstructured and structured): exact pruning, structure, compaction,
recorded errors against brute force, certified vs empirical error, bounds, bad input."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from naive import best_subset_error, best_vector_subset, cnn_forward_loop, used_neurons_loop

from slth import bounds
from slth.nets import CNN, random_cnn_target, random_target
from slth.tickets import cnn_structured, cnn_unstructured, pensia
from slth.tickets.cnn_structured import ToleranceWarning, build_bytes, staged_mrss
from slth.verify import certified_error, check, check_cnn, cnn_certified_error

EPS, DELTA = 0.2, 0.1


def _target(k=3, seed=0, channels=(1, 2, 2)):
    return random_cnn_target(list(channels), k, padding="same" if k % 2 else 1, seed=seed)


@pytest.fixture(scope="module")
def unstructured():
    return cnn_unstructured(_target(3), eps=EPS, delta=DELTA, seed=0)


@pytest.fixture(scope="module")
def structured():
    return cnn_structured(_target(2), eps=EPS, delta=DELTA, seed=0, n=400)


@pytest.fixture(scope="module")
def structured_3x3():
    return cnn_structured(_target(3), eps=EPS, delta=DELTA, seed=0, n=150)


TICKETS = ["unstructured", "structured", "structured_3x3"]


def _x(shape=(4, 1, 5, 5), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


@pytest.mark.parametrize("name", TICKETS)
def test_pruned_is_source_times_mask(name, request):
    t = request.getfixturevalue(name)
    src = t.source
    masks = t.masks
    pruned = t.network().parameters()
    assert len(masks) == len(src.parameters()) == len(pruned) == 2 * t.target.depth
    for p, m, q in zip(src.parameters(), masks, pruned, strict=True):
        assert m.dtype == bool and m.shape == p.shape
        assert np.array_equal(p * m, q)
    assert t.kept == sum(int(m.sum()) for m in masks)
    assert t.sparsity == pytest.approx(1 - t.kept / src.n_params)
    # the forward pass is the loop reference on the pruned kernels
    np.testing.assert_allclose(t(_x()), cnn_forward_loop(pruned, t.spec.paddings, _x()),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["structured", "structured_3x3"])
def test_structured_masks_keep_or_remove_whole_kernels(name, request):
    t = request.getfixturevalue(name)
    for m in t.masks:
        per = m.reshape(m.shape[0], m.shape[1], -1)
        assert np.all(per.all(axis=2) | ~per.any(axis=2))
    s = t.structure()
    assert s["structured"]
    # independent count of removed kernels and filters
    total = sum(m.shape[0] * m.shape[1] for m in t.masks)
    removed = sum(int((~m.any(axis=(2, 3))).sum()) for m in t.masks)
    assert s["kernels_removed"] == pytest.approx(removed / total)
    hidden = [m.any(axis=(1, 2, 3)) & nxt.any(axis=(0, 2, 3))
              for m, nxt in zip(t.masks[:-1], t.masks[1:], strict=True)]
    assert s["filters_removed"] == pytest.approx(
        1 - sum(h.sum() for h in hidden) / sum(h.size for h in hidden))
    assert s["filters_removed"] > 0.5


def test_unstructured_masks_are_not_structured(unstructured):
    assert not unstructured.structure()["structured"]


@pytest.mark.parametrize("name", TICKETS)
def test_compact_equals_masked(name, request):
    t = request.getfixturevalue(name)
    small = t.compact()
    assert sum(small.channels) < sum(t.widths)
    assert small.n_params < t.spec.n_params
    x = _x((6, 1, 5, 5), seed=3)
    np.testing.assert_allclose(small(x), t(x), rtol=1e-12, atol=1e-13)


def _effective(t, l):
    """A_jc, B_jc recomputed by loops over the kept channels."""
    m = t.params["block"]
    U, V = t.weights[2 * l], t.weights[2 * l + 1]
    c_out, c_in = t.target.kernels[l].shape[:2]
    A = np.zeros(t.target.kernels[l].shape)
    B = np.zeros_like(A)
    for s in range(U.shape[0]):
        u = U[s, s // m, 0, 0]
        for j in range(c_out):
            if u > 0:
                A[j, s // m] += u * V[j, s]
            elif u < 0:
                B[j, s // m] += -u * V[j, s]
    return A, B


@pytest.mark.parametrize("name", TICKETS)
def test_used_channels_match_a_naive_loop(name, request):
    t = request.getfixturevalue(name)
    links = [m.any(axis=(2, 3)) for m in t.masks]
    want = used_neurons_loop(links, [None] * len(links), [0.0] * (len(links) - 1))
    used = t.used_neurons()
    assert all(np.array_equal(u, w) for u, w in zip(used, want, strict=True))
    assert t.used_widths == tuple(int(w.sum()) for w in want)
    assert sum(t.used_widths) < sum(t.widths)
    params = sum(int(want[l + 1].sum()) * int(want[l].sum()) * m.shape[2] * m.shape[3]
                 for l, m in enumerate(t.masks))
    kept = sum(int(m[np.ix_(want[l + 1], want[l])].sum()) for l, m in enumerate(t.masks))
    assert t.used_params == params and kept == t.kept
    assert t.used_sparsity == pytest.approx(1 - kept / params)
    hidden = sum(t.widths[1:-1])
    assert t.structure()["filters_removed"] == pytest.approx(
        1 - sum(t.used_widths[1:-1]) / hidden)
    # the pruned network on the used channels computes the same function
    pruned = t.network()
    small = CNN([k[np.ix_(used[l + 1], used[l])] for l, k in enumerate(pruned.kernels)],
                None, pruned.activations, pruned.paddings, pruned.pool)
    assert small.channels == t.used_widths
    np.testing.assert_allclose(small(_x()), t(_x()), rtol=0, atol=1e-12)
    assert t.summary()["used_widths"] == "-".join(map(str, t.used_widths))


def test_cnn_tickets_record_their_domain(unstructured, structured):
    assert unstructured.domain == (1.0, "inf") == structured.domain
    assert unstructured.params["norm"] == "inf" == structured.params["norm"]
    t = cnn_unstructured(_target(3), eps=EPS, delta=DELTA, seed=0, n=3, radius=0.5)
    assert t.domain == (0.5, "inf")
    assert check_cnn(t, samples=32, image_size=5).radius == 0.5
    assert cnn_certified_error(t)[0] == cnn_certified_error(t, 0.5)[0] \
        < cnn_certified_error(t, 1.0)[0]
    r = check(t, radius=1.0, samples=32)
    assert r.domain_note == ("checked on the max-norm ball of radius 1; the ticket was built "
                             "for radius 0.5") == r.summary()["domain_note"]
    with pytest.raises(ValueError, match="norm must be 'inf'"):
        check(t, norm="l2")
    # files that predate the record: CNN tickets were built for the max-norm ball
    old = dataclasses.replace(unstructured, params={
        k: v for k, v in unstructured.params.items() if k not in ("radius", "norm")})
    assert old.domain == (1.0, "inf") and check(old, samples=32).domain_note == ""


def test_cnn_source_activation_must_be_the_targets(unstructured):
    other = CNN(unstructured.target.kernels, None, "tanh", unstructured.target.paddings,
                unstructured.target.pool)
    with pytest.raises(ValueError, match="source activation 'relu'.*target's hidden "
                                         "activation 'tanh'"):
        dataclasses.replace(unstructured, target=other)


@pytest.mark.parametrize("name", TICKETS)
def test_recorded_errors_are_the_achieved_ones(name, request):
    t = request.getfixturevalue(name)
    for l in range(t.target.depth):
        A, B = _effective(t, l)
        K = t.target.kernels[l]
        e_pos, e_neg = t.errors[f"layer{l + 1}_pos"], t.errors.get(f"layer{l + 1}_neg")
        if e_neg is None:               # a later layer's dead side: not solved, none kept
            assert l > 0 and not B.any()
        if t.params["construction"] == "cnn_unstructured":
            np.testing.assert_allclose(e_pos, np.abs(A - K), atol=1e-12)
            if e_neg is not None:
                np.testing.assert_allclose(e_neg, np.abs(B + K), atol=1e-12)
        else:
            np.testing.assert_allclose(e_pos, np.abs(A - K).max(axis=(2, 3)), atol=1e-12)
            if e_neg is not None:
                np.testing.assert_allclose(e_neg, np.abs(B + K).max(axis=(2, 3)), atol=1e-12)


def test_unstructured_errors_are_optimal_by_brute_force():
    # n = 5: every half block has at most 10 candidates (below max_values): exact search
    t = cnn_unstructured(_target(3, seed=2), eps=EPS, delta=DELTA, seed=4, n=5)
    src = t.source
    m = t.params["block"]
    for l in range(2):
        U, V = src.kernels[2 * l], src.kernels[2 * l + 1]
        u = np.array([U[s, s // m, 0, 0] for s in range(U.shape[0])])
        K = t.target.kernels[l]
        for j, c, p, q in [(0, 0, 0, 0), (1, K.shape[1] - 1, 1, 2), (0, 0, 2, 1)]:
            block = np.arange(c * m, (c + 1) * m)
            prods = u[block] * V[j, block, p, q]
            pos = prods[u[block] > 0]
            neg = prods[u[block] < 0]
            assert t.errors[f"layer{l + 1}_pos"][j, c, p, q] == pytest.approx(
                best_subset_error(pos, K[j, c, p, q]), abs=1e-12)
            if l == 0:                  # later layers read ReLU outputs: no negative side
                assert t.errors[f"layer{l + 1}_neg"][j, c, p, q] == pytest.approx(
                    best_subset_error(neg, K[j, c, p, q]), abs=1e-12)
            else:
                assert f"layer{l + 1}_neg" not in t.errors


def test_unstructured_later_layers_solve_and_keep_only_live_channels():
    """Intermediate channels of target layers >= 2 read ReLU outputs (>= 0): those with
    ``u < 0`` output zero. None is kept. The negative side solved as in the first layer
    (what a build solving both sides would keep) adds kept weights and changes neither
    the outputs nor the certified bound: those channels are dead."""
    from slth.tickets.search import UnivariateLayer

    target = _target(3, seed=1, channels=(2, 3, 2))
    t = cnn_unstructured(target, eps=EPS, delta=DELTA, seed=3, n=6)
    assert sorted(t.errors) == ["layer1_neg", "layer1_pos", "layer2_pos"]
    src, m = t.source, t.params["block"]
    U, V = src.kernels[2], src.kernels[3]
    u = np.array([U[s, s // m, 0, 0] for s in range(U.shape[0])])
    m1, m2 = t.masks[2], t.masks[3]
    assert not m1[u < 0].any() and not m2[:, u < 0].any()
    kept = np.flatnonzero(m1.any(axis=(1, 2, 3)))
    assert np.array_equal(kept, np.flatnonzero(m2.any(axis=(0, 2, 3))))
    assert (u[kept] > 0).all()           # live kept channels: all kept channels
    # both sides solved, as in the first layer: the same positive side, plus the dead
    K = target.kernels[1]
    c_out, c_in, k, _ = K.shape
    both = UnivariateLayer(u, c_in, m, t.params["max_values"], homogeneous=True,
                           tol=t.params["weight_eps"])
    rows, cols, _, (e_pos, _) = both.solve_rows(
        V.transpose(0, 2, 3, 1).reshape(c_out * k * k, m * c_in),
        K.transpose(0, 2, 3, 1).reshape(c_out * k * k, c_in), 0, {})
    np.testing.assert_array_equal(
        e_pos.reshape(c_out, k, k, c_in).transpose(0, 3, 1, 2), t.errors["layer2_pos"])
    assert rows[1].size and (u[cols[1]] < 0).all()
    dead = np.zeros((c_out * k * k, m * c_in), dtype=bool)
    dead[rows[1], cols[1]] = True
    masks = list(t.masks)
    masks[3] = m2 | dead.reshape(c_out, k, k, m * c_in).transpose(0, 3, 1, 2)
    masks[2] = m1.copy()
    s = np.flatnonzero(masks[3].any(axis=(0, 2, 3)))
    masks[2][s, s // m, 0, 0] = True
    aug = dataclasses.replace(t, kernel_masks=tuple(masks), weights=tuple(
        p * q for p, q in zip(src.kernels, masks, strict=True)))
    assert aug.kept == t.kept + rows[1].size + int((u[s] < 0).sum()) > t.kept
    assert aug.compact().channels[3] > t.compact().channels[3] == t.used_widths[3]
    x = _x((8, 2, 6, 6), seed=5) * 2.0
    np.testing.assert_allclose(aug(x), t(x), rtol=0, atol=1e-12)
    assert cnn_certified_error(aug)[0] == pytest.approx(cnn_certified_error(t)[0], rel=1e-12)
    r = check_cnn(t, samples=64, image_size=5)
    assert r.ok and r.empirical <= r.certified


def _staged_problems(seed, P=3, k=10, D=4):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(k)
    x = u[None, :, None] * rng.standard_normal((P, k, D))
    z = rng.uniform(-0.3, 0.3, (P, D))
    valid = np.ones((P, k), bool)
    valid[1, 7:] = False
    return x, valid, z


@pytest.mark.parametrize("norm", [1, np.inf])
def test_staged_mrss_one_stage_is_exact_and_stages_never_hurt(norm):
    x, valid, z = _staged_problems(5)
    r = staged_mrss(x, valid, z, 0.0, group=16, norm=norm, refine=0)
    assert r.stages == 1 and r.refinements == 0
    for i in range(3):
        best, _ = best_vector_subset(x[i][valid[i]], z[i], ord=norm)
        assert r.errors[i] == pytest.approx(best, abs=1e-12)
        assert not np.any(r.masks[i] & ~valid[i])
    # several small stages: never worse than the empty subset, errors recomputed
    r = staged_mrss(x, valid, z, 0.0, group=3, norm=norm, refine=0)
    assert r.stages > 1
    res = z - np.einsum("pk,pkd->pd", r.masks, x)
    np.testing.assert_allclose(r.residuals, res, atol=1e-15)
    np.testing.assert_allclose(r.errors, np.linalg.norm(res, ord=norm, axis=1))
    assert np.all(r.errors <= np.linalg.norm(z, ord=norm, axis=1) + 1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_staged_mrss_refinement_never_hurts_and_is_bounded_by_brute_force(seed):
    """Staged groups of 3 over 14 candidates, then windows of 6: the refined l1 error is
    never above the staged one and never below the brute-force minimum over all subsets;
    a window over every candidate reaches that minimum."""
    x, valid, z = _staged_problems(seed, P=4, k=14, D=3)
    staged = staged_mrss(x, valid, z, 0.0, group=3, refine=0)
    refined = staged_mrss(x, valid, z, 0.0, group=3, refine=6)
    whole = staged_mrss(x, valid, z, 0.0, group=3, refine=14)
    assert refined.refinements >= 1
    for i in range(4):
        best, _ = best_vector_subset(x[i][valid[i]], z[i], ord=1)
        assert best - 1e-12 <= refined.errors[i] <= staged.errors[i]
        assert whole.errors[i] == pytest.approx(best, abs=1e-12)
        assert not np.any(refined.masks[i] & ~valid[i])
        assert refined.errors[i] == pytest.approx(
            np.abs(z[i] - x[i][refined.masks[i]].sum(axis=0)).sum(), abs=1e-12)


def test_staged_mrss_stops_at_its_tolerance():
    x, valid, z = _staged_problems(1, P=4, k=30, D=2)
    tol = np.array([0.0, 0.5, 0.05, 10.0])
    r = staged_mrss(x, valid, z, tol, group=4, refine=6)
    assert not r.masks[3].any() and r.errors[3] == pytest.approx(np.abs(z[3]).sum())
    assert r.errors[1] <= 0.5


def test_structured_keeps_no_dead_channel_in_later_layers():
    """Later layers read ReLU outputs: a channel with u < 0 would output 0, so none is
    kept and only the positive side is solved (and recorded)."""
    t = cnn_structured(_target(3, channels=(1, 2, 3, 2)), eps=EPS, delta=DELTA, seed=2,
                       n=30)
    assert list(t.errors) == ["layer1_pos", "layer1_neg", "layer2_pos", "layer3_pos"]
    m = t.params["block"]
    for l in range(t.target.depth):
        U = t.source.kernels[2 * l]
        c_mid = U.shape[0]
        u = U[np.arange(c_mid), np.arange(c_mid) // m, 0, 0]
        kept = t.kernel_masks[2 * l + 1].any(axis=(0, 2, 3))
        assert np.array_equal(kept, t.kernel_masks[2 * l].any(axis=(1, 2, 3)))
        assert kept[u < 0].any() == (l == 0)
    assert t.params["problems"] == 2 * 2 + 3 * 2 + 2 * 3


def test_structured_build_solves_each_problem_as_staged_mrss_does():
    """The blockwise build gives the masks of one staged_mrss call over the whole layer
    (candidates gathered from the dense source)."""
    target = _target(2, channels=(1, 3, 2))
    t = cnn_structured(target, eps=EPS, delta=DELTA, seed=5, n=25, group=6, refine=8)
    m = t.params["block"]
    src = t.source
    for l, side in [(0, 1), (0, -1), (1, 1)]:
        K = target.kernels[l]
        c_out, c_in = K.shape[:2]
        u = src.kernels[2 * l][np.arange(m * c_in), np.arange(m * c_in) // m, 0, 0]
        V = src.kernels[2 * l + 1].reshape(c_out, m * c_in, -1)
        for c in range(c_in):
            s = c * m + np.flatnonzero(side * u[c * m:(c + 1) * m] > 0)
            x = V[:, s] * u[s][None, :, None]
            r = staged_mrss(x, np.ones(x.shape[:2], bool), K[:, c].reshape(c_out, -1),
                            t.params["problem_tol"][l], group=6, refine=8)
            assert np.array_equal(r.masks, t.kernel_masks[2 * l + 1][:, s].all(axis=(2, 3)))
            key = f"layer{l + 1}_{'pos' if side > 0 else 'neg'}"
            np.testing.assert_allclose(t.errors[key][:, c], np.abs(r.residuals).max(axis=1))


def test_structured_warns_when_problems_end_above_tolerance():
    target = _target(3)
    with pytest.warns(ToleranceWarning, match=r"\d+ of 8 subset-sum problems ended above"):
        t = cnn_structured(target, eps=EPS, delta=DELTA, seed=0, n=4)
    p = t.params
    assert p["problems"] == 8 and 0 < p["above_tolerance"] <= 8 and p["worst_excess"] > 1
    # the report counts them too
    note = check_cnn(t, samples=16, image_size=4, certificates=["interval"]).above_tolerance
    assert note.startswith(f"{p['above_tolerance']} of 8 subset-sum problems")
    # 1 x 1 kernels: scalar subset sums over 50 candidates reach the tolerance
    with warnings.catch_warnings():
        warnings.simplefilter("error", ToleranceWarning)
        t = cnn_structured(_target(1), eps=EPS, delta=DELTA, seed=0, n=50)
    assert t.params["above_tolerance"] == 0 and t.params["worst_excess"] <= 1
    assert check_cnn(t, samples=16, image_size=4, certificates=["interval"]).above_tolerance == ""


@pytest.mark.parametrize("refine", [0, 24])
def test_structured_memory_estimate_covers_the_build(refine):
    """The estimate is at least the build's traced peak, and not far above it."""
    target = _target(3, channels=(1, 3, 4))
    cnn_structured(target, eps=EPS, delta=DELTA, seed=0, n=8)            # compile first
    n = 600
    tracemalloc.start()
    t = cnn_structured(target, eps=EPS, delta=DELTA, seed=0, n=n, refine=refine,
                       progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    m = 2 * n
    us = [t.source.kernels[2 * l][np.arange(m * c), np.arange(m * c) // m, 0, 0]
          for l, c in enumerate(target.channels[:-1])]
    kk = [int((u.reshape(-1, m) > 0).sum(axis=1).max()) for u in us]
    kk[0] = max(kk[0], int((us[0].reshape(-1, m) < 0).sum(axis=1).max()))
    est = build_bytes(t.spec, m, kk, 20, refine)
    assert peak <= est <= 3 * peak


@pytest.mark.parametrize("name", TICKETS)
def test_empirical_below_certified(name, request):
    t = request.getfixturevalue(name)
    r = check(t, samples=96, seed=1)
    assert r.norm == "inf" and r.construction == t.params["construction"]
    assert 0.0 <= r.empirical <= r.certified
    assert r.formula_widths == bounds.cnn_widths(t.target.channels, t.params["formula_n"])


@pytest.mark.parametrize("build,k", [(cnn_unstructured, 3), (cnn_structured, 2),
                                     (cnn_structured, 1)])
@pytest.mark.parametrize("seed", [1, 2])
def test_formula_width_is_certified_eps_close(build, k, seed):
    t = build(_target(k, seed=seed), eps=EPS, delta=DELTA, seed=seed)
    assert t.at_formula_width
    r = check_cnn(t, samples=64, seed=seed, image_size=5)
    assert r.ok and r.meets_eps
    assert r.empirical <= r.certified <= EPS


def test_certificate_is_tight_for_one_scalar_layer():
    # one 1 x 1 layer on 1 x 1 images: the error is eA relu(x) + eB relu(-x), whose sup
    # over [-r, r] is r max(|eA|, |eB|), exactly the certificate; check it on a grid
    target = CNN([np.array([[[[0.37]]]])])
    for build in (cnn_unstructured, cnn_structured):
        t = build(target, eps=EPS, delta=DELTA, seed=3, n=6)
        x = np.linspace(-1.5, 1.5, 3001).reshape(-1, 1, 1, 1)
        sup = float(np.abs(t.target(x) - t(x)).max())
        cert, _ = cnn_certified_error(t, radius=1.5)
        assert sup == pytest.approx(cert, rel=3e-9, abs=1e-12)


def test_checker_fails_too_few_channels():
    t = cnn_structured(_target(3), eps=EPS, delta=DELTA, seed=0, n=3)
    r = check_cnn(t, samples=64, image_size=5)
    assert not t.at_formula_width
    assert r.certified > EPS and not r.meets_eps
    assert r.ok                     # consistent, and not at the formula's width


def test_checker_fails_a_bad_ticket(unstructured):
    # the same pruned network presented as a ticket of another target
    other = _target(3, seed=9)
    bad = dataclasses.replace(unstructured, target=other)
    r = check_cnn(bad, samples=128, image_size=5)
    assert r.at_formula_width
    assert r.empirical > EPS and r.certified >= r.empirical
    assert not r.meets_eps and not r.ok
    # a 1 x 1 weight outside its channel's block breaks the layout the certificate needs
    two = cnn_unstructured(_target(3, channels=(2, 2, 2)), eps=EPS, delta=DELTA, seed=0, n=3)
    ws = list(two.weights)
    w0 = ws[0].copy()
    w0[0, 1, 0, 0] = 0.5             # channel 0 (block of input 0) reads input 1
    ws[0] = w0
    with pytest.raises(ValueError, match="outside the input block"):
        cnn_certified_error(dataclasses.replace(two, weights=tuple(ws)))
    with pytest.raises(ValueError, match="do not match the target"):
        cnn_certified_error(dataclasses.replace(two, target=_target(3)))


def test_verify_dispatch_and_norms(unstructured):
    r = check(unstructured, samples=32)
    assert r.norm == "inf"
    with pytest.raises(ValueError, match="'inf' for CNN"):
        certified_error(unstructured, norm="l2")
    mlp_ticket = pensia(random_target([2, 2], seed=0), eps=0.2, delta=0.2, seed=0, n=2)
    with pytest.raises(TypeError, match="CNN ticket"):
        check_cnn(mlp_ticket)


@pytest.mark.parametrize("build", [cnn_unstructured, cnn_structured])
def test_same_seed_same_masks(build):
    a = build(_target(3), eps=EPS, delta=DELTA, seed=7, n=40, threads=1)
    b = build(_target(3), eps=EPS, delta=DELTA, seed=7, n=40, threads=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks, strict=True))
    c = build(_target(3), eps=EPS, delta=DELTA, seed=8, n=40)
    assert not all(np.array_equal(x, y) for x, y in zip(a.masks, c.masks, strict=True))


def test_same_seed_same_masks_in_another_process():
    code = ("import hashlib, numpy as np; from slth.nets import random_cnn_target; "
            "from slth.tickets import cnn_structured; "
            "t = cnn_structured(random_cnn_target([1, 2, 2], 3, padding='same', seed=0), "
            "eps=0.2, delta=0.1, seed=7, n=40); "
            "print(hashlib.sha256(b''.join(np.packbits(m).tobytes() for m in t.masks))"
            ".hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    import hashlib

    t = cnn_structured(_target(3), eps=EPS, delta=DELTA, seed=7, n=40)
    here = hashlib.sha256(b"".join(np.packbits(m).tobytes() for m in t.masks)).hexdigest()
    assert out == here


def test_bounds_expressions_match_functions():
    ch, k, eps, delta = (3, 3, 3), 3, 0.1, 0.01
    e = bounds.cnn_weight_eps(ch, k, eps)
    assert 1.0 * ((1 + 3 * 9 * e) ** 2 - 1) == pytest.approx(eps)
    expr = bounds.cnn_unstructured_n_expr()
    vals = {"c": 3, "k": 3, "L": 2, "epsilon": eps, "delta": delta, "C": 3, "r": 1}
    sym = {s: vals[s.name] for s in expr.free_symbols}
    assert bounds.cnn_unstructured_n(ch, k, eps, delta) == int(np.ceil(float(expr.subs(sym))
                                                                        - 1e-9))
    expr = bounds.cnn_structured_channels_expr()
    eta = min(e, delta / bounds.cnn_problems(ch, k, structured=True))
    vals = {"D": 9, "eta": eta, "C": 3, "a": 3}
    sym = {s: vals[s.name] for s in expr.free_symbols}
    assert bounds.cnn_structured_channels(ch, k, eps, delta) == int(
        np.ceil(float(expr.subs(sym)) - 1e-9))
    # smaller eps, larger formula n
    assert bounds.cnn_unstructured_n(ch, k, 0.01, 0.5) > bounds.cnn_unstructured_n(
        ch, k, 0.1, 0.5)
    assert bounds.cnn_structured_channels(ch, 1, eps, delta) < bounds.cnn_structured_channels(
        ch, 3, eps, delta)
    with pytest.raises(ValueError, match="kernel_sizes"):
        bounds.cnn_weight_eps((1, 2, 2), (3,), eps)


@pytest.mark.parametrize("build", [cnn_unstructured, cnn_structured])
def test_bad_input(build):
    good = _target(3)
    with pytest.raises(TypeError, match="slth.nets.CNN"):
        build(random_target([2, 2], seed=0), eps=EPS, delta=DELTA)
    with pytest.raises(ValueError, match="activation must be 'relu'"):
        build(CNN(good.kernels, None, "tanh", 1), eps=EPS, delta=DELTA)
    with pytest.raises(ValueError, match=r"biases\[0\] is non-zero"):
        build(CNN(good.kernels, [np.ones(2), None], "relu", 1), eps=EPS, delta=DELTA)
    with pytest.raises(ValueError, match="head"):
        build(CNN(good.kernels, None, "relu", 1, pool="avg", head=np.ones((1, 2))),
              eps=EPS, delta=DELTA)
    big = CNN([2 * k for k in good.kernels], None, "relu", 1)
    with pytest.raises(ValueError, match="l1 norm"):
        build(big, eps=EPS, delta=DELTA, n=4)
    t = build(big, eps=EPS, delta=DELTA, n=4, check_assumptions=False)
    assert t.params["assumption_violations"]
    assert check_cnn(t, samples=8, image_size=5).assumption_violations
    if build is cnn_unstructured:          # at the formula's width, a violation is not ok
        t = build(big, eps=EPS, delta=DELTA, check_assumptions=False)
        r = check_cnn(t, samples=8, image_size=5)
        assert t.at_formula_width and not r.ok
    with pytest.raises(ValueError, match="eps"):
        build(good, eps=1.5, delta=DELTA)
    with pytest.raises(ValueError, match="n must be >= 1"):
        build(good, eps=EPS, delta=DELTA, n=0)
    with pytest.raises(TypeError, match="seed"):
        build(good, eps=EPS, delta=DELTA, n=2, seed=-1)


def test_bad_structured_options_and_memory():
    good = _target(3)
    with pytest.raises(ValueError, match="group"):
        cnn_structured(good, eps=EPS, delta=DELTA, n=4, group=40)
    with pytest.raises(ValueError, match="method"):
        cnn_structured(good, eps=EPS, delta=DELTA, n=4, method="milp")
    with pytest.raises(ValueError, match="needs about"):
        cnn_structured(random_cnn_target([1, 8, 16], 3, seed=0), eps=0.1, delta=0.01)
    with pytest.raises(ValueError, match="dist"):
        cnn_unstructured(good, eps=EPS, delta=DELTA, n=4, dist="nsn")


def test_pooling_is_copied_and_certified():
    tg = random_cnn_target([1, 2, 2], 3, padding="same", pool="max", seed=4)
    t = cnn_unstructured(tg, eps=EPS, delta=DELTA, seed=4, n=8)
    assert t.network().pool == "max" and t.compact().pool == "max"
    out = t(_x())
    assert out.shape == (4, 2)
    r = check_cnn(t, samples=64, image_size=5)
    assert r.empirical <= r.certified


@pytest.mark.parametrize("name", ["unstructured", "structured_3x3"])
def test_save_and_load_round_trip(name, request, tmp_path):
    from slth.tickets import load

    t = request.getfixturevalue(name)
    path = tmp_path / "t.npz"
    t.save(path)
    u = load(path)
    assert type(u) is type(t) and u.params == t.params
    assert all(np.array_equal(a, b) for a, b in zip(t.weights, u.weights, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(t.masks, u.masks, strict=True))
    assert all(np.array_equal(t.errors[k], u.errors[k]) for k in t.errors)
    x = _x()
    assert np.array_equal(u(x), t(x))
    assert cnn_certified_error(u)[0] == cnn_certified_error(t)[0]


def test_cli_builds_and_verifies_cnn_tickets(tmp_path, capsys):
    import json

    from slth.cli import main

    out = tmp_path / "c.npz"
    assert main(["ticket", "build", "--construction", "cnn_unstructured", "--widths", "1,2",
                 "--kernel-size", "3", "--eps", "0.2", "--delta", "0.1", "--out", str(out),
                 "--json", "--no-progress"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["construction"] == "cnn_unstructured" and built["n"] == built["formula_n"]
    assert main(["verify", str(out), "--samples", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["norm"] == "inf" and report["certified"] <= 0.2


def test_structured_ticket_with_an_empty_sign_block():
    """n = 1: a block whose two univariate channels have one sign leaves the other side
    with no candidate; its problems keep nothing and record the target kernels' max norm."""
    target = random_cnn_target([1, 2, 2], 2, padding=1, seed=0)
    empty = 0
    for seed in range(6):
        t = cnn_structured(target, eps=0.1, delta=0.1, seed=seed, n=1)
        for p, m, q in zip(t.source.parameters(), t.masks, t.network().parameters(),
                           strict=True):
            assert np.array_equal(p * m, q)
        u = t.source.kernels[0][:, 0, 0, 0]
        if (u > 0).all() or (u < 0).all():
            empty += 1
            side = "layer1_neg" if (u > 0).all() else "layer1_pos"
            K = target.kernels[0].reshape(2, 1, -1)
            np.testing.assert_allclose(t.errors[side], np.abs(K).max(axis=2), rtol=1e-12)
    assert empty > 0
