"""Global Sparse Momentum SGD (Ding et al. 2019) as a sweep experiment, ``"gsm"``.

For each compression ``c`` (density ``1 / c`` of the prunable weights) of one trained
dense LeNet (:func:`slth.lab.gsm.train_dense`):

* GSM (:func:`slth.lab.gsm.gsm`) from the trained network, pruned at the end, no
  fine-tuning: test accuracy before and after the pruning, the per-layer densities it
  found, the largest and mean ``|w|`` the pruning removed against the median kept;
* one-shot global magnitude pruning of the trained network, fine-tuned as many epochs as
  GSM runs (:func:`slth.lab.gsm.one_shot_finetune`);
* IMP (:func:`slth.lab.imp.imp`, rewound to the initial weights): the first level whose
  density is at most ``1 / c`` (with ``imp_fraction`` per level; its density is
  reported);
* the ticket test of the reference's ``gsm_lottery_ticket``: GSM's mask and the
  magnitude mask of the trained dense network, each on the initial weights, retrained
  (:func:`slth.lab.gsm.retrain_from_init`), and a random mask with GSM's per-layer counts.

Needs PyTorch (``pip install "slth[lab]"``), imported when a task runs.

Examples
--------
>>> from slth.experiments.registry import EXPERIMENTS
>>> EXPERIMENTS["gsm"].family, EXPERIMENTS["gsm"].param("compressions").default
('weak', [10.0, 30.0, 60.0])
"""

from __future__ import annotations

import math
import time

from slth._validate import as_float
from slth.experiments.constructions import Param, _int, _positive
from slth.experiments.weak import _COMMON, _data, _fraction

__all__ = ["GSM_PARAMS", "SMOKE", "run_gsm"]


def _compressions(value, name: str) -> list[float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of compression ratios such as [10, 30, 60], "
                        f"got {value!r}")
    out = [as_float(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if not out or any(not v > 1 for v in out):
        raise ValueError(f"{name} must list compression ratios > 1, got {value!r}")
    return out


def _momentum(value, name: str) -> float:
    v = as_float(value, name)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


def run_gsm(config: dict, threads=None) -> dict:
    import numpy as np

    from slth._validate import as_seed_sequence
    from slth.lab.gsm import gsm, one_shot_finetune, retrain_from_init, train_dense
    from slth.lab.imp import accuracy, imp
    from slth.lab.masks import random_masks
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_

    t0 = time.perf_counter()
    data = _data(config)
    hidden, comps = config["hidden"], config["compressions"]
    fit = {"epochs": config["epochs"], "lr": config["lr"],
           "batch_size": config["batch_size"]}
    random_seeds = as_seed_sequence(config["seed"]).spawn(3)[2].spawn(len(comps))
    out = {"theorem": "GSM (Ding et al. 2019)", "compressions": comps,
           "densities": [1.0 / c for c in comps]}
    keys = ("gsm_accuracy", "gsm_unpruned_accuracy", "one_shot_accuracy",
            "ticket_gsm", "ticket_magnitude", "ticket_random", "layer_density_gsm",
            "layer_density_magnitude", "largest_removed", "removed_mean", "kept_median",
            "imp_density", "imp_accuracy")
    out.update({k: [] for k in keys})
    timings = {}
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        t = time.perf_counter()
        dense = train_dense(data, hidden, seed=config["seed"], **fit)
        model, init, order = dense
        out["dense_accuracy"] = accuracy(model, data.x_test, data.y_test)
        timings["dense"] = time.perf_counter() - t
        t = time.perf_counter()
        for c, rseed in zip(comps, random_seeds, strict=True):
            res = gsm(data, density=1.0 / c, hidden=hidden, gsm_epochs=config["gsm_epochs"],
                      gsm_lr=config["gsm_lr"], momentum=config["momentum"],
                      shrink=config["shrink"], dense=dense, **fit)
            one, mag = one_shot_finetune(model, data, 1.0 / c, epochs=config["gsm_epochs"],
                                         lr=config["lr"], batch_size=config["batch_size"],
                                         order_seed=order)
            ticket = {"hidden": hidden, **fit, "order_seed": order}
            out["gsm_accuracy"].append(res.accuracy)
            out["gsm_unpruned_accuracy"].append(res.unpruned_accuracy)
            out["one_shot_accuracy"].append(one)
            out["ticket_gsm"].append(retrain_from_init(data, res.masks, init, **ticket))
            out["ticket_magnitude"].append(retrain_from_init(data, mag, init, **ticket))
            out["ticket_random"].append(retrain_from_init(
                data, random_masks(res.masks, rseed), init, **ticket))
            out["layer_density_gsm"].append(res.layer_density)
            out["layer_density_magnitude"].append([float(m.mean()) for m in mag])
            for k in ("largest_removed", "removed_mean", "kept_median"):
                out[k].append(getattr(res, k))
            out.update(weight_decay=res.weight_decay, decay_factor=res.decay_factor,
                       gsm_steps=res.steps)
        timings["gsm_and_baselines"] = time.perf_counter() - t
        t = time.perf_counter()
        if config["imp"]:
            frac = config["imp_fraction"]
            levels = math.ceil(math.log(min(out["densities"])) / math.log(1.0 - frac))
            res = imp(data, hidden=hidden, levels=levels, fraction=frac, baselines=(),
                      seed=config["seed"], **fit)
            dens = np.array([r["density"] for r in res.levels])
            for d in out["densities"]:
                k = int(np.argmax(dens <= d)) if (dens <= d).any() else len(dens) - 1
                out["imp_density"].append(float(dens[k]))
                out["imp_accuracy"].append(res.levels[k]["accuracy"])
            out["imp_curve"] = [[float(r["density"]), r["accuracy"]] for r in res.levels]
        timings["imp"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    out["timings"] = timings
    out["train_size"] = int(len(data.y_train))
    return out


GSM_PARAMS = _COMMON + (
    Param("compressions", _compressions, [10.0, 30.0, 60.0],
          "compression ratios (density 1 / c of the prunable weights)", vector=True),
    Param("gsm_epochs", _int(minimum=1), 40, "epochs of GSM (and of the one-shot "
          "baseline's fine-tuning)"),
    Param("gsm_lr", _positive, 0.1, "GSM's learning rate (the reference: 0.01 with "
          "momentum 0.99; the same lr / (1 - momentum) here)"),
    Param("momentum", _momentum, 0.9, "GSM's Nesterov momentum"),
    Param("shrink", _positive, 10.0, "a never-selected weight shrinks by about "
          "exp(-shrink) over the GSM run (sets the weight decay)"),
    Param("imp", _int(minimum=0, maximum=1), 1, "1: also run IMP down to the smallest "
          "density"),
    Param("imp_fraction", _fraction, 0.2, "IMP's pruned fraction per level"),
)

#: A cheap config (CI's smoke size).
SMOKE = {
    "gsm": {"experiment": "gsm", "dataset": "mnist5k", "size": 8, "hidden": [32, 16],
            "epochs": 20, "gsm_epochs": 20, "batch_size": 64, "shrink": 5.0,
            "compressions": [10.0, 30.0], "imp_fraction": 0.5, "train_limit": 1000},
}
