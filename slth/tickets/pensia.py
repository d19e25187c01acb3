"""Depth-2L tickets for ReLU targets (Pensia, Rajput, Nagle, Vishwakarma, Papailiopoulos 2020).

Target layer ``l`` (``W_l`` of shape ``(d_l, d_{l-1})``, no bias) is represented by a
pair of source layers: a hidden layer of ``2 n d_{l-1}`` neurons and an output layer
of ``d_l`` neurons. Block ``i`` of the hidden layer (``2 n`` neurons) keeps only
its weight to input ``i``: neuron ``k`` computes ``relu(u_k x_i)``, which is
``u_k relu(x_i)`` for ``u_k > 0`` and ``|u_k| relu(-x_i)`` for ``u_k < 0``. With
``w x = w relu(x) - w relu(-x)``, output ``j`` keeps a subset ``S+`` of the positive
neurons of block ``i`` with ``sum_{S+} v_jk u_k ~ w_ji`` and a subset ``S-`` of the
negative ones with ``sum_{S-} v_jk u_k ~ w_ji``: two random subset-sum problems over
products of two source weights, solved exactly in batches by :func:`slth.rss.solve_many`.

In target layers ``l >= 2`` the inputs are ReLU outputs (``x_i >= 0``): there
``relu(-x_i) = 0`` and every neuron with ``u_k < 0`` outputs zero on every input. Only
the positive side is solved and kept (``w x = w relu(x)``); the negative half of each
block stays in the source (it is the paper's source) and is pruned whole, and the
ticket records no ``_neg`` errors for these layers. Solving it would keep neurons that
change nothing in the function, only the kept count and the used widths. The first
layer reads inputs of either sign and solves both sides.

Each problem uses at most ``max_values`` neurons of its half block (exact subset sum
costs ``2^(k/2)`` per problem): first the prefix in neuron order; problems whose error
exceeds the per-weight accuracy of :func:`slth.bounds.pensia_weight_eps` are solved
again, greedily on the target's sign and then exactly over a window of ``max_values``
products of both signs (:func:`slth.tickets.search.solve_greedy_window`), keeping the
better answer. The achieved errors are what the ticket records.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse

from slth import bounds
from slth._validate import (
    as_seed_sequence,
    check_int,
    check_memory,
    check_positive,
    check_threads,
    resolve_max_bytes,
)
from slth.nets.activations import get as get_activation
from slth.nets.mlp import MLP
from slth.tickets.search import UnivariateLayer, progress_bar
from slth.tickets.ticket import (
    SourceSpec,
    Ticket,
    Timer,
    check_build_args,
    check_relu_without_biases,
    check_target,
    gather_csr,
    read_columns,
)

__all__ = ["pensia", "depth_2l_spec"]


def pensia(target: MLP, eps: float = 0.01, delta: float = 0.01, seed=None, n: int | None = None,
           *, dist: str = "uniform", C: float = bounds.DEFAULT_C, radius: float = 1.0,
           max_values: int = 20, check_assumptions: bool = True, threads: int | None = None,
           max_bytes: int | None = None, progress: bool | None = None) -> Ticket:
    """Prune a random depth-2L ReLU network to approximate ``target`` (Pensia et al. 2020).

    Parameters
    ----------
    target : MLP
        ReLU network without biases; the theorem assumes ``||W_l||_2 <= 1``.
    eps, delta : float in (0, 1)
        Accuracy (sup of the l2 error on the l2 ball of ``radius``) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source; the ticket records its entropy.
    n : int, optional
        Neurons per sign in each block (blocks have ``2 n`` neurons). ``None``: the
        paper's width formula with the ``C`` in use (:func:`slth.bounds.pensia_n`; see
        :data:`slth.bounds.FORMULAS` for where ``C`` comes from).
    dist : {"uniform", "normal"}
        Distribution of the source entries.
    C : float
        Constant of the width formula, which the paper does not give (default: this
        package's calibration, see :data:`slth.bounds.FORMULAS`).
    radius : float
        Radius of the input ball (enters the formula's ``n``).
    max_values : int
        Values per subset-sum problem (a prefix of each half block).
    check_assumptions : bool
        Refuse targets violating the theorem's norm assumption (``False``: build anyway
        and record the violation in ``params["assumption_violations"]``).
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
        Non-ReLU activation, biases, norm violation, eps/delta outside (0, 1), memory.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> t = pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1)
    >>> t.params["n"] == t.params["formula_n"], t.widths
    (True, (3, 156, 4, 208, 2))
    >>> sorted(t.errors)                        # layer 2 reads ReLU outputs: one side
    ['layer1_neg', 'layer1_pos', 'layer2_pos']
    """
    target = check_target(target)
    eps, delta, C, max_values, dist = check_build_args("pensia", eps, delta, C, max_values, dist)
    threads = check_threads(threads)
    radius = check_positive(radius, "radius")
    dense_target, violations = check_pensia_target(target, check_assumptions)
    widths = target.widths
    formula_n = bounds.pensia_n(widths, eps, delta, C, radius)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    ss = as_seed_sequence(seed)
    L = target.depth
    m = 2 * n
    spec = depth_2l_spec(target, n, dist, ss)
    k = min(n + 4 * int(np.sqrt(n)) + 1, max_values, m)
    est = sum(widths[l] * widths[l + 1] for l in range(L)) * 2 * k * (8 * 3 + 8)
    est += 8 * max(spec.block_rows(2 * l + 1) * widths[l] * k * 3 for l in range(L))
    check_memory(est, resolve_max_bytes(max_bytes), "target",
                 f"a pensia build with n={n} for widths {widths}", "use a smaller n")
    opts = {"threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    weights, errors, vpp = [], {}, []
    t_start = time.perf_counter()
    tol = bounds.pensia_weight_eps(widths, eps, radius)
    for l in range(L):
        hidden, out, e_pos, e_neg, values = solve_layer_pair(
            spec, l, dense_target.weights[l], m, max_values, tol, opts, timer, progress)
        weights += [hidden, out]
        vpp.append(values)
        errors[f"layer{l + 1}_pos"] = e_pos
        if e_neg is not None:
            errors[f"layer{l + 1}_neg"] = e_neg
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "pensia", "eps": eps, "delta": delta, "n": n, "formula_n": formula_n,
        "dist": dist, "seed": int(ss.entropy), "spawn_key": list(ss.spawn_key), "C": C,
        "radius": radius, "norm": "l2", "max_values": max_values, "values_per_problem": vpp,
        "block": m,
        "assumption_violations": violations,
    }
    return Ticket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L), errors,
                  params, timer.times)


def check_pensia_target(target: MLP, check_assumptions: bool) -> tuple[MLP, list]:
    """The target's dense form and its violations of the theorem's norm assumption.

    Refuses activations other than ReLU and non-zero biases (outside the construction),
    and, with ``check_assumptions``, spectral norms above 1 (else they are returned).
    """
    check_relu_without_biases(target, "pensia (depth 2L)", "targets",
                              "; use slth.tickets.burkholz")
    dense_target = target.dense()
    violations = []
    for l, w in enumerate(dense_target.weights):
        s = float(np.linalg.norm(w, 2))
        if s > 1.0 + 1e-9:
            violations.append(f"||W_{l}||_2 = {s:.6g} > 1")
    if violations and check_assumptions:
        raise ValueError("target violates pensia's assumption (spectral norm <= 1): "
                         + "; ".join(violations) + " (pass check_assumptions=False to build "
                         "anyway, or rescale the target)")
    return dense_target, violations


def solve_layer_pair(spec: SourceSpec, l: int, wt: np.ndarray, m: int, max_values: int,
                     tol: float, opts: dict, timer: Timer, progress: bool | None):
    """Source layers ``2 l + 1`` and ``2 l + 2``, pruned to represent target weights ``wt``.

    Draws the univariate layer, solves the subset sums of each block of output rows as it
    is drawn (:class:`slth.tickets.search.UnivariateLayer`), and keeps the univariate
    neurons the output layer reads. Returns the two pruned layers (CSR), the errors of
    the positive and the negative side ``(d_out, d_in)``, and the values per problem.
    For ``l >= 1`` the inputs are ReLU outputs: only the positive side is solved (the
    neurons with ``u < 0`` are dead, none is kept) and its negative errors are ``None``.
    """
    threads = opts["threads"]
    d_out, d_in = wt.shape
    positive_only = l > 0
    with timer("draw"):
        u = np.empty(m * d_in)
        for r0, W, _ in spec.iter_blocks(2 * l, threads):
            rr = np.arange(r0, r0 + W.shape[0])
            u[rr] = W[rr - r0, rr // m]
    layer = UnivariateLayer(u, d_in, m, max_values, homogeneous=True, tol=tol,
                            positive_only=positive_only)
    rows, cols, vals = [], [], []
    errs = [np.empty((d_out, d_in)) for _ in layer.sides]
    nblocks = -(-d_out // spec.block_rows(2 * l + 1))
    with progress_bar(nblocks, progress, len(errs) * d_out * d_in,
                      f"pensia layer {l + 1}") as bar:
        for r0, W, _ in timer.timed(spec.iter_blocks(2 * l + 1, threads), "draw"):
            R = W.shape[0]
            with timer("solve"):
                r_, c_, v_, es = layer.solve_rows(W, wt[r0:r0 + R], r0, opts)
            rows += r_
            cols += c_
            vals += v_
            for e, part in zip(errs, es, strict=True):
                e[r0:r0 + R] = part
            bar.update(1)
    with timer("assemble"):
        out = gather_csr((d_out, m * d_in), rows, cols, vals)
        used = np.flatnonzero(read_columns(out))
        hidden = sparse.csr_matrix(
            (u[used], used // m, np.searchsorted(used, np.arange(m * d_in + 1))),
            shape=(m * d_in, d_in))
    e_neg = None if positive_only else errs[1]
    return hidden, out, errs[0], e_neg, layer.values_per_problem


def depth_2l_spec(target: MLP, n: int, dist: str, ss: np.random.SeedSequence) -> SourceSpec:
    """The random depth-2L source of the sign-split constructions (:func:`pensia`,
    :func:`slth.tickets.malach`): widths :func:`slth.bounds.pensia_widths` with ``n``
    neurons per sign and input, ReLU throughout, no biases, entries of ``dist``.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> depth_2l_spec(random_target([3, 4, 2], seed=0), 5, "uniform",
    ...               np.random.SeedSequence(1)).widths
    (3, 30, 4, 40, 2)
    """
    L = target.depth
    return SourceSpec(bounds.pensia_widths(target.widths, n),
                      (target.activations[0] if L > 1 else get_activation("relu"),)
                      * (2 * L - 1), (False,) * (2 * L), dist, int(ss.entropy),
                      tuple(ss.spawn_key))
