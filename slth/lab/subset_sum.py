"""Subset sum by gradient: GEM-MINER's relaxation of random subset sum, rounded, against
the exact answer (:func:`slth.rss.solve_many`) and the covering radius
(:func:`slth.rss.covering_radius`).

The relaxation follows ksreenivasan/pruning_is_enough, ``subset_sum_exps/
subset_sum_script.py``, ``subset_sum``: minimise
``(z - sum_i p_i a_i)^2 + lambda sum_i p_i (1 - p_i) a_i^2`` over ``p`` in ``[0, 1]^n``
(``get_regularization``) with Adam (learning rate 0.01), ``p`` drawn from U[0, 1] and
clamped to ``[0, 1]`` after every step (projected gradient), then rounded
(``p > 0.5``, as ``get_dist_to_vertex`` rounds). The rounded subset is a subset, so its
error is never below the exact optimum's.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import ArrayLike

from slth import distributions, rss
from slth._validate import as_seed_sequence, check_int
from slth.lab._torch import torch

__all__ = ["COVERING_MAX_N", "relaxed_subset_sum", "subset_sum_by_gradient"]

#: Largest n whose covering radius :func:`subset_sum_by_gradient` computes (the exact
#: enumeration of n = 28 uniform values needs more than the default memory cap).
COVERING_MAX_N = 24


def relaxed_subset_sum(values: ArrayLike, targets: ArrayLike, *, steps: int = 2000,
                       lr: float = 0.01, lam: float = 0.1, seed: int = 0):
    """GEM-MINER's relaxed subset sum, by projected Adam, rounded at 0.5.

    Parameters
    ----------
    values : array_like, shape (n,) or (m, n)
        The values, shared by every target or one row per target.
    targets : array_like, shape (m,)
    steps, lr : int, float
        Adam steps and learning rate (the reference's 0.01).
    lam : float
        Weight of the penalty ``sum p (1 - p) a^2`` that pushes ``p`` to a vertex.
    seed : int
        Seed of the initial ``p`` (U[0, 1]).

    Returns
    -------
    masks : bool ndarray, shape (m, n)
        The rounded subsets.
    errors : ndarray, shape (m,)
        ``|z - sum of the subset|``, in float64.

    Examples
    --------
    >>> masks, errors = relaxed_subset_sum([0.5, -0.25, 0.125], [0.375], steps=200)
    >>> masks.tolist(), errors.tolist()
    ([[True, True, True]], [0.0])
    """
    targets = np.atleast_1d(np.array(targets, dtype=np.float64))
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = np.broadcast_to(values, (targets.size, values.size))
    if values.ndim != 2 or values.shape[0] != targets.size:
        raise ValueError(f"values must have shape (n,) or (m, n) with m = {targets.size} "
                         f"targets, got {values.shape}")
    steps = check_int(steps, "steps", minimum=1)
    if not lam >= 0.0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    gen = torch.Generator().manual_seed(int(seed))
    a = torch.from_numpy(np.array(values))      # a writable copy
    z = torch.from_numpy(targets)
    p = torch.rand(a.shape, generator=gen, dtype=torch.float64).requires_grad_(True)
    opt = torch.optim.Adam([p], lr=lr)
    for _ in range(steps):
        # rows are independent problems: the summed loss has per-row gradients, and
        # Adam's update is per coordinate
        loss = ((z - (p * a).sum(dim=1)) ** 2).sum() + lam * (p * (1 - p) * a * a).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            p.clamp_(0.0, 1.0)
    masks = (p.detach() > 0.5).numpy()
    errors = np.abs(targets - np.where(masks, values, 0.0).sum(axis=1))
    return masks, errors


def subset_sum_by_gradient(n: int, targets: int = 500, *, trials: int = 1,
                           dist: str = "uniform", steps: int = 2000, lam: float = 0.1,
                           seed=0) -> dict:
    """The rounded relaxed subset sum against the exact one and the covering radius.

    ``trials`` value sets of ``n`` values from ``dist``, each with ``targets`` targets
    drawn uniformly from [-1, 1].

    Returns
    -------
    dict
        ``relaxed``, ``exact`` (errors, shape ``(trials, targets)``), ``covering``
        (covering radius of each value set over [-1, 1]; NaN above
        :data:`COVERING_MAX_N`), and ``seconds``: wall time of the relaxed and the exact
        solves.

    Examples
    --------
    >>> out = subset_sum_by_gradient(8, 20, steps=300)
    >>> bool(np.all(out["relaxed"] >= out["exact"]))
    True
    >>> bool(np.all(out["exact"] <= out["covering"][:, None]))
    True
    """
    n = check_int(n, "n", minimum=1, maximum=48)
    targets = check_int(targets, "targets", minimum=1)
    trials = check_int(trials, "trials", minimum=1)
    rng = np.random.default_rng(as_seed_sequence(seed))
    relaxed, exact, covering = [], [], []
    seconds = {"relaxed": 0.0, "exact": 0.0, "covering": 0.0}
    for trial in range(trials):
        values = distributions.sample(dist, n, rng)
        z = rng.uniform(-1.0, 1.0, targets)
        t0 = time.perf_counter()
        relaxed.append(relaxed_subset_sum(values, z, steps=steps, lam=lam, seed=trial)[1])
        t1 = time.perf_counter()
        exact.append(rss.solve_many(values, z).errors)
        t2 = time.perf_counter()
        covering.append(rss.covering_radius(values) if n <= COVERING_MAX_N else np.nan)
        seconds["relaxed"] += t1 - t0
        seconds["exact"] += t2 - t1
        seconds["covering"] += time.perf_counter() - t2
    return {"n": n, "relaxed": np.array(relaxed), "exact": np.array(exact),
            "covering": np.array(covering), "seconds": seconds}

