"""Global Sparse Momentum SGD (GSM): pruning by training with a global gradient budget.

Ding, Ding, Zhou, Guo, Han, Liu, "Global Sparse Momentum SGD for Pruning Very Deep Neural
Networks", NeurIPS 2019; reference code DingXiaoH/GSM-SGD, ``gsm/gsm_train.py``,
function ``train_one_step`` (the step), and ``gsm/gsm_lottery_ticket.py``, function
``gsm_lottery_ticket`` (the ticket test).

The paper's statement (an empirical claim): starting from a trained dense network, at
every step only the ``Q`` weights with the largest first-order saliency ``|g * w|``
(over all layers together) receive their loss gradient; every weight receives the
weight decay, and Nesterov momentum carries both. The ``N - Q`` unselected weights are
therefore driven towards 0 by the decay alone and can be removed at the end without
fine-tuning. On LeNet-300-100 on MNIST the paper reports no accuracy loss at 60x
compression (1.67 % of the weights) (check), better than one-shot magnitude pruning
with fine-tuning; and, used as a ticket finder, GSM's mask applied to the *initial*
weights and retrained beats the magnitude mask of the trained dense network at high
compression.

This module follows ``train_one_step``:

1. forward, backward;
2. score ``|g * w|`` over the weight matrices, keep the top ``Q = round(density * N)``
   (:func:`saliency_masks`);
3. zero the gradient of the others (the weight decay is added afterwards, inside
   ``torch.optim.SGD.step``, so it reaches every weight);
4. ``SGD(momentum, nesterov=True, weight_decay)`` step.

Where this departs from the reference code:

* the weight matrices scored are the prunable ones of :mod:`slth.lab.imp` (all but the
  output layer), so GSM, IMP and one-shot pruning prune the same weights; the reference
  scores every matrix, the output layer included. The output layer and the biases get
  their full gradient;
* the decay reaches every parameter, the biases and the output layer included (the
  reference's ``sgd_optimizer`` gives biases ``weight_decay_bias`` (check));
* exactly ``Q`` weights are selected (``torch.topk`` indices); the reference keeps
  ``|g w| >= threshold``, which keeps more on ties;
* a constant learning rate (the reference: linear warm-up, then steps), and momentum 0.9
  with lr 0.1 instead of 0.99 with lr 0.01 (the same ``lr / (1 - momentum)``): with
  0.99 no decay can shrink a weight faster than ``0.99^(steps / 2)`` (see
  :func:`weight_decay_for`);
* **the weight decay is scaled to the run's length.** The reference decays by 5e-4 with
  lr 1e-2 and momentum 0.99 for 280 MNIST epochs (about 65,000 steps at batch 256): an
  unselected weight shrinks by about ``exp(-lr * wd * steps / (1 - momentum))``, i.e.
  ``exp(-33)``. A run of a few hundred steps with the same decay would leave unselected
  weights at 90 % of their size and the final pruning would not be free. Here the decay
  is :func:`weight_decay_for` ``(shrink, lr, momentum, steps)`` ``= shrink (1 - momentum)
  / (lr steps)``, so that a weight never selected ends near ``exp(-shrink)`` of its start
  (:func:`never_selected_factor` gives the exact factor of the momentum recurrence);
  :class:`GsmResult` reports the largest unselected ``|w|`` actually left.

The mask at the end is the top-``Q`` by ``|w|`` (the reference's
``get_mask_by_magnitude`` of the GSM-trained weights).

Examples
--------
>>> from slth.lab.data import load_dataset
>>> ds = load_dataset("teacher", seed=0, samples=300, widths=(4, 8, 3))
>>> res = gsm(ds, density=0.25, hidden=(16, 8), epochs=3, gsm_epochs=3, batch_size=16,
...           shrink=0.5, seed=0)
>>> res.remaining, res.prunable
(48, 192)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slth._validate import as_seed_sequence, check_int, check_open_unit
from slth.lab._torch import nn, torch
from slth.lab.imp import _weight, accuracy, apply_masks, lenet, prunable_layers, rewind, train
from slth.lab.masks import magnitude_masks

__all__ = ["GsmResult", "gsm", "gsm_train", "never_selected_factor", "one_shot_finetune",
           "retrain_from_init", "saliency_masks", "train_dense", "weight_decay_for"]


def _count(density: float, total: int) -> int:
    return max(1, int(round(density * total)))


def saliency_masks(model: nn.Module, density: float) -> list[torch.Tensor]:
    """Masks of the top ``round(density * N)`` prunable weights by ``|grad * weight|``,
    all layers together, from the gradients currently in ``model`` (boolean tensors)."""
    density = check_open_unit(density, "density")
    weights = [_weight(la) for la in prunable_layers(model)]
    if any(w.grad is None for w in weights):
        raise ValueError("model: no gradient yet (call backward() first)")
    scores = torch.cat([(w.grad * w).detach().abs().reshape(-1) for w in weights])
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    keep[torch.topk(scores, _count(density, scores.numel()), sorted=False).indices] = True
    out, start = [], 0
    for w in weights:
        out.append(keep[start:start + w.numel()].reshape(w.shape))
        start += w.numel()
    return out


def weight_decay_for(shrink: float, lr: float, momentum: float, steps: int) -> float:
    """The decay that shrinks a never-selected weight by about ``exp(-shrink)`` in
    ``steps`` steps: ``shrink (1 - momentum) / (lr steps)`` (momentum's steady-state
    step is ``lr / (1 - momentum)`` times the gradient ``wd * w``).

    Valid while the momentum recurrence is overdamped, ``lr wd <= (1 - sqrt(momentum))^2``
    (``ValueError`` otherwise): the reference's momentum 0.99 allows at most a factor
    ``0.99^(steps / 2)`` (``exp(-3.2)`` in 640 steps), which is why :func:`gsm` uses
    momentum 0.9 with ten times the reference's learning rate (the same
    ``lr / (1 - momentum) = 1``).

    Examples
    --------
    >>> round(weight_decay_for(10.0, 0.1, 0.9, 1000), 6)
    0.01
    """
    steps = check_int(steps, "steps", minimum=1)
    if not shrink > 0:
        raise ValueError(f"shrink must be > 0, got {shrink!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    momentum = float(momentum)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    wd = shrink * (1.0 - momentum) / (lr * steps)
    # The recurrence of a never-selected weight has roots whose product is ``momentum``;
    # past critical damping (lr wd > (1 - sqrt m)^2) they are complex, of modulus
    # sqrt(momentum), and no decay shrinks the weight faster than momentum^(steps / 2).
    if lr * wd > (1.0 - np.sqrt(momentum)) ** 2:
        raise ValueError(
            f"shrink={shrink!r} in steps={steps} needs weight decay {wd:.3g}, past critical"
            f" damping of the momentum recurrence (decay > (1 - sqrt(momentum))^2 / lr = "
            f"{(1.0 - np.sqrt(momentum)) ** 2 / lr:.3g} with momentum={momentum!r}), where"
            " this formula fails; no decay shrinks a weight faster than momentum^(steps/2) ="
            f" {momentum ** (steps / 2):.3g}: train more steps, lower the momentum or the "
            "shrink")
    return wd


def never_selected_factor(weight_decay: float, lr: float, momentum: float,
                          steps: int) -> float:
    """``w_steps / w_0`` for a weight that never gets a loss gradient, under PyTorch's
    Nesterov SGD (``b = m b + wd w``; ``w -= lr (wd w + m b)``), in float64.

    Examples
    --------
    >>> f = never_selected_factor(0.01, 0.1, 0.9, 1000)   # about exp(-10)
    >>> 1e-5 < f < 1e-4
    True
    """
    steps = check_int(steps, "steps", minimum=0)
    w, b = 1.0, 0.0
    for t in range(steps):
        g = weight_decay * w
        b = g if t == 0 else momentum * b + g      # PyTorch's first step: b = g
        w -= lr * (g + momentum * b)
    return w


def gsm_train(model: nn.Module, x, y, *, density: float, epochs: int, lr: float = 0.1,
              momentum: float = 0.9, weight_decay: float = 5e-4, batch_size: int = 128,
              order_seed=0) -> dict:
    """GSM training in place: the reference's ``train_one_step``, ``epochs`` times over
    ``x``. Returns ``{"steps", "ever_selected"}`` (the latter: boolean masks of the
    weights that received a loss gradient at least once)."""
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    density = check_open_unit(density, "density")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    xt, yt = torch.as_tensor(x), torch.as_tensor(np.asarray(y, dtype=np.int64))
    rng = np.random.default_rng(as_seed_sequence(order_seed, "order_seed"))
    # torch refuses Nesterov without momentum; momentum 0 is plain SGD (used by tests)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                          weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    weights = [_weight(la) for la in prunable_layers(model)]
    ever = [torch.zeros(w.shape, dtype=torch.bool) for w in weights]
    steps = 0
    model.train()
    for _ in range(epochs):
        perm = torch.as_tensor(rng.permutation(len(yt)))
        for start in range(0, len(yt), batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            for w, m, e in zip(weights, saliency_masks(model, density), ever, strict=True):
                w.grad.mul_(m)
                e |= m
            opt.step()
            steps += 1
    model.eval()
    return {"steps": steps, "ever_selected": [e.numpy().copy() for e in ever]}


@dataclass
class GsmResult:
    """What :func:`gsm` found at one density.

    ``accuracy`` (test, the pruned GSM network, no fine-tuning), ``unpruned_accuracy``
    (before the final pruning), ``dense_accuracy``; ``masks`` (GSM's, by ``|w|`` after
    GSM), ``layer_density`` (kept fraction per prunable layer), ``largest_removed``
    (largest ``|w|`` the final pruning removed) against ``kept_median`` (median
    ``|w|`` of the kept), ``removed_mean`` (mean removed ``|w|``), ``weight_decay``
    used and ``decay_factor`` (:func:`never_selected_factor`), ``steps``.
    """

    density: float
    accuracy: float
    unpruned_accuracy: float
    dense_accuracy: float
    masks: list = field(repr=False)
    layer_density: list
    largest_removed: float
    removed_mean: float
    kept_median: float
    weight_decay: float
    decay_factor: float
    steps: int
    remaining: int
    prunable: int


def train_dense(data, hidden, epochs, lr, batch_size, seed):
    """The dense network trained by :func:`slth.lab.imp.train`, and its initial weights."""
    t_init, t_order = as_seed_sequence(seed).spawn(2)
    model = lenet(data.features, data.classes, hidden, seed=t_init)
    init = train(model, data.x_train, data.y_train, epochs=epochs, lr=lr,
                 batch_size=batch_size, order_seed=t_order, keep_step=0)
    return model, init, t_order


def gsm(data, *, density: float, hidden=(300, 100), epochs: int = 40, lr: float = 0.1,
        batch_size: int = 128, gsm_epochs: int = 40, gsm_lr: float = 0.1,
        momentum: float = 0.9, shrink: float = 10.0, seed=0, dense=None) -> GsmResult:
    """Train a dense LeNet (:func:`slth.lab.imp.train`), then GSM at ``density``, then
    prune by ``|w|`` to ``density``.

    Parameters
    ----------
    density : float in (0, 1)
        Kept fraction of the prunable weights (compression ``1 / density``).
    epochs, lr, batch_size
        The dense training (plain SGD).
    gsm_epochs, gsm_lr, momentum
        GSM's run, Nesterov momentum (the reference: lr 1e-2, momentum 0.99; here lr 0.1,
        momentum 0.9 by default, the same ``lr / (1 - momentum)``: see
        :func:`weight_decay_for`).
    shrink : float
        Target ``-log`` of the factor a never-selected weight shrinks by
        (:func:`weight_decay_for`).
    seed : int or SeedSequence
        Children: initial weights, data order (of both runs).
    dense : tuple, optional
        ``(model, init_state, order_seed)`` of an already trained dense network (as
        :func:`train_dense` returns); it is copied, not changed.
    """
    import copy

    density = check_open_unit(density, "density")
    if dense is None:
        dense = train_dense(data, hidden, epochs, lr, batch_size, seed)
    model = copy.deepcopy(dense[0])
    order = dense[2]
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    dense_acc = accuracy(model, xt, yt)
    steps = check_int(gsm_epochs, "gsm_epochs", minimum=1) * -(-len(y) // batch_size)
    wd = weight_decay_for(shrink, gsm_lr, momentum, steps)
    gsm_train(model, x, y, density=density, epochs=gsm_epochs, lr=gsm_lr,
              momentum=momentum, weight_decay=wd, batch_size=batch_size, order_seed=order)
    unpruned = accuracy(model, xt, yt)
    w = [_weight(la).detach().numpy().copy() for la in prunable_layers(model)]
    total = sum(a.size for a in w)
    masks = magnitude_masks(w, total - _count(density, total))
    removed = np.concatenate([np.abs(a[~m]) for a, m in zip(w, masks, strict=True)])
    kept = np.concatenate([np.abs(a[m]) for a, m in zip(w, masks, strict=True)])
    apply_masks(model, masks)
    return GsmResult(
        density=density, accuracy=accuracy(model, xt, yt), unpruned_accuracy=unpruned,
        dense_accuracy=dense_acc, masks=masks,
        layer_density=[float(m.mean()) for m in masks],
        largest_removed=float(removed.max()) if removed.size else 0.0,
        removed_mean=float(removed.mean()) if removed.size else 0.0,
        kept_median=float(np.median(kept)), weight_decay=wd,
        decay_factor=never_selected_factor(wd, gsm_lr, momentum, steps), steps=steps,
        remaining=int(sum(np.count_nonzero(m) for m in masks)), prunable=int(total))


def retrain_from_init(data, masks, init_state, *, hidden, epochs, lr, batch_size,
                      order_seed) -> float:
    """Test accuracy of ``masks`` applied to the initial weights ``init_state`` and
    trained (the ticket test of the reference's ``gsm_lottery_ticket``)."""
    model = lenet(data.features, data.classes, hidden, seed=0)
    apply_masks(model, masks)
    rewind(model, init_state)
    train(model, data.x_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size,
          order_seed=order_seed)
    return accuracy(model, data.x_test, data.y_test)


def one_shot_finetune(dense_model, data, density, *, epochs, lr, batch_size,
                      order_seed) -> tuple[float, list]:
    """Global magnitude pruning of the trained dense network to ``density``, then
    ``epochs`` of plain SGD; test accuracy and the masks."""
    import copy

    model = copy.deepcopy(dense_model)
    w = [_weight(la).detach().numpy() for la in prunable_layers(model)]
    total = sum(a.size for a in w)
    masks = magnitude_masks(w, total - _count(density, total))
    apply_masks(model, masks)
    train(model, data.x_train, data.y_train, epochs=epochs, lr=lr, batch_size=batch_size,
          order_seed=order_seed)
    return accuracy(model, data.x_test, data.y_test), masks

