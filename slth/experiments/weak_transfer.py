"""Ticket transfer (Morcos et al. 2019) as a sweep experiment, ``"ticket_transfer"``.

IMP tickets with late resetting found on MNIST-5k at 8x8 (all 4,000 training images or
a stratified subset of ``source_limit``), trained on scikit-learn's digits with a new
output layer, against digits' own IMP tickets and random tickets
(:func:`slth.lab.transfer.transfer`); SGD or Adam throughout.

Needs PyTorch (``pip install "slth[lab]"``) and the ``data`` extra for MNIST-5k.

Examples
--------
>>> from slth.experiments.registry import EXPERIMENTS
>>> EXPERIMENTS["ticket_transfer"].param("optimizer").default
'sgd'
"""

from __future__ import annotations

import time

from slth.experiments.constructions import Param, _choice, _int, _positive, _seed
from slth.experiments.weak import _data, _fraction, _hidden

__all__ = ["SMOKE", "TRANSFER_PARAMS", "run_transfer"]


def run_transfer(config: dict, threads=None) -> dict:
    from slth.lab.thread_counts import get_threads
    from slth.lab.thread_counts import threads as threads_
    from slth.lab.transfer import transfer

    t0 = time.perf_counter()
    common = {"seed": config["seed"], "size": 8, "train_limit": config["source_limit"]}
    source = _data({**common, "dataset": "mnist5k"})
    target = _data({**common, "dataset": "digits", "train_limit": 0})
    with threads_({"torch": threads or 1, "numba": get_threads()["numba"]}):
        res = transfer(source, target, hidden=config["hidden"], levels=config["levels"],
                       fraction=config["fraction"], epochs=config["epochs"],
                       lr=config["lr"], batch_size=config["batch_size"],
                       rewind_step=config["rewind_step"], optimizer=config["optimizer"],
                       seed=config["seed"])
    return {"theorem": "Ticket transfer (Morcos et al. 2019)", **res,
            "source_size": int(len(source.y_train)), "target_size": int(len(target.y_train)),
            "timings": {"total": time.perf_counter() - t0}}


TRANSFER_PARAMS = (
    Param("source_limit", _int(minimum=0), 0, "MNIST-5k 8x8 training images of the source "
          "(0: all 4,000; a small subset, e.g. 500)"),
    Param("optimizer", _choice(("sgd", "adam")), "sgd", "optimizer of every run"),
    Param("hidden", _hidden, [300, 100], "hidden widths (LeNet-300-100)", vector=True),
    Param("levels", _int(minimum=1), 8, "IMP rounds (density ~0.8^levels)"),
    Param("fraction", _fraction, 0.2, "fraction of remaining weights pruned a round"),
    Param("rewind_step", _int(minimum=0), 10, "late resetting: iteration rewound to"),
    Param("epochs", _int(minimum=1), 20, "training epochs of every run"),
    Param("lr", _positive, 0.1, "learning rate (use about 1e-3 with Adam)"),
    Param("batch_size", _int(minimum=1), 128, "minibatch size"),
    Param("seed", _seed, 0, "seed of the splits, the weights, the masks and the data order"),
)

#: A cheap config (CI's smoke size).
SMOKE = {
    "ticket_transfer": {"experiment": "ticket_transfer", "source_limit": 500,
                        "hidden": [32, 16], "levels": 2, "fraction": 0.5, "epochs": 20,
                        "rewind_step": 4, "batch_size": 64},
}
