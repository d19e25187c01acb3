"""Malach et al. 2020: the width formula, the one-pair construction, its certificate, and the
neuron- against weight-pruning experiment, each against an independent answer."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import sympy as sp
from naive import mlp_forward
from scipy import integrate, sparse

from slth import bounds
from slth.experiments import plots
from slth.experiments.neuron_pruning import (
    exact_subset,
    greedy_subset,
    lp_bound,
    max_error,
    neuron_features,
    neuron_vs_weight,
)
from slth.experiments.registry import CONSTRUCTIONS, run_config
from slth.experiments.slack import ticket_slack
from slth.nets import MLP, random_target
from slth.tickets import malach
from slth.verify import certified_error, check

RELU = lambda v: max(v, 0.0)  # noqa: E731


# ---------------------------------------------------------------------- bounds
def test_width_formula_closed_form():
    w, eps, delta = [3, 4, 2], 0.1, 0.05
    # by hand: L = 2, D = max(sqrt(12), sqrt(8)); 2 * (12 + 8) = 40 sign-split problems
    eps_w = eps / (2 * 2 * math.sqrt(12) * 1.0)
    term = math.log(40 / delta) / eps_w**2
    assert bounds.malach_term(w, eps, delta) == pytest.approx(term, rel=1e-12)
    assert bounds.malach_n(w, eps, delta) == math.ceil(4.0 * term)
    assert bounds.malach_n(w, eps, delta, C=0.5) == math.ceil(0.5 * term)
    f = bounds.FORMULAS["malach"]
    assert f.C == bounds.MALACH_C and f.origin == "placeholder"
    assert f.n(w, eps, delta) == bounds.malach_n(w, eps, delta)
    assert "Malach et al. 2020" in f.label() and "placeholder" in f.label()
    # polynomial in 1/eps: a tenth of eps, about a hundred times the width
    assert bounds.malach_n(w, eps / 10, delta) > 90 * bounds.malach_n(w, eps, delta)


@pytest.mark.parametrize("d,L,eps,delta", [(2, 1, 0.1, 0.1), (4, 3, 0.03, 0.01)])
def test_sympy_expression_matches_function(d, L, eps, delta):
    e = bounds.malach_n_expr()
    s = {str(x): x for x in e.free_symbols}
    value = float(e.subs({s["d"]: d, s["L"]: L, s["epsilon"]: eps, s["delta"]: delta,
                          s["C"]: 1.0}))
    assert value == pytest.approx(bounds.malach_term([d] * (L + 1), eps, delta), rel=1e-12)
    assert sp.diff(e, s["epsilon"]).subs({s["d"]: 2, s["L"]: 1, s["epsilon"]: 0.1,
                                          s["delta"]: 0.1, s["C"]: 1}) < 0


@pytest.mark.parametrize("w", [-1.0, -0.6, 0.0, 0.3, 0.97, 1.0])
@pytest.mark.parametrize("e", [0.02, 0.1, 0.3])
def test_good_pair_probability_behind_the_constant(w, e):
    """P(|u| v within e of w) >= e^2 / 4 for u, v uniform on [-1, 1] (MALACH_C's
    derivation), by numerical integration over the unit square of (|u|, v)."""
    def inside(v, a):
        return 1.0 if abs(a * v - w) <= e else 0.0

    # |u| = a uniform on [0, 1], v uniform on [-1, 1]: density 1/2; v's interval is exact
    def length(a):
        lo, hi = max(-1.0, (w - e) / a), min(1.0, (w + e) / a)
        return max(0.0, hi - lo)

    p, _ = integrate.quad(lambda a: length(a) / 2.0, 1e-12, 1.0, limit=200)
    assert p >= e**2 / 4 * (1 - 1e-9)
    rng = np.random.default_rng(0)
    a, v = rng.uniform(0, 1, 200_000), rng.uniform(-1, 1, 200_000)
    assert np.mean(np.abs(a * v - w) <= e) == pytest.approx(p, abs=5e-3)


# ---------------------------------------------------------------- construction
@pytest.fixture(scope="module")
def small():
    return malach(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1, n=40)


def test_ticket_prunes_and_forward_matches_naive(small):
    src = small.source
    for p, m, q in zip(src.parameters(), small.masks, small.network().dense().parameters(),
                       strict=True):
        assert np.array_equal(p * m, q)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (5, 3))
    masked = [p * m for p, m in zip(src.parameters(), small.masks, strict=True)]
    assert np.allclose(small(x), mlp_forward(masked, None, RELU, x), atol=1e-12)


def test_each_pair_is_the_best_single_neuron(small):
    """Brute force over the dense source: per target weight and sign, the smallest
    |u_k v_jk - w_ji| over the block (or |w| when no neuron beats keeping none)."""
    t, m = small.target.dense(), small.params["block"]
    for l in range(t.depth):
        U = small.source.weights[2 * l]
        V = small.source.weights[2 * l + 1]
        Vk = small.weights[2 * l + 1].toarray()
        for j, i in itertools.product(*map(range, t.weights[l].shape)):
            w = t.weights[l][j, i]
            block = np.arange(i * m, (i + 1) * m)
            u = U[block, i]
            for side, sign in (("pos", u > 0), ("neg", u < 0)):
                key = f"layer{l + 1}_{side}"
                if l > 0 and side == "neg":
                    assert key not in small.errors
                    assert not Vk[j, block[sign]].any()     # dead neurons never kept
                    continue
                errs = np.abs(u[sign] * V[j, block[sign]] - w)
                best = min(abs(w), errs.min(initial=np.inf))
                assert small.errors[key][j, i] == best
                kept = np.flatnonzero(Vk[j, block[sign]])
                assert kept.size <= 1                       # one neuron per sign
                if kept.size:
                    assert errs[kept[0]] == best


def test_formula_width_is_certified_and_reproducible():
    target = random_target([2, 2, 1], seed=3)
    t = malach(target, eps=0.1, delta=0.1, seed=5)
    assert t.params["n"] == t.params["formula_n"] == bounds.malach_n([2, 2, 1], 0.1, 0.1)
    r = check(t, samples=256, starts=1)
    assert r.ok and r.empirical <= r.certified <= 0.1
    again = malach(target, eps=0.1, delta=0.1, seed=5, threads=1)
    assert all(np.array_equal(a, b) for a, b in zip(t.masks, again.masks, strict=True))


def test_certificate_fails_on_a_bad_ticket():
    t = malach(random_target([2, 2, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=2000)
    assert check(t, samples=128, starts=1).meets_eps
    w = t.weights[1].tocoo()
    big = int(np.argmax(np.abs(w.data)))        # drop the largest kept output weight
    keep = np.arange(w.nnz) != big
    bad = sparse.csr_matrix((w.data[keep], (w.row[keep], w.col[keep])), shape=w.shape)
    bad_t = dataclasses.replace(t, weights=(t.weights[0], bad) + t.weights[2:])
    r = check(bad_t, samples=256, starts=2)
    assert r.empirical > 0.1 and r.certified >= r.empirical and not r.meets_eps
    assert certified_error(bad_t)[0] > certified_error(t)[0]


def test_too_narrow_fails():
    r = check(malach(random_target([2, 2, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=2),
              samples=256, starts=2)
    assert r.empirical > 0.1 and not r.meets_eps


def test_bad_input():
    t = random_target([2, 2, 1], seed=0)
    with pytest.raises(ValueError, match="dist must be 'uniform' for malach"):
        malach(t, eps=0.1, delta=0.1, n=4, dist="normal")
    with pytest.raises(ValueError, match="eps"):
        malach(t, eps=1.5, delta=0.1, n=4)
    with pytest.raises(ValueError, match="n"):
        malach(t, eps=0.1, delta=0.1, n=0)
    with pytest.raises(ValueError, match="relu"):
        malach(MLP(t.weights, t.biases, "tanh"), eps=0.1, delta=0.1, n=4)
    big = MLP([3 * w for w in t.weights], t.biases, "relu")
    with pytest.raises(ValueError, match="spectral norm"):
        malach(big, eps=0.1, delta=0.1, n=4)


def test_sweep_rows_and_slack():
    c = CONSTRUCTIONS["malach"]
    assert c.default_C == bounds.MALACH_C and c.dists == ("uniform",)
    out = run_config({"experiment": "malach", "widths": [2, 2, 1], "activation": "relu",
                      "eps": 0.1, "delta": 0.1, "n": None, "width_factor": 0.001,
                      "seed": 0, "C": c.default_C, "dist": "uniform", "samples": 64,
                      "starts": 1})
    assert out["formula_n"] == bounds.malach_n([2, 2, 1], 0.1, 0.1)
    assert out["n"] == round(0.001 * out["formula_n"])
    assert out["empirical"] <= out["certified"]
    row = ticket_slack("malach", eps=0.2, seeds=2, samples=64, starts=1)
    assert row.certified_n < row.formula_n
    f = bounds.FORMULAS["malach"]
    assert f.n([2, 2, 1], 0.2, 0.1, C=row.implied_C) == row.certified_n


# ------------------------------------------------------------- neuron pruning
def _random_problem(N, m=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (m, N)), rng.uniform(-1, 1, m)


@pytest.mark.parametrize("N,seed", [(1, 0), (6, 1), (10, 2)])
def test_exact_subset_against_brute_force(N, seed):
    Phi, y = _random_problem(N, seed=seed)
    best = min(max_error(Phi, y, np.array(s)) for s in itertools.product([0, 1], repeat=N))
    s, err, optimal = exact_subset(Phi, y)
    assert optimal and err == pytest.approx(best, abs=1e-7)
    assert lp_bound(Phi, y) <= best + 1e-9
    assert max_error(Phi, y, greedy_subset(Phi, y)) >= best - 1e-12


def test_greedy_stops_at_a_local_optimum():
    Phi, y = _random_problem(12, seed=4)
    s = greedy_subset(Phi, y)
    base = np.sum((y - Phi @ s) ** 2)
    for k in range(12):
        flipped = s.copy()
        flipped[k] = ~flipped[k]
        assert np.sum((y - Phi @ flipped) ** 2) >= base - 1e-12


def test_neuron_features_are_the_source_network():
    r_source = malach(MLP([np.array([[0.6, 0.8]])], [None], "relu"), eps=0.5, delta=0.5,
                      seed=2, n=5).source
    X = np.random.default_rng(0).standard_normal((7, 2))
    Phi = neuron_features(r_source.weights[0], r_source.weights[1][0], X)
    assert np.allclose(Phi.sum(axis=1), r_source(X)[:, 0], atol=1e-12)
    loop = [[r_source.weights[1][0, k] * max(0.0, float(r_source.weights[0][k] @ x))
             for k in range(Phi.shape[1])] for x in X]
    assert np.allclose(Phi, loop, atol=1e-14)


def test_neuron_vs_weight_bounds_are_ordered():
    r = neuron_vs_weight(d=2, n=3, samples=64, seed=1)
    assert r["hidden"] == 12 and r["exact_optimal"]
    assert r["lp_bound"] <= r["exact"] + 1e-9 <= r["greedy"] + 2e-9
    assert r["weight_sample"] <= r["weight_certified"]


def test_weight_pruning_beats_greedy_neuron_pruning_in_dimension_8():
    """The finding the experiment reports (d = 8, N = 2048 hidden neurons): the greedy
    neuron subset stays far above the weight-pruned ticket's certified error."""
    r = neuron_vs_weight(d=8, n=128, samples=128, seed=0)
    assert r["greedy"] > 3 * r["weight_certified"]


def test_registered_experiment_and_figure():
    rows = [{"experiment": "malach_neuron_pruning",
             **run_config({"experiment": "malach_neuron_pruning", "d": 2, "n": n,
                           "samples": 32, "seed": 0, "exact_max": 8, "time_limit": 10.0})}
            for n in (1, 2)]
    fig, data = plots.neuron_pruning(rows)
    assert data[2]["hidden"].tolist() == [4.0, 8.0]
    assert data[2]["greedy"].tolist() == [r["greedy"] for r in rows]
    assert data[2]["exact"].tolist() == [r["exact"] for r in rows]
    with pytest.raises(ValueError, match="no malach_neuron_pruning rows"):
        plots.neuron_pruning([])


def test_cli_builds_and_saves_a_malach_ticket(tmp_path, capsys):
    from slth.cli import main
    from slth.tickets import load

    out = tmp_path / "m.npz"
    assert main(["ticket", "build", "--construction", "malach", "--widths", "2,2,1",
                 "--eps", "0.1", "--delta", "0.1", "--n", "50", "--out", str(out),
                 "--no-progress", "--json"]) == 0
    t = load(out)
    assert t.params["construction"] == "malach" and t.params["C"] == bounds.MALACH_C
    direct = malach(random_target([2, 2, 1], seed=0), eps=0.1, delta=0.1, seed=0, n=50)
    assert all(np.array_equal(a, b) for a, b in zip(t.masks, direct.masks, strict=True))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--construction", "malach", "--widths", "2,2,1",
              "--max-values", "8", "--out", str(out)])
    assert "--max-values applies to subset-sum constructions" in capsys.readouterr().err


def test_formula_widths_counts_the_source_malach_draws():
    from slth.experiments.constructions import formula_widths

    (row,) = formula_widths([0.1], [2, 2, 1], constructions=["malach"])
    assert row["formula_n"] == bounds.malach_n([2, 2, 1], 0.1, 0.1)
    t = malach(random_target([2, 2, 1], seed=0), eps=0.1, delta=0.1, seed=0, n=7)
    count = CONSTRUCTIONS["malach"].source_params(t.target, {"dist": "uniform"}, 7)
    assert count == t.spec.n_params
