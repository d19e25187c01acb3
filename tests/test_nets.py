"""slth.nets: forward pass against a loop implementation, gradients, initialisers, loaders."""

from __future__ import annotations

import math

import numpy as np
import pytest
from naive import mlp_forward
from scipy import sparse

from slth.nets import MLP, activations, from_arrays, from_sklearn, random_mlp, random_target

SCALAR = {
    "relu": lambda v: max(v, 0.0),
    "leaky_relu": lambda v: v if v >= 0 else 0.01 * v,
    "tanh": math.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "softplus": lambda v: math.log1p(math.exp(v)),
}


@pytest.mark.parametrize("name", list(SCALAR))
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_loops(name, bias):
    net = random_mlp([3, 5, 4, 2], activation=name, bias=bias, seed=1)
    x = np.random.default_rng(2).normal(size=(7, 3))
    expected = mlp_forward(net.weights, net.biases if bias else None, SCALAR[name], x)
    np.testing.assert_allclose(net(x), expected, rtol=1e-12, atol=1e-13)


def test_sparse_weights_same_forward():
    net = random_mlp([4, 6, 3], seed=3)
    ws = [np.where(np.abs(w) > 0.5, w, 0.0) for w in net.weights]
    dense = MLP(ws, net.biases, "relu")
    sp = MLP([sparse.csr_matrix(w) for w in ws], net.biases, "relu")
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_allclose(sp(x), mlp_forward(ws, net.biases, SCALAR["relu"], x), rtol=1e-12)
    np.testing.assert_array_equal(sp.dense().weights[0], dense.weights[0])
    assert sp.is_sparse and not dense.is_sparse
    assert sp.nnz == dense.nnz == sum(np.count_nonzero(w) for w in ws) + 6 + 3


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid"])
def test_vjp_matches_finite_differences(name):
    net = random_mlp([3, 4, 2], activation=name, seed=4)
    x = np.random.default_rng(5).normal(size=(1, 3))
    cot = np.array([[0.3, -1.1]])
    g = net.vjp(x, cot)[0]
    h = 1e-6
    fd = [((net(x + h * e) - net(x - h * e)) @ cot[0])[0] / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", activations.NAMES)
def test_activation_facts(name):
    act = activations.get(name)
    t = np.linspace(-6, 6, 24001)
    y = act(t)
    slopes = np.abs(np.diff(y) / np.diff(t))
    assert slopes.max() <= act.lipschitz * (1 + 1e-9)
    # phi(0) evaluated against the declared constant (two formulas: log(2) for softplus)
    assert act(np.zeros(1))[0] == pytest.approx(act.phi0, rel=1e-15, abs=0)
    np.testing.assert_allclose(act.derivative(np.array([0.3, -0.7])),
                               (act(np.array([0.3, -0.7]) + 1e-6)
                                - act(np.array([0.3, -0.7]) - 1e-6)) / 2e-6, rtol=1e-5)
    if act.remainder is not None:
        K, p = act.remainder
        assert np.all(np.abs(y - act.phi0 - act.dphi0 * t) <= K * np.abs(t) ** p + 1e-15)
    if act.homogeneous:
        a = act.slope_neg
        np.testing.assert_allclose(act(t) - act(-t), (1 + a) * t, atol=1e-15)
        np.testing.assert_allclose(act(2.5 * t), 2.5 * act(t), atol=1e-15)
    lo, hi = np.array([-1.0, 0.5]), np.array([2.0, 3.0])
    bound = act.bound_abs(lo, hi)
    for k in range(2):
        assert np.abs(act(np.linspace(lo[k], hi[k], 1001))).max() <= bound[k] + 1e-15


def test_custom_activation():
    act = activations.custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1 / 6, 3))
    net = MLP([np.ones((2, 1)), np.ones((1, 2))], None, act)
    np.testing.assert_allclose(net(np.array([[0.5]])), [[2 * np.sin(0.5)]])
    with pytest.raises(ValueError, match="lipschitz"):
        activations.custom(np.sin, lipschitz=0.5)
    with pytest.raises(TypeError, match="custom"):
        MLP([np.ones((2, 1)), np.ones((1, 2))], None, np.sin)


@pytest.mark.parametrize("act", [*(activations.get(n) for n in activations.NAMES),
                                 activations.leaky_relu(0.2), activations.leaky_relu(0.0)],
                         ids=[*activations.NAMES, "leaky_relu(0.2)", "leaky_relu(0)"])
def test_builtin_activations_pass_the_checks_of_declared_constants(act):
    assert act.proved
    activations.check_constants(act)


@pytest.mark.parametrize("change, match", [
    ({"lipschitz": 0.9}, r"lipschitz: declared 0.9, measured slope 1 "),
    ({"phi0": 0.1}, r"phi0: declared 0.1, measured fn\(0\) = 0"),
    ({"dphi0": 0.9}, r"dphi0: declared phi'\(0\) = 0.9, measured 1"),
    ({"remainder": (0.3, 3.0)}, r"remainder: declared K=0.3 \(p=3\).*measured K >= 0.333"),
    ({"remainder": (1.0, 4.0)}, r"remainder: declared K=1 \(p=4\)"),
    ({"slope_neg": 0.0}, r"slope_neg: declared 0 \(phi\(t\) = t for t >= 0"),
    ({"fn": np.sin, "monotone": True}, r"monotone: declared True, measured a decrease"),
])
def test_check_constants_refuses_what_the_grids_contradict(change, match):
    import dataclasses

    with pytest.raises(ValueError, match=match):
        activations.check_constants(dataclasses.replace(activations.get("tanh"), **change))


def test_custom_activation_constants_are_checked():
    # the sine with a tangent remainder of 1e-6 (certified 1.1e-4, true error 0.012) ...
    with pytest.raises(ValueError, match=r"remainder: declared K=1e-06 \(p=3\) .*measured "
                                         r"K >= 0.166667"):
        activations.custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1e-6, 3))
    # ... and its true constants
    sine = activations.custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1 / 6, 3),
                              name="sine")
    assert (sine.phi0, sine.dphi0, sine.remainder, sine.proved) == (0.0, 1.0, (1 / 6, 3.0),
                                                                    False)
    with pytest.raises(ValueError, match=r"lipschitz: declared 0.99, measured slope 1"):
        activations.custom(np.sin, lipschitz=0.99)
    with pytest.raises(ValueError, match=r"monotone: declared True"):
        activations.custom(np.sin, lipschitz=1.0, monotone=True)
    with pytest.raises(ValueError, match=r"dphi0: declared phi'\(0\) = 2, measured 1"):
        activations.custom(np.sin, lipschitz=1.0, derivative=lambda x: 2 * np.cos(x))
    # tanh through custom: accepted, monotone, with its proved constants declared
    tanh = activations.custom(np.tanh, lipschitz=1.0, remainder=(1 / 3, 3), monotone=True)
    assert abs(tanh.dphi0 - 1.0) < 1e-9 and not tanh.proved
    # a kink at 0: phi'(0) is the right derivative
    kink = activations.custom(lambda t: np.where(t >= 0, t, 0.5 * np.tanh(t)), lipschitz=1.0,
                              derivative=lambda t: np.where(np.asarray(t) >= 0, 1.0, 0.5))
    assert kink.dphi0 == 1.0
    with pytest.raises(ValueError, match="remainder\\[1\\] \\(p\\) must be > 1"):
        activations.custom(np.sin, lipschitz=1.0, remainder=(1.0, 1.0))
    with pytest.raises(ValueError, match="remainder\\[0\\] \\(K\\) must be >= 0"):
        activations.custom(np.sin, lipschitz=1.0, remainder=(-1.0, 3.0))
    with pytest.raises(TypeError, match="remainder must be a pair"):
        activations.custom(np.sin, lipschitz=1.0, remainder=(1.0,))
    with pytest.raises(ValueError, match="finite"):
        activations.custom(lambda t: np.where(np.abs(t) < 10, t, np.nan), lipschitz=1.0)
    with pytest.raises(TypeError, match="derivative must be callable"):
        activations.custom(np.sin, lipschitz=1.0, derivative=1.0)


def test_same_activation():
    relu, tanh = activations.get("relu"), activations.get("tanh")
    assert activations.same_activation(activations.leaky_relu(0.0), relu)
    assert not activations.same_activation(activations.leaky_relu(0.2),
                                           activations.leaky_relu(0.3))
    assert not activations.same_activation(relu, tanh)
    sine = activations.custom(np.sin, lipschitz=1.0, name="sine")
    assert activations.same_activation(sine, activations.custom(np.sin, lipschitz=1.0,
                                                                name="sine"))
    assert not activations.same_activation(sine, activations.custom(np.sin, lipschitz=2.0,
                                                                    name="sine"))
    # a custom activation is not the built-in of its name
    assert not activations.same_activation(
        activations.custom(np.tanh, lipschitz=1.0, name="tanh"), tanh)


def test_leaky_relu_factory():
    act = activations.leaky_relu(0.2)
    np.testing.assert_array_equal(act(np.array([-1.0, 2.0])), [-0.2, 2.0])
    with pytest.raises(ValueError, match="slope"):
        activations.leaky_relu(1.5)


def test_random_mlp_reproducible_and_scaled():
    a, b = random_mlp([3, 4, 2], seed=7), random_mlp([3, 4, 2], seed=7)
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = random_mlp([3, 4, 2], seed=8)
    assert not np.array_equal(a.weights[0], c.weights[0])
    s = random_mlp([3, 4, 2], scale=0.1, seed=7)
    np.testing.assert_allclose(s.weights[1], 0.1 * a.weights[1])
    assert np.abs(a.weights[0]).max() <= 1.0


@pytest.mark.parametrize("norm", ["spectral", "max"])
def test_random_target_norms(norm):
    t = random_target([5, 6, 3], norm=norm, bound=0.8, bias=True, seed=1)
    for w, b in zip(t.weights, t.biases, strict=True):
        measured = np.linalg.norm(w, 2) if norm == "spectral" else np.abs(w).max()
        assert measured == pytest.approx(0.8, rel=1e-12)
        assert (np.linalg.norm(b) if norm == "spectral" else np.abs(b).max()) <= 0.8


def test_from_arrays_layouts():
    w = np.arange(6.0).reshape(3, 2)
    a = from_arrays([w], layout="in_out")
    b = from_arrays([w.T], layout="out_in")
    assert a.widths == (3, 2)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


def test_bad_input():
    w1, w2 = np.ones((4, 3)), np.ones((2, 4))
    with pytest.raises(ValueError, match=r"weights\[1\].*columns"):
        MLP([w1, np.ones((2, 5))])
    with pytest.raises(ValueError, match=r"biases\[0\]"):
        MLP([w1, w2], [np.ones(3), None])
    with pytest.raises(ValueError, match="finite"):
        MLP([np.full((4, 3), np.nan), w2])
    with pytest.raises(ValueError, match="activation"):
        MLP([w1, w2], None, "swish")
    with pytest.raises(ValueError, match="one per hidden layer"):
        MLP([w1, w2], None, ["relu", "tanh"])
    with pytest.raises(ValueError, match="3 columns"):
        MLP([w1, w2])(np.ones((2, 4)))
    with pytest.raises(TypeError, match="sequence"):
        MLP(w1)
    with pytest.raises(ValueError, match="widths"):
        random_mlp([3])
    with pytest.raises(ValueError, match="norm"):
        random_target([3, 2], norm="frobenius")


def test_from_sklearn():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=50, random_state=0)
    with pytest.warns(Warning):
        clf.fit(x, y)
    net = from_sklearn(clf)
    assert net.widths == (4, 6, 3)
    logits = net(x)
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    np.testing.assert_allclose(proba, clf.predict_proba(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[logits.argmax(1)], clf.predict(x))
    reg = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", max_iter=30, random_state=0)
    with pytest.warns(Warning):
        reg.fit(x, x[:, 0])
    np.testing.assert_allclose(from_sklearn(reg)(x).ravel(), reg.predict(x), rtol=1e-10)
    with pytest.raises(TypeError, match="fitted"):
        from_sklearn(MLPRegressor())


def test_sparse_kernel_matches_scipy_and_threads():
    from slth._numba import num_threads
    from slth.nets.mlp import matmul

    rng = np.random.default_rng(0)
    w = sparse.random(40, 30, density=0.2, format="csr", random_state=1)
    h = rng.normal(size=(30, 16))
    expected = mlp_forward([w.toarray()], None, None, h.T).T
    with num_threads(1):
        one = matmul(w, h)
    two = matmul(w, h)
    np.testing.assert_allclose(one, expected, rtol=1e-12, atol=1e-14)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("name", ["relu", "sigmoid"])
def test_without_dead_neurons_same_function(name):
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(6, 3)), rng.normal(size=(5, 6)), rng.normal(size=(2, 5))]
    ws[0][1] = 0.0          # no input (dead for relu, a constant for sigmoid)
    ws[1][:, 4] = 0.0       # no output
    ws[2][:, 2] = 0.0
    net = MLP([sparse.csr_matrix(w) for w in ws], [None, np.zeros(5), None], name)
    small = net.without_dead_neurons()
    x = rng.normal(size=(9, 3))
    np.testing.assert_allclose(small(x), net(x), rtol=1e-13, atol=1e-15)
    assert small.widths == ((3, 4, 4, 2) if name == "relu" else (3, 5, 4, 2))
