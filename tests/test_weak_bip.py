"""Inertial-manifold diagnostics: exact Hessian, spectral gaps, sampled Lipschitz constant."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slth.lab.data import load_dataset  # noqa: E402
from slth.lab.imp import lenet  # noqa: E402
from slth.lab.inertial import (  # noqa: E402
    diagnose,
    exact_hessian,
    flat_loss,
    full_gradient,
    negative_fraction,
    predicted_dimension,
    remainder_lipschitz,
)

pytestmark = pytest.mark.usefixtures("lab_one_thread")


@pytest.fixture(scope="module")
def teacher():
    return load_dataset("teacher", seed=1, samples=200, widths=(5, 8, 3))


def test_gradient_and_hessian_against_finite_differences(teacher):
    net = lenet(teacher.features, teacher.classes, (6,), seed=2)
    theta, loss = flat_loss(net, teacher.x_train, teacher.y_train)
    t = theta.numpy()
    g = full_gradient(loss, t)
    h = exact_hessian(loss, t)
    assert h.shape == (t.size, t.size) == (5 * 6 + 6 + 6 * 3 + 3,) * 2
    f = lambda v: float(loss(torch.as_tensor(v)).detach())  # noqa: E731
    step = 1e-5
    rng = np.random.default_rng(0)
    for i in rng.choice(t.size, 8, replace=False):
        e = np.zeros(t.size)
        e[i] = step
        # central differences of the loss for the gradient, of the gradient for the Hessian
        assert abs((f(t + e) - f(t - e)) / (2 * step) - g[i]) < 1e-7
        col = (full_gradient(loss, t + e) - full_gradient(loss, t - e)) / (2 * step)
        np.testing.assert_allclose(h[:, i], col, atol=1e-7)
    # the check can fail: a perturbed Hessian is caught
    bad = h.copy()
    bad[0, 0] += 1e-4
    i = 0
    e = np.zeros(t.size)
    e[i] = step
    col = (full_gradient(loss, t + e) - full_gradient(loss, t - e)) / (2 * step)
    assert np.abs(bad[:, i] - col).max() > 1e-5
    # flat_loss leaves the model as it was (float32, same weights)
    assert next(net.parameters()).dtype == torch.float32
    with torch.no_grad():
        direct = torch.nn.functional.cross_entropy(net(torch.as_tensor(teacher.x_train)),
                                                   torch.as_tensor(teacher.y_train))
    assert f(t) == pytest.approx(float(direct), abs=1e-6)


def test_predicted_dimension_and_negative_fraction_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(50):
        eig = np.sort(rng.exponential(size=12) * rng.choice([-1, 1], size=12, p=[0.2, 0.8]))
        two_lip = float(rng.exponential())
        brute = next((n for n in range(1, 12) if eig[n] - eig[n - 1] > two_lip), None)
        assert predicted_dimension(eig, two_lip) == brute
        assert negative_fraction(eig) == sum(v < 0 for v in eig) / 12
    with pytest.raises(ValueError, match="two_lip must be >= 0"):
        predicted_dimension([0.0, 1.0], -1.0)


def test_remainder_lipschitz_closed_forms():
    a = np.diag([1.0, 3.0, 5.0])
    # a quadratic loss: the remainder vanishes
    assert remainder_lipschitz(lambda t: a @ t, np.ones(3), a, radius=2.0) < 1e-12
    # grad = A t + sin(t): the remainder is -sin, 1-Lipschitz, close to 1 near 0
    lip = remainder_lipschitz(lambda t: a @ t + np.sin(t), np.zeros(3), a, radius=0.01,
                              pairs=16, seed=1)
    assert 0.99 < lip <= 1.0
    # with the Hessian of the sin term left out the estimate sees it: |A - H| = 5
    lip_bad = remainder_lipschitz(lambda t: a @ t, np.zeros(3), np.zeros((3, 3)), radius=1.0,
                                  pairs=64, seed=1)
    assert 1.0 <= lip_bad <= 5.0 + 1e-12
    assert remainder_lipschitz(lambda t: a @ t + np.sin(t), np.zeros(3), a, radius=0.01,
                               pairs=16, seed=1) == lip          # seeded
    with pytest.raises(ValueError, match="radius must be > 0"):
        remainder_lipschitz(lambda t: t, np.zeros(2), np.eye(2), radius=0.0)


def test_diagnose_consistent_and_deterministic(teacher):
    kw = dict(hidden=(6,), epochs=3, early_steps=2, pairs=4, sparsities=[0.0, 0.5, 0.9], seed=4)
    r = diagnose(teacher, **kw)
    again = diagnose(teacher, **kw)
    for key, value in r.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(again[key]), err_msg=key)
    eig = r["eigenvalues"]
    assert r["parameters"] == eig.size == 5 * 6 + 6 + 6 * 3 + 3
    assert np.all(np.diff(eig) >= 0)
    np.testing.assert_array_equal(r["gaps"], np.diff(eig))
    assert r["predicted_dimension"] == predicted_dimension(eig, 2 * r["lip"])
    assert r["dissipative"] == (r["negative_fraction"] == 0.0)
    assert r["prunable"] == 30 and 0 <= r["essential_kept"] <= 30
    other = diagnose(teacher, **{**kw, "seed": 5})
    assert not np.array_equal(other["eigenvalues"], eig)


def test_smoke_through_the_store(tmp_path):
    pytest.importorskip("sklearn")
    from slth.experiments.plots import plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store
    from slth.experiments.weak_bip import SMOKE

    sweep = {"name": "inertial-smoke", "grid": [SMOKE["inertial_manifold"]]}
    path = tmp_path / "im.sqlite"
    summary = run(sweep, path, workers=1, progress=False)
    assert (summary.finished, summary.failed) == (1, 0)
    with Store(path, readonly=True) as st:
        row, = st.rows("inertial_manifold")
    assert row["parameters"] == 64 * 8 + 8 + 8 * 10 + 10 == len(row["eigenvalues"])
    assert row["conditions_hold"] == (row["dissipative"] and row["gap_condition"])
    files = plot_store(path, "inertial-manifold", tmp_path)
    assert [p.rsplit("/", 1)[1] for p in files] == ["inertial_manifold.png"]


# ------------------------------------------------------------------------ BiP
def test_topk_mask_exact_count_and_straight_through():
    from slth.lab.bip import topk_mask

    rng = np.random.default_rng(0)
    s = torch.as_tensor(rng.standard_normal(50)).requires_grad_(True)
    for k in (1, 7, 50):
        m = topk_mask(s.abs(), k)
        assert int(m.sum()) == k and set(m.detach().tolist()) <= {0.0, 1.0}
        kept = np.sort(np.abs(s.detach().numpy()))[::-1][:k]
        assert np.array_equal(np.sort(np.abs(s.detach().numpy()[m.detach().numpy() == 1]))[::-1],
                              kept)
    w = torch.as_tensor(rng.standard_normal(50))
    (topk_mask(s.abs(), 7) * w).sum().backward()
    # straight through the top-k, then through |s|: grad = w * sign(s)
    np.testing.assert_array_equal(s.grad.numpy(), (w * torch.sign(s.detach())).numpy())


def _tiny(seed=0):
    from slth.lab.bip import masked_forward  # noqa: F401

    net = lenet(4, 3, (5,), seed=seed).double()
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    params = [p.detach().clone() for layer in layers for p in (layer.weight, layer.bias)]
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.standard_normal((20, 4)))
    y = torch.as_tensor(rng.integers(0, 3, 20))
    masks = [torch.as_tensor((rng.random((5, 4)) < 0.6).astype(float))]
    return layers, params, masks, x, y


def test_implicit_term_against_finite_differences():
    from slth.lab.bip import implicit_term, masked_forward

    layers, params, masks, x, y = _tiny()
    eta = 0.3
    g_m, imp = implicit_term(layers, params, masks, x, y, eta)

    def loss(m, th):
        return torch.nn.functional.cross_entropy(masked_forward(layers, th, [m], x), y)

    def grad_theta(m):
        th = [p.clone().requires_grad_(True) for p in params]
        return torch.autograd.grad(loss(m, th), th)

    v = grad_theta(masks[0])                       # fixed direction grad_theta l

    def dot(m):                                    # grad_theta l(m, theta) . v
        return float(sum((a * b).sum() for a, b in zip(grad_theta(m), v, strict=True)))

    h = 1e-6
    fd_imp = np.zeros((5, 4))
    fd_gm = np.zeros((5, 4))
    for i in range(5):
        for j in range(4):
            e = torch.zeros(5, 4, dtype=torch.float64)
            e[i, j] = h
            fd_imp[i, j] = -eta * (dot(masks[0] + e) - dot(masks[0] - e)) / (2 * h)
            fd_gm[i, j] = (float(loss(masks[0] + e, params)) - float(loss(masks[0] - e, params))
                           ) / (2 * h)
    np.testing.assert_allclose(imp[0].numpy(), fd_imp, atol=1e-7)
    np.testing.assert_allclose(g_m[0].numpy(), fd_gm, atol=1e-7)
    assert np.abs(fd_imp).max() > 1e-4            # not trivially zero
    # the check can fail: the reference's diagonal stand-in differs from the exact term
    diag = -eta * g_m[0].numpy() * (grad_theta(masks[0])[0].numpy())
    assert np.abs(diag - fd_imp).max() > 1e-5


@pytest.fixture(scope="module")
def trained(teacher):
    from slth.lab.imp import train

    net = lenet(teacher.features, teacher.classes, (16, 8), seed=0)
    train(net, teacher.x_train, teacher.y_train, epochs=5, order_seed=0)
    return net


def test_bip_masks_density_pruning_only_and_determinism(teacher, trained):
    import copy

    from slth.lab.bip import bip
    from slth.lab.imp import _weight, get_masks, prunable_layers

    runs = []
    for _ in range(2):
        net = copy.deepcopy(trained)
        masks, _ = bip(net, teacher.x_train, teacher.y_train, density=0.1, epochs=2, seed=3)
        runs.append((net, masks))
    (a, ma), (b, mb) = runs
    prunable = 5 * 16 + 16 * 8
    assert sum(int(m.sum()) for m in ma) == round(0.1 * prunable)
    assert all(np.array_equal(p, q) for p, q in zip(ma, mb, strict=True))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert all(np.array_equal(p, q) for p, q in zip(get_masks(a), ma, strict=True))
    for layer, m in zip(prunable_layers(a), ma, strict=True):     # a ticket only prunes
        assert torch.equal(layer.weight, _weight(layer) * torch.as_tensor(m).float())
    # BiP moves the weights (HYDRA does not, below)
    assert not torch.equal(_weight(prunable_layers(a)[0]), _weight(prunable_layers(trained)[0]))


def test_hydra_keeps_the_weights_before_finetuning(teacher, trained):
    import copy

    from slth.lab.bip import bip
    from slth.lab.imp import _weight, prunable_layers

    net = copy.deepcopy(trained)
    masks, _ = bip(net, teacher.x_train, teacher.y_train, density=0.3, epochs=2,
                   mode="hydra", finetune_epochs=0)
    for la, lb in zip(prunable_layers(net), prunable_layers(trained), strict=True):
        assert torch.equal(_weight(la), lb.weight)
    with pytest.raises(ValueError, match="mode must be one of"):
        bip(net, teacher.x_train, teacher.y_train, density=0.3, mode="imp")
    with pytest.raises(ValueError, match="density must be in"):
        bip(net, teacher.x_train, teacher.y_train, density=0.0)


def test_bip_smoke_through_the_store(tmp_path):
    from slth.experiments.plots import plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store
    from slth.experiments.weak_bip import SMOKE

    sweep = {"name": "bip-smoke", "grid": [SMOKE["bip"]]}
    path = tmp_path / "bip.sqlite"
    summary = run(sweep, path, workers=1, progress=False)
    assert (summary.finished, summary.failed) == (1, 0)
    assert run(sweep, path, workers=1, progress=False).skipped == 1
    with Store(path, readonly=True) as st:
        row, = st.rows("bip")
    again = run_config_of(SMOKE["bip"])
    for key in ("dense_accuracy", "bip_accuracy", "hydra_accuracy",
                "one_shot_finetune_accuracy", "imp_accuracy", "imp_density"):
        assert row[key] == again[key], key                       # deterministic
    # IMP's nearest levels: 0.8^7 ~ 0.21 and 0.8^13 ~ 0.055
    assert [round(d, 2) for d in row["imp_density"]] == [0.21, 0.05]
    files = plot_store(path, "bip", tmp_path)
    assert [p.rsplit("/", 1)[1] for p in files] == ["bip.png"]


def run_config_of(config):
    from slth.experiments.grid import Sweep
    from slth.experiments.registry import run_config

    task, = Sweep.from_dict({"grid": [config]}).tasks()
    return run_config(task.config)
