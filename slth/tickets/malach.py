"""Depth-2L tickets by one good neuron pair per target weight (Malach, Yehudai,
Shalev-Shwartz, Shamir, ICML 2020): the polynomial baseline.

The paper's statement (Theorem 2.1; constants and the exact width not transcribed here,
(check)): fix eps, delta in (0, 1). Let F be a ReLU network of depth l, input
dimension d and width n, whose layers satisfy ``||W_i||_2 <= 1`` and
``||W_i||_max <= 1 / sqrt(n_in)`` (check), on inputs of the unit l2 ball. Let G be a
ReLU network of depth 2l and width ``poly(d, n, l, 1/eps, log(1/delta))`` with weights
i.i.d. uniform on [-1, 1]. Then with probability at least 1 - delta some weight-subnetwork
of G (a pruning of single weights) is within eps of F uniformly on the ball, and it keeps
``O(dn + n^2 l)`` weights. The proof approximates every target weight ``w`` by one
neuron pair: with ``w x = w relu(x) - w relu(-x)``, a hidden neuron ``relu(u x)`` with
``u > 0`` and an output weight ``v`` give ``u v relu(x)``, one with ``u < 0`` gives
``|u| v relu(-x)``, and among many random pairs one has ``u v`` within ``eps_w`` of
``w`` with probability of order ``eps_w`` (``eps_w^2`` near ``|w| = 1``): the width is
polynomial in ``1 / eps``, where subset sums (:func:`slth.tickets.pensia`, Pensia et al.
2020) need ``log(1 / eps)``. Its second result (Theorem 3.1, check): pruning whole
neurons of a random depth-2 network only selects among random features, so a single
target neuron cannot in general be approximated that way with polynomial width;
:mod:`slth.experiments.neuron_pruning` measures this.

The layout here is Pensia et al.'s (the same source, :func:`slth.tickets.pensia.depth_2l_spec`,
and the same certificate, :func:`slth.verify.mlp.certify_pensia`): target layer ``l`` is a
hidden layer of ``2 n d_{l-1}`` univariate neurons (block ``i`` of ``2 n`` reads input
``i``) and an output layer of ``d_l`` neurons. For target weight ``w_ji``, output ``j``
keeps the one neuron ``k`` of block ``i`` with ``u_k > 0`` whose product ``u_k v_jk`` is
closest to ``w_ji``, and the one with ``u_k < 0`` likewise (``u_k v_jk ~ w_ji``, i.e.
``|u_k| v_jk ~ -w_ji`` on ``relu(-x_i)``). In target layers ``l >= 2`` the inputs are
ReLU outputs, the neurons with ``u < 0`` are dead and only the positive side is kept (as
in :func:`slth.tickets.pensia`).

Where this departs from the paper (check): the hidden neurons of a block are shared by
all outputs (each output keeps its own pair through its own output weights; the
products of one problem stay i.i.d., so the union bound of :func:`slth.bounds.malach_n`
holds); the best pair is kept rather than any good one, and none when no product beats
keeping nothing (error ``|w|``); the width is this package's form with its derived
constant (:data:`slth.bounds.MALACH_C`), not the paper's; the assumption
``||W||_max <= 1 / sqrt(n_in)`` is not needed by this certificate and not checked.
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
from slth.nets.mlp import MLP
from slth.tickets.pensia import check_pensia_target, depth_2l_spec
from slth.tickets.search import progress_bar
from slth.tickets.ticket import (
    SourceSpec,
    Ticket,
    Timer,
    check_build_args,
    check_target,
    gather_csr,
    read_columns,
)

__all__ = ["malach", "best_pairs"]


def malach(target: MLP, eps: float = 0.01, delta: float = 0.01, seed=None, n: int | None = None,
           *, C: float = bounds.MALACH_C, radius: float = 1.0, dist: str = "uniform",
           check_assumptions: bool = True, threads: int | None = None,
           max_bytes: int | None = None, progress: bool | None = None) -> Ticket:
    """Prune a random depth-2L ReLU network to approximate ``target``, one neuron pair per
    target weight (Malach et al. 2020).

    Parameters
    ----------
    target : MLP
        ReLU network without biases; the certificate assumes ``||W_l||_2 <= 1``.
    eps, delta : float in (0, 1)
        Accuracy (sup of the l2 error on the l2 ball of ``radius``) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source; the ticket records its entropy.
    n : int, optional
        Neurons per sign in each block (blocks have ``2 n`` neurons). ``None``: the width
        formula :func:`slth.bounds.malach_n` with ``C`` (huge: polynomial in ``1 / eps``).
    C : float
        Constant of the width formula (default :data:`slth.bounds.MALACH_C`, this
        package's derivation, not the paper's; see :data:`slth.bounds.FORMULAS`).
    radius : float
        Radius of the input ball (enters the per-weight accuracy).
    dist : {"uniform"}
        Distribution of the source entries (the paper's; the constant is derived for it).
    check_assumptions : bool
        Refuse targets violating ``||W_l||_2 <= 1`` (``False``: build anyway and record the
        violation in ``params["assumption_violations"]``).
    threads : int, optional
        Threads drawing the source.
    max_bytes : int, optional
        Memory cap for the build (default: the package cap).
    progress : bool, optional
        tqdm progress bar (``None``: only for large builds).

    Returns
    -------
    Ticket
        ``errors["layer<l>_pos"]`` (and ``_neg`` for the first layer): per target weight,
        ``|w - u v|`` of the kept pair's side, or ``|w|`` where that side keeps nothing.

    Raises
    ------
    ValueError
        Non-ReLU activation, biases, norm violation, eps/delta outside (0, 1), a
        distribution other than uniform, memory.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> t = malach(random_target([2, 2, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=300)
    >>> t.params["formula_n"], t.widths
    (122560, (2, 1200, 2, 1200, 1))
    >>> [int(k.sum()) for k in t.masks]     # one neuron per sign and target weight
    [8, 8, 2, 2]
    """
    target = check_target(target)
    eps, delta, C, _, dist = check_build_args("malach", eps, delta, C, 1, dist)
    if dist != "uniform":
        raise ValueError(f"dist must be 'uniform' for malach (the constant of "
                         f"slth.bounds.malach_n is derived for it), got {dist!r}")
    threads = check_threads(threads)
    radius = check_positive(radius, "radius")
    dense_target, violations = check_pensia_target(target, check_assumptions)
    widths = target.widths
    formula_n = bounds.malach_n(widths, eps, delta, C, radius)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    ss = as_seed_sequence(seed)
    L = target.depth
    m = 2 * n
    spec = depth_2l_spec(target, n, dist, ss)
    # per layer pair: u, the products of one drawing block and the kept entries
    est = 8 * max(m * widths[l] * 3 + spec.block_rows(2 * l + 1) * widths[l] * m * 3
                  for l in range(L))
    check_memory(est, resolve_max_bytes(max_bytes), "target",
                 f"a malach build with n={n} for widths {widths}", "use a smaller n")
    timer = Timer()
    weights, errors = [], {}
    t_start = time.perf_counter()
    for l in range(L):
        hidden, out, e_pos, e_neg = _layer_pair(spec, l, dense_target.weights[l], m, threads,
                                                timer, progress)
        weights += [hidden, out]
        errors[f"layer{l + 1}_pos"] = e_pos
        if e_neg is not None:
            errors[f"layer{l + 1}_neg"] = e_neg
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "malach", "eps": eps, "delta": delta, "n": n, "formula_n": formula_n,
        "dist": dist, "seed": int(ss.entropy), "spawn_key": list(ss.spawn_key), "C": C,
        "radius": radius, "norm": "l2", "block": m,
        "weight_eps": bounds.pensia_weight_eps(widths, eps, radius),
        "assumption_violations": violations,
    }
    return Ticket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L), errors,
                  params, timer.times)


def best_pairs(products: np.ndarray, valid: np.ndarray, targets: np.ndarray):
    """Per problem, the candidate whose product is closest to the target, or none.

    Parameters
    ----------
    products : ndarray, shape (p, k)
        Candidate products ``u v`` of each problem.
    valid : ndarray of bool, shape (p, k)
        Which candidates may be kept (the neuron's sign).
    targets : ndarray, shape (p,)

    Returns
    -------
    (ndarray of int, ndarray of float)
        The chosen column (``-1``: keep none, when no valid product is closer to the
        target than 0 is) and the achieved error ``|t - products[chosen]|`` (``|t|`` for
        none). Ties go to the first column.

    Examples
    --------
    >>> p = np.array([[0.5, 0.2, 0.31], [0.9, 0.8, 0.7]])
    >>> k, e = best_pairs(p, np.array([[True, True, False], [True, True, True]]),
    ...                   np.array([0.3, 0.01]))
    >>> k.tolist(), np.round(e, 6).tolist()
    ([1, -1], [0.1, 0.01])
    """
    dist = np.where(valid, np.abs(products - targets[:, None]), np.inf)
    k = np.argmin(dist, axis=1) if dist.shape[1] else np.zeros(len(targets), np.int64)
    err = dist[np.arange(len(k)), k] if dist.shape[1] else np.full(len(targets), np.inf)
    none = ~(err < np.abs(targets))
    k = np.where(none, -1, k)
    return k, np.where(none, np.abs(targets), err)


def _layer_pair(spec: SourceSpec, l: int, wt: np.ndarray, m: int, threads, timer: Timer,
                progress):
    """Source layers ``2 l + 1`` and ``2 l + 2``, pruned to one neuron per sign for each
    target weight of ``wt``: the two layers (CSR) and the errors of both sides (the
    negative one ``None`` for ``l >= 1``, whose inputs are ReLU outputs)."""
    d_out, d_in = wt.shape
    sides = (True,) if l > 0 else (True, False)
    with timer("draw"):
        u = np.empty(m * d_in)
        for r0, W, _ in spec.iter_blocks(2 * l, threads):
            rr = np.arange(r0, r0 + W.shape[0])
            u[rr] = W[rr - r0, rr // m]
    uu = u.reshape(d_in, m)
    signs = {True: uu > 0, False: uu < 0}
    errs = {s: np.empty((d_out, d_in)) for s in sides}
    rows, cols, vals = [], [], []
    nblocks = -(-d_out // spec.block_rows(2 * l + 1))
    with progress_bar(nblocks, progress, len(sides) * d_out * d_in,
                      f"malach layer {l + 1}") as bar:
        for r0, W, _ in timer.timed(spec.iter_blocks(2 * l + 1, threads), "draw"):
            with timer("solve"):
                R = W.shape[0]
                V = W.reshape(R, d_in, m)
                prod = (V * uu).reshape(R * d_in, m)
                t = wt[r0:r0 + R].reshape(-1)
                for s in sides:
                    valid = np.broadcast_to(signs[s], (R, d_in, m)).reshape(R * d_in, m)
                    k, e = best_pairs(prod, valid, t)
                    errs[s][r0:r0 + R] = e.reshape(R, d_in)
                    keep = np.flatnonzero(k >= 0)
                    j, i = np.divmod(keep, d_in)
                    col = i * m + k[keep]
                    rows.append(r0 + j)
                    cols.append(col)
                    vals.append(W[j, col])
            bar.update(1)
    with timer("assemble"):
        out = gather_csr((d_out, m * d_in), rows, cols, vals)
        used = np.flatnonzero(read_columns(out))
        hidden = sparse.csr_matrix(
            (u[used], used // m, np.searchsorted(used, np.arange(m * d_in + 1))),
            shape=(m * d_in, d_in))
    return hidden, out, errs[True], errs.get(False)
