"""slth.lab: the optional PyTorch part (conversions, searchers, checks of searched tickets)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slth.nets import CNN, MLP, random_cnn_target, random_target

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=300)


def test_importing_slth_never_imports_torch():
    out = _run("import sys, slth, slth.tickets, slth.verify, slth.nets\n"
               "print('torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("use", ["from slth.lab import to_torch", "slth.lab.edge_popup",
                                 "import slth.lab.convert"])
def test_lab_without_torch_names_the_extra(use):
    # sys.modules[name] = None makes ``import name`` raise ImportError: torch "missing"
    out = _run(f"import sys\nsys.modules['torch'] = None\nimport slth.lab\n{use}")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and 'pip install "slth[lab]"' in out.stderr


@pytest.fixture(scope="module")
def lab():
    pytest.importorskip("torch")
    import slth.lab

    previous = slth.lab.set_threads(1)
    yield slth.lab
    slth.lab.set_threads(previous)


@pytest.fixture(scope="module")
def torch(lab):
    import torch

    return torch


def test_every_public_name_loads(lab):
    import types

    for name in lab.__all__:
        assert not isinstance(getattr(lab, name), types.ModuleType), name
    with pytest.raises(AttributeError, match="no attribute"):
        getattr(lab, "nothing_here")  # noqa: B009


# ------------------------------------------------------------------ threads
def test_torch_and_numba_run_in_one_process_with_the_counts_set(lab, torch):
    import numba

    from slth import rss

    values = np.random.default_rng(0).uniform(-1, 1, 12)
    n = min(2, numba.config.NUMBA_NUM_THREADS)
    net = random_target([3, 4, 2], seed=0)
    x = np.random.default_rng(1).uniform(-1, 1, (5, 3))
    with lab.threads(n):
        assert lab.get_threads() == {"torch": n, "numba": n}
        best = rss.solve_many(values, np.array([0.3, -0.7]))   # numba's parallel kernels
        assert numba.get_num_threads() == n
        out = lab.to_torch(net)(torch.from_numpy(x))            # a torch forward
        assert torch.get_num_threads() == n
    sums = [values[list(s)].sum() for k in range(13)
            for s in itertools.combinations(range(12), k)]
    brute = [min(abs(z - s) for s in sums) for z in (0.3, -0.7)]
    np.testing.assert_allclose(best.errors, brute, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), net(x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="numba"):
        lab.set_threads(10**6)
    with pytest.raises(ValueError, match="n\\['torch'\\]"):
        lab.set_threads(0)


# -------------------------------------------------------------- conversions
def _random_masks(params, seed):
    rng = np.random.default_rng(seed)
    return [rng.random(p.shape) < 0.6 for p in params]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softplus"])
def test_mlp_round_trip(lab, torch, activation):
    net = random_target([3, 6, 5, 2], activation=activation, bias=True, seed=1)
    masks = _random_masks(net.parameters(), 2)
    pruned = MLP([w * m for w, m in zip(net.weights, masks[0::2], strict=True)],
                 [b * m for b, m in zip(net.biases, masks[1::2], strict=True)],
                 net.activations)
    x = np.random.default_rng(3).uniform(-2, 2, (50, 3))
    m64 = lab.to_torch(net, masks)
    assert all(np.array_equal(a, b) for a, b in zip(m64.masks(), masks, strict=True))
    assert not any(p.requires_grad for p in m64.parameters())
    assert len(m64.masked_names()) == len(net.parameters())
    np.testing.assert_allclose(m64(torch.from_numpy(x)).numpy(), pruned(x), rtol=0,
                               atol=1e-12)
    m32 = lab.to_torch(net, masks, dtype="float32")
    out32 = m32(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(out32, pruned(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("pool, head", [(None, False), ("avg", False), ("max", True)])
def test_cnn_round_trip(lab, torch, pool, head):
    base = random_cnn_target([2, 3, 2], 3, padding=1, pool=pool, seed=0)
    rng = np.random.default_rng(1)
    net = CNN(base.kernels, [rng.normal(size=3), None], "relu", base.paddings, pool,
              rng.normal(size=(4, 2)) if head else None)
    masks = _random_masks(net.parameters(), 2)
    it = iter(masks)
    ks = [k * next(it) for k in net.kernels]
    bs = [b if b is None else b * m for b, m in zip(net.biases, [masks[1], None],
                                                     strict=True)]
    ks = [net.kernels[0] * masks[0], net.kernels[1] * masks[2]]
    pruned = CNN(ks, bs, "relu", net.paddings, pool,
                 None if not head else net.head * masks[3])
    x = rng.uniform(-1, 1, (4, 2, 6, 5))
    m64 = lab.to_torch(net, masks)
    assert all(np.array_equal(a, b) for a, b in zip(m64.masks(), masks, strict=True))
    np.testing.assert_allclose(m64(torch.from_numpy(x)).numpy(), pruned(x), rtol=0,
                               atol=1e-12)
    out32 = lab.to_torch(net, masks, "float32")(torch.from_numpy(x).float())
    np.testing.assert_allclose(out32.double().numpy(), pruned(x), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def pensia_ticket(lab):
    from slth.tickets import pensia

    return pensia(random_target([2, 3, 2], seed=0), eps=0.1, delta=0.1, seed=1, n=16)


def test_constructed_tickets_round_trip(lab, torch, pensia_ticket):
    from slth import verify
    from slth.tickets import cnn_unstructured

    cnn = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
                           seed=3, n=4)
    rng = np.random.default_rng(0)
    for t, x in ((pensia_ticket, rng.uniform(-1, 1, (40, 2))),
                 (cnn, rng.uniform(-1, 1, (3, 1, 6, 6)))):
        m = lab.to_torch(t)
        assert all(np.array_equal(a, b) for a, b in zip(m.masks(), t.masks, strict=True))
        np.testing.assert_allclose(m(torch.from_numpy(x)).numpy(), t(x), rtol=0, atol=1e-12)
        # the source from its spec: the same seed, the same weights
        src = lab.to_torch(t.spec)
        for a, b in zip(src.source_tensors(), t.source.parameters(), strict=True):
            assert np.array_equal(a.numpy(), np.asarray(b))
        u = lab.to_ticket(m, t, searcher="copy")
        assert type(u) is type(t)
        for p, q, mk, s in zip(u.network().parameters() if isinstance(t.target, MLP)
                               else u.weights, t.network().parameters()
                               if isinstance(t.target, MLP) else t.weights, u.masks,
                               t.source.parameters(), strict=True):
            dense = p.toarray() if hasattr(p, "toarray") else p
            assert np.array_equal(dense, s * mk)
            assert np.array_equal(dense, q.toarray() if hasattr(q, "toarray") else q)
        a, b = verify.check(t, samples=64), verify.check(u, samples=64)
        assert a.certified == b.certified and a.empirical == b.empirical
        assert "copy" in b.choices[-1]


def test_masks_must_fit(lab, pensia_ticket):
    net = random_target([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="one mask per parameter"):
        lab.to_torch(net, [np.ones((4, 3))])
    with pytest.raises(ValueError, match="shape"):
        lab.to_torch(net, [np.ones((3, 4)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="0/1"):
        lab.to_torch(net, [np.full((4, 3), 0.5), np.ones((2, 4))])
    with pytest.raises(ValueError, match="dtype"):
        lab.to_torch(net, dtype="float16")
    with pytest.raises(TypeError, match="net must be"):
        lab.to_torch([1, 2])
    with pytest.raises(ValueError, match="differs from the ticket's source"):
        lab.to_ticket(lab.to_torch(random_target([2, 64, 3, 96, 2], seed=5)), pensia_ticket,
                      searcher="x")


# ---------------------------------------------------------- certificates
def test_certificate_applies_within_the_layout_and_the_report_says_why_not(lab):
    from slth.tickets import burkholz, cnn_unstructured, pensia

    tickets = [
        pensia(random_target([2, 3, 2], seed=0), eps=0.1, delta=0.1, seed=1, n=4),
        burkholz(random_target([2, 3, 2], norm="max", bias=True, seed=0), eps=0.1,
                 delta=0.1, seed=1, n=4),
        cnn_unstructured(random_cnn_target([1, 2, 2], 3, seed=0), eps=0.2, delta=0.1,
                         seed=3, n=3),
    ]
    rng = np.random.default_rng(0)
    for t in tickets:
        support = lab.layout_support(t)
        assert all(np.all(m <= s) for m, s in zip(t.masks, support, strict=True))
        assert lab.certificate_gap(t) == ""
        m = lab.to_torch(t.spec)
        inside = lab.to_ticket(m, t, searcher="random",
                               masks=[s & (rng.random(s.shape) < 0.5) for s in support])
        assert lab.certificate_gap(inside) == ""
        r = lab.check(inside, samples=64)
        assert np.isfinite(r.certified) and r.empirical <= r.certified
        dense = lab.to_ticket(m, t, searcher="none", masks=[np.ones_like(s) for s in support])
        gap = lab.certificate_gap(dense)
        assert gap.startswith("ticket: layer")
        r = lab.check(dense, samples=64)
        assert r.certified == np.inf and r.choices[-1] == f"no certificate: {gap}"
        assert r.empirical > 0 and not r.meets_eps


def test_a_searched_ticket_with_a_wrong_mask_fails_its_check(lab, pensia_ticket):
    from slth import verify

    t = pensia_ticket
    good = lab.to_ticket(lab.to_torch(t), t, searcher="edge_popup")
    assert verify.check(good, samples=128).meets_eps
    masks = t.masks
    rng = np.random.default_rng(0)
    # keep the layout (the certificate applies), but shuffle the output layers' masks
    wrong = [m if l % 2 == 0 else rng.permutation(m.ravel()).reshape(m.shape)
             for l, m in enumerate(masks)]
    bad = lab.to_ticket(lab.to_torch(t.spec), t, searcher="edge_popup", masks=wrong)
    r = verify.check(bad, samples=128)
    assert lab.certificate_gap(bad) == ""
    assert r.empirical > r.eps and r.certified >= r.empirical and not r.meets_eps


# --------------------------------------------------------------- searchers
def _planted(hidden: int, seed: int = 0):
    """A random source and a target that is one of its sub-networks (half of each layer's
    weights for ``hidden`` > 0; a quarter of a linear layer's for ``hidden`` = 0)."""
    rng = np.random.default_rng(seed)
    if hidden == 0:
        W = [rng.uniform(-1, 1, (2, 8))]
        M = [np.zeros((2, 8), bool)]
        M[0][0, :2] = M[0][1, 2:4] = True
    else:
        W = [rng.uniform(-1, 1, (hidden, 2)), rng.uniform(-1, 1, (1, hidden))]
        M = [np.zeros((hidden, 2), bool), np.zeros((1, hidden), bool)]
        M[0][:hidden // 2] = M[1][0, :hidden // 2] = True
    target = MLP([w * m for w, m in zip(W, M, strict=True)], None, "relu")
    x = rng.uniform(-1, 1, (256, W[0].shape[1]))
    density = sum(m.sum() for m in M) / sum(m.size for m in M)
    return MLP(W, None, "relu"), target, M, x, float(density)


def _sup_error(source, masks, target, seed=1):
    found = MLP([w * m for w, m in zip(source.weights, masks, strict=True)], None, "relu")
    x = np.random.default_rng(seed).uniform(-1, 1, (2000, source.widths[0]))
    return float(np.abs(found(x) - target(x)).max())


@pytest.mark.parametrize("hidden", [0, 4])
def test_edge_popup_recovers_a_planted_ticket(lab, hidden):
    source, target, planted, x, density = _planted(hidden)
    m = lab.to_torch(source)
    r = lab.edge_popup(m, x, target(x), density=density, steps=300, lr=1.0, seed=0)
    assert r.losses[-1] < 1e-20 and r.density == density
    assert all(np.array_equal(a, b) for a, b in zip(r.masks, planted, strict=True))
    assert _sup_error(source, r.masks, target) < 1e-12


@pytest.mark.parametrize("hidden, tol", [(0, 1e-12), (4, 0.05)])
def test_gem_miner_recovers_a_planted_ticket(lab, hidden, tol):
    source, target, planted, x, density = _planted(hidden)
    m = lab.to_torch(source)
    r = lab.gem_miner(m, x, target(x), density=density, steps=300, rounds=1, lam=0.0,
                      lr=5.0, seed=0)
    assert r.density <= density and r.losses[-1] < tol**2
    assert _sup_error(source, r.masks, target) < tol
    if hidden == 0:
        assert all(np.array_equal(a, b) for a, b in zip(r.masks, planted, strict=True))


def test_searches_are_deterministic_for_a_seed(lab, pensia_ticket):
    t = pensia_ticket
    x = np.random.default_rng(0).uniform(-1, 1, (64, 2)) / np.sqrt(2)
    y = t.target(x)
    support = lab.layout_support(t)
    runs = []
    for search, kw in ((lab.edge_popup, {"scope": "global", "batch": 16}),
                       (lab.gem_miner, {"rounds": 2, "batch": 16})):
        out = [search(lab.to_torch(t.spec), x, y, density=0.05, steps=30, seed=seed,
                      support=support, **kw) for seed in (7, 7, 8)]
        assert all(np.array_equal(a, b) for a, b in zip(out[0].masks, out[1].masks,
                                                         strict=True))
        assert np.array_equal(out[0].losses, out[1].losses)
        assert not all(np.array_equal(a, b) for a, b in zip(out[0].masks, out[2].masks,
                                                             strict=True))
        assert all(np.all(m <= s) for m, s in zip(out[0].masks, support, strict=True))
        runs.append(out[0])
    assert runs[0].density <= 0.05 + 1e-12


def test_searched_ticket_is_checked_and_finetuning_is_not_a_ticket(lab, pensia_ticket,
                                                                    tmp_path):
    from slth import verify
    from slth.tickets import load

    t = pensia_ticket
    x = np.random.default_rng(0).uniform(-1, 1, (64, 2)) / np.sqrt(2)
    m = lab.to_torch(t.spec)
    r = lab.edge_popup(m, x, t.target(x), density=0.1, steps=20,
                       support=lab.layout_support(t))
    u = lab.to_ticket(m, t, searcher="edge_popup", timings={"search": r.seconds})
    report = verify.check(u, samples=64)
    assert report.empirical <= report.certified < np.inf
    path = tmp_path / "searched.npz"
    u.save(path)
    v = load(path)
    assert v.params["searcher"] == "edge_popup"
    assert tuple(v.params["choices"]) == u.params["choices"]
    assert all((a != b).nnz == 0 for a, b in zip(u.weights, v.weights, strict=True))
    assert u.params["searcher"] == "edge_popup"
    assert u.kept == sum(int(k.sum()) for k in r.masks)
    m = lab.to_torch(t.spec)
    g = lab.gem_miner(m, x, t.target(x), density=0.5, steps=20, rounds=0, finetune_steps=5)
    assert g.finetuned and 0 < g.density < 1
    with pytest.raises(ValueError, match="fine-tuned"):
        lab.to_ticket(m, t, searcher="gem_miner")


def test_search_arguments_are_checked(lab):
    m = lab.to_torch(random_target([2, 3, 1], seed=0))
    x, y = np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="density"):
        lab.edge_popup(m, x, y, density=0.0)
    with pytest.raises(ValueError, match="density"):
        lab.gem_miner(m, x, y, density=1.5)
    with pytest.raises(ValueError, match="scope"):
        lab.edge_popup(m, x, y, density=0.5, scope="row")
    with pytest.raises(ValueError, match="loss"):
        lab.edge_popup(m, x, y, density=0.5, loss="l1")
    with pytest.raises(ValueError, match="same number"):
        lab.edge_popup(m, x, y[:3], density=0.5)
    with pytest.raises(ValueError, match="support"):
        lab.gem_miner(m, x, y, density=0.5, support=[np.ones((3, 2), bool)])
    with pytest.raises(TypeError, match="MaskedMLP"):
        lab.edge_popup(random_target([2, 3, 1], seed=0), x, y, density=0.5)


def test_searches_on_a_cnn_source_give_a_checked_cnn_ticket(lab):
    from slth import verify
    from slth.tickets import CNNTicket, cnn_unstructured

    t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1, seed=3,
                         n=4)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 1, 5, 5))
    support = lab.layout_support(t)
    for search, kw in ((lab.edge_popup, {}), (lab.gem_miner, {"rounds": 1})):
        m = lab.to_torch(t.spec)
        r = search(m, x, t.target(x), density=0.3, steps=10, support=support, **kw)
        u = lab.to_ticket(m, t, searcher=r.searcher)
        assert isinstance(u, CNNTicket) and u.kept == sum(int(k.sum()) for k in r.masks)
        assert all(np.array_equal(w, s * k) for w, s, k in
                   zip(u.weights, t.source.parameters(), r.masks, strict=True))
        report = verify.check(u, samples=64)
        assert report.empirical <= report.certified < np.inf


# ------------------------------------------------------ subset sum by gradient
def test_rounded_relaxed_subset_sum_is_never_better_than_the_exact_optimum(lab):
    from slth import rss
    from slth.lab.subset_sum import relaxed_subset_sum, subset_sum_by_gradient

    out = subset_sum_by_gradient(10, 100, trials=2, steps=300, seed=3)
    assert out["relaxed"].shape == out["exact"].shape == (2, 100)
    assert np.all(out["relaxed"] >= out["exact"])
    assert np.all(out["exact"] <= out["covering"][:, None] + 1e-15)
    # the errors are those of the subsets returned (recomputed here), and the exact
    # optimum is that of a brute force over all subsets
    rng = np.random.default_rng(0)
    values, z = rng.uniform(-1, 1, 8), rng.uniform(-1, 1, 30)
    masks, errors = relaxed_subset_sum(values, z, steps=300)
    np.testing.assert_allclose(errors, np.abs(z - (values * masks).sum(axis=1)), atol=1e-15)
    sums = np.array([values[list(s)].sum() for k in range(9)
                     for s in itertools.combinations(range(8), k)])
    brute = np.abs(z[:, None] - sums[None, :]).min(axis=1)
    np.testing.assert_allclose(rss.solve_many(values, z).errors, brute, atol=1e-12)
    assert np.all(errors >= brute - 1e-12)
    with pytest.raises(ValueError, match="values must have shape"):
        relaxed_subset_sum(np.ones((2, 3)), [0.1, 0.2, 0.3])
