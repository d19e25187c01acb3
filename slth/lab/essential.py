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
  (scikit-learn's digits), then prune the fine-tuned network in one shot.

Departures: the paper prunes large pre-trained transformers (and CNNs) and measures
downstream tasks; here a LeNet, pre-trained on at most 4,000 MNIST images. The paper's
sweep along pre-training checkpoints is not offered.

Examples
--------
>>> import numpy as np
>>> s = np.linspace(0, 1, 11)
>>> acc = np.where(s <= 0.7, 0.9, 0.9 - 3 * (s - 0.7))
>>> round(essential_sparsity(s, acc, 0.9), 9), round(knee(s, acc), 9)
(0.7, 0.7)
"""

from __future__ import annotations

import numpy as np

from slth._validate import as_float_array, as_seed_sequence
from slth.lab._torch import nn, torch
from slth.lab.imp import _weight, lenet, prunable_layers, train
from slth.lab.masks import magnitude_masks, nm_masks, sparsity_count

__all__ = ["NM_PATTERNS", "essential_sparsity", "knee", "masked_accuracy", "nm_curve",
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
