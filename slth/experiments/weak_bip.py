"""Theory of tickets found by training, checked on a small network, as a sweep experiment.

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

__all__ = ["INERTIAL_PARAMS", "SMOKE", "run_inertial"]


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

#: A cheap config (CI's smoke size, a few seconds).
SMOKE = {
    "inertial_manifold": {"experiment": "inertial_manifold", "dataset": "digits", "size": 8,
                          "hidden": [8], "epochs": 10, "pairs": 8, "train_limit": 600},
}
