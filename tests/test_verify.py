"""slth.verify: lower bound <= upper bound, the checker can fail, brute-force grids."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from naive import grid_sup_error
from scipy import sparse

from slth.nets import MLP, random_target
from slth.tickets import burkholz, pensia
from slth.verify import certified_error, check, empirical_error, sample_ball

KINDS = ["pensia", "relu", "leaky_relu", "tanh", "sigmoid", "softplus"]


def _build(kind, widths=(3, 4, 2), n=None, seed=0, eps=0.1, delta=0.1):
    if kind == "pensia":
        return pensia(random_target(widths, seed=seed), eps=eps, delta=delta, seed=seed, n=n)
    t = random_target(widths, norm="max", bias=True, activation=kind, seed=seed)
    return burkholz(t, eps=eps, delta=delta, seed=seed, n=n)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 3, None])
@pytest.mark.parametrize("norm", ["l2", "inf"])
def test_empirical_below_certified(kind, n, norm):
    t = _build(kind, n=n, seed=1)
    r = check(t, samples=256, seed=0, norm=norm, starts=2)
    assert 0.0 < r.empirical <= r.certified
    assert r.ok == (r.empirical <= r.certified and (not r.at_formula_width or r.meets_eps))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_formula_width_is_certified(kind, seed):
    t = _build(kind, seed=seed)
    r = check(t, samples=256, seed=seed, starts=2)
    assert r.at_formula_width and r.n == r.formula_n
    assert r.certified <= r.eps and r.ok
    assert r.widths == r.formula_widths


@pytest.mark.parametrize("kind", KINDS)
def test_too_narrow_fails(kind):
    t = _build(kind, n=1, seed=0)
    r = check(t, samples=256, seed=0, starts=2)
    assert not r.meets_eps
    assert r.empirical > r.eps          # the failure is real, not an artefact of the bound


def _tamper(ticket, layer):
    """Drop half of the kept weights of one layer (a ticket that is not the proof's)."""
    w = ticket.weights[layer].tocoo()
    keep = np.arange(w.nnz) % 2 == 0
    bad = sparse.csr_matrix((w.data[keep], (w.row[keep], w.col[keep])), shape=w.shape)
    ws = list(ticket.weights)
    ws[layer] = bad
    return dataclasses.replace(ticket, weights=tuple(ws))


@pytest.mark.parametrize("kind,layer", [("pensia", 1), ("pensia", 3), ("relu", 1), ("relu", 2),
                                        ("tanh", 1), ("sigmoid", 1), ("sigmoid", 2)])
def test_checker_fails_on_bad_ticket(kind, layer):
    good = _build(kind, seed=0)
    assert check(good, samples=128, starts=1).ok
    bad = _tamper(good, layer)
    r = check(bad, samples=256, starts=2)
    assert r.at_formula_width and not r.ok and not r.meets_eps
    assert r.eps < r.empirical <= r.certified


def test_wrong_layout_is_refused():
    t = _build("pensia", n=2)
    U = t.weights[0].tolil()
    U[0, 1] = 0.5            # a hidden neuron with two inputs
    ws = (U.tocsr(),) + t.weights[1:]
    with pytest.raises(ValueError, match="univariate"):
        certified_error(dataclasses.replace(t, weights=ws))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dim", [1, 2])
def test_empirical_matches_brute_force_grid(kind, dim):
    t = _build(kind, widths=(dim, 5, 2), n=2, seed=3)
    emp, x = empirical_error(t, radius=1.0, samples=64, seed=0, starts=4)
    grid = grid_sup_error(t.target, t, 1.0, dim, 20001 if dim == 1 else 1600)
    assert np.linalg.norm(x) <= 1.0 + 1e-12
    assert emp == pytest.approx(grid, rel=2e-3, abs=1e-9)
    assert emp <= certified_error(t)[0]


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "tanh"])
@pytest.mark.parametrize("n", [2, 4])
def test_certified_bounds_the_grid_sup_of_a_deeper_ticket(kind, n):
    """Three layers on a 2-D input and narrow sources, so that every layer's weight errors
    have both signs: the certified bound (signed error matrices in the l2 propagation)
    stays above the sup error found on a dense grid."""
    t = _build(kind, widths=(2, 5, 4, 2), n=n, seed=7)
    grid = grid_sup_error(t.target, t, 1.0, 2, 1600)
    assert 0.0 < grid <= certified_error(t)[0]


def test_one_layer_closed_form():
    # one target weight row, input dimension 1: the sup error is max(||eA||, ||eB||) * radius
    w = np.array([[0.6], [-0.3]])
    t = pensia(MLP([w], None, []), eps=0.1, delta=0.1, seed=2, n=2)
    eA, eB = t.errors["layer1_pos"][:, 0], t.errors["layer1_neg"][:, 0]
    exact = 2.0 * max(np.linalg.norm(eA), np.linalg.norm(eB))
    emp, _ = empirical_error(t, radius=2.0, samples=64, seed=0)
    assert emp == pytest.approx(exact, rel=1e-12)
    cert = certified_error(t, radius=2.0)[0]
    assert exact <= cert <= np.sqrt(2.0) * exact * (1 + 1e-9)


def test_sample_ball_inside():
    rng = np.random.default_rng(0)
    x = sample_ball(rng, 1000, 4, 2.0)
    r = np.linalg.norm(x, axis=1)
    assert r.max() <= 2.0 + 1e-12 and np.sum(np.isclose(r, 2.0)) >= 500
    y = sample_ball(rng, 1000, 4, 2.0, norm="inf")
    assert np.abs(y).max() <= 2.0 and np.sum(np.isclose(np.abs(y).max(1), 2.0)) >= 500


def test_report_fields_and_bad_input():
    t = _build("relu", n=2)
    r = check(t, samples=64, starts=1)
    s = r.summary()
    assert s["n"] == 2 and s["eps"] == 0.1 and "certified" in str(r)
    with pytest.raises(ValueError, match="radius"):
        check(t, radius=0.0)
    with pytest.raises(ValueError, match="norm"):
        check(t, norm="l1")
    with pytest.raises(ValueError, match="samples"):
        check(t, samples=0)
    with pytest.raises(TypeError, match="Ticket"):
        check("ticket.npz")


def test_check_runs_on_the_tickets_domain_unless_told_otherwise():
    t = pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=0, n=4, radius=2.0)
    r = check(t, samples=64, starts=1)
    assert (r.radius, r.norm, r.domain_note) == (2.0, "l2", "")
    assert "domain_note" not in r.summary()
    assert certified_error(t)[0] == certified_error(t, 2.0, "l2")[0]
    assert empirical_error(t, samples=64, starts=0)[0] == \
        empirical_error(t, 2.0, samples=64, starts=0, norm="l2")[0]
    r1 = check(t, radius=1.0, samples=64, starts=1)
    assert r1.radius == 1.0 and r1.certified < r.certified
    assert r1.domain_note == ("checked on the l2 ball of radius 1; the ticket was built for "
                              "radius 2") == r1.summary()["domain_note"]
    assert "built for radius 2" in str(r1)
    r2 = check(t, norm="inf", samples=64, starts=1)
    assert r2.domain_note == ("checked on the max-norm ball of radius 2; the ticket was "
                              "built for the l2 ball of radius 2")
    with pytest.raises(ValueError, match="norm must be one of 'l2', 'inf'; got 'l1'"):
        certified_error(t, norm="l1")


def test_report_shows_source_and_used_widths():
    t = burkholz(random_target([3, 4, 2], norm="max", bias=True, seed=0), eps=0.1, delta=0.1,
                 seed=0, n=30, copies_read=10)
    r = check(t, samples=64, starts=1)
    assert r.widths == t.widths and r.used_widths == t.used_widths
    assert r.used_widths[1] < r.widths[1] and r.used_widths[2] < r.widths[2]
    s = r.summary()
    assert s["source_widths"] == "-".join(map(str, t.widths))
    assert s["used_widths"] == "-".join(map(str, t.used_widths))
    assert r.activation_note == "" and "activation_note" not in s


def test_assumption_violation_reported():
    big = random_target([2, 3, 1], bound=1.5, seed=0)
    t = pensia(big, eps=0.1, delta=0.1, seed=0, check_assumptions=False)
    r = check(t, samples=64, starts=1)
    assert r.assumption_violations and not r.ok


def test_cli_build_and_verify(tmp_path, capsys):
    import json

    from slth.cli import main

    out = tmp_path / "t.npz"
    assert main(["ticket", "build", "--construction", "burkholz", "--widths", "3,4,2", "--bias",
                 "--eps", "0.1", "--delta", "0.1", "--out", str(out), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["n"] == built["formula_n"] and out.exists()
    assert main(["verify", str(out), "--samples", "64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["empirical"] <= report["certified"] <= 0.1
    # a too-narrow ticket fails the eps check; verify still exits 0 (not the formula's width)
    assert main(["ticket", "build", "--construction", "pensia", "--widths", "3,4,2", "--n", "1",
                 "--eps", "0.1", "--out", str(out)]) == 0
    capsys.readouterr()
    main(["verify", str(out), "--samples", "64", "--json"])
    narrow = json.loads(capsys.readouterr().out)
    assert narrow["meets_eps"] is False and narrow["radius"] == 1.0
    assert narrow["source_widths"] == [3, 6, 4, 8, 2] and "domain_note" not in narrow
    # another ball than the ticket's: checked there, and said so
    main(["verify", str(out), "--samples", "64", "--radius", "2"])
    text = capsys.readouterr().out
    assert "note: checked on the l2 ball of radius 2; the ticket was built for radius 1" in text
    assert "used_widths" in text and "source_widths" in text
    assert main(["ticket", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "used_widths" in info and "used_sparsity" in info
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--widths", "3,4,2", "--eps", "2", "--out", str(out)])
    assert main(["ticket", "build", "--widths", "3,4,2", "--bias", "--eps", "0.1", "--n", "12",
                 "--max-values", "4", "--copies-read", "5", "--out", str(out), "--json",
                 "--no-refine"]) == 0
    capsys.readouterr()
    from slth.tickets.ticket import load

    params = load(out).params
    assert params["copies_read"] == 5 and params["max_values"] == 4
    assert params["refine"] is False and params["refine_tols"] is None
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--construction", "pensia", "--widths", "3,4,2",
              "--copies-read", "5", "--out", str(out)])
    assert "--copies-read applies to burkholz only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--construction", "pensia", "--widths", "3,4,2",
              "--no-refine", "--out", str(out)])
    assert "--no-refine applies to burkholz only" in capsys.readouterr().err
    assert main(["ticket", "build", "--widths", "3,4,2", "--bias", "--eps", "0.1", "--n", "60",
                 "--first-layer", "tree", "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert load(out).params["first_layer"] == "tree"
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--construction", "pensia", "--widths", "3,4,2",
              "--first-layer", "tree", "--out", str(out)])
    assert "--first-layer applies to burkholz only" in capsys.readouterr().err


def test_custom_activation_ticket():
    from slth.nets import activations

    act = activations.custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1 / 6, 3),
                             name="sin")
    base = random_target([3, 4, 2], norm="max", bias=True, seed=0)
    t = burkholz(MLP(base.weights, base.biases, act), eps=0.1, delta=0.1, seed=0)
    r = check(t, samples=256, starts=2)
    assert r.empirical <= r.certified <= r.eps and r.ok
    # the certificate rests on the declared constants, and the report says so
    assert "custom activation 'sin'" in r.activation_note and "not proved" in r.activation_note
    assert "tangent remainder K = 0.166667, p = 3" in r.summary()["activation_note"]
    # the same sine declared with a tangent remainder 1e-6 is refused: its ticket was
    # certified at 1.1e-4 with a true error of 0.012
    with pytest.raises(ValueError, match=r"remainder: declared K=1e-06 \(p=3\)"):
        activations.custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1e-6, 3))
    narrow = burkholz(MLP(base.weights, base.biases, act), eps=0.1, delta=0.1, seed=0, n=1)
    r = check(narrow, samples=256, starts=2)
    assert r.empirical <= r.certified and not r.meets_eps


def test_cli_target_from_arrays(tmp_path, capsys):
    import json

    from slth.cli import main

    t = random_target([3, 4, 2], norm="max", bias=True, activation="tanh", seed=0)
    np.savez(tmp_path / "target.npz", W0=t.weights[0], W1=t.weights[1], b0=t.biases[0],
             b1=t.biases[1], activation="tanh")
    out = tmp_path / "t.npz"
    assert main(["ticket", "build", "--target", str(tmp_path / "target.npz"), "--eps", "0.1",
                 "--delta", "0.1", "--n", "4", "--out", str(out), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["params"]["activation"] == "tanh" and built["n"] == 4
    assert main(["ticket", "info", str(out)]) == 0
    assert "burkholz" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ticket", "build", "--target", str(out), "--out", str(tmp_path / "x.npz")])


@pytest.mark.parametrize("shape", [(5, 3), (40, 700), (5000, 30), (1100, 1300)])
@pytest.mark.parametrize("as_sparse", [False, True])
@pytest.mark.parametrize("density", [0.3, 0.02])         # sparse Gram below 5 %
def test_opnorm_is_an_upper_bound(shape, as_sparse, density, monkeypatch):
    from slth.nets import norms

    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape) * (rng.random(shape) < density)
    exact = np.linalg.norm(a, 2)
    m = sparse.csr_matrix(a) if as_sparse else a
    assert exact <= norms.opnorm(m) <= exact * (1 + 1e-8) + 1e-299
    # the fallback for large matrices (Schur / Frobenius) is a valid, looser bound
    monkeypatch.setattr(norms, "GRAM_DENSE_BYTES", 0)      # densified chunk by chunk,
    monkeypatch.setattr(norms, "GRAM_CHUNK", 7)            # many chunks: still exact
    assert exact <= norms.opnorm(m) <= exact * (1 + 1e-8) + 1e-299
    monkeypatch.setattr(norms, "GRAM_SIDE", 1)
    fallback = norms.opnorm(m)
    assert exact <= fallback <= min(np.linalg.norm(a), np.sqrt(
        np.abs(a).sum(1).max() * np.abs(a).sum(0).max())) * (1 + 1e-9)


def test_lanczos_estimate_is_confirmed_or_replaced():
    """From EIGSH_SIDE on, the Lanczos estimate must pass a Cholesky certificate; an
    estimate below the largest eigenvalue fails it and eigvalsh decides."""
    from slth.nets import norms

    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, (1200, 900))
    g = a @ a.T
    lam = np.linalg.eigvalsh(g)[-1]
    bound = norms.largest_eigenvalue_bound(g)
    assert lam <= bound <= lam * (1 + 2e-8)
    low = lambda *args, **kw: np.array([0.9 * lam])           # noqa: E731
    original = norms.eigsh
    norms.eigsh = low
    try:
        assert norms.largest_eigenvalue_bound(g) == lam
    finally:
        norms.eigsh = original


@pytest.mark.parametrize("seed", [0, 1])
def test_wider_burkholz_target_is_certified_at_the_formula_width(seed):
    """100-50-10 at eps = 0.01 (58 copies): certified within eps. The failed subset sums
    of the first layer are bounded by their spectral norm (0.0175 row by row)."""
    target = random_target((100, 50, 10), norm="max", bias=True, seed=seed)
    t = burkholz(target, eps=0.01, delta=0.01, seed=seed, progress=False)
    r = check(t, samples=256, seed=0, starts=1, maxiter=20)
    assert r.at_formula_width and r.empirical <= r.certified <= r.eps and r.ok


@pytest.mark.parametrize("seed", [4, 5])
def test_deeper_burkholz_target_is_certified(seed):
    """Three target layers at the formula's width: certified within eps (22 values per
    subset-sum problem; the copies of each neuron amplify the per-weight errors)."""
    target = random_target((12, 10, 8, 3), norm="max", bias=True, seed=seed)
    t = burkholz(target, eps=0.05, delta=0.05, seed=seed, max_values=22)
    r = check(t, samples=512, seed=0, starts=2)
    assert r.at_formula_width and r.empirical <= r.certified <= r.eps and r.ok


def test_sigmoid_coarse_bias_offset_is_cancelled():
    """A sigmoid target (phi(0) = 1/2): the coarse bias neurons must cancel the offset of
    the kept univariate neurons. With 20 values, the window of the largest magnitudes left
    residuals up to 67 in five copies (certified 435); the further window of mixed
    magnitudes brings every bias error below 1e-4 and the ticket within eps."""
    target = random_target((100, 30, 20, 10), activation="sigmoid", norm="max", bias=True,
                           seed=0)
    t = burkholz(target, eps=0.05, delta=0.05, seed=1, max_values=20, progress=False)
    assert np.nanmax(t.errors["layer1_bias"]) < 1e-4
    r = check(t, samples=256, seed=0, starts=1, maxiter=20)
    assert r.at_formula_width and r.empirical <= r.certified <= r.eps and r.ok


@pytest.mark.parametrize("kind", KINDS)
def test_folded_network_is_the_same_function(kind):
    from slth.verify import folded_network

    t = _build(kind, n=5, seed=3)
    folded = folded_network(t)
    if kind in ("tanh", "sigmoid", "softplus"):
        assert folded is None
        return
    x = sample_ball(np.random.default_rng(1), 200, 3, 1.5)
    y = t(x)
    np.testing.assert_allclose(folded(x), y, rtol=1e-12, atol=1e-12 * np.abs(y).max())
    # far fewer stored entries than the pruned network for wide tickets is the point;
    # here: the folded first pair has 2 d_0 hidden units
    assert folded.widths[1] == 2 * t.widths[0]


@pytest.mark.parametrize("kind", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("widths", [(3, 4, 2), (3, 5, 4, 2)])
def test_smooth_fold_is_the_same_function_with_its_gradient(kind, widths):
    """The polynomial fold of a smooth univariate layer computes the ticket's function
    (up to the network's own rounding) and its vector-Jacobian products on the ball."""
    from slth.verify import smooth_folded_network

    t = _build(kind, widths=widths, n=6, seed=3, eps=0.02)
    fold = smooth_folded_network(t, 1.5)
    assert fold is not None
    x = sample_ball(np.random.default_rng(1), 100, 3, 1.5)
    y = t(x)
    np.testing.assert_allclose(fold(x), y, rtol=0, atol=1e-9 * np.abs(y).max())
    c = np.random.default_rng(2).normal(size=y.shape)
    g = t.network().vjp(x, c)
    np.testing.assert_allclose(fold.vjp(x, c), g, rtol=0, atol=1e-7 * np.abs(g).max())


def test_smooth_fold_is_refused_where_it_disagrees(monkeypatch):
    """Too low a degree cannot follow the univariate neurons beyond their linear regime:
    the fold disagrees with the network and the search falls back to the network, with
    about the same reported error; so does a fold too large for the memory cap."""
    import importlib

    fold = importlib.import_module("slth.verify.fold")
    target = random_target((3, 4, 2), norm="max", bias=True, activation="tanh", seed=0)
    t = burkholz(target, eps=0.1, delta=0.1, seed=1, n=6, alpha=0.5)
    assert fold.smooth_folded_network(t, 1.0) is not None
    found = empirical_error(t, samples=128, seed=0)[0]
    monkeypatch.setattr(importlib.import_module("slth._validate"), "DEFAULT_MAX_BYTES", 1000)
    assert fold.smooth_folded_network(t, 1.0) is None     # would not fit
    monkeypatch.undo()
    monkeypatch.setattr(fold, "SMOOTH_FOLD_DEGREE", 1)
    assert fold.smooth_folded_network(t, 1.0) is None
    # ReLU-like first layers fold exactly (folded_network), one-layer targets included
    assert fold.smooth_folded_network(_build("relu"), 1.0) is None
    assert fold.smooth_folded_network(_build("tanh", widths=(3, 2)), 1.0) is None
    # both searches find about the same worst error (each one a true lower bound)
    assert empirical_error(t, samples=128, seed=0)[0] == pytest.approx(found, rel=1e-2)


@pytest.mark.parametrize("kind", ["relu", "leaky_relu"])
def test_deeper_folded_network_drops_unread_copies(kind):
    """Three target layers: the folded network keeps only the neurons of the later hidden
    layer that the next layer reads, computes the ticket's function, and so does its
    densified copy for batched passes."""
    from slth.tickets.ticket import read_columns
    from slth.verify import folded_network
    from slth.verify.search import _for_batches

    t = _build(kind, widths=(3, 5, 4, 2), n=12, seed=2)
    folded = folded_network(t)
    read = int(np.count_nonzero(read_columns(t.weights[3])))
    assert read < t.widths[3] and folded.widths[3] == read
    x = sample_ball(np.random.default_rng(1), 200, 3, 1.5)
    y = t(x)
    for net in (folded, _for_batches(folded)):
        np.testing.assert_allclose(net(x), y, rtol=1e-12, atol=1e-12 * np.abs(y).max())
    assert not any(sparse.issparse(w) for w in _for_batches(folded).weights[2:])


def test_fold_matches_sparse_products_and_is_shared_within_check():
    """``[V U+ | -V U-]`` against scipy's products, on all rows, a subset of rows (some
    without entries) and through the cache of one check; a U with several input weights
    for one neuron is refused (and has no folded network)."""
    from slth.verify.fold import folded_layer, shared_folds

    rng = np.random.default_rng(4)
    n_hidden, d = 40, 6
    has = rng.random(n_hidden) < 0.8                      # some neurons without input
    u = np.where(rng.random(n_hidden) < 0.1, 0.0, rng.uniform(-1, 1, n_hidden))
    U = sparse.csr_matrix((u[has], (np.flatnonzero(has), rng.integers(0, d, has.sum()))),
                          shape=(n_hidden, d))
    V = sparse.random(9, n_hidden, density=0.4, random_state=rng, format="csr")
    V = sparse.csr_matrix(V.multiply(np.arange(9)[:, None] % 3 != 0))   # rows without entries
    up, un = U.copy(), U.copy()
    up.data = np.where(U.data > 0, U.data, 0.0)
    un.data = np.where(U.data < 0, U.data, 0.0)
    expected = np.hstack([(V @ up).toarray(), -(V @ un).toarray()])
    ticket = type("T", (), {"weights": (U, V)})()
    rows = np.array([0, 2, 3, 8])
    np.testing.assert_allclose(folded_layer(ticket, 0), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(folded_layer(ticket, 0, rows), expected[rows], rtol=1e-13,
                               atol=1e-15)
    with shared_folds() as cache:
        whole = folded_layer(ticket, 0)
        part = folded_layer(ticket, 0, rows)
        assert len(cache) == 1 and not whole.flags.writeable
    np.testing.assert_allclose(whole, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(part, whole[rows])
    two = U.tolil()
    two[np.flatnonzero(has)[0], (U.indices[0] + 1) % d] = 0.5
    with pytest.raises(ValueError, match="not univariate"):
        folded_layer(type("T", (), {"weights": (two.tocsr(), V)})(), 0)


def test_folded_network_refuses_a_modified_layout():
    from slth.verify import folded_network

    t = _build("relu", n=3, seed=2)
    U = t.weights[0].tolil()
    U[0, 1] = 0.25                          # a univariate neuron with a second input
    modified = dataclasses.replace(t, weights=(U.tocsr(),) + tuple(t.weights[1:]))
    assert folded_network(t) is not None and folded_network(modified) is None
    emp, worst = empirical_error(modified, samples=64, seed=0, starts=1)
    # recomputed on one input (matrix-vector products), reported from a batch: a tolerance
    assert emp == pytest.approx(
        float(np.linalg.norm(modified.target(worst[None]) - modified(worst[None]))), rel=1e-12)


def test_column_subset_matches_fancy_indexing():
    from slth.verify.fold import column_subset

    rng = np.random.default_rng(5)
    w = sparse.random(7, 12, density=0.3, random_state=rng, format="csr")
    read = np.flatnonzero(np.bincount(w.indices, minlength=12) > 0)
    for cols in (read, read[::2], np.array([], dtype=np.int64)):
        got = column_subset(w, cols)
        assert got.shape == (7, cols.size)
        np.testing.assert_array_equal(got.toarray(), w.toarray()[:, cols])


def test_empirical_error_reports_the_ticket_itself():
    t = _build("relu", n=3, seed=2)
    emp, worst = empirical_error(t, samples=128, seed=0, starts=2)
    # recomputed on one input (matrix-vector products), reported from a batch: a tolerance
    assert emp == pytest.approx(float(np.linalg.norm(t.target(worst[None]) - t(worst[None]))),
                                rel=1e-12)


def test_first_layer_products_get_the_product_constant():
    """The draws of ``slth verify-bounds`` for burkholz ReLU 4-4-2 at the formula's width.

    With a first-layer block of n per sign, seed 0 drew a block whose positive products
    summed to 0.546 < 0.962 (its target weight): an error of 0.416. The block of
    ceil(5 n / 3) per sign (the product constant) certifies every seed.
    """
    for s in range(5):
        tt, ts, _ = np.random.SeedSequence(s).spawn(3)
        t = burkholz(random_target([4, 4, 2], norm="max", bias=True, seed=tt), eps=0.1,
                     delta=0.1, seed=ts)
        assert t.params["block"] == 2 * 42 and t.at_formula_width
        r = check(t, samples=128, seed=0, starts=1)
        assert r.empirical <= r.certified <= 0.1 and r.ok


def test_check_is_bit_identical_across_thread_counts():
    """The fold and the sparse products give each row to one thread: same report."""
    from slth._numba import num_threads

    t = _build("relu", widths=(5, 6, 4, 2), n=6, seed=7)
    reports = []
    for threads in (1, 2):
        with num_threads(threads):
            reports.append(check(t, samples=128, seed=0, starts=1))
    a, b = reports
    assert a.empirical == b.empirical and a.certified == b.certified
    np.testing.assert_array_equal(a.worst_input, b.worst_input)


def test_empirical_error_does_not_depend_on_blas_threads():
    """The local search gives the same input and error on one BLAS thread and on several.

    OpenBLAS's kernels for older CPUs (forced here, so that the check runs on any
    machine) round L-BFGS-B's vector operations differently with more threads: a sweep
    row computed in the main process (all BLAS threads) then differed in the last bit from
    the same row computed by a pool worker (one BLAS thread)."""
    import os
    import subprocess
    import sys

    code = (
        "from threadpoolctl import threadpool_limits\n"
        "from slth.experiments.grid import Sweep\n"
        "from slth.experiments.registry import run_config\n"
        "grid = {'experiment': 'pensia', 'widths': [3, 3, 2], 'eps': 0.1,\n"
        "        'width_factor': [0.2, 0.4], 'samples': 64, 'starts': 1, 'seeds': 3}\n"
        "for task in Sweep([grid], name='blas').tasks():\n"
        "    for threads in (1, 2):\n"
        "        with threadpool_limits(threads, user_api='blas'):\n"
        "            print(repr(run_config(task.config, 1)['empirical']))\n")
    env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split("\n")
    pairs = list(zip(out[0:12:2], out[1:12:2], strict=True))
    assert len(pairs) == 6 and all(a == b for a, b in pairs)


def test_report_names_the_choices_that_depart_from_the_paper():
    """A smooth burkholz ticket's report lists the linear-regime scale and (phi(0) != 0)
    the coarse bias neurons; a pensia ticket's lists none."""
    sig = random_target([3, 4, 2], norm="max", bias=True, seed=0, activation="sigmoid")
    t = burkholz(sig, eps=0.1, delta=0.1, seed=1, n=6)
    r = check(t, samples=32, starts=0)
    assert r.choices == tuple(t.params["choices"])
    assert any(c.startswith("linear_regime_scale: alpha = ") for c in r.choices)
    assert any(c.startswith("coarse_bias_neurons: ") for c in r.choices)
    assert "choices" in r.summary() and "linear_regime_scale" in str(r)
    p = check(pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1, n=4),
              samples=32, starts=0)
    assert p.choices == () and "choices" not in p.summary()
