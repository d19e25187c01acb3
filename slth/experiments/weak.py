"""Tickets found by training (weak lottery tickets), as sweep experiments.

* ``"imp"``: iterative magnitude pruning with rewinding and its random-reinit and
  random-prune baselines (:func:`slth.lab.imp.imp`): test accuracy per level;
* ``"essential_sparsity"``: one-shot global magnitude pruning of the trained dense network
  (:mod:`slth.lab.essential`): accuracy against sparsity, the essential sparsity, the
  knee, N:M patterns, and the overlap of the one-shot masks with IMP's; with
  ``checkpoints``, the essential sparsity and knee at those epochs of the same training
  run (:func:`slth.lab.essential.along_checkpoints`).

Both need PyTorch (``pip install "slth[lab]"``), imported when a task runs; the data
sets come from :func:`slth.lab.data.load_dataset` (``mnist5k`` and ``mnist1d`` need
``pip install "slth[data]"``). :data:`SMOKE` holds one cheap config of each, the size CI
runs.

Examples
--------
>>> from slth.experiments.registry import EXPERIMENTS
>>> EXPERIMENTS["imp"].family, EXPERIMENTS["imp"].param("levels").default
('weak', 10)
"""

from __future__ import annotations

import time

from slth._validate import check_increasing_ints, check_int
from slth.experiments.constructions import Param, _choice, _int, _positive, _seed

__all__ = ["ESSENTIAL_PARAMS", "IMP_PARAMS", "SMOKE", "run_essential", "run_imp",
           "sparsity_grid"]

_DATASETS = ("mnist5k", "digits", "mnist1d", "teacher")


def _hidden(value, name: str) -> list[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of hidden widths such as [300, 100], "
                        f"got {value!r}")
    w = [check_int(v, f"{name}[{i}]", minimum=1) for i, v in enumerate(value)]
    if not w:
        raise ValueError(f"{name} must list at least one hidden width")
    return w


def _fraction(value, name: str) -> float:
    from slth._validate import check_open_unit

    return check_open_unit(value, name)


def _checkpoints(value, name: str) -> list[int]:
    # The bound (<= epochs) is checked when the task runs (check_checkpoints).
    return check_increasing_ints(value, name, minimum=1)


def _size(value, name):
    v = check_int(value, name)
    if v not in (28, 8):
        raise ValueError(f"{name} must be 28 or 8, got {v}")
    return v


_COMMON = (
    Param("dataset", _choice(_DATASETS), "mnist5k", "data set (slth.lab.data.load_dataset)"),
    Param("size", _size, 28,
          "image side of mnist5k: 28, or 8 (4x4 mean pooling)"),
    Param("hidden", _hidden, [300, 100], "hidden widths (LeNet-300-100)", vector=True),
    Param("epochs", _int(minimum=1), 40, "training epochs of every run"),
    Param("lr", _positive, 0.1, "SGD learning rate (open_lth's LeNet: 0.1)"),
    Param("batch_size", _int(minimum=1), 128, "minibatch size"),
    Param("train_limit", _int(minimum=0), 0, "use only this many training examples, "
          "stratified (0: all; for smoke runs)"),
    Param("seed", _seed, 0, "seed of the split, the initial weights and the data order"),
)


def _data(config: dict):
    import numpy as np

    from slth.lab.data import Dataset, load_dataset, stratified_split

    ds = load_dataset(config["dataset"], seed=config["seed"], size=config["size"])
    limit = config["train_limit"]
    if limit and limit < len(ds.y_train):
        keep, _ = stratified_split(ds.y_train, 1 - limit / len(ds.y_train),
                                   np.random.SeedSequence(config["seed"]).spawn(1)[0])
        ds = Dataset(ds.name, ds.x_train[keep], ds.y_train[keep], ds.x_test, ds.y_test,
                     ds.classes)
    return ds


def run_imp(config: dict, threads=None):
    from slth.lab.imp import imp
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_

    t0 = time.perf_counter()
    data = _data(config)
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        res = imp(data, hidden=config["hidden"], levels=config["levels"],
                  fraction=config["fraction"], epochs=config["epochs"], lr=config["lr"],
                  batch_size=config["batch_size"], rewind_step=config["rewind_step"],
                  baselines=("reinit", "random_prune") if config["baselines"] else (),
                  seed=config["seed"])
    lv = res.levels
    return {
        "theorem": "IMP (Frankle & Carbin 2019)",
        "density": [r["density"] for r in lv], "remaining": [r["remaining"] for r in lv],
        "accuracy": [r["accuracy"] for r in lv],
        "train_accuracy": [r["train_accuracy"] for r in lv],
        "reinit_accuracy": [r["reinit_accuracy"] for r in lv],
        "random_prune_accuracy": [r["random_prune_accuracy"] for r in lv],
        "level_seconds": [r["seconds"] for r in lv], "prunable": res.prunable,
        "train_size": int(len(data.y_train)), "test_size": int(len(data.y_test)),
        "timings": {"total": time.perf_counter() - t0},
    }


def sparsity_grid(points: int) -> list[float]:
    """``points`` sparsities from 0 to 0.99, denser at high sparsity (``1 - 0.01^t``,
    ``t`` evenly spaced in [0, 1]).

    Examples
    --------
    >>> [round(v, 3) for v in sparsity_grid(3)]
    [0.0, 0.9, 0.99]
    """
    points = check_int(points, "points", minimum=2)
    return [1.0 - 0.01 ** (k / (points - 1)) for k in range(points)]


def run_essential(config: dict, threads=None):
    from slth.lab.essential import (
        CheckpointRecorder,
        essential_sparsity,
        knee,
        nm_curve,
        one_shot_curve,
        one_shot_masks,
        pretrain_finetune,
    )
    from slth.lab.imp import apply_masks, imp, lenet, rewind
    from slth.lab.masks import iou
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_

    t0 = time.perf_counter()
    if config["checkpoints"] and config["pretrain"]:
        raise ValueError(f"checkpoints={config['checkpoints']} needs pretrain=0 (the "
                         "checkpoints of a pre-trained run are not offered)")
    data = _data(config)
    grid = sparsity_grid(config["points"])
    recorder = CheckpointRecorder(config["checkpoints"], config["epochs"], data.x_test,
                                  data.y_test, grid, drop=config["drop"])
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        fit = {"epochs": config["epochs"], "lr": config["lr"],
               "batch_size": config["batch_size"]}
        if config["pretrain"]:
            pre = _data({**config, "dataset": "mnist5k", "size": 8,
                         "train_limit": config["pretrain"]})
            model = pretrain_finetune(pre, data, hidden=config["hidden"],
                                      pre_epochs=config["pretrain_epochs"],
                                      seed=config["seed"], **fit)
            levels, masks = [], []         # IMP is run without pre-training only
        else:
            # the checkpoints are measured during IMP's dense run (level 0), so
            # along_checkpoints with the same config gives the same rows
            res = imp(data, hidden=config["hidden"], levels=config["imp_levels"],
                      baselines=(), seed=config["seed"],
                      on_epoch=recorder if config["checkpoints"] else None, **fit)
            model = lenet(data.features, data.classes, config["hidden"], seed=0)
            apply_masks(model, res.masks[0])
            rewind(model, res.trained[0])          # the trained dense network
            levels, masks = res.levels[1:], res.masks[1:]
        acc = one_shot_curve(model, data.x_test, data.y_test, grid)
        dense = float(acc[0])
        nm = nm_curve(model, data.x_test, data.y_test)
        overlap = [iou(one_shot_masks(model, 1 - r["density"]), m)
                   for r, m in zip(levels, masks, strict=True)]
    return {
        "theorem": "Essential sparsity (Jaiswal et al. 2023)",
        "sparsities": grid, "accuracy": [float(a) for a in acc], "dense_accuracy": dense,
        "essential_sparsity": essential_sparsity(grid, acc, dense, config["drop"]),
        "knee": knee(grid, acc), "drop": config["drop"], "nm": nm,
        "imp_density": [r["density"] for r in levels],
        "imp_accuracy": [r["accuracy"] for r in levels],
        "imp_iou": overlap,
        "checkpoint_epoch": [r["epoch"] for r in recorder.rows],
        "checkpoint_accuracy": [r["accuracy"] for r in recorder.rows],
        "checkpoint_essential_sparsity": [r["essential_sparsity"] for r in recorder.rows],
        "checkpoint_knee": [r["knee"] for r in recorder.rows],
        "checkpoint_curve": [r["curve"] for r in recorder.rows],
        "timings": {"total": time.perf_counter() - t0,
                    "checkpoints": sum(r["seconds"] for r in recorder.rows)},
    }


IMP_PARAMS = _COMMON + (
    Param("levels", _int(minimum=0), 10, "pruning rounds (density ~0.8^levels)"),
    Param("fraction", _fraction, 0.2, "fraction of remaining weights pruned a round"),
    Param("rewind_step", _int(minimum=0), 0, "iteration rewound to (0: the init)"),
    Param("baselines", _int(minimum=0, maximum=1), 1, "1: also train the random-reinit "
          "and random-prune baselines at every level"),
)
ESSENTIAL_PARAMS = _COMMON + (
    Param("points", _int(minimum=2), 40, "sparsities of the one-shot curve"),
    Param("drop", _fraction, 0.01, "accuracy drop allowed (0.01: one point)"),
    Param("imp_levels", _int(minimum=0), 5, "IMP rounds whose masks are compared with the "
          "one-shot masks (IoU)"),
    Param("pretrain", _int(minimum=0), 0, "pre-train on this many MNIST-5k 8x8 training "
          "images, then fine-tune on the data set (digits; 0: train on it directly)"),
    Param("pretrain_epochs", _int(minimum=1), 20, "epochs of the pre-training"),
    Param("checkpoints", _checkpoints, [], "epochs (<= epochs, increasing) at which the "
          "essential sparsity and knee of the training run are measured ([]: none; "
          "pretrain=0 only)", vector=True),
)

#: A cheap config of each experiment (CI's smoke size, a few seconds each).
SMOKE = {
    "imp": {"experiment": "imp", "dataset": "mnist5k", "size": 8, "hidden": [32, 16],
            "epochs": 30, "levels": 2, "train_limit": 1000},
    "essential_sparsity": {"experiment": "essential_sparsity", "dataset": "mnist5k",
                           "size": 8, "hidden": [32, 16], "epochs": 30, "imp_levels": 2,
                           "points": 12, "train_limit": 1000, "checkpoints": [1, 3, 10, 30]},
}
