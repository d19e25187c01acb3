"""Tickets found by training: data sets, masks, IMP, essential sparsity, their experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slth.lab.data import load_dataset, stratified_split  # noqa: E402
from slth.lab.essential import (  # noqa: E402
    essential_sparsity,
    knee,
    masked_accuracy,
    one_shot_curve,
    one_shot_masks,
)
from slth.lab.imp import (  # noqa: E402
    _weight,
    accuracy,
    apply_masks,
    imp,
    lenet,
    prunable_layers,
    rewind,
    train,
)
from slth.lab.masks import (  # noqa: E402
    density,
    imp_count,
    iou,
    magnitude_masks,
    nm_masks,
    random_masks,
)

pytestmark = pytest.mark.usefixtures("lab_one_thread")


@pytest.fixture(scope="module")
def teacher():
    return load_dataset("teacher", seed=1, samples=400, widths=(6, 12, 4))


@pytest.fixture(scope="module")
def small_imp(teacher):
    return imp(teacher, hidden=(24, 12), levels=3, epochs=3, seed=5)


# ------------------------------------------------------------------- data sets
def test_split_is_stratified_and_seeded():
    y = np.repeat(np.arange(4), [10, 20, 30, 41])
    train_idx, test_idx = stratified_split(y, 0.2, seed=3)
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(len(y)))
    assert np.bincount(y[test_idx]).tolist() == [2, 4, 6, 8]
    again = stratified_split(y, 0.2, seed=3)
    other = stratified_split(y, 0.2, seed=4)
    assert np.array_equal(again[1], test_idx) and not np.array_equal(other[1], test_idx)


def test_mnist5k_and_its_8x8_reduction():
    pytest.importorskip("mnist1d")   # the data extra
    full = load_dataset("mnist5k", seed=0)
    small = load_dataset("mnist5k", seed=0, size=8, dtype="float64")
    assert full.x_train.shape == (4000, 784) and full.x_test.shape == (1000, 784)
    assert full.x_train.dtype == np.float32 and full.y_train.dtype == np.int64
    assert np.bincount(full.y_test).tolist() == [100] * 10
    assert 0.0 <= full.x_train.min() and full.x_train.max() == 1.0
    # 8x8: the same split; each pixel the mean of a 4x4 block of the padded image
    assert np.array_equal(small.y_train, full.y_train)
    img = np.zeros((32, 32))
    img[2:30, 2:30] = full.x_train[7].reshape(28, 28).astype(np.float64)
    blocks = [[img[4 * i:4 * i + 4, 4 * j:4 * j + 4].mean() for j in range(8)]
              for i in range(8)]
    np.testing.assert_allclose(small.x_train[7].reshape(8, 8), blocks, rtol=0, atol=1e-6)


def test_digits_mnist1d_and_teacher():
    pytest.importorskip("sklearn")
    pytest.importorskip("mnist1d")
    d = load_dataset("digits", seed=0)
    assert d.features == 64 and d.classes == 10 and len(d.y_train) + len(d.y_test) == 1797
    m = load_dataset("mnist1d", seed=0)
    assert m.features == 40 and len(m.y_train) + len(m.y_test) == 5000
    t = load_dataset("teacher", seed=2, samples=300, widths=(3, 5, 2))
    assert np.all(np.linalg.norm(t.x_train, axis=1) <= 1 + 1e-6)   # the theorems' ball
    from slth.nets import random_target

    # labels are the argmax of the target drawn from the seed's third child
    target = random_target((3, 5, 2), seed=np.random.SeedSequence(2).spawn(3)[2])
    assert np.array_equal(np.argmax(target(t.x_test.astype(np.float64)), axis=1), t.y_test)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar10"}, "name must be one of"),
    ({"name": "mnist5k", "size": 14}, "size must be one of"),
    ({"name": "teacher", "test_fraction": 1.5}, "test_fraction"),
    ({"name": "teacher", "dtype": "int8"}, "dtype must be one of"),
])
def test_dataset_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_missing_extra_is_named(monkeypatch):
    import sys

    from slth.lab import data

    data._mnist5k_raw.cache_clear()
    data._mnist1d_raw.cache_clear()
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r'slth\[data\]'):
        load_dataset("mnist5k")
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"'mnist1d'.*slth\[data\]"):
        load_dataset("mnist1d")
    data._mnist5k_raw.cache_clear()
    data._mnist1d_raw.cache_clear()


# ----------------------------------------------------------------------- masks
def test_magnitude_masks_against_torch_global_pruning():
    from torch.nn.utils import prune

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((7, 5)), rng.standard_normal((3, 7))]
    count = 17
    masks = magnitude_masks(weights, count)
    assert all(m.dtype == bool for m in masks)
    assert sum(int(m.sum()) for m in masks) == 56 - count
    # torch's own global L1 pruning on the same weights
    layers = [torch.nn.Linear(5, 7), torch.nn.Linear(7, 3)]
    for layer, w in zip(layers, weights, strict=True):
        layer.weight.data = torch.as_tensor(w)
    prune.global_unstructured([(la, "weight") for la in layers],
                              pruning_method=prune.L1Unstructured, amount=count)
    for m, layer in zip(masks, layers, strict=True):
        assert np.array_equal(m, layer.weight_mask.numpy().astype(bool))


def test_magnitude_masks_keep_removed_weights_removed():
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((6, 6))]
    first = magnitude_masks(weights, 10)
    # removed weights made large must not come back
    grown = [np.where(first[0], weights[0], 100.0)]
    second = magnitude_masks(grown, 5, first)
    assert not np.any(second[0] & ~first[0]) and int(second[0].sum()) == 36 - 15
    # brute force: the 5 smallest |w| among the kept ones are the ones removed
    kept = np.flatnonzero(first[0])
    smallest = kept[np.argsort(np.abs(weights[0].ravel()[kept]))[:5]]
    assert set(np.flatnonzero(first[0] & ~second[0])) == set(smallest.tolist())


@pytest.mark.parametrize("n, m", [(1, 4), (2, 4), (4, 8)])
def test_nm_masks_exact_pattern(n, m):
    rng = np.random.default_rng(2)
    weights = [rng.standard_normal((5, 16)), rng.standard_normal((3, 8))]
    masks = nm_masks(weights, n, m)
    assert density(masks) == n / m
    for w, mask in zip(weights, masks, strict=True):
        groups_w, groups_m = np.abs(w).reshape(-1, m), mask.reshape(-1, m)
        assert np.all(groups_m.sum(axis=1) == n)
        for gw, gm in zip(groups_w, groups_m, strict=True):
            assert set(np.flatnonzero(gm)) == set(np.argsort(-gw)[:n].tolist())


def test_random_masks_and_iou():
    rng = np.random.default_rng(3)
    a = [rng.random((20, 30)) < 0.3, rng.random((10, 20)) < 0.6]
    r = random_masks(a, seed=4)
    assert [int(x.sum()) for x in r] == [int(x.sum()) for x in a]
    assert [np.array_equal(x, y) for x, y in zip(random_masks(a, 4), r, strict=True)] == [1, 1]
    flat_a = {(i, j) for i, x in enumerate(a) for j in np.flatnonzero(x)}
    flat_r = {(i, j) for i, x in enumerate(r) for j in np.flatnonzero(x)}
    assert iou(a, r) == len(flat_a & flat_r) / len(flat_a | flat_r)
    assert iou(a, a) == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: magnitude_masks([np.ones((2, 2))], 5), "count must be <= 4"),
    (lambda: magnitude_masks([np.ones((2, 2))], 1, [np.full((2, 2), 0.5)]), "binary"),
    (lambda: magnitude_masks([np.ones((2, 2))], 1, [np.ones((2, 3))]), "same shapes"),
    (lambda: nm_masks([np.ones((2, 3))], 2, 4), "not a multiple of m=4"),
    (lambda: nm_masks([np.ones((2, 4))], 5, 4), "n must be <= 4"),
    (lambda: imp_count(10, 1.0), "fraction must be in"),
])
def test_masks_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------- IMP
def test_imp_prunes_a_fifth_of_the_remaining_each_level(small_imp):
    prunable = 6 * 24 + 24 * 12
    assert small_imp.prunable == prunable
    expected = [prunable]
    for _ in range(3):
        expected.append(expected[-1] - math.ceil(0.2 * expected[-1]))
    assert [lv["remaining"] for lv in small_imp.levels] == expected
    for k, lv in enumerate(small_imp.levels):
        assert abs(lv["density"] - 0.8 ** k) <= k / prunable
        masks = small_imp.masks[k]
        assert len(masks) == 2 and all(m.dtype == bool for m in masks)   # output layer: none
        if k:
            assert not any(np.any(m & ~p) for m, p in zip(masks, small_imp.masks[k - 1],
                                                           strict=True))


def test_imp_output_layer_and_biases_are_not_pruned(teacher):
    net = lenet(teacher.features, teacher.classes, (24, 12), seed=0)
    assert [tuple(la.weight.shape) for la in prunable_layers(net)] == [(24, 6), (12, 24)]
    apply_masks(net, magnitude_masks([_weight(la).detach().numpy()
                                      for la in prunable_layers(net)], 100))
    names = {name for name, _ in net.named_buffers()}
    assert names == {"0.weight_mask", "2.weight_mask"}          # no bias, no output mask


def test_imp_level_one_mask_is_torch_global_pruning_of_the_dense_run(small_imp):
    from torch.nn.utils import prune

    trained = small_imp.trained[0]
    layers = [torch.nn.Linear(6, 24), torch.nn.Linear(24, 12)]
    for layer, key in zip(layers, ("0.weight", "2.weight"), strict=True):
        layer.weight.data = torch.as_tensor(trained[key])
    prune.global_unstructured([(la, "weight") for la in layers],
                              pruning_method=prune.L1Unstructured,
                              amount=imp_count(small_imp.prunable, 0.2))
    for m, layer in zip(small_imp.masks[1], layers, strict=True):
        assert np.array_equal(m, layer.weight_mask.numpy().astype(bool))


def test_pruned_weights_get_no_gradient_and_rewind_is_exact(small_imp):
    start = small_imp.rewind_state
    for k in range(1, 4):
        for key, mask in zip(("0.weight", "2.weight"), small_imp.masks[k], strict=True):
            trained, init = small_imp.trained[k][key], start[key].numpy()
            assert np.array_equal(trained[~mask], init[~mask])       # never moved
            assert not np.array_equal(trained[mask], init[mask])     # trained


def test_rewind_restores_kept_weights_exactly(teacher):
    net = lenet(teacher.features, teacher.classes, (24, 12), seed=1)
    apply_masks(net, [np.ones((24, 6), bool), np.ones((12, 24), bool)])
    state = train(net, teacher.x_train, teacher.y_train, epochs=1, keep_step=0)
    masks = random_masks([np.ones((24, 6), bool), np.ones((12, 24), bool)], seed=0)
    apply_masks(net, masks)
    train(net, teacher.x_train, teacher.y_train, epochs=1)
    rewind(net, state)
    for layer, key, m in zip(prunable_layers(net), ("0.weight", "2.weight"), masks,
                             strict=True):
        net(torch.as_tensor(teacher.x_test[:2]))          # refresh the masked weight
        w = layer.weight.detach().numpy()
        assert np.array_equal(w[m], state[key].numpy()[m]) and np.all(w[~m] == 0)


def test_late_rewinding_continues_the_dense_run(teacher):
    def fresh():
        net = lenet(teacher.features, teacher.classes, (16,), seed=2)
        apply_masks(net, [np.ones((16, 6), bool)])
        return net

    a = fresh()
    kept = train(a, teacher.x_train, teacher.y_train, epochs=2, order_seed=7, keep_step=3)
    b = fresh()
    rewind(b, kept)
    train(b, teacher.x_train, teacher.y_train, epochs=2, order_seed=7, start_step=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_imp_is_deterministic(teacher, small_imp):
    again = imp(teacher, hidden=(24, 12), levels=3, epochs=3, seed=5)
    assert again.levels[-1]["accuracy"] == small_imp.levels[-1]["accuracy"]
    assert [[lv[k] for k in ("accuracy", "reinit_accuracy", "random_prune_accuracy")]
            for lv in again.levels] == [[lv[k] for k in ("accuracy", "reinit_accuracy",
                                                         "random_prune_accuracy")]
                                        for lv in small_imp.levels]
    for k in range(4):
        for key in again.trained[k]:
            assert np.array_equal(again.trained[k][key], small_imp.trained[k][key])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"levels": -1}, ValueError, "levels must be >= 0"),
    ({"fraction": 1.5}, ValueError, "fraction must be in"),
    ({"baselines": ("reinit", "magic")}, ValueError, "baselines must be one of"),
    ({"epochs": 0.5}, TypeError, "epochs must be an integer"),
    ({"rewind_step": 10_000}, ValueError, "keep_step=10000 is beyond"),
])
def test_imp_bad_input(teacher, kwargs, error, match):
    args = {"hidden": (4,), "levels": 1, "epochs": 1, "baselines": ()} | kwargs
    with pytest.raises(error, match=match):
        imp(teacher, **args)


# --------------------------------------------------------- essential sparsity
def test_essential_sparsity_and_knee_closed_forms():
    s = np.linspace(0.0, 1.0, 2001)
    # y = 1 - s^4: Kneedle's difference s - s^4 is largest at s = 4^(-1/3)
    assert abs(knee(s, 1 - s ** 4) - 4 ** (-1 / 3)) < 1e-3
    # 0.9 - s^4 / 10 stays within 0.01 of 0.9 up to s = 0.1^(1/4)
    assert abs(essential_sparsity(s, 0.9 - s ** 4 / 10, 0.9) - 0.1 ** 0.25) < 1e-3
    # a dip then recovery: the first failure ends it
    assert essential_sparsity([0, 0.5, 0.6, 0.7], [0.9, 0.85, 0.9, 0.9], 0.9) == 0.0
    with pytest.raises(ValueError, match="strictly increasing"):
        knee([0.0, 0.5, 0.5], [1, 1, 0])


def test_one_shot_curve_matches_torch_pruned_models(teacher, small_imp):
    net = lenet(teacher.features, teacher.classes, (24, 12), seed=0)
    apply_masks(net, small_imp.masks[0])
    rewind(net, small_imp.trained[0])
    grid = [0.0, 0.5, 0.9]
    curve = one_shot_curve(net, teacher.x_test, teacher.y_test, grid)
    assert curve[0] == small_imp.levels[0]["accuracy"] == accuracy(net, teacher.x_test,
                                                                    teacher.y_test)
    for s, acc in zip(grid, curve, strict=True):
        masks = one_shot_masks(net, s)
        assert abs(density(masks) - (1 - s)) <= 1 / small_imp.prunable
        other = lenet(teacher.features, teacher.classes, (24, 12), seed=0)
        apply_masks(other, masks)
        rewind(other, small_imp.trained[0])
        assert accuracy(other, teacher.x_test, teacher.y_test) == acc
        assert masked_accuracy(net, masks, teacher.x_test, teacher.y_test) == acc
    # IMP's first level is one-shot pruning of the dense run at ceil(20 %)
    first = imp_count(small_imp.prunable, 0.2) / small_imp.prunable
    assert iou(one_shot_masks(net, first), small_imp.masks[1]) == 1.0
    # the check can fail: a random mask of the same density overlaps much less
    assert iou(random_masks(small_imp.masks[1], 0), small_imp.masks[1]) < 0.9


# ----------------------------------------------------------------- experiments
def test_smoke_sweep_through_the_store(tmp_path):
    pytest.importorskip("mnist1d")
    from slth.experiments.plots import plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store
    from slth.experiments.weak import SMOKE

    sweep = {"name": "weak-smoke", "grid": list(SMOKE.values())}
    path = tmp_path / "weak.sqlite"
    summary = run(sweep, path, workers=1, progress=False)
    assert (summary.finished, summary.failed) == (2, 0)
    assert run(sweep, path, workers=1, progress=False).skipped == 2
    with Store(path, readonly=True) as st:
        imp_row, = st.rows("imp")
        es_row, = st.rows("essential_sparsity")
    assert imp_row["remaining"] == [2560, 2048, 1638]
    assert len(es_row["accuracy"]) == 12 and 0 <= es_row["essential_sparsity"] <= 0.99
    assert es_row["imp_iou"][0] == 1.0
    # the last checkpoint (epoch 30 = epochs) is the dense network the experiment prunes
    assert es_row["checkpoint_epoch"] == [1, 3, 10, 30]
    assert es_row["checkpoint_curve"][-1] == es_row["accuracy"]
    files = plot_store(path, "imp", tmp_path) + plot_store(path, "essential-sparsity",
                                                           tmp_path)
    assert [p.rsplit("/", 1)[1] for p in files] == ["imp.png", "essential_sparsity.png"]


def test_bad_experiment_config_is_named():
    from slth.experiments.grid import Sweep

    with pytest.raises(ValueError, match="dataset must be one of"):
        Sweep.from_dict({"grid": [{"experiment": "imp", "dataset": "cifar10"}]}).tasks()
    with pytest.raises(ValueError, match="size must be 28 or 8"):
        Sweep.from_dict({"grid": [{"experiment": "imp", "size": 16}]}).tasks()


def test_baselines_every_and_on_level(teacher):
    seen = []
    res = imp(teacher, hidden=(8,), levels=4, epochs=1, baselines_every=2, seed=0,
              on_level=seen.append)
    assert seen == res.levels
    assert [lv["reinit_accuracy"] is not None for lv in res.levels] == [False, False, True,
                                                                         False, True]
    with pytest.raises(ValueError, match="baselines_every must be >= 1"):
        imp(teacher, hidden=(8,), levels=1, epochs=1, baselines_every=0)


def test_pretrain_finetune(teacher):
    from slth.lab.essential import pretrain_finetune

    pre = load_dataset("teacher", seed=3, samples=300, widths=(6, 10, 3))
    a = pretrain_finetune(pre, teacher, hidden=(12,), pre_epochs=2, epochs=2, seed=0)
    b = pretrain_finetune(pre, teacher, hidden=(12,), pre_epochs=2, epochs=2, seed=0)
    assert a[-1].out_features == teacher.classes == 4           # the new output layer
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    other = load_dataset("teacher", seed=3, samples=300, widths=(5, 10, 3))
    with pytest.raises(ValueError, match="5 input features and down 6"):
        pretrain_finetune(other, teacher, hidden=(12,), pre_epochs=1, epochs=1)
