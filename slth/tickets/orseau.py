"""Depth-2L tickets in hyperbolic sources (Orseau, Hutter, Rivasplata, NeurIPS 2020).

The paper ("Logarithmic pruning is all you need"), as this module implements it:
Targets: ReLU networks without biases (as for Pensia et al.; this module assumes their
``||W_l||_2 <= 1`` and the unit l2 ball, check: the paper states its own norm
assumptions). Source: depth 2L, every entry i.i.d. from the hyperbolic distribution,
density proportional to ``1/|w|`` on ``[gamma, 1]`` with a random sign
(:func:`slth.distributions.hyperbolic`; check the support and ``gamma``; by default
:func:`slth.bounds.orseau_gamma` picks ``gamma`` with ``gamma^2`` about the per-weight
accuracy, this package's choice). Because that
density puts the same mass on every dyadic scale ``[2^-(k+1), 2^-k]``, a target weight
can be written as a binary-like decomposition ``w ~ sum_k s_k`` over sampled values at
about ``log2(1/eps_w)`` scales; each target weight gets its own block of
``O(log(1/eps_w))`` neurons, so a layer needs about ``d_{l-1} d_l log`` neurons (against
Pensia et al.'s ``d_{l-1} log``, one block per input neuron shared by all outputs), and
the overparameterization per target weight is logarithmic (check: the paper's exact
width, constants and the argument of the logarithm).

Construction of target layer ``l`` (``W`` of shape ``(d_out, d_in)``), reconstructed
(check): a hidden source layer of ``2 n d_in d_out`` neurons, block ``(j, i)`` (neurons
``(j d_out + i) 2n ... + 2n - 1``) serving the target weight ``w_ij`` alone. Neuron ``k``
of the block keeps only its weight ``u_k`` to input ``j`` and output ``i`` keeps only its
weights ``v_k`` to its own blocks. As in Pensia et al., ``relu(u x) = u relu(x)`` for
``u > 0`` and ``|u| relu(-x)`` for ``u < 0``, and ``w x = w relu(x) - w relu(-x)``: the
products ``u_k v_k`` of the positive neurons approximate ``w_ij`` and the products
``|u_k| v_k`` of the negative ones ``-w_ij``. In layers ``l >= 2`` the inputs are ReLU
outputs and only the positive side is solved and kept.

The decomposition: per problem, the products of the target's sign are taken largest
first while their sum stays within the target (skipping those that overshoot), the
greedy binary expansion the hyperbolic scales make work; this module then solves the
residual exactly over a window of the ``max_values`` smallest products of both signs
(:func:`slth.tickets.search.solve_greedy_window`, ``order="fine"``), a refinement the
paper does not use. The achieved errors are what the ticket records and what
:func:`slth.verify.check` certifies.

Layout: the neurons reading input ``j`` are contiguous (``2 n d_out`` of them), so the
ticket has the univariate layout of a depth-2L ticket with input blocks of ``2 n d_out``
neurons in layer pair ``l`` (``params["input_blocks"]``; ``params["block"]`` is the
per-weight block ``2 n``) and folds like one (:mod:`slth.verify.fold`).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from slth import bounds, distributions
from slth._validate import (
    as_seed_sequence,
    check_int,
    check_memory,
    check_open_unit,
    check_positive,
    check_threads,
    resolve_max_bytes,
)
from slth.nets.activations import get as get_activation
from slth.nets.mlp import MLP
from slth.tickets.pensia import check_pensia_target
from slth.tickets.search import progress_bar, solve_greedy_window
from slth.tickets.ticket import SourceSpec, Ticket, Timer, check_target, gather_csr, read_columns

__all__ = ["orseau"]


def orseau(target: MLP, eps: float = 0.01, delta: float = 0.01, seed=None, n: int | None = None,
           *, dist: str | None = None, C: float = bounds.ORSEAU_C, radius: float = 1.0,
           max_values: int = 16, check_assumptions: bool = True, threads: int | None = None,
           max_bytes: int | None = None, progress: bool | None = None) -> Ticket:
    """Prune a random depth-2L hyperbolic ReLU network to approximate ``target`` (Orseau,
    Hutter, Rivasplata 2020), one block of neurons per target weight.

    Parameters
    ----------
    target : MLP
        ReLU network without biases; the certificate assumes ``||W_l||_2 <= 1``.
    eps, delta : float in (0, 1)
        Accuracy (sup of the l2 error on the l2 ball of ``radius``) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source; the ticket records its entropy.
    n : int, optional
        Neurons per sign in each per-weight block (blocks have ``2 n`` neurons). ``None``:
        the width formula with the ``C`` in use (:func:`slth.bounds.orseau_n`; see
        :data:`slth.bounds.FORMULAS` for where ``C`` comes from).
    dist : str, optional
        ``"hyperbolic:<gamma>"`` (or ``"hyperbolic"``, ``gamma = 2^-10``). ``None``: the
        ``gamma`` of :func:`slth.bounds.orseau_gamma`, fixed by the target's widths, eps
        and the radius (``gamma^2`` about the per-weight accuracy).
    C : float
        Constant of the width formula, which the paper does not give (default: this
        package's calibration :data:`slth.bounds.ORSEAU_C`).
    radius : float
        Radius of the input ball (enters the formula's ``n``).
    max_values : int
        Values of the exact window after the greedy decomposition (1 to 48).
    check_assumptions : bool
        Refuse targets violating the norm assumption (``False``: build anyway and record
        the violation in ``params["assumption_violations"]``).
    threads : int, optional
        Threads of the subset-sum engine.
    max_bytes : int, optional
        Memory cap for the build (default: the package cap).
    progress : bool, optional
        tqdm progress bar (``None``: only for large builds).

    Returns
    -------
    Ticket

    Raises
    ------
    ValueError
        Non-ReLU activation, biases, norm violation, eps/delta outside (0, 1), a
        distribution other than the hyperbolic one, memory.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> t = orseau(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1)
    >>> t.params["n"] == t.params["formula_n"], t.widths
    (True, (3, 1056, 4, 704, 2))
    >>> t.params["dist"], sorted(t.errors)      # layer 2 reads ReLU outputs: one side
    ('hyperbolic:0.0625', ['layer1_neg', 'layer1_pos', 'layer2_pos'])
    """
    target = check_target(target)
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    C = check_positive(C, "C")
    max_values = check_int(max_values, "max_values", minimum=1, maximum=48)
    threads = check_threads(threads)
    radius = check_positive(radius, "radius")
    if dist is None:
        dist = f"hyperbolic:{bounds.orseau_gamma(target.widths, eps, radius)!r}"
    dist = distributions.get(dist).name
    if not dist.startswith("hyperbolic"):
        raise ValueError(f"dist must be 'hyperbolic' or 'hyperbolic:<gamma>' for orseau, "
                         f"got {dist!r}")
    dense_target, violations = check_pensia_target(target, check_assumptions)
    widths = target.widths
    formula_n = bounds.orseau_n(widths, eps, delta, C, radius)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    ss = as_seed_sequence(seed)
    L = target.depth
    m = 2 * n
    spec = SourceSpec(bounds.orseau_widths(widths, n),
                      (target.activations[0] if L > 1 else get_activation("relu"),) * (2 * L - 1),
                      (False,) * (2 * L), dist, int(ss.entropy), tuple(ss.spawn_key))
    # per layer pair: the hidden weights u, one drawing block of output rows, the
    # problems of that block (values, masks, indices) for both signs
    est = max(8 * spec.widths[2 * l + 1] * (2 + spec.block_rows(2 * l + 1))
              + 2 * spec.block_rows(2 * l + 1) * widths[l] * m * (8 * 3 + 2)
              for l in range(L))
    check_memory(est, resolve_max_bytes(max_bytes), "target",
                 f"an orseau build with n={n} for widths {widths}", "use a smaller n")
    opts = {"threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    weights, errors = [], {}
    t_start = time.perf_counter()
    for l in range(L):
        hidden, out, e_pos, e_neg = _solve_layer_pair(
            spec, l, dense_target.weights[l], m, max_values, opts, timer, progress)
        weights += [hidden, out]
        errors[f"layer{l + 1}_pos"] = e_pos
        if e_neg is not None:
            errors[f"layer{l + 1}_neg"] = e_neg
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "orseau", "eps": eps, "delta": delta, "n": n, "formula_n": formula_n,
        "dist": dist, "seed": int(ss.entropy), "spawn_key": list(ss.spawn_key), "C": C,
        "radius": radius, "norm": "l2", "max_values": max_values,
        "block": m, "input_blocks": [m * widths[l + 1] for l in range(L)],
        "assumption_violations": violations,
    }
    return Ticket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L), errors,
                  params, timer.times)


def block_columns(l_widths: tuple[int, int], m: int, i: np.ndarray) -> np.ndarray:
    """Hidden neurons of the blocks of output rows ``i``: shape ``(len(i), d_in, m)``,
    neuron ``(j d_out + i) m + k`` for input ``j`` and block position ``k``.

    Examples
    --------
    >>> block_columns((2, 3), 2, np.array([1]))[0].tolist()   # d_in = 2, d_out = 3
    [[2, 3], [8, 9]]
    """
    d_in, d_out = l_widths
    j = np.arange(d_in)
    return ((j[None, :, None] * d_out + i[:, None, None]) * m
            + np.arange(m)[None, None, :])


def _solve_layer_pair(spec: SourceSpec, l: int, wt: np.ndarray, m: int, max_values: int,
                      opts: dict, timer: Timer, progress: bool | None):
    """Source layers ``2 l + 1`` and ``2 l + 2``, pruned to represent target weights ``wt``:
    the two pruned layers (CSR) and the errors of the positive and negative sides
    ``(d_out, d_in)`` (``None`` for the negative side of layers ``l >= 1``)."""
    threads = opts["threads"]
    d_out, d_in = wt.shape
    H = m * d_in * d_out
    sides = (1.0,) if l > 0 else (1.0, -1.0)
    with timer("draw"):
        u = np.empty(H)
        for r0, W, _ in spec.iter_blocks(2 * l, threads):
            rr = np.arange(r0, r0 + W.shape[0])
            u[rr] = W[rr - r0, rr // (m * d_out)]
    rows, cols, vals = [], [], []
    errs = [np.empty((d_out, d_in)) for _ in sides]
    k = min(max_values, m)
    nblocks = -(-d_out // spec.block_rows(2 * l + 1))
    with progress_bar(nblocks, progress, len(sides) * d_out * d_in,
                      f"orseau layer {l + 1}") as bar:
        for r0, W, _ in timer.timed(spec.iter_blocks(2 * l + 1, threads), "draw"):
            R = W.shape[0]
            i = np.arange(r0, r0 + R)
            idx = block_columns((d_in, d_out), m, i)            # (R, d_in, m)
            v = np.take_along_axis(W, idx.reshape(R, -1), axis=1).reshape(idx.shape)
            uu = u[idx]
            for side, e in zip(sides, errs, strict=True):
                with timer("solve"):
                    values = (np.abs(uu) * v).reshape(R * d_in, m)
                    valid = (uu * side > 0).reshape(R * d_in, m)
                    targets = side * wt[r0:r0 + R].ravel()
                    masks, err = solve_greedy_window(values, valid, targets, k, opts,
                                                     order="fine")
                keep = masks.reshape(idx.shape)
                e[r0:r0 + R] = err.reshape(R, d_in)
                r_local = np.broadcast_to(np.arange(R)[:, None, None], idx.shape)[keep]
                rows.append(r0 + r_local)
                cols.append(idx[keep])
                vals.append(v[keep])
            bar.update(1)
    with timer("assemble"):
        out = gather_csr((d_out, H), rows, cols, vals)
        used = np.flatnonzero(read_columns(out))
        hidden = sparse.csr_matrix(
            (u[used], used // (m * d_out), np.searchsorted(used, np.arange(H + 1))),
            shape=(H, d_in))
    return hidden, out, errs[0], (errs[1] if len(sides) == 2 else None)
