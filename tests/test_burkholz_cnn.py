"""Burkholz's CNN / ResNet tickets (slth.tickets.burkholz_cnn) and their certificate."""

import math
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from slth import bounds, verify
from slth.nets import CNN, random_cnn_target
from slth.nets.activations import get
from slth.tickets import burkholz_cnn, burkholz_cnn_2l
from slth.tickets.burkholz_cnn import BurkholzCNNTicket, source_channels
from slth.verify.burkholz_cnn import burkholz_cnn_certified_error, certify_burkholz_cnn

ACTS = ("relu", "leaky_relu", "tanh", "sigmoid")


def naive_forward(kernels, biases, acts, paddings, skips, x):
    """Loops over positions: an independent forward pass with skip connections."""
    inputs, h = {}, x
    L = len(kernels)
    for l in range(L):
        inputs[l] = h
        K, p = kernels[l], paddings[l]
        B, C, H, W = h.shape
        k = K.shape[2]
        hp = np.zeros((B, C, H + 2 * p, W + 2 * p))
        hp[:, :, p:p + H, p:p + W] = h
        Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
        out = np.zeros((B, K.shape[0], Ho, Wo))
        for i in range(Ho):
            for j in range(Wo):
                out[:, :, i, j] = np.einsum("bcpq,ocpq->bo", hp[:, :, i:i + k, j:j + k], K)
        if biases[l] is not None:
            out += biases[l][None, :, None, None]
        for a, b in skips:
            if b == l:
                out += inputs[a]
        h = acts[l](out) if l < L - 1 else out
    return h


def images(c, size=6, count=48, seed=0, radius=1.0):
    x = np.random.default_rng(seed).uniform(-radius, radius, (count, c, size, size))
    x[count // 2:] = radius * np.sign(x[count // 2:])
    return x


# ------------------------------------------------------------------- networks
@pytest.mark.parametrize("act", ACTS)
def test_residual_forward_matches_loops(act):
    f = random_cnn_target([2, 3, 2, 3], [3, 1, 3], seed=4, bias=0.7, activation=act,
                          skips=[(0, 1), (1, 2)], padding=[1, 0, 1])
    x = images(2, 5)
    a = get(act)
    want = naive_forward(f.kernels, f.biases, [a] * 2, f.paddings, [(0, 1), (1, 2)], x)
    np.testing.assert_allclose(f(x), want, rtol=1e-12, atol=1e-12)
    plain = CNN(f.kernels, f.biases, act, f.paddings)
    assert not np.allclose(plain(x), want)          # the skips change the function


def test_skips_validated():
    k = np.ones((2, 2, 3, 3))
    with pytest.raises(ValueError, match=r"skips\[0\]\[1\]"):
        CNN([k, k], skips=[(1, 0)])
    with pytest.raises(ValueError, match="identity skip needs as many"):
        CNN([np.ones((3, 2, 1, 1)), np.ones((3, 3, 1, 1))], skips=[(0, 1)])
    with pytest.raises(ValueError, match="keep the image size"):
        CNN([k, k], padding="valid", skips=[(0, 1)])(np.ones((1, 2, 5, 5)))
    with pytest.raises(TypeError, match="skips must be a sequence"):
        CNN([k, k], skips="01")


def test_compact_keeps_skip_channels():
    f = random_cnn_target([2, 2, 2], 3, seed=1, bias=0.3, skips=[(0, 1)])
    ks = [f.kernels[0].copy(), f.kernels[1].copy()]
    ks[0][1] = 0.0                                 # a dead hidden channel: still no skip
    g = CNN(ks, [None, f.biases[1]], "relu", "same", skips=[(0, 1)])
    x = images(2)
    np.testing.assert_allclose(g.compact()(x), g(x), atol=1e-12)


# ------------------------------------------------------------------ the build
@pytest.mark.parametrize("scheme", ["L+1", "2L"])
@pytest.mark.parametrize("act", ACTS)
def test_certified_at_formula_width(act, scheme):
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation=act)
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=2, scheme=scheme)
    assert t.params["n"] == t.params["formula_n"] == 28
    # pruning only: every parameter is the source's times its mask
    for p, m, q in zip(t.source.parameters(), t.masks, t.network().parameters(), strict=True):
        assert np.array_equal(p * m, q)
    r = verify.check(t, samples=128)
    assert r.empirical <= r.certified <= r.eps and r.ok
    # the certificate against errors on images of another size, checked independently
    x = images(1, 7, seed=5)
    err = np.abs(f(x) - t(x)).max()
    assert err <= r.certified
    assert t.widths == r.formula_widths


@pytest.mark.parametrize("act", ACTS)
def test_residual_2l(act):
    f = random_cnn_target([2, 2, 2, 2], 3, seed=3, bias=0.5, activation=act,
                          skips=[(0, 1), (1, 2)])
    t = burkholz_cnn_2l(f, eps=0.1, delta=0.1, seed=0, n=10)
    assert t.spec.skips == ((0, 3), (2, 5))
    x = images(2, 5)
    # the pruned network's skips are the target's, and its forward is the loops' one
    g = t.network()
    want = naive_forward(g.kernels, g.biases, list(g.activations), g.paddings, g.skips, x)
    np.testing.assert_allclose(g(x), want, atol=1e-10)
    bound, _ = burkholz_cnn_certified_error(t)
    assert np.abs(f(x) - t(x)).max() <= bound


@pytest.mark.parametrize("scheme", ["L+1", "2L"])
@pytest.mark.parametrize("act", ACTS)
def test_depth_three(act, scheme):
    """Constant channels carried through two later layers (L+1), three pairs (2L)."""
    f = random_cnn_target([1, 2, 2, 2], 3, seed=1, bias=1.0, activation=act)
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=0, scheme=scheme)
    assert t.params["n"] == 30 and t.depth == (4 if scheme == "L+1" else 6)
    x = images(1, 5, seed=3)
    bound, layers = burkholz_cnn_certified_error(t)
    assert len(layers) == 3
    assert np.abs(f(x) - t(x)).max() <= bound <= 0.1


@pytest.mark.parametrize("act", ACTS)
def test_residual_l_plus_1(act):
    """A skip between hidden layers, kept copy by copy at depth L+1."""
    f = random_cnn_target([1, 2, 2, 2, 2], 3, seed=1, bias=1.0, activation=act,
                          skips=[(1, 2)])
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=0)
    assert t.spec.skips == ((2, 3),)
    g = t.network()
    x = images(1, 5, seed=2)
    want = naive_forward(g.kernels, g.biases, list(g.activations), g.paddings, g.skips, x)
    np.testing.assert_allclose(g(x), want, atol=1e-10)
    bound, layers = burkholz_cnn_certified_error(t)
    assert np.abs(f(x) - t(x)).max() <= bound and len(layers) == 4
    # without the skip in the source, the ticket is far from the residual target
    plain = BurkholzCNNTicket(f, replace(t.spec, skips=()), t.weights, t.biases,
                              t.bias_masks, t.errors, t.params, t.timings, t.kernel_masks)
    assert np.abs(f(x) - plain(x)).max() > 5 * np.abs(f(x) - t(x)).max()
    with pytest.raises(ValueError, match="do not match"):
        certify_burkholz_cnn(plain, 1.0)


def test_subset_sum_errors_recomputed_from_masks():
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="tanh")
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=0, n=8)
    n = t.params["n"]
    V = t.weights[2]                           # the copies layer (target layer 2)
    Vc = V[:, :n * 2].reshape(V.shape[0], 2, n, 3, 3).sum(axis=2)
    want = np.abs(Vc - f.kernels[1])           # the output layer: one row per channel
    np.testing.assert_allclose(t.errors["layer2_weights"], want, atol=1e-12)


def test_same_seed_same_ticket():
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="sigmoid")
    a = burkholz_cnn(f, eps=0.1, delta=0.1, seed=7, n=8)
    b = burkholz_cnn(f, eps=0.1, delta=0.1, seed=7, n=8)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks, strict=True))


def test_scale_fixed_before_draws():
    """The linear-regime scale depends on the widths, eps and the activation only."""
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="tanh")
    g = random_cnn_target([1, 2, 2], 3, seed=9, bias=0.2, activation="tanh")
    a = burkholz_cnn(f, eps=0.1, delta=0.1, seed=1, n=4, scheme="2L")
    b = burkholz_cnn(g, eps=0.1, delta=0.1, seed=2, n=4, scheme="2L")
    assert a.params["alpha"] == b.params["alpha"]


# ----------------------------------------------------------- the certificate
def _with_layer(t, l, w):
    weights = list(t.weights)
    weights[l] = w
    kmasks = list(t.kernel_masks)
    kmasks[l] = w != 0
    return BurkholzCNNTicket(t.target, t.spec, tuple(weights), t.biases, t.bias_masks,
                             t.errors, t.params, t.timings, tuple(kmasks))


@pytest.mark.parametrize("scheme", ["L+1", "2L"])
def test_certificate_fails_on_bad_ticket(scheme):
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="relu")
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=0, scheme=scheme)
    assert verify.check(t, samples=64).ok
    V = t.weights[1].copy()
    kept = np.flatnonzero(V)
    V.flat[kept[::3]] = 0.0                    # drop a third of the kept entries
    bad = _with_layer(t, 1, V)
    r = verify.check(bad, samples=128)
    assert not r.ok and r.certified > r.eps
    assert r.empirical <= r.certified          # still a sound bound


def test_certificate_refuses_other_layouts():
    f = random_cnn_target([2, 2, 2], 3, seed=0, bias=0.5)
    t = burkholz_cnn_2l(f, eps=0.1, delta=0.1, seed=0, n=4)
    U = t.weights[0].copy()
    U[0, 1, 0, 0] = 1.0                        # channel 0 also reads input channel 1
    with pytest.raises(ValueError, match="outside its input block"):
        certify_burkholz_cnn(_with_layer(t, 0, U), 1.0)
    with pytest.raises(ValueError, match="norm must be 'inf'"):
        certify_burkholz_cnn(t, 1.0, "l2")


@pytest.mark.parametrize("scheme", ["L+1", "2L"])
@pytest.mark.parametrize("act", ACTS)
def test_certificate_above_dense_grid_sup(act, scheme):
    """Scalar networks (1 x 1 kernels, one channel, 1 x 1 images): the sup over the
    interval, from a dense grid plus the Lipschitz slack between its points, is below
    the certificate."""
    f = random_cnn_target([1, 1, 1], 1, seed=0, bias=0.8, activation=act, padding=0)
    t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=1, n=5, scheme=scheme)
    x = np.linspace(-1.0, 1.0, 20001).reshape(-1, 1, 1, 1)
    grid_sup = float(np.abs(f(x) - t(x)).max())
    bound, _ = burkholz_cnn_certified_error(t)
    assert grid_sup <= bound
    assert bound < 50 * grid_sup + 1e-6         # and not vacuous


# --------------------------------------------------------------------- bounds
def test_formula_and_expression():
    ch, k = (1, 2, 2), 3
    N = 2 * (1 * 9 + 1) + 2 * (2 * 9 + 1)
    assert bounds.burkholz_cnn_n(ch, k, 0.1, 0.1) == math.ceil(3 * math.log2(N / 0.1))
    c, kk, L, eps, delta, C = sp.symbols("c k L epsilon delta C", positive=True)
    e = bounds.burkholz_cnn_n_expr().subs({c: 3, kk: 3, L: 2, eps: 0.05, delta: 0.01, C: 3})
    assert math.ceil(float(e)) == bounds.burkholz_cnn_n((3, 3, 3), 3, 0.05, 0.01)
    f = bounds.FORMULAS["burkholz_cnn"]
    assert f.n(ch, k, 0.1, 0.1) == 28 and f.origin == "calibrated"
    assert "Burkholz 2022 (ICML)" in f.label()


def test_source_channels_match_builds():
    for act in ACTS:
        for scheme in ("L+1", "2L"):
            f = random_cnn_target([1, 2, 2], 3, seed=0, activation=act)
            t = burkholz_cnn(f, eps=0.2, delta=0.2, seed=0, n=3, scheme=scheme)
            assert t.widths == source_channels(f.channels, 3, scheme, get(act), "uniform",
                                               f.kernel_sizes, 20)


# ------------------------------------------------------------------ bad input
def test_bad_input():
    f = random_cnn_target([1, 2, 2], 3, seed=0, skips=[(1, 1)])
    with pytest.raises(ValueError, match="end before the output layer"):
        burkholz_cnn(f, eps=0.1, delta=0.1, seed=0, n=3)
    with pytest.raises(ValueError, match="activation must be one of"):
        burkholz_cnn(random_cnn_target([1, 2, 2], 3, seed=0, activation="softplus"),
                     eps=0.1, delta=0.1, n=3)
    with pytest.raises(ValueError, match="at least 2 layers"):
        burkholz_cnn(random_cnn_target([1, 2], 3, seed=0), eps=0.1, delta=0.1, n=3)
    with pytest.raises(ValueError, match="2 padding <= kernel size - 1"):
        burkholz_cnn(random_cnn_target([1, 2, 2], 3, seed=0, padding=2), eps=0.1,
                     delta=0.1, n=3)
    with pytest.raises(ValueError, match="filters of l1"):
        burkholz_cnn(random_cnn_target([1, 2, 2], 3, seed=0, bound=2.0), eps=0.1,
                     delta=0.1, n=3)
    with pytest.raises(ValueError, match="scheme"):
        burkholz_cnn(random_cnn_target([1, 2, 2], 3, seed=0), scheme="3L")
    with pytest.raises(TypeError, match="target must be a slth.nets.CNN"):
        burkholz_cnn(np.ones(3))
    with pytest.raises(ValueError, match="bias must be a finite number"):
        random_cnn_target([1, 2], 3, bias=-1.0)


def test_thread_counts_give_the_same_ticket():
    f = random_cnn_target([1, 2, 2, 2], 3, seed=0, bias=0.5, activation="relu")
    a = burkholz_cnn(f, eps=0.1, delta=0.1, seed=3, n=10, threads=1)
    b = burkholz_cnn(f, eps=0.1, delta=0.1, seed=3, n=10, threads=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks, strict=True))


def test_biased_target_keeps_the_kernels_of_the_unbiased_one():
    a = random_cnn_target([2, 3, 3], 3, seed=5)
    b = random_cnn_target([2, 3, 3], 3, seed=5, bias=0.4, skips=[(1, 1)])
    assert all(np.array_equal(x, y) for x, y in zip(a.kernels, b.kernels, strict=True))
    assert all(np.abs(v).max() <= 0.4 for v in b.biases) and b.skips == ((1, 1),)


def test_check_dispatch_and_norm():
    f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5)
    t = burkholz_cnn_2l(f, eps=0.1, delta=0.1, seed=0, n=4)
    r = verify.check(t, samples=32)
    assert r.construction == "burkholz_cnn_2l" and r.norm == "inf"
    assert r.certified == pytest.approx(verify.certified_error(t)[0])
    with pytest.raises(ValueError, match="norm must be 'inf'"):
        verify.check(t, norm="l2")
