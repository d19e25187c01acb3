"""BiP: pruning as bi-level optimisation, with HYDRA and its other baselines.

Zhang, Zhang, Chen, Lu, Liu, Hong, Wang and Liu, "Advancing Model Pruning via Bi-level
Optimization", NeurIPS 2022 (code: OPTML-Group/BiP, followed here: ``trainer/bilevel.py``,
function ``train``; ``models/layers.py``, ``GetSubnetUnstructured``; ``utils/model.py``,
``initialize_scaled_score``). The paper's statement (empirical): pruning written as

    min_m  l(m, theta*(m))   s.t.  theta*(m) = argmin_theta l(m, theta) + gamma/2 |theta|^2,

``m`` a 0/1 mask with a fixed number of ones and ``l(m, theta) = L(m * theta)``, and
solved by alternating one SGD step on the weights (lower level) with one step on the
mask scores whose gradient carries the implicit term ``d theta*/d m``, finds tickets as
good as IMP's (or better) at the cost of one-shot methods (check: "2-7 times faster than
IMP" in the paper's abstract), and better than HYDRA, which learns the scores with the
weights frozen.

Here (:func:`bip`), on a :func:`~slth.lab.imp.lenet` network already trained:

* scores ``s`` start equal to the trained weights (``initialize_scaled_score``); the mask
  is the global top-k of ``|s|`` over the prunable layers (all but the output layer,
  as IMP), ``k = round(density * prunable)``; its gradient goes straight through to
  ``|s|`` (``GetSubnetUnstructured.backward`` returns its input gradient);
* each step takes two minibatches of the training set (two data orders, as the
  reference's ``train_loader`` and ``val_loader``): one SGD step on every weight and
  bias with the mask fixed and weight decay ``weight_decay`` on the first; then, on the
  second, the mask gradient ``grad_m l + implicit`` with

      implicit = -implicit_lr * grad^2_{m theta} l(m, theta) . grad_theta l(m, theta)

  (:func:`implicit_term`: the implicit function theorem with the lower level's Hessian
  replaced by ``(1/implicit_lr) I``, the paper's Hessian-free step, check) and one SGD
  step of the scores.
* ``mode="hydra"`` (Sehwag et al. 2020, HYDRA; the same repository's ``hydra.yml``): the
  score steps alone (weights frozen, no implicit term), then fine-tuning of the kept
  weights (:func:`slth.lab.imp.train`).

Departures: the reference computes the implicit term as the elementwise product of the
scores' gradient from two backward passes, ``-lr2 * mask_grad * param_grad``, a diagonal
stand-in for the mixed second derivative; here the exact product is taken (one double
backward pass), which is cheap at this size. Plain SGD on both levels (the reference
uses momentum 0.9 and a cosine schedule), global top-k (the reference's layers select
the top-k of each layer). No fine-tuning after BiP (the paper reports BiP without it).

Examples
--------
>>> import torch
>>> s = torch.tensor([0.3, -2.0, 0.1, 1.0])
>>> topk_mask(s.abs(), 2).tolist()
[0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import time

import numpy as np

from slth._validate import as_seed_sequence, check_choice, check_int
from slth.lab._torch import nn, torch

__all__ = ["MODES", "bip", "implicit_term", "masked_forward", "topk_mask"]

MODES = ("bip", "hydra")


class _TopK(torch.autograd.Function):
    """Global top-k of a flat score vector as a 0/1 mask; gradient straight through."""

    @staticmethod
    def forward(ctx, scores, k):
        out = torch.zeros_like(scores)
        # stable sort: ties broken by position, the same on every run
        idx = torch.sort(scores, descending=True, stable=True).indices[:k]
        out[idx] = 1.0
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def topk_mask(scores, k: int):
    """0/1 mask (same shape, float) of the ``k`` largest entries of the flat tensor
    ``scores``; its gradient is passed to ``scores`` unchanged (straight-through)."""
    return _TopK.apply(scores, int(k))


def masked_forward(layers, params, masks, x):
    """Output of the linear ReLU network ``layers`` (its ``nn.Linear`` modules) with the
    parameters ``params`` (weight, bias, weight, bias, ...) and ``masks`` multiplying the
    weights of the first ``len(masks)`` layers."""
    h = x
    for i in range(len(layers)):
        w, b = params[2 * i], params[2 * i + 1]
        if i < len(masks):
            w = w * masks[i]
        h = nn.functional.linear(h, w, b)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def _split(flat, shapes):
    out, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[at:at + n].reshape(s))
        at += n
    return out


def implicit_term(layers, params, masks, x, y, implicit_lr: float):
    """``(grad_m l, implicit)`` at the masks ``masks`` (lists of tensors, one per
    prunable layer): the direct mask gradient of the cross-entropy ``l`` on ``(x, y)``
    and ``-implicit_lr * grad^2_{m theta} l . grad_theta l`` (exact, a double backward
    pass)."""
    m = [mk.detach().clone().requires_grad_(True) for mk in masks]
    th = [p.detach().clone().requires_grad_(True) for p in params]
    loss = nn.functional.cross_entropy(masked_forward(layers, th, m, x), y)
    g_m = torch.autograd.grad(loss, m, create_graph=True)
    g_th = torch.autograd.grad(loss, th, create_graph=True)
    dot = sum((g * g.detach()).sum() for g in g_th)
    mixed = torch.autograd.grad(dot, m, allow_unused=True)
    imp = [-implicit_lr * (d if d is not None else torch.zeros_like(mk))
           for d, mk in zip(mixed, m, strict=True)]
    return [g.detach() for g in g_m], [t.detach() for t in imp]


def bip(model, x, y, *, density: float, epochs: int = 10, lr: float = 0.1,
        mask_lr: float = 1.0, implicit_lr: float = 1e-4, weight_decay: float = 1e-4,
        batch_size: int = 128, mode: str = "bip", finetune_epochs: int = 10, seed=0):
    """BiP (or HYDRA) from the trained :func:`~slth.lab.imp.lenet` ``model`` on
    ``(x, y)``, in place; returns ``(masks, seconds)``, the masks as numpy bool arrays
    (one per prunable layer), which are also applied to ``model``
    (:func:`slth.lab.imp.apply_masks`), its weights the ones found.

    ``mask_lr = 1``: the reference's score step 0.1 with momentum 0.9 has the same
    long-run step (0.1 / (1 - 0.9)); plain SGD here. ``lr = 0.1``: the weights' step of
    :func:`slth.lab.imp.train`. ``seed``'s children: the two data orders and HYDRA's
    fine-tuning order.
    """
    from slth.lab.imp import _weight, apply_masks, prunable_layers, train

    mode = check_choice(mode, "mode", MODES)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density!r}")
    for name, v in (("lr", lr), ("mask_lr", mask_lr)):
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
    if not implicit_lr >= 0 or not weight_decay >= 0:
        raise ValueError("implicit_lr and weight_decay must be >= 0, got "
                         f"{implicit_lr!r} and {weight_decay!r}")
    t0 = time.perf_counter()
    t_lower, t_upper, t_fine = as_seed_sequence(seed).spawn(3)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    n_prunable = len(prunable_layers(model))
    params = []
    for layer in layers:
        params += [_weight(layer).detach().clone(), layer.bias.detach().clone()]
    shapes = [tuple(p.shape) for p in params[:2 * n_prunable:2]]
    scores = torch.cat([w.reshape(-1) for w in params[:2 * n_prunable:2]]).clone()
    k = max(1, int(round(density * scores.numel())))
    xt, yt = torch.as_tensor(x), torch.as_tensor(np.asarray(y, dtype=np.int64))
    rngs = [np.random.default_rng(t) for t in (t_lower, t_upper)]
    for _ in range(epochs):
        perms = [torch.as_tensor(r.permutation(len(yt))) for r in rngs]
        for start in range(0, len(yt), batch_size):
            lo, up = (p[start:start + batch_size] for p in perms)
            masks = _split(topk_mask(scores.abs(), k), shapes)
            if mode == "bip":
                th = [p.requires_grad_(True) for p in params]
                loss = nn.functional.cross_entropy(masked_forward(layers, th, masks, xt[lo]),
                                                   yt[lo])
                grads = torch.autograd.grad(loss, th)
                params = [(p - lr * (g + weight_decay * p)).detach()
                          for p, g in zip(th, grads, strict=True)]
                g_m, imp = implicit_term(layers, params, masks, xt[up], yt[up], implicit_lr)
                g_flat = torch.cat([(a + b).reshape(-1) for a, b in zip(g_m, imp, strict=True)])
            else:
                g_m, _ = implicit_term(layers, params, masks, xt[up], yt[up], 0.0)
                g_flat = torch.cat([a.reshape(-1) for a in g_m])
            # straight through the top-k, then through |s|
            scores = scores - mask_lr * g_flat * torch.sign(scores)
    final = [m.numpy().astype(bool) for m in _split(topk_mask(scores.abs(), k), shapes)]
    with torch.no_grad():
        for i, layer in enumerate(layers):
            _weight(layer).copy_(params[2 * i])
            layer.bias.copy_(params[2 * i + 1])
    apply_masks(model, final)
    if mode == "hydra" and finetune_epochs:
        train(model, x, y, epochs=finetune_epochs, lr=lr, batch_size=batch_size,
              order_seed=t_fine)
    return final, time.perf_counter() - t0
