"""Ticket transfer across data sets: "One ticket to win them all" (Morcos et al. 2019).

Morcos, Yu, Paganini, Tian, "One ticket to win them all: generalizing lottery ticket
initializations across datasets and optimizers", NeurIPS 2019 (no reference code
used here; the protocol is the paper's section 3).

The paper's statement (an empirical claim): IMP tickets found with late resetting on
one data set (the weights of an early iteration of the dense run, not the
initialisation) and trained on another data set, with a new output layer, match or beat
random tickets of the same layer-wise sparsity, and tickets from larger source data sets
(ImageNet, Places365) transfer better than those from the target itself at high
sparsity; tickets found with Adam transfer to SGD training and back (check).

Here: the source is MNIST-5k at 8x8 (a large or a small subset), the target is
scikit-learn's digits (8x8 as well, so the input layer fits); the network is the
LeNet of :mod:`slth.lab.imp`. For each IMP level ``k`` of the source:

* transferred ticket: the source's level-``k`` mask and its late-reset weights on the
  hidden layers, a freshly drawn output layer, trained on the target from step 0;
* the target's own ticket: IMP on the target with the same settings, level ``k``;
* random ticket: a random mask with the source mask's per-layer counts on the same
  late-reset weights (:func:`slth.lab.masks.random_masks`; the paper's random tickets
  are random masks of the same layer-wise sparsity with the rewound weights (check)).

The output layer is not pruned (as in :mod:`slth.lab.imp`); every run uses the same
optimizer (the source's), so the optimizer-transfer half of the paper is not covered.

Examples
--------
>>> from slth.lab.data import load_dataset
>>> src = load_dataset("teacher", seed=0, samples=200, widths=(6, 8, 3))
>>> tgt = load_dataset("teacher", seed=1, samples=200, widths=(6, 8, 4))
>>> res = transfer(src, tgt, hidden=(12,), levels=1, epochs=1, rewind_step=1, seed=0)
>>> [round(d * 72) for d in res["density"]]   # 6 x 12 weights, minus ceil(0.2 * 72)
[72, 57]
"""

from __future__ import annotations

import numpy as np

from slth._validate import as_seed_sequence, check_int
from slth.lab.imp import accuracy, apply_masks, imp, lenet, rewind, train
from slth.lab.masks import random_masks

__all__ = ["transfer"]


def _hidden_state(state: dict, model) -> dict:
    """``state`` without the output layer's parameters (the target gets a new one)."""
    last = [name for name, _ in model.named_modules()][-1]
    return {k: v for k, v in state.items() if not k.startswith(last + ".")}


def transfer(source, target, *, hidden=(300, 100), levels: int = 5, fraction: float = 0.2,
             epochs: int = 20, lr: float = 0.1, batch_size: int = 128, rewind_step: int = 1,
             optimizer: str = "sgd", seed=0) -> dict:
    """IMP tickets of ``source`` (late resetting at ``rewind_step``) trained on
    ``target`` with a new output layer, against the target's own and random tickets.

    Returns lists over levels ``0..levels``: ``density``, ``transfer`` (transferred
    ticket's test accuracy on the target), ``own`` (the target's IMP ticket), ``random``
    and ``source`` (the source ticket on the source); level 0 is the dense network.
    """
    if source.features != target.features:
        raise ValueError(f"source and target must have the same input features, got "
                         f"{source.features} and {target.features}")
    levels = check_int(levels, "levels", minimum=1)
    t_src, t_tgt, t_head, t_rand, t_order = as_seed_sequence(seed).spawn(5)
    fit = dict(hidden=hidden, levels=levels, fraction=fraction, epochs=epochs, lr=lr,
               batch_size=batch_size, rewind_step=rewind_step, baselines=(),
               optimizer=optimizer)
    src = imp(source, seed=t_src, **fit)
    own = imp(target, seed=t_tgt, **fit)
    heads = t_head.spawn(levels + 1)
    rands = t_rand.spawn(levels + 1)
    out = {"density": [], "transfer": [], "own": [], "random": [], "source": []}

    def run(masks, head_seed):
        model = lenet(target.features, target.classes, hidden, seed=head_seed)
        apply_masks(model, masks)
        rewind(model, _hidden_state(src.rewind_state, model))
        train(model, target.x_train, target.y_train, epochs=epochs, lr=lr,
              batch_size=batch_size, order_seed=t_order, optimizer=optimizer)
        return accuracy(model, target.x_test, target.y_test)

    for k in range(levels + 1):
        masks = src.masks[k]
        out["density"].append(src.levels[k]["density"])
        out["source"].append(src.levels[k]["accuracy"])
        out["own"].append(own.levels[k]["accuracy"])
        out["transfer"].append(run(masks, heads[k]))
        out["random"].append(run(random_masks(masks, rands[k]), heads[k]) if k else
                             out["transfer"][0])
    out["own_density"] = [lv["density"] for lv in own.levels]
    out["mask_differs"] = [bool(any(not np.array_equal(a, b) for a, b in
                                    zip(src.masks[k], own.masks[k], strict=True)))
                           for k in range(levels + 1)]
    return out
