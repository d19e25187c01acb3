"""Iterative magnitude pruning (IMP): the lottery ticket procedure of Frankle & Carbin.

Frankle & Carbin, "The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural
Networks", ICLR 2019; with the rewinding of Frankle et al., "Linear Mode Connectivity
and the Lottery Ticket Hypothesis", ICML 2020.

The paper's statement (the lottery ticket hypothesis, an empirical claim): a randomly
initialised dense network contains a subnetwork that, trained in isolation from the
same initial weights, reaches the test accuracy of the full network in at most as many
iterations; IMP finds such tickets at 10-20 % of LeNet-300-100's weights on MNIST, and
they stay at the full network's accuracy down to a few percent (3.6 %, check), while the
same masks with fresh random weights (random reinitialisation) or random masks of the
same layer-wise sizes (random pruning) fall off far earlier.

Conventions of facebookresearch/open_lth:

* the network: LeNet-300-100 (``models/mnist_lenet.py``: fully connected, ReLU, hidden
  widths 300 and 100), weights initialised ``kaiming_normal`` (``models/initializers.py``),
  biases with PyTorch's default uniform law;
* training (``training/train.py``, the LeNet's ``default_hparams``): plain SGD, learning
  rate 0.1, batch size 128, cross-entropy, no momentum or weight decay; open_lth trains
  40 epochs of the 60,000 MNIST images (16,000 steps), here ``epochs`` of the data set
  given (MNIST-5k: 4,000 training images, 32 steps an epoch);
* pruning (``pruning/sparse_global.py``, ``Strategy.prune``): after each level, remove
  ``ceil(0.2 * remaining)`` of the remaining prunable weights with the smallest
  magnitudes, all layers together; the output layer is not pruned
  (``pruning_layers_to_ignore='fc.weight'``) and neither are biases;
* rewinding (``lottery/runner.py``; ``--rewinding_steps``): every level restarts from the
  weights at iteration ``rewind_step`` of the dense run (0: the initial weights) and
  trains the remaining iterations, in the dense run's data order;
* baselines (``lottery/branch/randomly_reinitialize.py`` and ``randomly_prune.py``): the
  IMP mask with freshly drawn initial weights; a random mask with the same number of
  kept weights per layer (check: open_lth's default for that branch), from the rewound
  weights.

Where this departs from open_lth: the count of remaining weights is over the prunable
layers only (open_lth's ``current_mask`` also counts the ignored output layer, so it
removes slightly more per level), and exactly that count is removed
(:func:`slth.lab.masks.magnitude_masks`: open_lth removes one more, and all ties). Hence
the density after ``k`` levels is ``prod (1 - ceil(0.2 R_j) / R_j)``, within one weight
per level of ``0.8^k``.

Masks are applied with ``torch.nn.utils.prune.custom_from_mask``: the pruned weight is
``weight_orig * weight_mask``, so a removed weight gets no gradient. Every random number
comes from ``seed``: the same seed gives bit-identical runs on the CPU.

Examples
--------
>>> from slth.lab.data import load_dataset
>>> from slth.lab.imp import imp
>>> ds = load_dataset("teacher", seed=0, samples=300, widths=(4, 8, 3))
>>> res = imp(ds, hidden=(16, 8), levels=2, epochs=2, seed=0)
>>> [lv["remaining"] for lv in res.levels]   # 192, minus ceil(0.2 * 192), ...
[192, 153, 122]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from slth._validate import as_seed_sequence, check_choice, check_int
from slth.lab._torch import nn, prune, torch
from slth.lab.masks import density, imp_count, magnitude_masks, random_masks

__all__ = ["ImpResult", "accuracy", "apply_masks", "get_masks", "imp", "lenet",
           "prunable_layers", "rewind", "train"]

BASELINES = ("reinit", "random_prune")
OPTIMIZERS = ("sgd", "adam")


def _torch_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))


def lenet(features: int, classes: int, hidden=(300, 100), seed=0) -> nn.Sequential:
    """A LeNet-style fully connected ReLU network (open_lth's ``mnist_lenet``).

    Weights ``kaiming_normal_`` (fan-in, ReLU gain), biases uniform in
    ``+-1/sqrt(fan_in)`` (PyTorch's default), all drawn from ``seed``.

    Examples
    --------
    >>> net = lenet(784, 10, seed=0)
    >>> [tuple(m.weight.shape) for m in prunable_layers(net)]
    [(300, 784), (100, 300)]
    """
    features = check_int(features, "features", minimum=1)
    classes = check_int(classes, "classes", minimum=2)
    hidden = tuple(check_int(h, f"hidden[{i}]", minimum=1) for i, h in enumerate(hidden))
    gen = torch.Generator().manual_seed(_torch_seed(as_seed_sequence(seed)))
    sizes = (features, *hidden, classes)
    layers = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            nn.init.kaiming_normal_(lin.weight, generator=gen)
            bound = 1.0 / np.sqrt(sizes[i])
            lin.bias.uniform_(-bound, bound, generator=gen)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def prunable_layers(model: nn.Module) -> list:
    """The linear layers whose weights IMP prunes: all but the output layer."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linear[:-1]


def _weight(layer) -> torch.Tensor:
    """The unmasked weight tensor (``weight_orig`` once a mask is applied)."""
    return layer.weight_orig if hasattr(layer, "weight_orig") else layer.weight


def get_masks(model: nn.Module) -> list[np.ndarray]:
    """The masks of the prunable layers (all kept where none is applied)."""
    return [layer.weight_mask.detach().numpy().astype(bool) if hasattr(layer, "weight_mask")
            else np.ones(tuple(layer.weight.shape), dtype=bool)
            for layer in prunable_layers(model)]


def apply_masks(model: nn.Module, masks) -> None:
    """Set the prunable layers' masks (``torch.nn.utils.prune.custom_from_mask``)."""
    layers = prunable_layers(model)
    if len(masks) != len(layers):
        raise ValueError(f"masks must have {len(layers)} arrays (one per prunable layer), "
                         f"got {len(masks)}")
    for layer, m in zip(layers, masks, strict=True):
        m = torch.as_tensor(np.asarray(m, dtype=bool)).to(_weight(layer).dtype)
        if tuple(m.shape) != tuple(_weight(layer).shape):
            raise ValueError(f"mask of shape {tuple(m.shape)} for a weight of shape "
                             f"{tuple(_weight(layer).shape)}")
        if hasattr(layer, "weight_mask"):
            prune.remove(layer, "weight")
        prune.custom_from_mask(layer, "weight", m)


def rewind(model: nn.Module, state: dict) -> None:
    """Reset every parameter to ``state`` (plain names, ``0.weight``, as kept by
    :func:`train`); the masks stay as they are."""
    own = dict(model.named_parameters())
    for name, value in state.items():
        key = name if name in own else name + "_orig"
        with torch.no_grad():
            own[key].copy_(torch.as_tensor(value))


def _weights_state(model: nn.Module) -> dict:
    """Unmasked parameters by plain name (``0.weight``, ``0.bias``, ...), copied."""
    return {name.replace("weight_orig", "weight"): p.detach().clone()
            for name, p in model.named_parameters()}


def accuracy(model: nn.Module, x, y) -> float:
    """Fraction of ``x`` classified as ``y`` (argmax of the outputs)."""
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(dim=1).numpy()
    return float(np.mean(pred == np.asarray(y)))


def train(model: nn.Module, x, y, *, epochs: int, lr: float = 0.1, batch_size: int = 128,
          order_seed=0, keep_step: int | None = None, start_step: int = 0,
          optimizer: str = "sgd", on_epoch=None) -> dict | None:
    """Plain SGD on cross-entropy (open_lth's LeNet settings), in place.

    ``optimizer="adam"``: ``torch.optim.Adam`` with learning rate ``lr`` instead (its
    other settings PyTorch's defaults; Morcos et al. 2019 compare SGD- and Adam-found
    tickets).

    The data order of each epoch is a permutation drawn from ``order_seed`` (the same for
    every call with that seed). The first ``start_step`` iterations are skipped (their
    batches drawn but not used: a run rewound to that iteration continues the dense run's
    data order). Returns the parameters after ``keep_step`` iterations when asked (plain
    parameter names), else ``None``.

    ``on_epoch(epoch, model)``, when given, is called after each epoch (``epoch`` counted
    from 1) with the model being trained; it must not change the model (copy it first).
    """
    start_step = check_int(start_step, "start_step", minimum=0)
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    xt, yt = torch.as_tensor(x), torch.as_tensor(np.asarray(y, dtype=np.int64))
    rng = np.random.default_rng(as_seed_sequence(order_seed, "order_seed"))
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(),
                                                                         lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    kept, step = None, 0
    if keep_step == 0:
        kept = _weights_state(model)
    model.train()
    for epoch in range(1, epochs + 1):
        perm = torch.as_tensor(rng.permutation(len(yt)))
        for start in range(0, len(yt), batch_size):
            step += 1
            if step <= start_step:
                continue
            idx = perm[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            if keep_step == step:
                kept = _weights_state(model)
        if on_epoch is not None:
            on_epoch(epoch, model)
    model.eval()
    if keep_step is not None and kept is None:
        raise ValueError(f"keep_step={keep_step} is beyond the {step} iterations trained")
    return kept


@dataclass
class ImpResult:
    """What :func:`imp` found.

    ``levels[k]`` holds, for level ``k`` (``k`` pruning rounds done): ``density`` (kept
    fraction of the prunable weights), ``remaining`` (their count), ``accuracy`` (test,
    after training), ``train_accuracy``, ``seconds`` and, with the baselines,
    ``reinit_accuracy`` and ``random_prune_accuracy`` (``None`` at level 0).
    ``masks[k]`` the masks, ``rewind_state`` the weights every level restarts from,
    ``trained[k]`` the trained unmasked weights (as numpy, plain parameter names).
    """

    levels: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    trained: list = field(default_factory=list)
    rewind_state: dict = field(default_factory=dict)
    prunable: int = 0


def _numpy_state(state: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def imp(data, *, hidden=(300, 100), levels: int = 10, fraction: float = 0.2,
        epochs: int = 40, lr: float = 0.1, batch_size: int = 128, rewind_step: int = 0,
        baselines=BASELINES, baselines_every: int = 1, seed=0,
        on_level=None, optimizer: str = "sgd", on_epoch=None) -> ImpResult:
    """Iterative magnitude pruning with rewinding, and its random baselines.

    Parameters
    ----------
    data : slth.lab.data.Dataset
    hidden : sequence of int
        Hidden widths (open_lth's LeNet-300-100: ``(300, 100)``).
    levels : int
        Pruning rounds after the dense run (density ``~0.8^levels``).
    fraction : float in (0, 1)
        Fraction of the remaining prunable weights removed per level.
    epochs, lr, batch_size
        Training of every run (:func:`train`).
    rewind_step : int
        Iteration of the dense run whose weights each level restarts from (0: the
        initial weights, Frankle & Carbin; > 0: rewinding, Frankle et al. 2020).
    baselines : sequence of {"reinit", "random_prune"}
        Baselines trained at every level >= 1.
    baselines_every : int
        Train the baselines at the levels that are multiples of this (1: every level).
    seed : int or SeedSequence
        Children: initial weights, data order, the reinitialisations, the random masks.
    on_level : callable, optional
        Called with each level's row of :attr:`ImpResult.levels` once it is done.
    optimizer : {"sgd", "adam"}
        Optimizer of every run (:func:`train`).
    on_epoch : callable, optional
        Passed to :func:`train` for the dense run (level 0) only.
    """
    baselines_every = check_int(baselines_every, "baselines_every", minimum=1)
    levels = check_int(levels, "levels", minimum=0)
    rewind_step = check_int(rewind_step, "rewind_step", minimum=0)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    baselines = tuple(check_choice(b, "baselines", BASELINES) for b in baselines)
    t_init, t_order, t_reinit, t_random = as_seed_sequence(seed).spawn(4)
    reinit_seeds = t_reinit.spawn(max(levels, 1))
    random_seeds = t_random.spawn(max(levels, 1))
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    model = lenet(data.features, data.classes, hidden, seed=t_init)
    apply_masks(model, get_masks(model))
    fit = dict(epochs=epochs, lr=lr, batch_size=batch_size, order_seed=t_order,
               optimizer=optimizer)

    res = ImpResult()
    masks = get_masks(model)
    res.prunable = int(sum(m.size for m in masks))
    for level in range(levels + 1):
        t0 = time.perf_counter()
        if level == 0:
            res.rewind_state = train(model, x, y, keep_step=rewind_step, on_epoch=on_epoch,
                                     **fit)
        else:
            remaining = int(sum(np.count_nonzero(m) for m in masks))
            trained = [_weight(la).detach().numpy() for la in prunable_layers(model)]
            masks = magnitude_masks(trained, imp_count(remaining, fraction), masks)
            apply_masks(model, masks)
            rewind(model, res.rewind_state)
            train(model, x, y, start_step=rewind_step, **fit)
        row = {"level": level, "density": density(masks),
               "remaining": int(sum(np.count_nonzero(m) for m in masks)),
               "accuracy": accuracy(model, xt, yt), "train_accuracy": accuracy(model, x, y),
               "seconds": time.perf_counter() - t0,
               "reinit_accuracy": None, "random_prune_accuracy": None}
        res.masks.append(masks)
        res.trained.append(_numpy_state(_weights_state(model)))
        with_baselines = level >= 1 and level % baselines_every == 0
        if with_baselines and "reinit" in baselines:
            other = lenet(data.features, data.classes, hidden, seed=reinit_seeds[level - 1])
            apply_masks(other, masks)
            train(other, x, y, **fit)
            row["reinit_accuracy"] = accuracy(other, xt, yt)
        if with_baselines and "random_prune" in baselines:
            other = lenet(data.features, data.classes, hidden, seed=t_init)
            apply_masks(other, random_masks(masks, random_seeds[level - 1]))
            rewind(other, res.rewind_state)
            train(other, x, y, start_step=rewind_step, **fit)
            row["random_prune_accuracy"] = accuracy(other, xt, yt)
        row["total_seconds"] = time.perf_counter() - t0
        res.levels.append(row)
        if on_level is not None:
            on_level(row)
    return res
