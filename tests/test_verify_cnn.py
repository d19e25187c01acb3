"""CNN certificates (interval, sign-aware, LP per output-pixel class) against grids,
gradient ascent and tampered tickets; the exact input gradient against finite differences;
the empirical search's determinism."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from slth.nets import CNN, random_cnn_target
from slth.tickets import cnn_structured, cnn_unstructured
from slth.verify import certified_error, check_cnn, cnn_certified_error, cnn_empirical_error, cnn_lp
from slth.verify.cnn import CNN_CERTIFICATES, cnn_certificates, cnn_vjp

EPS, DELTA = 0.2, 0.1


def _tiny(k, build, n, seed=0, channels=(1, 2, 2)):
    target = random_cnn_target(list(channels), k, padding="same" if k % 2 else 1, seed=seed)
    return build(target, eps=EPS, delta=DELTA, seed=seed, n=n)


TINY = {"u3": (3, cnn_unstructured, 2), "u2": (2, cnn_unstructured, 3),
        "s3": (3, cnn_structured, 12), "s2": (2, cnn_structured, 20)}


@pytest.fixture(scope="module", params=sorted(TINY))
def tiny(request):
    return _tiny(*TINY[request.param])


def _sup_on_grid(t, size: int, values) -> float:
    """``max |target - ticket|`` over all images of ``size x size`` with entries in
    ``values`` (one input channel)."""
    grid = np.array(list(itertools.product(values, repeat=size * size)))
    x = grid.reshape(-1, 1, size, size)
    g = t.network()
    out = 0.0
    for s in range(0, x.shape[0], 4096):
        out = max(out, float(np.abs(t.target(x[s:s + 4096]) - g(x[s:s + 4096])).max()))
    return out


def test_certificates_bound_dense_grids_and_gradient_ascent(tiny):
    found, _ = cnn_certificates(tiny)
    assert set(found) == set(CNN_CERTIFICATES)
    sups = [_sup_on_grid(tiny, 1, np.linspace(-1, 1, 201)),
            _sup_on_grid(tiny, 2, np.linspace(-1, 1, 7)),
            _sup_on_grid(tiny, 3, (-1.0, -0.5, 0.0, 0.5, 1.0)[::2])]
    sups += [cnn_empirical_error(tiny, samples=64, seed=s, image_size=size)[0]
             for s, size in ((0, 3), (1, 4), (2, 5))]
    for name, bound in found.items():
        assert bound >= max(sups), name
    # the LP is the tightest, the interval bound the loosest (rounding aside)
    assert found["lp"] <= found["sign_aware"] * (1 + 1e-9) + 1e-12
    assert found["sign_aware"] <= found["interval"] * (1 + 1e-9) + 1e-12
    assert cnn_certified_error(tiny)[0] == min(found.values())


def test_sign_aware_and_lp_are_exact_for_one_layer():
    # one 3 x 3 layer: the error entry is sum eA relu(x) + eB relu(-x), each entry of the
    # patch free: its sup is attained at the image choosing, per entry, the larger side
    target = random_cnn_target([1, 2], 3, padding="valid", seed=5)
    t = cnn_structured(target, eps=0.3, delta=0.1, seed=1, n=10)
    found, _ = cnn_certificates(t)
    from slth.verify.cnn import effective_layers
    ((K, A, B),) = effective_layers(t)
    eA, eB = (A - K)[:, 0], (B + K)[:, 0]
    best = 0.0
    for sign in (1.0, -1.0):
        x = np.where(sign * eA >= sign * eB, 1.0, -1.0)        # (c_out, 3, 3)
        x = np.where(np.maximum(sign * eA, sign * eB) > 0, x, 0.0)
        err = np.abs(t.target(x[:, None]) - t(x[:, None]))[:, :, 0, 0]
        best = max(best, float(np.diag(err).max()))
    assert found["sign_aware"] == pytest.approx(best, rel=3e-9, abs=1e-12)
    assert found["lp"] == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert found["interval"] >= best


def _with_masks(t, change):
    """The ticket with its masks changed by ``change(masks)`` (it still only prunes)."""
    masks = [m.copy() for m in t.kernel_masks]
    change(masks)
    weights = tuple(t.spec.layer(l) * m for l, m in enumerate(masks))
    return dataclasses.replace(t, weights=weights, kernel_masks=tuple(masks))


@pytest.mark.parametrize("how", ["drop_output", "drop_sign", "extra_kernel"])
def test_every_certificate_fails_on_a_tampered_ticket(how):
    good = cnn_unstructured(random_cnn_target([1, 2, 2], 3, seed=1), eps=EPS, delta=DELTA,
                            seed=1)
    found_good, _ = cnn_certificates(good)
    bar = max(found_good.values())             # every certificate of the good ticket meets it
    assert bar <= EPS

    def change(masks):
        if how == "drop_output":               # output channel 0 no longer computed
            masks[3][0] = False
        elif how == "drop_sign":               # layer 1 no longer sees relu(x)
            masks[0] &= good.spec.layer(0) < 0
        else:                                  # the largest removed kernel of layer 4 kept
            w = np.abs(good.spec.layer(3) * ~masks[3]).sum(axis=(2, 3))
            w[:, ~masks[2].any(axis=(1, 2, 3))] = 0     # a channel the ticket uses
            j, s = np.unravel_index(np.argmax(w), w.shape)
            masks[3][j, s] = True

    bad = _with_masks(good, change)
    assert all(np.array_equal(p * m, q) for p, m, q in
               zip(bad.source.parameters(), bad.masks, bad.network().parameters(),
                   strict=True))
    emp = cnn_empirical_error(bad, samples=128, image_size=5)[0]
    assert emp > bar
    for name in CNN_CERTIFICATES:
        bound, _ = cnn_certified_error(bad, certificates=[name])
        assert bound >= emp > bar, name
    if how == "drop_output":
        r = check_cnn(bad, samples=64, image_size=5)
        assert not r.meets_eps and r.certified >= r.empirical > EPS


def _nets():
    rng = np.random.default_rng(0)
    base = random_cnn_target([2, 3, 2], [3, 2], padding=[1, 0], seed=0)
    yield base
    yield CNN(base.kernels, None, "relu", base.paddings, "max")
    yield CNN(base.kernels, None, "relu", base.paddings, "avg", rng.standard_normal((4, 2)))


@pytest.mark.parametrize("net", list(_nets()), ids=["features", "max", "avg_head"])
def test_vjp_matches_finite_differences(net):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, 2, 6, 5))
    out = net(x)
    cot = rng.standard_normal(out.shape)
    grad = cnn_vjp(net, x, cot)
    assert grad.shape == x.shape
    for _ in range(4):
        v = rng.standard_normal(x.shape)
        h = 1e-6
        fd = (np.sum(cot * net(x + h * v)) - np.sum(cot * net(x - h * v))) / (2 * h)
        assert np.sum(grad * v) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_vjp_of_the_ticket_and_its_compact_form_agree(tiny):
    x = np.random.default_rng(2).uniform(-1, 1, (2, 1, 5, 5))
    cot = np.random.default_rng(3).standard_normal(tiny.target(x).shape)
    np.testing.assert_allclose(cnn_vjp(tiny.network(), x, cot),
                               cnn_vjp(tiny.compact(), x, cot), rtol=1e-10, atol=1e-12)


def test_empirical_search_is_deterministic_and_ascent_only_helps(tiny):
    a = cnn_empirical_error(tiny, samples=64, seed=4, image_size=5)
    b = cnn_empirical_error(tiny, samples=64, seed=4, image_size=5)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    old = cnn_empirical_error(tiny, samples=64, seed=4, image_size=5, steps=0)
    assert a[0] >= old[0]
    x = a[1][None]
    assert a[0] == float(np.abs(tiny.target(x) - tiny(x)).max())
    assert np.abs(a[1]).max() <= 1.0


def test_axis_classes_match_a_brute_force_over_image_sizes():
    for ks, ps in [((3, 3), (1, 1)), ((2, 2), (1, 1)), ((3, 2), (1, 0)), ((3, 3, 3), (1, 1, 1)),
                   ((3, 1), (0, 0)), ((5, 3), (2, 1))]:
        net = CNN([np.ones((1, 1, k, k)) for k in ks], padding=list(ps))
        cap = sum(ps)
        seen = set()
        for size in range(1, 12):
            sizes = net._sizes((size, size))
            if min(min(s) for s in sizes) < 1:
                continue
            H = [h for h, _ in sizes]
            for i in range(H[-1]):
                cls = (min(i, cap), min(H[-1] - 1 - i, cap))
                seen.add(cls)
                got = cnn_lp._offsets(ks, ps, cls)
                for l in range(len(ks) + 1):
                    lo = -sum(ps[l:])
                    hi = sum(k - 1 - p for k, p in zip(ks[l:], ps[l:], strict=True))
                    want = [o for o in range(lo, hi + 1) if 0 <= i + o <= H[l] - 1]
                    assert list(got[l]) == want, (ks, ps, size, i, l)
        assert seen == set(cnn_lp.axis_classes(ks, ps))


def test_dual_bound_is_valid_for_any_multipliers():
    rng = np.random.default_rng(0)
    from scipy import sparse
    from scipy.optimize import linprog
    A = sparse.csr_matrix(rng.standard_normal((6, 4)))
    b = np.abs(rng.standard_normal(6)) + 0.5
    E = sparse.csr_matrix(rng.standard_normal((1, 4)))
    lo, hi = -np.ones(4), np.ones(4)
    f = rng.standard_normal(4)
    res = linprog(-f, A_ub=A, b_ub=b, A_eq=E, b_eq=[0.0], bounds=np.column_stack([lo, hi]))
    opt = -res.fun
    tight = cnn_lp.dual_bound(f, A, b, E, np.zeros(1), lo, hi, -res.ineqlin.marginals,
                              -res.eqlin.marginals)
    assert tight == pytest.approx(opt, abs=1e-9) and tight >= opt - 1e-12
    for _ in range(20):            # random multipliers: never below the optimum
        y = rng.uniform(-1, 2, 6)
        assert cnn_lp.dual_bound(f, A, b, E, np.zeros(1), lo, hi, y,
                                 rng.standard_normal(1)) >= opt - 1e-12


def test_report_lists_every_certificate_and_the_choice_is_checked(tiny, monkeypatch):
    r = check_cnn(tiny, samples=32, image_size=4)
    assert set(r.certificates) == set(CNN_CERTIFICATES)
    assert r.certified == min(r.certificates.values())
    assert "sign_aware" in r.summary()["certificates"]
    assert certified_error(tiny)[0] == pytest.approx(r.certified, rel=1e-15)
    only, _ = cnn_certified_error(tiny, certificates="sign_aware")
    assert only == r.certificates["sign_aware"]
    with pytest.raises(ValueError, match="certificates must be"):
        cnn_certified_error(tiny, certificates=["lp", "exact"])
    with pytest.raises(ValueError, match="certificates must be"):
        cnn_certified_error(tiny, certificates=[])
    monkeypatch.setattr(cnn_lp, "LP_MAX_VARS", 10)
    r = check_cnn(tiny, samples=32, image_size=4)
    assert r.certificates["lp"].startswith("skipped")
    assert r.certified == min(r.certificates["interval"], r.certificates["sign_aware"])
    assert "skipped" in r.summary()["certificates"]
    with pytest.raises(ValueError, match="no certificate was computed"):
        cnn_certified_error(tiny, certificates=["lp"])


def test_depth_three_lp_is_between_gradient_ascent_and_the_sign_aware_bound():
    target = random_cnn_target([1, 2, 2, 2], [3, 1, 3], padding="same", seed=2)
    t = cnn_unstructured(target, eps=EPS, delta=DELTA, seed=2, n=2)
    found, layers = cnn_certificates(t)
    assert layers[-1]["classes"] == 81
    emp = max(cnn_empirical_error(t, samples=64, seed=s, image_size=size)[0]
              for s, size in ((0, 2), (1, 5)))
    emp = max(emp, _sup_on_grid(t, 2, np.linspace(-1, 1, 5)))
    assert emp <= found["lp"] <= found["sign_aware"] * (1 + 1e-9) + 1e-12
