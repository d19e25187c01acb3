"""Global Sparse Momentum SGD (slth.lab.gsm) and the "gsm" experiment."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slth.lab.data import load_dataset  # noqa: E402
from slth.lab.gsm import (  # noqa: E402
    gsm,
    gsm_train,
    never_selected_factor,
    saliency_masks,
    train_dense,
    weight_decay_for,
)
from slth.lab.imp import _weight, lenet, prunable_layers  # noqa: E402


@pytest.fixture(scope="module")
def teacher():
    return load_dataset("teacher", seed=0, samples=300, widths=(6, 10, 4))


def _backward(model, data):
    model.zero_grad()
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train.astype(np.int64))
    torch.nn.functional.cross_entropy(model(x), y).backward()


def test_saliency_masks_are_the_global_top_q_of_grad_times_weight(teacher):
    model = lenet(teacher.features, teacher.classes, (12, 8), seed=0)
    _backward(model, teacher)
    masks = saliency_masks(model, 0.2)
    # independent answer: numpy argsort of |g w| over the concatenated prunable weights
    w = [_weight(la) for la in prunable_layers(model)]
    scores = np.concatenate([np.abs(a.grad.numpy() * a.detach().numpy()).ravel() for a in w])
    q = round(0.2 * scores.size)
    top = np.zeros(scores.size, dtype=bool)
    top[np.argsort(-scores, kind="stable")[:q]] = True
    got = np.concatenate([m.numpy().ravel() for m in masks])
    assert got.sum() == q
    np.testing.assert_array_equal(got, top)
    # the output layer is not scored
    assert [tuple(m.shape) for m in masks] == [(12, 6), (8, 12)]


def test_unselected_weights_get_no_gradient_but_the_decay(teacher):
    model = lenet(teacher.features, teacher.classes, (12, 8), seed=1)
    before = copy.deepcopy(model)
    _backward(before, teacher)
    grads = [_weight(la).grad.numpy().copy() for la in prunable_layers(before)]
    w0 = [_weight(la).detach().numpy().copy() for la in prunable_layers(before)]
    masks = [m.numpy() for m in saliency_masks(before, 0.1)]
    # the check is not vacuous: unselected weights do have a loss gradient
    assert any(np.abs(g[~m]).max() > 1e-4 for g, m in zip(grads, masks, strict=True))
    lr, wd = 0.05, 0.01
    # one full-batch step, no momentum: w' = w - lr (mask * g + wd w)
    out = gsm_train(model, teacher.x_train, teacher.y_train, density=0.1, epochs=1, lr=lr,
                    momentum=0.0, weight_decay=wd, batch_size=len(teacher.y_train))
    assert out["steps"] == 1
    for la, g, w, m in zip(prunable_layers(model), grads, w0, masks, strict=True):
        new = _weight(la).detach().numpy()
        np.testing.assert_allclose(new, w - lr * (m * g + wd * w), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(new[~m], w[~m] * (1 - lr * wd), rtol=1e-6)
    # a plain SGD step (no GSM mask) would move the unselected weights otherwise
    plain = [w - lr * (g + wd * w) for g, w in zip(grads, w0, strict=True)]
    assert any(not np.allclose(p[~m], w[~m] * (1 - lr * wd))
               for p, w, m in zip(plain, w0, masks, strict=True))


def test_never_selected_factor_against_torch_sgd():
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.004)
    for _ in range(300):
        opt.zero_grad()
        (0.0 * p.sum()).backward()
        opt.step()
    assert never_selected_factor(0.004, 0.1, 0.9, 300) == pytest.approx(p.item(), rel=1e-10)


@pytest.mark.parametrize("shrink,steps", [(5.0, 400), (10.0, 1280), (20.0, 4000)])
def test_scaled_decay_shrinks_about_exp_minus_shrink(shrink, steps):
    wd = weight_decay_for(shrink, 0.1, 0.9, steps)
    f = never_selected_factor(wd, 0.1, 0.9, steps)
    assert 0 < f and abs(math.log(f) + shrink) < 0.1 * shrink + 0.5


def test_unreachable_shrink_is_refused():
    # momentum 0.99 in 640 steps cannot shrink faster than 0.99^320 ~ exp(-3.2)
    with pytest.raises(ValueError, match="past critical damping.*momentum=0.99"):
        weight_decay_for(10.0, 0.01, 0.99, 640)
    with pytest.raises(ValueError, match="momentum must be in"):
        weight_decay_for(1.0, 0.1, 1.0, 10)
    with pytest.raises(ValueError, match="shrink must be > 0"):
        weight_decay_for(0.0, 0.1, 0.9, 10)


def test_never_selected_weights_follow_the_decay_exactly(teacher):
    model = lenet(teacher.features, teacher.classes, (12, 8), seed=2)
    w0 = [_weight(la).detach().numpy().copy() for la in prunable_layers(model)]
    wd = weight_decay_for(2.0, 0.1, 0.9, 5 * 19)
    out = gsm_train(model, teacher.x_train, teacher.y_train, density=0.05, epochs=5,
                    lr=0.1, momentum=0.9, weight_decay=wd, batch_size=16)
    f = never_selected_factor(wd, 0.1, 0.9, out["steps"])
    never = [~e for e in out["ever_selected"]]
    assert sum(n.sum() for n in never) > 50
    for la, w, n in zip(prunable_layers(model), w0, never, strict=True):
        np.testing.assert_allclose(_weight(la).detach().numpy()[n], f * w[n], rtol=1e-3,
                                   atol=1e-7)


def test_gsm_prunes_to_the_exact_count_by_magnitude(teacher):
    res = gsm(teacher, density=0.1, hidden=(12, 8), epochs=2, gsm_epochs=4, batch_size=16,
              shrink=1.0, seed=0)
    assert res.prunable == 6 * 12 + 12 * 8 and res.remaining == round(0.1 * res.prunable)
    assert [m.shape for m in res.masks] == [(12, 6), (8, 12)]
    assert sum(d * m.size for d, m in zip(res.layer_density, res.masks,
                                          strict=True)) == res.remaining
    assert res.largest_removed <= res.kept_median


def test_gsm_is_deterministic_and_reuses_the_dense_run(teacher):
    kw = dict(density=0.2, hidden=(12, 8), epochs=2, gsm_epochs=3, batch_size=16, shrink=1.0)
    a = gsm(teacher, seed=3, **kw)
    dense = train_dense(teacher, (12, 8), 2, 0.1, 16, 3)
    b = gsm(teacher, seed=3, dense=dense, **kw)
    assert a.accuracy == b.accuracy and a.largest_removed == b.largest_removed
    assert all(np.array_equal(x, y) for x, y in zip(a.masks, b.masks, strict=True))
    c = gsm(teacher, seed=4, **kw)
    assert not all(np.array_equal(x, y) for x, y in zip(a.masks, c.masks, strict=True))


_SMALL = {"experiment": "gsm", "dataset": "digits", "hidden": [16], "epochs": 3,
          "gsm_epochs": 3, "batch_size": 32, "shrink": 0.5, "compressions": [5.0, 20.0],
          "imp_fraction": 0.5, "train_limit": 300}


def test_experiment_is_deterministic_and_complete():
    from slth.experiments.grid import Sweep
    from slth.experiments.registry import run_config

    task, = Sweep.from_dict({"grid": [_SMALL]}).tasks()
    a, b = run_config(task.config), run_config(task.config)
    a.pop("timings"), b.pop("timings")
    assert a == b
    assert len(a["gsm_accuracy"]) == len(a["ticket_random"]) == 2
    assert a["imp_density"][0] <= 0.2 and a["imp_density"][1] <= 0.05
    assert a["densities"] == [0.2, 0.05]


@pytest.mark.parametrize("field,value,match", [
    ("compressions", [1.0], "compression ratios > 1"),
    ("compressions", "10", "list of compression ratios"),
    ("momentum", 1.0, "momentum must be in"),
])
def test_bad_config_is_named(field, value, match):
    from slth.experiments.grid import Sweep

    with pytest.raises((ValueError, TypeError), match=match):
        Sweep.from_dict({"grid": [{**_SMALL, field: value}]}).tasks()


def test_smoke_through_the_store_and_plot(tmp_path):
    from slth.experiments.plots import gsm_curves, plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store
    from slth.experiments.weak_gsm import SMOKE

    path = tmp_path / "gsm.sqlite"
    sweep = {"name": "gsm-smoke", "grid": list(SMOKE.values())}
    assert run(sweep, path, workers=1, progress=False).finished == 1
    with Store(path, readonly=True) as st:
        row, = st.rows("gsm")
    assert row["gsm_steps"] == 20 * 16 and row["decay_factor"] < 0.01
    fig, data = gsm_curves([row])
    label, = data
    assert data[label]["gsm"] == [[c, a] for c, a in zip(row["compressions"],
                                                         row["gsm_accuracy"], strict=True)]
    assert [p.rsplit("/", 1)[1] for p in plot_store(path, "gsm", tmp_path)] == ["gsm.png"]
