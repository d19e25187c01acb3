"""Essential sparsity: how much of a trained network one-shot magnitude pruning removes for free.

Jaiswal, Liu, Chen and Wang, "The Emergence of Essential Sparsity in Large Pre-trained
Models: The Weights that Matter", NeurIPS 2023 (code: VITA-Group/essential_sparsity).
The paper's statement (empirical): removing the smallest-magnitude weights of a
pre-trained model in one shot, without retraining, leaves its downstream performance
almost unchanged up to a sparsity (the *essential sparsity*, 30-50 % for the models
studied, check) after which it drops sharply; the one-shot masks overlap strongly with
those found by IMP at the same sparsity (check); models pre-trained on more data show
more essential sparsity (check); the same holds, lower, with N:M patterns.

Here, on a trained LeNet (the dense run of :func:`slth.lab.imp.imp`):

* :func:`one_shot_curve` -- test accuracy after global magnitude pruning to each sparsity
  (prunable weights: all but the output layer; biases kept), no retraining;
* :func:`essential_sparsity` -- the largest sparsity of the grid up to which every
  accuracy is within ``drop`` of the dense one (``drop = 0.01``: one percentage point;
  the paper's "at most 1 % drop", read as absolute accuracy (check));
* :func:`knee` -- a knee detector: Kneedle (Satopaa et al. 2011) without smoothing, the
  point farthest above the chord joining the ends of the normalised curve;
* N:M patterns (1:4, 2:4, 4:8, :func:`slth.lab.masks.nm_masks`) and the overlap (IoU) of
  the one-shot mask with IMP's mask of the same density;
* :func:`pretrain_finetune` -- the paper's protocol in small: pre-train on one data set
  (MNIST-5k at 8x8), replace the output layer, fine-tune every weight on another
  (scikit-learn's digits), then prune the fine-tuned network in one shot;
* :func:`along_checkpoints` -- how the essential sparsity evolves during training: one
  training run (the dense run of :func:`slth.lab.imp.imp`, same seed, same weights),
  with the one-shot curve, the essential sparsity and the knee of a copy of the weights
  at chosen epochs.

Departures: the paper prunes large pre-trained transformers (and CNNs) and measures
downstream tasks; here a LeNet, pre-trained on at most 4,000 MNIST images. The paper
follows checkpoints of the *pre-training* and measures each after fine-tuning (check);
:func:`along_checkpoints` follows the checkpoints of one supervised run and measures
each on that run's own test set, without fine-tuning.

Examples
--------
>>> import numpy as np
>>> s = np.linspace(0, 1, 11)
>>> acc = np.where(s <= 0.7, 0.9, 0.9 - 3 * (s - 0.7))
>>> round(essential_sparsity(s, acc, 0.9), 9), round(knee(s, acc), 9)
(0.7, 0.7)
"""

from __future__ import annotations

import time

import numpy as np

from slth._validate import (
    as_float_array,
    as_seed_sequence,
    check_increasing_ints,
    check_int,
    check_open_unit,
)
from slth.lab._torch import nn, torch
from slth.lab.imp import (
    _numpy_state,
    _weight,
    _weights_state,
    accuracy,
    apply_masks,
    get_masks,
    imp,
    lenet,
    prunable_layers,
    rewind,
    train,
)
from slth.lab.masks import magnitude_masks, nm_masks, sparsity_count

__all__ = ["NM_PATTERNS", "CheckpointRecorder", "along_checkpoints",
           "check_checkpoints", "essential_sparsity", "knee", "masked_accuracy", "nm_curve",
           "one_shot_curve", "one_shot_masks", "pretrain_finetune"]

#: N:M patterns measured by default.
NM_PATTERNS = ((1, 4), (2, 4), (4, 8))


def _curve(sparsities, accuracies):
    s = as_float_array(sparsities, "sparsities", ndim=1)
    a = as_float_array(accuracies, "accuracies", ndim=1)
    if s.size != a.size or s.size < 2:
        raise ValueError(f"sparsities and accuracies must have the same length (>= 2), got "
                         f"{s.size} and {a.size}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("sparsities must be strictly increasing")
    return s, a


def essential_sparsity(sparsities, accuracies, dense_accuracy: float,
                       drop: float = 0.01) -> float:
    """The largest grid sparsity up to which every accuracy is at least
    ``dense_accuracy - drop`` (0 when the first point already fails).

    Examples
    --------
    >>> essential_sparsity([0.0, 0.5, 0.8, 0.9], [0.95, 0.95, 0.941, 0.90], 0.95)
    0.8
    """
    s, a = _curve(sparsities, accuracies)
    ok = a >= dense_accuracy - drop - 1e-12
    bad = np.flatnonzero(~ok)
    last = (bad[0] - 1) if bad.size else s.size - 1
    return float(s[last]) if last >= 0 else 0.0


def knee(sparsities, accuracies) -> float:
    """Knee of a falling accuracy curve: the point farthest above the chord joining its
    ends, both axes scaled to [0, 1] (Kneedle's difference curve, without smoothing).

    Examples
    --------
    >>> knee([0.0, 0.25, 0.5, 0.75, 1.0], [1.0, 1.0, 1.0, 0.5, 0.0])
    0.5
    """
    s, a = _curve(sparsities, accuracies)
    x = (s - s[0]) / (s[-1] - s[0])
    span = a.max() - a.min()
    y = (a - a.min()) / span if span > 0 else np.zeros_like(a)
    chord = y[0] + (y[-1] - y[0]) * x
    return float(s[int(np.argmax(y - chord))])


def masked_accuracy(model, masks, x, y) -> float:
    """Accuracy on ``(x, y)`` of a :func:`~slth.lab.imp.lenet` network with ``masks`` on its
    prunable weights (on top of any mask it has); the model is left unchanged."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(masks) != len(layers) - 1:
        raise ValueError(f"masks must have {len(layers) - 1} arrays (one per prunable "
                         f"layer), got {len(masks)}")
    with torch.no_grad():
        h = torch.as_tensor(x)
        for i, layer in enumerate(layers):
            w = _weight(layer)
            if hasattr(layer, "weight_mask"):
                w = w * layer.weight_mask
            if i < len(masks):
                w = w * torch.as_tensor(np.asarray(masks[i], dtype=bool)).to(w.dtype)
            h = torch.nn.functional.linear(h, w, layer.bias)
            if i < len(layers) - 1:
                h = torch.relu(h)
    return float(np.mean(h.argmax(dim=1).numpy() == np.asarray(y)))


def _prunable_weights(model) -> list[np.ndarray]:
    return [_weight(layer).detach().numpy().copy() for layer in prunable_layers(model)]


def one_shot_masks(model, sparsity: float) -> list[np.ndarray]:
    """Global magnitude masks of ``model``'s prunable weights at ``sparsity``."""
    weights = _prunable_weights(model)
    total = sum(w.size for w in weights)
    return magnitude_masks(weights, sparsity_count(total, sparsity))


def one_shot_curve(model, x, y, sparsities) -> np.ndarray:
    """Accuracy on ``(x, y)`` after one-shot global magnitude pruning to each sparsity."""
    s = as_float_array(sparsities, "sparsities", ndim=1)
    return np.array([masked_accuracy(model, one_shot_masks(model, v), x, y) for v in s])


def nm_curve(model, x, y, patterns=NM_PATTERNS) -> dict:
    """Accuracy with each N:M pattern (``"2:4"`` -> accuracy), and the one-shot global
    mask's accuracy at the same sparsity (``"2:4 global"``)."""
    weights = _prunable_weights(model)
    out = {}
    for n, m in patterns:
        out[f"{n}:{m}"] = masked_accuracy(model, nm_masks(weights, n, m), x, y)
        out[f"{n}:{m} global"] = masked_accuracy(model, one_shot_masks(model, 1 - n / m), x, y)
    return out


def pretrain_finetune(pre, down, *, hidden=(300, 100), pre_epochs: int = 20,
                      epochs: int = 20, lr: float = 0.1, batch_size: int = 128, seed=0):
    """Pre-train a :func:`~slth.lab.imp.lenet` on ``pre``, give it a new output layer for
    ``down``'s classes and fine-tune every weight on ``down`` (plain SGD, :func:`train`).

    ``seed``'s children: initial weights, pre-training data order, the new output layer,
    fine-tuning data order. Returns the fine-tuned network (no masks).

    Raises
    ------
    ValueError
        The two data sets have inputs of different sizes.
    """
    if pre.features != down.features:
        raise ValueError(f"pre has {pre.features} input features and down {down.features}; "
                         "they must agree (e.g. mnist5k with size=8 and digits)")
    t_init, t_pre, t_head, t_down = as_seed_sequence(seed).spawn(4)
    model = lenet(pre.features, pre.classes, hidden, seed=t_init)
    train(model, pre.x_train, pre.y_train, epochs=pre_epochs, lr=lr, batch_size=batch_size,
          order_seed=t_pre)
    model[-1] = lenet(down.features, down.classes, hidden, seed=t_head)[-1]
    train(model, down.x_train, down.y_train, epochs=epochs, lr=lr, batch_size=batch_size,
          order_seed=t_down)
    return model


def check_checkpoints(checkpoints, epochs: int) -> list[int]:
    """Checkpoint epochs: integers, strictly increasing, each in ``[1, epochs]``.

    Examples
    --------
    >>> check_checkpoints([1, 2, 5], 5)
    [1, 2, 5]
    >>> check_checkpoints([1, 8], 5)
    Traceback (most recent call last):
    ...
    ValueError: checkpoints must be <= epochs = 5 (the epochs trained), got 8
    """
    epochs = check_int(epochs, "epochs", minimum=0)
    c = check_increasing_ints(checkpoints, "checkpoints", minimum=1)
    if c and c[-1] > epochs:
        raise ValueError(f"checkpoints must be <= epochs = {epochs} (the epochs trained), "
                         f"got {c[-1]}")
    return c


def _check_sparsities(sparsities) -> np.ndarray:
    s = as_float_array(sparsities, "sparsities", ndim=1)
    if s.size < 2 or np.any(np.diff(s) <= 0) or s[0] < 0 or s[-1] > 1:
        raise ValueError(f"sparsities must be >= 2 strictly increasing values in [0, 1], "
                         f"got {s.tolist()}")
    return s


def _snapshot(model):
    """A copy of a :func:`~slth.lab.imp.lenet` network (its weights and masks), in eval
    mode. ``copy.deepcopy`` refuses a masked network during training (its ``weight`` is
    not a leaf tensor), so the copy is rebuilt from the weights."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    sizes = [linear[0].in_features] + [m.out_features for m in linear]
    snap = lenet(sizes[0], sizes[-1], sizes[1:-1], seed=0)
    if any(hasattr(m, "weight_mask") for m in linear):
        apply_masks(snap, get_masks(model))
    rewind(snap, _weights_state(model))
    snap.eval()
    return snap


class CheckpointRecorder:
    """An ``on_epoch`` callback for :func:`~slth.lab.imp.train`: at each checkpoint epoch,
    the one-shot curve of a copy of the model on ``(x, y)``, its essential sparsity and
    its knee, appended to :attr:`rows`.

    Each row: ``epoch``, ``accuracy`` (of the unpruned copy), ``curve`` (accuracy at each
    of ``sparsities``), ``essential_sparsity``, ``knee``, ``seconds`` (of the measurement)
    and, with ``keep_weights``, ``state`` (the copy's unmasked parameters as numpy arrays,
    plain names as :func:`~slth.lab.imp.rewind` takes them). The model itself is only
    read: the measurement runs on a copy, so training goes on bit for bit as without
    the recorder.
    """

    def __init__(self, checkpoints, epochs: int, x, y, sparsities, *, drop: float = 0.01,
                 keep_weights: bool = False):
        self.checkpoints = check_checkpoints(checkpoints, epochs)
        self.sparsities = _check_sparsities(sparsities)
        self.drop = check_open_unit(drop, "drop")
        self.x, self.y, self.keep_weights = x, y, bool(keep_weights)
        self.rows: list[dict] = []

    def __call__(self, epoch: int, model) -> None:
        if epoch not in self.checkpoints:
            return
        t0 = time.perf_counter()
        snap = _snapshot(model)
        curve = one_shot_curve(snap, self.x, self.y, self.sparsities)
        dense = accuracy(snap, self.x, self.y)
        row = {"epoch": int(epoch), "accuracy": dense, "curve": curve.tolist(),
               "essential_sparsity": essential_sparsity(self.sparsities, curve, dense,
                                                        self.drop),
               "knee": knee(self.sparsities, curve)}
        if self.keep_weights:
            row["state"] = _numpy_state(_weights_state(snap))
        row["seconds"] = time.perf_counter() - t0
        self.rows.append(row)


def along_checkpoints(data, checkpoints, sparsities, *, hidden=(300, 100),
                      epochs: int | None = None, lr: float = 0.1, batch_size: int = 128,
                      drop: float = 0.01, seed=0, optimizer: str = "sgd",
                      keep_weights: bool = False) -> list[dict]:
    """Essential sparsity along one training run: the rows of a
    :class:`CheckpointRecorder` on the test set, one per checkpoint epoch.

    The run is :func:`slth.lab.imp.imp`'s dense run (``levels=0``, the same children of
    ``seed``), so the checkpoint at epoch ``e`` holds exactly the weights of ``imp``
    trained ``e`` epochs with that seed; the measurements copy the weights and do not
    change the run.

    Parameters
    ----------
    data : slth.lab.data.Dataset
    checkpoints : sequence of int
        Epochs, strictly increasing, each in ``[1, epochs]``.
    sparsities : sequence of float
        Grid of the one-shot curve (strictly increasing, in [0, 1]; e.g.
        :func:`slth.experiments.weak.sparsity_grid`).
    hidden, lr, batch_size, optimizer
        The network and its training (:func:`~slth.lab.imp.train`).
    epochs : int, optional
        Epochs trained (default: the last checkpoint).
    drop : float
        Accuracy drop allowed by :func:`essential_sparsity`.
    seed : int or SeedSequence
    keep_weights : bool
        Keep each checkpoint's weights in its row (``state``).

    Raises
    ------
    ValueError
        ``checkpoints`` not strictly increasing, or outside ``[1, epochs]``.

    Examples
    --------
    >>> from slth.lab.data import load_dataset
    >>> data = load_dataset("digits", seed=0)
    >>> rows = along_checkpoints(data, [1, 3], [0.0, 0.5, 0.9], hidden=(16,), seed=0)
    >>> [r["epoch"] for r in rows], rows[-1]["curve"][0] == rows[-1]["accuracy"]
    ([1, 3], True)
    """
    checkpoints = check_increasing_ints(checkpoints, "checkpoints", minimum=1)
    if epochs is None:
        if not checkpoints:
            raise ValueError("checkpoints must list at least one epoch when epochs is "
                             "not given")
        epochs = checkpoints[-1]
    rec = CheckpointRecorder(checkpoints, epochs, data.x_test, data.y_test, sparsities,
                             drop=drop, keep_weights=keep_weights)
    imp(data, hidden=hidden, levels=0, epochs=epochs, lr=lr, batch_size=batch_size,
        baselines=(), seed=seed, optimizer=optimizer, on_epoch=rec)
    return rec.rows
