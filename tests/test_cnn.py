"""slth.nets.CNN: forward pass against scipy.signal.correlate and a loop reference,
pooling and head, compaction, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from naive import cnn_forward_loop, conv2d_loop
from scipy import signal

from slth.nets import CNN, random_cnn_target
from slth.nets.cnn import conv2d


def _scipy_conv(x, kernel, padding, bias=None):
    """conv2d via scipy.signal.correlate, one (image, output, input channel) at a time."""
    B, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    outs = []
    for b in range(B):
        per_out = []
        for j in range(kernel.shape[0]):
            acc = sum(signal.correlate(xp[b, c], kernel[j, c], mode="valid") for c in range(C))
            per_out.append(acc + (0.0 if bias is None else bias[j]))
        outs.append(per_out)
    return np.array(outs)


@pytest.mark.parametrize("shape,c_out,k,pad", [((2, 1, 5, 5), 2, 3, 0), ((1, 3, 6, 5), 4, 3, 1),
                                               ((3, 2, 4, 4), 3, 1, 0), ((1, 2, 5, 5), 2, 2, 2),
                                               ((2, 2, 3, 3), 1, 3, 2)])
def test_conv2d_matches_scipy_and_loops(shape, c_out, k, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    kern = rng.standard_normal((c_out, shape[1], k, k))
    bias = rng.standard_normal(c_out)
    got = conv2d(x, kern, pad, bias)
    np.testing.assert_allclose(got, _scipy_conv(x, kern, pad, bias), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, conv2d_loop(x, kern, pad, bias), rtol=1e-12, atol=1e-12)


def test_conv2d_chunks_agree(monkeypatch):
    import slth.nets.cnn as cnn_mod

    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 6, 6))
    kern = rng.standard_normal((3, 2, 3, 3))
    whole = conv2d(x, kern, 1)
    monkeypatch.setattr(cnn_mod, "IM2COL_BYTES", 8 * 2 * 9 * 36)   # one image per chunk
    assert np.array_equal(conv2d(x, kern, 1), whole)
    monkeypatch.setattr(cnn_mod, "IM2COL_BYTES", 1)      # and one input channel at a time
    np.testing.assert_allclose(conv2d(x, kern, 1), whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv2d(x, kern, 1), conv2d_loop(x, kern, 1), rtol=1e-12,
                               atol=1e-12)


def test_cnn_forward_matches_loops_every_channel():
    net = random_cnn_target([2, 3, 2], [3, 2], padding=[1, 0], seed=3)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 2, 5, 5))
    out = net(x)
    assert out.shape == (2, 2, 4, 4)
    ref = cnn_forward_loop(net.kernels, net.paddings, x)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # one image without the batch axis
    np.testing.assert_allclose(net(x[0]), ref[:1], rtol=1e-12, atol=1e-12)


def test_biases_pool_and_head():
    rng = np.random.default_rng(4)
    ks = [rng.standard_normal((3, 1, 3, 3)), rng.standard_normal((2, 3, 3, 3))]
    bs = [rng.standard_normal(3), rng.standard_normal(2)]
    head = rng.standard_normal((4, 2))
    x = rng.standard_normal((3, 1, 5, 5))
    feats = cnn_forward_loop(ks, [1, 1], x, bs)
    avg = CNN(ks, bs, padding="same", pool="avg", head=head)
    np.testing.assert_allclose(avg(x), feats.mean(axis=(2, 3)) @ head.T, rtol=1e-12, atol=1e-12)
    mx = CNN(ks, bs, padding="same", pool="max")
    np.testing.assert_allclose(mx(x), feats.max(axis=(2, 3)), rtol=1e-12, atol=1e-12)
    assert avg.n_params == sum(p.size for p in (*ks, *bs, head))


def test_random_target_filters_have_unit_l1_norm():
    t = random_cnn_target([2, 4, 3], 3, bound=0.5, seed=0)
    for k in t.kernels:
        np.testing.assert_allclose(np.abs(k).sum(axis=(1, 2, 3)), 0.5, rtol=1e-12)
    # reproducible
    t2 = random_cnn_target([2, 4, 3], 3, bound=0.5, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(t.kernels, t2.kernels, strict=True))


def test_compact_drops_dead_channels_and_keeps_the_function():
    rng = np.random.default_rng(5)
    k1 = rng.standard_normal((6, 2, 3, 3))
    k2 = rng.standard_normal((3, 6, 3, 3))
    k1[[1, 4]] = 0.0                 # channels 1, 4: no input
    k2[:, 2] = 0.0                   # channel 2: no output
    k3 = rng.standard_normal((2, 3, 1, 1))
    k3[:, 0] = 0.0                   # second hidden layer, channel 0: no output
    net = CNN([k1, k2, k3], padding=[1, 1, 0])
    small = net.compact()
    assert small.channels == (2, 3, 2, 2)
    x = rng.uniform(-1, 1, (4, 2, 5, 5))
    np.testing.assert_allclose(small(x), net(x), rtol=1e-12, atol=1e-12)
    # a bias keeps an input-less channel alive
    b1 = np.zeros(6)
    b1[1] = 0.3
    assert CNN([k1, k2, k3], [b1, None, None], padding=[1, 1, 0]).compact().channels[1] == 4


@pytest.mark.parametrize("kwargs,match", [
    ({"kernels": [np.ones((2, 1, 3, 2))]}, "square"),
    ({"kernels": [np.ones((2, 1, 3))]}, "4-D"),
    ({"kernels": [np.ones((2, 1, 3, 3)), np.ones((2, 3, 3, 3))]}, "input channels"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "biases": [np.ones(3)]}, "biases"),
    ({"kernels": [np.ones((2, 1, 2, 2))], "padding": "same"}, "odd kernel"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "padding": "full"}, "padding"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "padding": -1}, "padding"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "pool": "sum"}, "pool"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "head": np.ones((3, 2))}, "pooling"),
    ({"kernels": [np.ones((2, 1, 3, 3))], "pool": "avg", "head": np.ones((3, 4))}, "columns"),
    ({"kernels": [np.full((2, 1, 3, 3), np.nan)]}, "finite"),
    ({"kernels": []}, "at least one"),
])
def test_bad_networks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNN(**kwargs)


def test_bad_images():
    net = random_cnn_target([2, 3], 3, padding="valid", seed=0)
    with pytest.raises(ValueError, match="channels"):
        net(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"batch of images"):
        net(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"too small"):
        net(np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="finite"):
        net(np.full((1, 2, 5, 5), np.inf))
    with pytest.raises(TypeError, match="single array"):
        CNN(np.ones((2, 1, 3, 3)))


def test_forward_in_chunks_agrees(monkeypatch):
    import slth.nets.cnn as cnn_mod

    net = random_cnn_target([2, 3, 2], 3, padding="same", seed=7)
    x = np.random.default_rng(8).uniform(-1, 1, (5, 2, 6, 6))
    whole = net(x)
    monkeypatch.setattr(cnn_mod, "ACTIVATION_BYTES", 1)      # one image per chunk
    assert np.array_equal(net(x), whole)
