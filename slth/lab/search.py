"""Searching a strong ticket in a masked source: edge-popup and GEM-MINER.

Both learn one score per source parameter while the weights stay frozen; the forward
pass uses ``weight * mask(scores)`` and the mask's gradient is passed straight through to
the scores. They run on the masked modules of :mod:`slth.lab.convert` (the score-derived
masks replace the module's mask buffers through ``torch.func.functional_call``) and
leave the mask found in the module, ready for :func:`slth.lab.to_ticket`.

* :func:`edge_popup` (Ramanujan et al., CVPR 2020, "What's hidden in a randomly weighted
  neural network?"; code allenai/hidden-networks): scores initialised as the reference's
  ``kaiming_uniform_(a=sqrt(5))``, the top-k of ``|scores|`` per parameter
  (``utils/conv_type.py``, ``GetSubnet`` and ``SubnetConv``) or over all parameters (the
  global variant of ksreenivasan/pruning_is_enough, ``utils/net_utils.py``, ``prune``
  with ``algo='global_ep'``); SGD with momentum and the cosine schedule
  (``utils/schedulers.py``, ``cosine_lr``).
* :func:`gem_miner` (Sreenivasan et al., NeurIPS 2022, "Rare Gems: finding lottery
  tickets at initialization"; code ksreenivasan/pruning_is_enough): scores in [0, 1]
  drawn from U[0, 1] (``utils/conv_type.py``, ``SubnetConv.__init__`` with
  ``score_init='unif'``), mask ``score > 0.5`` (``GetSubnet.forward``, ``algo='hc_iter'``),
  loss plus ``lambda ||scores||^2`` (``utils/net_utils.py``, ``get_regularization_loss``
  with ``regularizer='L2'``), scores clamped to [0, 1] after each step
  (``trainers/default.py``, ``train``), iterative freezing of the lowest scores towards a
  target density (``utils/net_utils.py``, ``prune`` with ``prune_type='BottomK'``), and
  optional fine-tuning of the kept weights (``main_utils.py``, ``finetune``), after
  which the network is no longer a ticket (:attr:`SearchResult.finetuned`).

The searches are deterministic for a seed and a thread count on the CPU: scores and
batches come from one ``torch.Generator``, sorts are stable, and
``torch.use_deterministic_algorithms`` is on while they run.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from slth._validate import check_choice, check_int, check_positive
from slth.lab._torch import torch
from slth.lab.convert import _Masked

__all__ = ["SearchResult", "edge_popup", "gem_miner"]

LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class SearchResult:
    """What a search found.

    Attributes
    ----------
    searcher : str
        ``"edge_popup"`` or ``"gem_miner"``.
    masks : list of bool ndarray
        Aligned with the module's :meth:`~slth.lab.MaskedMLP.masked_names` (and the slth
        network's ``parameters()``); also written into the module's mask buffers.
    losses : ndarray
        Training loss (without penalty) at every step.
    density : float
        Fraction of parameters kept.
    seconds : float
        Wall time of the search (fine-tuning included).
    steps : int
    finetuned : bool
        The kept weights were trained after the search (GEM-MINER's fine-tuning): the
        module's weights are no longer the source's, so it is not a ticket
        (:func:`slth.lab.to_ticket` refuses it).
    """

    searcher: str
    masks: list = field(repr=False)
    losses: NDArray[np.float64] = field(repr=False)
    density: float
    seconds: float
    steps: int
    finetuned: bool = False

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


class _StraightThrough(torch.autograd.Function):
    """``hard`` forward, the gradient passed to ``scores`` unchanged backward (the
    reference's ``GetSubnet.backward``)."""

    @staticmethod
    def forward(ctx, scores, hard):
        return hard

    @staticmethod
    def backward(ctx, g):
        return g, None


@contextlib.contextmanager
def _deterministic():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def _check_args(module, x, y, density, loss, steps, lr, batch):
    if not isinstance(module, _Masked):
        raise TypeError(f"module must be a MaskedMLP or MaskedCNN (slth.lab.to_torch), "
                        f"got {type(module).__name__}")
    density = check_positive(density, "density")
    if density > 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    loss = check_choice(loss, "loss", LOSSES)
    steps = check_int(steps, "steps", minimum=1)
    lr = check_positive(lr, "lr")
    dtype = module.mask_buffers()[0].dtype
    # copies: the caller's arrays may be read-only, and are never written to
    x = torch.from_numpy(np.array(x, dtype=np.float64)).to(dtype)
    y = torch.from_numpy(np.array(y)).to(torch.long if loss == "cross_entropy" else dtype)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x and y must hold the same number (> 0) of examples, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if batch is not None:
        batch = check_int(batch, "batch", minimum=1)
    return density, loss, steps, lr, x, y, batch


def _support(module, support) -> list:
    bufs = module.mask_buffers()
    if support is None:
        return [torch.ones_like(b, dtype=torch.bool) for b in bufs]
    if len(support) != len(bufs):
        raise ValueError(f"support must hold one array per masked parameter ({len(bufs)}), "
                         f"got {len(support)}")
    out = []
    for s, b, name in zip(support, bufs, module.masked_names(), strict=True):
        s = np.asarray(s, dtype=bool)
        if s.shape != tuple(b.shape):
            raise ValueError(f"support: the array of {name} has shape {s.shape}, the "
                             f"parameter {tuple(b.shape)}")
        out.append(torch.from_numpy(s.copy()))
    return out


def _kept(numel: int, density: float) -> int:
    # the reference's GetSubnet: the lowest int((1 - k) numel) scores are pruned
    return numel - int((1.0 - density) * numel)


def _top_masks(scores, support, density: float, scope: str) -> list:
    """Edge-popup's masks: the top-k of ``|scores|`` within the support, per parameter or
    over all of them (ties broken by position: stable sorts)."""
    ranked = [torch.where(sup, s.detach().abs(), torch.full_like(s, -1.0))
              for s, sup in zip(scores, support, strict=True)]
    if scope == "layer":
        out = []
        for r, sup in zip(ranked, support, strict=True):
            k = min(_kept(r.numel(), density), int(sup.sum()))
            idx = torch.sort(r.flatten(), descending=True, stable=True).indices[:k]
            m = torch.zeros(r.numel(), dtype=r.dtype)
            m[idx] = 1.0
            out.append(m.reshape(r.shape))
        return out
    flat = torch.cat([r.flatten() for r in ranked])
    k = min(_kept(flat.numel(), density), int(sum(int(s.sum()) for s in support)))
    idx = torch.sort(flat, descending=True, stable=True).indices[:k]
    m = torch.zeros(flat.numel(), dtype=flat.dtype)
    m[idx] = 1.0
    parts = torch.split(m, [r.numel() for r in ranked])
    return [part.reshape(r.shape) for part, r in zip(parts, ranked, strict=True)]


def _loss_fn(loss: str):
    f = torch.nn.functional
    return f.mse_loss if loss == "mse" else f.cross_entropy


def _train(module, masks_of, params, x, y, loss, steps, lr, momentum, weight_decay, batch,
           gen, penalty=None, after_step=None) -> NDArray[np.float64]:
    """SGD with momentum and a cosine schedule on ``params``; the module runs with the
    masks ``masks_of()`` (differentiable in the scores) in place of its mask buffers."""
    names = [n + "_mask" for n in module.masked_names()]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    lossf = _loss_fn(loss)
    losses = np.empty(steps)
    for t in range(steps):
        if batch is None or batch >= x.shape[0]:
            xb, yb = x, y
        else:
            idx = torch.randint(x.shape[0], (batch,), generator=gen)
            xb, yb = x[idx], y[idx]
        masks = masks_of()
        out = torch.func.functional_call(module, dict(zip(names, masks, strict=True)), (xb,))
        task = lossf(out, yb)
        total = task if penalty is None else task + penalty()
        opt.zero_grad()
        total.backward()
        opt.step()
        sched.step()
        losses[t] = float(task.detach())
        if after_step is not None:
            after_step(t)
    return losses


def _finish(module, name, masks, losses, t0, steps, finetuned=False) -> SearchResult:
    module.set_masks([m.detach().numpy() for m in masks])
    found = module.masks()
    return SearchResult(name, found, losses, module.density, time.perf_counter() - t0, steps,
                        finetuned)


def edge_popup(module: _Masked, x, y, *, density: float, scope: str = "layer",
               steps: int = 300, lr: float = 0.1, momentum: float = 0.9,
               weight_decay: float = 0.0, batch: int | None = None, loss: str = "mse",
               support=None, seed: int = 0) -> SearchResult:
    """Edge-popup: learn scores, keep the top-k of ``|scores|``, weights frozen.

    Follows allenai/hidden-networks: ``utils/conv_type.py``, ``GetSubnet`` (top-k of the
    scores, the gradient straight through) and ``SubnetConv`` (``|scores|``, scores
    initialised by ``kaiming_uniform_(a=sqrt(5))``, i.e. U[-1/sqrt(fan_in),
    1/sqrt(fan_in)]); ``utils/schedulers.py``, ``cosine_lr`` (no warm-up). The gradient
    of a score is ``dL/dw_eff * w`` (times the sign of the score, through ``|.|``).

    Parameters
    ----------
    module : MaskedMLP or MaskedCNN
        The source (:func:`slth.lab.to_torch`); its masks are replaced by the result.
    x, y : array_like
        Training inputs and targets (class indices for ``loss="cross_entropy"``).
    density : float in (0, 1]
        Fraction of parameters kept: per parameter (``scope="layer"``, the reference's
        ``prune_rate``) or over all parameters (``scope="global"``).
    steps, lr, momentum, weight_decay : SGD steps and settings.
    batch : int, optional
        Examples per step, drawn with replacement (default: all, every step).
    loss : {"mse", "cross_entropy"}
    support : sequence of bool arrays, optional
        Positions that may be kept (e.g. :func:`slth.lab.layout_support`); default all.
    seed : int
        Seed of the scores and the batches.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.lab import to_torch
    >>> m = to_torch(random_target([2, 8, 1], seed=0))
    >>> x = np.random.default_rng(0).uniform(-1, 1, (32, 2))
    >>> r = edge_popup(m, x, np.zeros((32, 1)), density=0.25, steps=5)
    >>> r.density, [int(k.sum()) for k in r.masks]
    (0.25, [4, 2])
    """
    density, loss, steps, lr, x, y, batch = _check_args(module, x, y, density, loss, steps,
                                                        lr, batch)
    scope = check_choice(scope, "scope", ("layer", "global"))
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))
    support = _support(module, support)
    scores = []
    for b in module.mask_buffers():
        fan_in = b[0].numel() if b.dim() > 1 else b.numel()
        bound = 1.0 / math.sqrt(fan_in)
        s = (torch.rand(b.shape, generator=gen, dtype=b.dtype) * 2.0 - 1.0) * bound
        scores.append(s.requires_grad_(True))

    def masks_of():
        hard = _top_masks(scores, support, density, scope)
        return [_StraightThrough.apply(s.abs(), h) for s, h in zip(scores, hard, strict=True)]

    with _deterministic():
        losses = _train(module, masks_of, scores, x, y, loss, steps, lr, momentum,
                        weight_decay, batch, gen)
        final = _top_masks(scores, support, density, scope)
    return _finish(module, "edge_popup", final, losses, t0, steps)


def _freeze_lowest(scores, flags, keep: int) -> None:
    """Freeze all but the ``keep`` highest active scores (over all parameters) at 0: the
    reference's ``prune`` with ``prune_type='BottomK'``."""
    active = torch.cat([torch.where(f, s.detach(), torch.full_like(s, -1.0)).flatten()
                        for s, f in zip(scores, flags, strict=True)])
    order = torch.sort(active, descending=True, stable=True).indices
    alive = torch.zeros(active.numel(), dtype=torch.bool)
    alive[order[:keep]] = True
    alive &= active >= 0
    parts = torch.split(alive, [s.numel() for s in scores])
    with torch.no_grad():
        for s, f, a in zip(scores, flags, parts, strict=True):
            f &= a.reshape(f.shape)
            s.mul_(f)


def gem_miner(module: _Masked, x, y, *, density: float, steps: int = 300,
              rounds: int = 5, lam: float = 1e-4, lr: float = 0.1, momentum: float = 0.9,
              weight_decay: float = 0.0, batch: int | None = None, loss: str = "mse",
              finetune_steps: int = 0, finetune_lr: float = 0.01, support=None,
              seed: int = 0) -> SearchResult:
    """GEM-MINER: scores in [0, 1], mask ``score > 0.5``, an L2 penalty on the scores,
    clamping, and iterative freezing to a target density.

    Follows ksreenivasan/pruning_is_enough (``algo='hc_iter'``): ``utils/conv_type.py``,
    ``SubnetConv.__init__`` (scores drawn from U[0, 1], ``score_init='unif'``) and
    ``GetSubnet.forward`` (mask ``score > 0.5``, gradient straight through);
    ``utils/net_utils.py``, ``get_regularization_loss`` (``lambda ||scores||^2``,
    ``regularizer='L2'``) and ``prune`` (``prune_type='BottomK'``: the lowest active
    scores, over all parameters, are frozen at 0 for good); ``trainers/default.py``,
    ``train`` (scores clamped to [0, 1] after every step); ``main_utils.py``,
    ``finetune`` (training the kept weights afterwards).

    The ``steps`` are split into ``rounds + 1`` periods; after each of the first
    ``rounds`` the active scores are cut to ``density ** (r / rounds)`` of all
    parameters, so the last period trains at the target density. The mask found is
    ``score > 0.5`` among the active scores: at most ``density`` of the parameters.

    Parameters
    ----------
    module, x, y, density, steps, lr, momentum, weight_decay, batch, loss, support, seed
        As :func:`edge_popup` (``density``: over all parameters).
    rounds : int
        Freezing rounds (0: no freezing; the mask may then be denser than ``density``).
    lam : float
        Weight of the penalty ``||scores||^2`` (0: none).
    finetune_steps : int
        Steps of SGD on the kept weights after the search (0: none). The module's
        weights then differ from the source: :attr:`SearchResult.finetuned` is True and
        the result is not a ticket.
    finetune_lr : float
        Learning rate of the fine-tuning.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.lab import to_torch
    >>> m = to_torch(random_target([2, 8, 1], seed=0))
    >>> x = np.random.default_rng(0).uniform(-1, 1, (32, 2))
    >>> r = gem_miner(m, x, np.zeros((32, 1)), density=0.25, steps=12, rounds=2)
    >>> r.density <= 0.25, r.finetuned
    (True, False)
    """
    density, loss, steps, lr, x, y, batch = _check_args(module, x, y, density, loss, steps,
                                                        lr, batch)
    rounds = check_int(rounds, "rounds", minimum=0)
    lam = float(lam)
    if not lam >= 0.0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    finetune_steps = check_int(finetune_steps, "finetune_steps", minimum=0)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))
    flags = _support(module, support)
    scores = []
    for b, f in zip(module.mask_buffers(), flags, strict=True):
        s = torch.rand(b.shape, generator=gen, dtype=b.dtype) * f
        scores.append(s.requires_grad_(True))
    total = sum(s.numel() for s in scores)
    period = max(1, steps // (rounds + 1))

    def masks_of():
        return [_StraightThrough.apply(s, ((s > 0.5) & f).to(s.dtype))
                for s, f in zip(scores, flags, strict=True)]

    def penalty():
        return lam * sum((s * s).sum() for s in scores)

    def after_step(t):
        with torch.no_grad():
            for s, f in zip(scores, flags, strict=True):
                s.clamp_(0.0, 1.0).mul_(f)
        r = (t + 1) // period
        if (t + 1) % period == 0 and 1 <= r <= rounds:
            # floor (up to rounding of the power): never above the target density
            keep = max(1, int(math.floor(total * density ** (r / rounds) * (1 + 1e-12))))
            _freeze_lowest(scores, flags, keep)

    with _deterministic():
        losses = _train(module, masks_of, scores, x, y, loss, steps, lr, momentum,
                        weight_decay, batch, gen, penalty if lam > 0 else None, after_step)
        final = [((s > 0.5) & f).to(s.dtype) for s, f in zip(scores, flags, strict=True)]
        module.set_masks([m.detach().numpy() for m in final])
        if finetune_steps:
            _finetune(module, x, y, loss, finetune_steps, finetune_lr, momentum, batch, gen)
    return _finish(module, "gem_miner", final, losses, t0, steps, finetuned=finetune_steps > 0)


def _finetune(module, x, y, loss, steps, lr, momentum, batch, gen) -> None:
    """Train the kept weights (the masks fixed), as the reference's ``finetune``."""
    weights = module.source_tensors()
    for w in weights:
        w.requires_grad_(True)
    masks = [b.clone() for b in module.mask_buffers()]
    try:
        _train(module, lambda: masks, weights, x, y, loss, steps, lr, momentum, 0.0, batch,
               gen)
    finally:
        for w in weights:
            w.requires_grad_(False)
