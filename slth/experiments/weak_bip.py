"""Theory of tickets found by training, checked on a small network, as a sweep experiment.

* ``"bip"``: BiP (Zhang et al. 2022, :mod:`slth.lab.bip`) from a trained LeNet, against
  HYDRA, one-shot magnitude pruning plus fine-tuning and IMP (the level of nearest
  density) at given densities, with the wall time of each;
* ``"inertial_manifold"``: the inertial-manifold conditions (Zhang et al., NeurIPS 2021)
  at the trained weights of a network small enough for its exact Hessian
  (:func:`slth.lab.inertial.diagnose`): gradient norms, the Hessian's spectrum and its
  fraction of negative eigenvalues, the spectral gaps against twice a sampled Lipschitz
  constant of the nonlinear remainder, the dimension this predicts, and the essential
  sparsity of the same network.

Needs PyTorch (``pip install "slth[lab]"``), imported when a task runs. :data:`SMOKE`
holds a cheap config, the size CI runs.

Examples
--------
>>> from slth.experiments.registry import EXPERIMENTS
>>> exp = EXPERIMENTS["inertial_manifold"]
>>> exp.family, exp.param("hidden").default
('weak', [16])
"""

from __future__ import annotations

import dataclasses
import time

from slth.experiments.constructions import Param, _int, _positive
from slth.experiments.weak import _COMMON, _data, _fraction

__all__ = ["BIP_PARAMS", "INERTIAL_PARAMS", "SMOKE", "run_bip", "run_inertial"]


def _densities(value, name: str) -> list[float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of densities such as [0.2, 0.05], got "
                        f"{value!r}")
    out = [float(v) for v in value]
    if not out or any(not 0.0 < v < 1.0 for v in out):
        raise ValueError(f"{name} must list densities in (0, 1), got {value!r}")
    return out


def run_bip(config: dict, threads=None):
    import copy
    import math

    import numpy as np

    from slth.lab.bip import bip
    from slth.lab.essential import one_shot_masks
    from slth.lab.imp import accuracy, apply_masks, imp, lenet, train
    from slth.lab.masks import density
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_

    t0 = time.perf_counter()
    data = _data(config)
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    t_init, t_order, t_bip, t_fine = np.random.SeedSequence(config["seed"]).spawn(4)
    fit = {"lr": config["lr"], "batch_size": config["batch_size"]}
    out = {"theorem": "BiP (Zhang et al. 2022)", "densities": config["densities"]}
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        t = time.perf_counter()
        dense = lenet(data.features, data.classes, config["hidden"], seed=t_init)
        train(dense, x, y, epochs=config["epochs"], order_seed=t_order, **fit)
        out["dense_accuracy"], out["dense_seconds"] = (accuracy(dense, xt, yt),
                                                       time.perf_counter() - t)
        for key in ("bip", "hydra", "one_shot_finetune"):
            out[f"{key}_accuracy"], out[f"{key}_seconds"] = [], []
        for d in config["densities"]:
            for mode in ("bip", "hydra"):
                net = copy.deepcopy(dense)
                _, sec = bip(net, x, y, density=d, epochs=config["bip_epochs"],
                             mask_lr=config["mask_lr"], implicit_lr=config["implicit_lr"],
                             mode=mode, finetune_epochs=config["finetune_epochs"],
                             batch_size=config["batch_size"], seed=t_bip)
                out[f"{mode}_accuracy"].append(accuracy(net, xt, yt))
                out[f"{mode}_seconds"].append(sec)
            t = time.perf_counter()
            net = copy.deepcopy(dense)
            apply_masks(net, one_shot_masks(net, 1 - d))
            train(net, x, y, epochs=config["finetune_epochs"], order_seed=t_fine, **fit)
            out["one_shot_finetune_accuracy"].append(accuracy(net, xt, yt))
            out["one_shot_finetune_seconds"].append(time.perf_counter() - t)
        if config["imp"]:
            levels = math.ceil(math.log(min(config["densities"])) / math.log(0.8))
            res = imp(data, hidden=config["hidden"], levels=levels, epochs=config["epochs"],
                      baselines=(), seed=config["seed"], **fit)
            dens = [density(m) for m in res.masks]
            pick = [int(np.argmin([abs(math.log(v / d)) for v in dens]))
                    for d in config["densities"]]
            out["imp_density"] = [dens[i] for i in pick]
            out["imp_accuracy"] = [res.levels[i]["accuracy"] for i in pick]
            # IMP reaches a density after all the levels before it
            out["imp_seconds"] = [sum(r["seconds"] for r in res.levels[:i + 1]) for i in pick]
    out["timings"] = {"total": time.perf_counter() - t0}
    return out


def run_inertial(config: dict, threads=None):
    from slth.lab.inertial import diagnose
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_

    t0 = time.perf_counter()
    data = _data(config)
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        r = diagnose(data, hidden=config["hidden"], epochs=config["epochs"], lr=config["lr"],
                     batch_size=config["batch_size"], early_steps=config["early_steps"],
                     radius=config["radius"], pairs=config["pairs"], drop=config["drop"],
                     seed=config["seed"])
    return {
        "theorem": "Inertial manifold (Zhang et al. 2021)",
        **{k: r[k] for k in ("grad_norm_early", "grad_norm_trained", "negative_fraction",
                             "lip", "predicted_dimension", "parameters",
                             "essential_sparsity", "essential_kept", "prunable",
                             "dissipative", "gap_condition", "test_accuracy")},
        "conditions_hold": bool(r["dissipative"] and r["gap_condition"]),
        "eigenvalues": [float(v) for v in r["eigenvalues"]],
        "sparsities": [float(v) for v in r["sparsities"]],
        "one_shot_accuracy": [float(v) for v in r["one_shot_accuracy"]],
        "train_size": int(len(data.y_train)),
        "timings": {"total": time.perf_counter() - t0},
    }


def _replace(params, **defaults):
    return tuple(dataclasses.replace(p, default=defaults[p.name]) if p.name in defaults
                 else p for p in params)


INERTIAL_PARAMS = _replace(
    _COMMON, dataset="digits", size=8, hidden=[16], epochs=30) + (
    Param("early_steps", _int(minimum=0), 10, "SGD steps after which the first gradient "
          "norm is measured"),
    Param("radius", _positive, 0.1, "radius of the ball about the trained weights where "
          "the remainder's Lipschitz constant is sampled"),
    Param("pairs", _int(minimum=1), 32, "random pairs of that sample"),
    Param("drop", _fraction, 0.01, "accuracy drop of the essential sparsity"),
)

BIP_PARAMS = _replace(_COMMON, size=8, epochs=20) + (
    Param("densities", _densities, [0.2, 0.05, 0.02, 0.01], "densities of the prunable "
          "weights", vector=True),
    Param("bip_epochs", _int(minimum=1), 10, "epochs of BiP's and HYDRA's mask search"),
    Param("finetune_epochs", _int(minimum=0), 10, "fine-tuning epochs (HYDRA, one-shot)"),
    Param("mask_lr", _positive, 1.0, "score step (reference: 0.1 with momentum 0.9)"),
    Param("implicit_lr", _positive, 1e-4, "coefficient of the implicit term (reference "
          "lr2)"),
    Param("imp", _int(minimum=0, maximum=1), 1, "1: also run IMP down to the smallest "
          "density"),
)

#: A cheap config (CI's smoke size, a few seconds).
SMOKE = {
    "inertial_manifold": {"experiment": "inertial_manifold", "dataset": "digits", "size": 8,
                          "hidden": [8], "epochs": 10, "pairs": 8, "train_limit": 600},
    "bip": {"experiment": "bip", "dataset": "mnist5k", "size": 8, "hidden": [32, 16],
            "epochs": 30, "densities": [0.2, 0.05], "bip_epochs": 2, "finetune_epochs": 2,
            "imp": 1, "train_limit": 600},
}
