"""Essential sparsity along training checkpoints (slth.lab.essential.along_checkpoints)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slth.lab.data import load_dataset  # noqa: E402
from slth.lab.essential import (  # noqa: E402
    CheckpointRecorder,
    along_checkpoints,
    check_checkpoints,
    essential_sparsity,
    knee,
    one_shot_curve,
)
from slth.lab.imp import accuracy, imp, lenet, rewind, train  # noqa: E402

GRID = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
HIDDEN = (24, 12)


pytestmark = pytest.mark.usefixtures("lab_one_thread")


@pytest.fixture(scope="module")
def teacher():
    return load_dataset("teacher", seed=1, samples=400, widths=(6, 12, 4))


@pytest.fixture(scope="module")
def rows(teacher):
    return along_checkpoints(teacher, [1, 2, 4], GRID, hidden=HIDDEN, seed=5,
                             keep_weights=True)


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def test_checkpoints_are_separate_runs_bit_for_bit(teacher, rows):
    assert [r["epoch"] for r in rows] == [1, 2, 4]
    for r in rows:
        alone = imp(teacher, hidden=HIDDEN, levels=0, epochs=r["epoch"], baselines=(),
                    seed=5)
        assert _same_state(r["state"], alone.trained[0])
        assert r["accuracy"] == alone.levels[0]["accuracy"]
    # a run without IMP's all-ones masks, from the same children of the seed
    t_init, t_order = np.random.SeedSequence(5).spawn(2)
    plain = lenet(teacher.features, teacher.classes, HIDDEN, seed=t_init)
    train(plain, teacher.x_train, teacher.y_train, epochs=4, order_seed=t_order)
    assert _same_state(rows[-1]["state"],
                       {k: v.detach().numpy() for k, v in plain.state_dict().items()})
    # the comparison can fail: successive checkpoints differ
    assert not _same_state(rows[0]["state"], rows[1]["state"])


def test_recording_does_not_disturb_training(teacher):
    rec = CheckpointRecorder([1, 3], 5, teacher.x_test, teacher.y_test, GRID)
    with_rec = imp(teacher, hidden=HIDDEN, levels=1, epochs=5, baselines=(), seed=2,
                   on_epoch=rec)
    without = imp(teacher, hidden=HIDDEN, levels=1, epochs=5, baselines=(), seed=2)
    assert [r["epoch"] for r in rec.rows] == [1, 3]
    for a, b in zip(with_rec.trained, without.trained, strict=True):
        assert _same_state(a, b)
    assert all(np.array_equal(p, q) for p, q in zip(with_rec.masks[1], without.masks[1],
                                                    strict=True))


def _essential_by_definition(s, acc, dense, drop=0.01):
    """The largest s_k with acc[j] >= dense - drop for every j <= k (0 if none)."""
    best = 0.0
    for k in range(len(s)):
        if all(a >= dense - drop - 1e-12 for a in acc[:k + 1]):
            best = s[k]
    return best


def test_checkpoint_measures_are_those_of_the_model(teacher, rows):
    seen = set()
    for r in rows:
        net = lenet(teacher.features, teacher.classes, HIDDEN, seed=0)
        rewind(net, r["state"])
        net.eval()
        curve = one_shot_curve(net, teacher.x_test, teacher.y_test, GRID)
        dense = accuracy(net, teacher.x_test, teacher.y_test)
        assert r["curve"] == curve.tolist() and r["accuracy"] == dense == curve[0]
        assert r["essential_sparsity"] == essential_sparsity(GRID, curve, dense)
        assert r["essential_sparsity"] == _essential_by_definition(GRID, curve, dense)
        assert r["knee"] == knee(GRID, curve)
        seen.add(tuple(r["curve"]))
    assert len(seen) == len(rows)          # the curves change along training


def test_deterministic_for_a_seed(teacher, rows):
    again = along_checkpoints(teacher, [1, 2, 4], GRID, hidden=HIDDEN, seed=5)
    strip = [{k: v for k, v in r.items() if k not in ("seconds", "state")} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in again]
    other = along_checkpoints(teacher, [4], GRID, hidden=HIDDEN, seed=6, keep_weights=True)
    assert not _same_state(other[0]["state"], rows[-1]["state"])


@pytest.mark.parametrize("checkpoints, epochs, error, match", [
    ([2, 1], 5, ValueError, r"checkpoints must be strictly increasing, got \[2, 1\]"),
    ([1, 1], 5, ValueError, "strictly increasing"),
    ([1, 6], 5, ValueError, r"checkpoints must be <= epochs = 5 \(the epochs trained\), "
                            "got 6"),
    ([0, 1], 5, ValueError, r"checkpoints\[0\] must be >= 1, got 0"),
    ([-2], 5, ValueError, r"checkpoints\[0\] must be >= 1, got -2"),
    ([1.5], 5, TypeError, r"checkpoints\[0\] must be an integer"),
    ("1,2", 5, TypeError, "checkpoints must be a list of integers"),
    (3, 5, TypeError, "checkpoints must be a list of integers"),
])
def test_bad_checkpoints(teacher, checkpoints, epochs, error, match):
    with pytest.raises(error, match=match):
        check_checkpoints(checkpoints, epochs)
    with pytest.raises(error, match=match):
        along_checkpoints(teacher, checkpoints, GRID, hidden=(4,), epochs=epochs)


def test_bad_recorder_arguments(teacher):
    with pytest.raises(ValueError, match="at least one epoch"):
        along_checkpoints(teacher, [], GRID, hidden=(4,))
    with pytest.raises(ValueError, match="sparsities must be >= 2 strictly increasing"):
        along_checkpoints(teacher, [1], [0.5, 0.2], hidden=(4,))
    with pytest.raises(ValueError, match=r"drop must lie in the open interval \(0, 1\)"):
        along_checkpoints(teacher, [1], GRID, hidden=(4,), drop=0.0)


# ----------------------------------------------------------------- experiment
def _config(**kw):
    from slth.experiments.grid import Sweep

    cfg = {"experiment": "essential_sparsity", "dataset": "digits", "hidden": [16],
           "epochs": 4, "points": 8, "imp_levels": 1} | kw
    return Sweep.from_dict({"grid": [cfg]}).tasks()[0].config


def test_experiment_checkpoints_match_along_checkpoints():
    from slth.experiments.registry import run_config
    from slth.experiments.weak import _data, sparsity_grid

    cfg = _config(checkpoints=[1, 2, 4])
    r = run_config(cfg)
    rows = along_checkpoints(_data(cfg), [1, 2, 4], sparsity_grid(8), hidden=(16,), seed=0)
    assert r["checkpoint_epoch"] == [1, 2, 4]
    assert r["checkpoint_accuracy"] == [x["accuracy"] for x in rows]
    assert r["checkpoint_essential_sparsity"] == [x["essential_sparsity"] for x in rows]
    assert r["checkpoint_knee"] == [x["knee"] for x in rows]
    assert r["checkpoint_curve"] == [x["curve"] for x in rows]
    # the last checkpoint is the dense network the experiment prunes
    assert r["checkpoint_curve"][-1] == r["accuracy"]
    assert (r["checkpoint_essential_sparsity"][-1], r["checkpoint_knee"][-1]) == (
        r["essential_sparsity"], r["knee"])
    # off by default: no rows, same dense network
    r0 = run_config(_config())
    assert r0["checkpoint_epoch"] == [] and r0["accuracy"] == r["accuracy"]


def test_experiment_bad_checkpoints():
    from slth.experiments.registry import run_config

    with pytest.raises(ValueError, match="checkpoints must be strictly increasing"):
        _config(checkpoints=[3, 1])
    with pytest.raises(ValueError, match=r"checkpoints\[0\] must be >= 1"):
        _config(checkpoints=[0])
    with pytest.raises(ValueError, match="checkpoints must be <= epochs = 4"):
        run_config(_config(checkpoints=[2, 9]))
    with pytest.raises(ValueError, match="needs pretrain=0"):
        run_config(_config(checkpoints=[1], pretrain=100))


def test_plot_has_the_checkpoint_panel():
    from slth.experiments.plots import essential
    from slth.experiments.registry import run_config

    cfg = _config(checkpoints=[1, 4], epochs=4)
    row = {"experiment": "essential_sparsity", "config": cfg} | run_config(cfg)
    fig, data = essential([row])
    assert len(fig.axes) == 3
    (label, d), = data.items()
    assert [c[0] for c in d["checkpoints"]] == [1, 4]
    assert d["checkpoints"][-1][2] == d["essential_sparsity"]
    fig, _ = essential([{**row, "checkpoint_epoch": []}])
    assert len(fig.axes) == 2
