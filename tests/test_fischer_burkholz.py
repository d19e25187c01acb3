"""slth.tickets.fischer_burkholz: depth-2L tickets with a bias block (Fischer & Burkholz 2021).

Every figure is checked against an independent answer: subset sums by enumeration, the
forward pass by loops, the certificate against dense sampling and a brute-force grid, the
scaled He identity in closed form, the width formula against its sympy expression.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import sympy as sp
from naive import best_subset_error, grid_sup_error, mlp_forward
from scipy import sparse

from slth import bounds
from slth.experiments.constructions import CONSTRUCTIONS
from slth.nets import MLP, random_target
from slth.tickets import fischer_burkholz, load
from slth.tickets.fischer_burkholz import (
    fischer_burkholz_sklearn,
    he_scaled_target,
    he_scales,
    sklearn_target,
)
from slth.verify import certified_error, check
from slth.verify.domain import sample_ball


def _target(widths=(3, 4, 2), seed=0):
    return random_target(list(widths), bias=True, seed=seed)


@pytest.fixture(scope="module", params=["uniform", "normal", "he"])
def ticket(request):
    return fischer_burkholz(_target(), eps=0.1, delta=0.1, seed=1, dist=request.param)


@pytest.fixture(scope="module")
def small():
    # n = 3: blocks of 6, every candidate within max_values: the solver is exact
    return fischer_burkholz(_target((2, 3, 2), seed=4), eps=0.1, delta=0.1, seed=5, n=3)


def test_pruned_is_source_times_mask(ticket):
    src = ticket.source
    pruned = ticket.network().dense()
    for p, m, q in zip(src.parameters(), ticket.masks, pruned.parameters(), strict=True):
        assert m.dtype == bool and m.shape == p.shape
        assert np.array_equal(p * m, q)
    assert ticket.widths == bounds.fischer_burkholz_widths((3, 4, 2), ticket.params["n"])
    assert all(b is not None for b in src.biases)          # non-zero source biases


def test_forward_matches_loops(ticket):
    src = ticket.source
    masked = [p * m for p, m in zip(src.parameters(), ticket.masks, strict=True)]
    ws, bs = masked[0::2], masked[1::2]
    x = np.random.default_rng(1).normal(size=(3, 3)) / 2
    np.testing.assert_allclose(ticket(x), mlp_forward(ws, bs, lambda v: max(v, 0.0), x),
                               rtol=1e-9, atol=1e-14)


def _realised(ticket, l):
    """Effective weights (u > 0 side, u < 0 side) and bias of target layer ``l``, by loops
    over the kept entries of the pruned network."""
    U = ticket.weights[2 * l].toarray()
    V = ticket.weights[2 * l + 1].toarray()
    c = ticket.biases[2 * l]
    d_out, d_in = V.shape[0], U.shape[1]
    pos, neg, bias = np.zeros((d_out, d_in)), np.zeros((d_out, d_in)), np.zeros(d_out)
    for j in range(d_out):
        for s in range(U.shape[0]):
            if V[j, s] == 0.0:
                continue
            i = np.flatnonzero(U[s])
            if i.size:
                u = U[s, i[0]]
                if u > 0:
                    pos[j, i[0]] += V[j, s] * u
                else:
                    neg[j, i[0]] += V[j, s] * u
            else:
                bias[j] += V[j, s] * max(c[s], 0.0)
    return pos, neg, bias


def test_recorded_errors_are_achieved(ticket):
    t = ticket.target.dense()
    for l in range(t.depth):
        pos, neg, bias = _realised(ticket, l)
        np.testing.assert_allclose(ticket.errors[f"layer{l + 1}_pos"],
                                   np.abs(pos - t.weights[l]), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(ticket.errors[f"layer{l + 1}_bias"],
                                   np.abs(bias - t.biases[l]), rtol=1e-9, atol=1e-15)
        if l == 0:
            np.testing.assert_allclose(ticket.errors["layer1_neg"],
                                       np.abs(neg - t.weights[0]), rtol=1e-9, atol=1e-15)


def test_subset_sums_are_optimal(small):
    """With every candidate searched, each error is the best subset sum (enumeration)."""
    spec, t, m = small.spec, small.target.dense(), small.params["block"]
    for l in range(t.depth):
        Wh, bh = spec.layer(2 * l)
        Wo, _ = spec.layer(2 * l + 1)
        d_in = t.widths[l]
        u = Wh[np.arange(m * d_in), np.arange(m * d_in) // m]
        c = bh[m * d_in:]
        for j in range(t.widths[l + 1]):
            prods = Wo[j, m * d_in:] * c
            want = best_subset_error(prods[c > 0], t.biases[l][j])
            assert small.errors[f"layer{l + 1}_bias"][j] == pytest.approx(want, abs=1e-12)
            for i in range(d_in):
                block = np.arange(i * m, (i + 1) * m)
                p = Wo[j, block] * u[block]
                want = best_subset_error(p[u[block] > 0], t.weights[l][j, i])
                assert small.errors[f"layer{l + 1}_pos"][j, i] == pytest.approx(want, abs=1e-12)


def test_bias_neurons_layout(ticket):
    m = ticket.params["block"]
    for l in range(ticket.target.depth):
        d_in = ticket.target.widths[l]
        U = ticket.weights[2 * l].tocsr()
        counts = np.diff(U.indptr)
        bm = ticket.bias_masks[2 * l]
        assert not bm[:m * d_in].any() and counts[m * d_in:].sum() == 0
        assert (ticket.biases[2 * l][bm] > 0).all()        # only relu(c) = c > 0 is used
        assert not ticket.bias_masks[2 * l + 1].any()


def test_certified_bounds_dense_sampling(ticket):
    r = check(ticket, samples=256, starts=2)
    x = sample_ball(np.random.default_rng(7), 20000, 3, 1.0)
    sampled = float(np.max(np.linalg.norm(ticket(x) - ticket.target(x), axis=1)))
    assert sampled <= r.certified and r.empirical <= r.certified
    assert r.ok and r.at_formula_width and r.certified <= r.eps


def test_certificate_matches_grid_in_one_dimension():
    t = fischer_burkholz(_target((1, 3, 2), seed=2), eps=0.1, delta=0.1, seed=3, n=2)
    grid = grid_sup_error(t.target, t, 1.0, 1, 20001)
    cert, _ = certified_error(t)
    assert grid <= cert


def test_checker_fails_on_bad_ticket():
    good = fischer_burkholz(_target(), eps=0.1, delta=0.1, seed=1)
    assert check(good, samples=128, starts=1).ok
    # dropping the bias neurons leaves the weights right and the biases wrong
    bm = list(good.bias_masks)
    b = list(good.biases)
    bm[0] = np.zeros_like(bm[0])
    b[0] = np.zeros_like(b[0])
    bad = dataclasses.replace(good, biases=tuple(b), bias_masks=tuple(bm))
    r = check(bad, samples=256, starts=2)
    assert not r.ok and r.eps < r.empirical <= r.certified


def test_univariate_bias_is_refused():
    t = fischer_burkholz(_target(), eps=0.1, delta=0.1, seed=1, n=2)
    bm = [m.copy() for m in t.bias_masks]
    bm[0][0] = True
    with pytest.raises(ValueError, match="bias of a univariate neuron"):
        certified_error(dataclasses.replace(t, bias_masks=tuple(bm)))
    U = t.weights[2].tolil()
    U[U.shape[0] - 1, 0] = 0.5                 # a bias neuron with an input
    ws = t.weights[:2] + (U.tocsr(),) + t.weights[3:]
    with pytest.raises(ValueError, match="univariate"):
        certified_error(dataclasses.replace(t, weights=ws))


def test_he_source_is_a_scaled_normal_source():
    """Positive homogeneity: a scaled He ReLU network is S_2L times the network with unit
    weights and bias scale beta (closed form), and so is the scaled target."""
    ticket = fischer_burkholz(_target(), eps=0.1, delta=0.1, seed=1, n=3, dist="he",
                              bias_factor=0.3)
    spec, beta = ticket.spec, ticket.params["bias_factor"]
    scale = float(np.prod(spec.weight_scale))
    assert ticket.params["output_scale"] == pytest.approx(scale)
    src = ticket.source.dense()
    ws = [w / s for w, s in zip(src.weights, spec.weight_scale, strict=True)]
    bs = [b / sb * beta for b, sb in zip(src.biases, spec.bias_scale, strict=True)]
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(src(x), scale * MLP(ws, bs, "relu")(x), rtol=1e-10, atol=1e-14)
    f = _target()
    np.testing.assert_allclose(ticket.target(x), scale * f(x), rtol=1e-10, atol=1e-16)
    assert ticket.params["eps"] == pytest.approx(0.1 * scale) and beta == 0.3
    w, b = he_scales(ticket.widths, beta)
    assert w[0] == pytest.approx(math.sqrt(2 / 3)) and b[1] == pytest.approx(beta * w[0] * w[1])


def test_he_scaled_target_identity():
    f = _target((3, 5, 4, 2), seed=9)
    s = (0.5, 2.0, 0.3, 0.7, 1.5, 0.2)
    x = np.random.default_rng(1).normal(size=(6, 3))
    np.testing.assert_allclose(he_scaled_target(f, s)(x), np.prod(s) * f(x), rtol=1e-12)


def test_same_seed_same_ticket_across_threads():
    f = _target()
    a = fischer_burkholz(f, eps=0.1, delta=0.1, seed=3, threads=1)
    b = fischer_burkholz(f, eps=0.1, delta=0.1, seed=3, threads=2)
    for x, y in zip(a.mask_sparse(), b.mask_sparse(), strict=True):
        x, y = (x.toarray(), y.toarray()) if sparse.issparse(x) else (x, y)
        assert np.array_equal(x, y)
    assert all(np.array_equal(a.errors[k], b.errors[k]) for k in a.errors)


def test_save_load_roundtrip(tmp_path, ticket):
    path = tmp_path / "t.npz"
    ticket.save(path)
    u = load(path)
    x = np.random.default_rng(2).normal(size=(4, 3)) / 2
    assert np.array_equal(u(x), ticket(x)) and u.spec.weight_scale == ticket.spec.weight_scale


def test_bias_free_target():
    f = random_target([3, 4, 2], seed=0)
    t = fischer_burkholz(f, eps=0.1, delta=0.1, seed=1)
    assert np.all(t.errors["layer1_bias"] == 0.0) and not t.bias_masks[0].any()
    assert check(t, samples=64, starts=1).certified < 0.1


@pytest.mark.parametrize("kwargs,match", [
    ({"dist": "nsn"}, "dist"), ({"eps": 1.5}, "eps"), ({"bias_factor": -1.0}, "bias_factor"),
    ({"n": 0}, "n"), ({"C": 0.0}, "C"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fischer_burkholz(_target(), **{"eps": 0.1, "delta": 0.1, **kwargs})


def test_refuses_outside_assumptions():
    with pytest.raises(ValueError, match="relu"):
        fischer_burkholz(random_target([3, 4, 2], activation="tanh", bias=True, seed=0))
    big = random_target([3, 4, 2], bias=True, bound=2.0, seed=0)
    with pytest.raises(ValueError, match="spectral norm"):
        fischer_burkholz(big, eps=0.1, delta=0.1)
    t = fischer_burkholz(big, eps=0.1, delta=0.1, n=2, check_assumptions=False)
    assert t.params["assumption_violations"]


# ------------------------------------------------------------------- the formula
@pytest.mark.parametrize("d,L", [(3, 2), (10, 3), (50, 1)])
def test_expr_matches_function(d, L):
    e = bounds.fischer_burkholz_n_expr()
    sym = {s.name: s for s in e.free_symbols}
    val = e.subs({sym["d"]: d, sym["L"]: L, sym["epsilon"]: 0.01, sym["delta"]: 0.05,
                  sym["C"]: 3.0})
    assert math.ceil(float(sp.N(val)) - 1e-9) == bounds.fischer_burkholz_n([d] * (L + 1),
                                                                          0.01, 0.05)


def test_formula_pieces():
    w = [4, 9, 2]
    assert bounds.fischer_burkholz_weight_eps(w, 0.1) == pytest.approx(
        0.1 / (2 * 2 * math.sqrt(9 * 5)))
    assert bounds.fischer_burkholz_problems(w) == 9 * 9 + 2 * 19
    f = bounds.FORMULAS["fischer_burkholz"]
    assert f.origin == "calibrated" and "Fischer & Burkholz 2021" in f.label()
    assert f.n(w, 0.1, 0.1) == bounds.fischer_burkholz_n(w, 0.1, 0.1)
    c = CONSTRUCTIONS["fischer_burkholz"]
    assert c.dists == ("uniform", "normal", "he")


# ------------------------------------------------------------------- scikit-learn
class _FakeModel:
    """The attributes of a fitted scikit-learn MLP that sklearn_target reads."""

    def __init__(self, seed=0, activation="relu"):
        rng = np.random.default_rng(seed)
        self.coefs_ = [rng.normal(size=(3, 5)) * 2, rng.normal(size=(5, 2))]
        self.intercepts_ = [rng.normal(size=5) * 3, rng.normal(size=2)]
        self.activation = activation


def test_sklearn_target_normalises_by_homogeneity():
    model = _FakeModel()
    f, scale = sklearn_target(model)
    x = np.random.default_rng(0).normal(size=(4, 3))
    h = np.maximum(x @ model.coefs_[0] + model.intercepts_[0], 0.0)
    logits = h @ model.coefs_[1] + model.intercepts_[1]
    np.testing.assert_allclose(scale * f(x), logits, rtol=1e-10, atol=1e-12)
    for w, b in zip(f.weights, f.biases, strict=True):
        assert np.linalg.norm(w, 2) <= 1 + 1e-12 and np.abs(b).max() <= 1 + 1e-12
    with pytest.raises(ValueError, match="activation"):
        sklearn_target(_FakeModel(activation="tanh"))
    with pytest.raises(ValueError, match="fitted"):
        sklearn_target(object())


def test_sklearn_mlp_ticket():
    nn = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    x = sample_ball(rng, 200, 3, 1.0)
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]
    with warnings.catch_warnings():         # a short fit: convergence does not matter here
        warnings.simplefilter("ignore")
        model = nn.MLPRegressor(hidden_layer_sizes=(6,), max_iter=300, random_state=0).fit(x, y)
    ticket, scale = fischer_burkholz_sklearn(model, eps=0.1, delta=0.1, seed=1)
    cert, _ = certified_error(ticket)
    assert cert <= 0.1
    got = scale * ticket(x)[:, 0]
    assert np.max(np.abs(got - model.predict(x))) <= scale * cert


def test_cli_build_and_verify(tmp_path, capsys):
    import json

    from slth.cli import main

    out = tmp_path / "t.npz"
    assert main(["ticket", "build", "--construction", "fischer_burkholz", "--widths", "3,4,2",
                 "--bias", "--dist", "he", "--eps", "0.1", "--delta", "0.1", "--out", str(out),
                 "--json", "--no-progress"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["params"]["dist"] == "he" and built["n"] == built["formula_n"]
    code = main(["verify", str(out), "--samples", "64", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["ok"] else 1) and report["empirical"] <= report["certified"]
    assert report["eps"] == pytest.approx(0.1 * built["params"]["output_scale"])
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--construction", "pensia", "--widths", "3,4,2", "--dist",
              "he", "--out", str(out)])
    assert "--dist he applies to fischer_burkholz only" in capsys.readouterr().err


def test_lab_layout_support_covers_the_ticket():
    from slth.lab.checks import certificate_gap, layout_support

    t = fischer_burkholz(_target(), eps=0.1, delta=0.1, seed=1, n=3)
    support = layout_support(t)
    assert all(np.all(a <= b) for a, b in zip(t.masks, support, strict=True))
    assert certificate_gap(t) == ""
    bm = [m.copy() for m in t.bias_masks]
    bm[0][0] = True                         # outside the support: a univariate bias
    assert not support[1][0] and "univariate" in certificate_gap(
        dataclasses.replace(t, bias_masks=tuple(bm)))
