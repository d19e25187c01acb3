"""Depth-2L tickets for ReLU targets with biases (Fischer & Burkholz 2021).

Statement (Fischer & Burkholz 2021, "Lottery tickets with nonzero biases", the
depth-2L theorem; check the exact constants and assumptions): a ReLU target ``f`` of
depth ``L`` with biases, ``||W_l|| <= 1`` and biases bounded (check), is approximated
within ``eps`` on the unit ball, with probability at least ``1 - delta``, by pruning a
random ReLU source of depth ``2L`` whose weights *and biases* are random (not zero),
with intermediate widths ``rho (d_{l-1} + 1)``, ``rho = O(log(N / min(eps, delta)))``
(``N`` the number of target parameters). Zero source biases, the usual initialisation,
make the construction impossible: a ticket of a bias-free source has no bias.

Construction (as in the paper's code, RelationalML/NonZeroBiases,
``Construction/prune_2layers.py``): target layer ``l`` (``W_l``, ``b_l``) is represented
by a pair of source layers. The hidden layer has ``2 n (d_{l-1} + 1)`` neurons: block
``i < d_{l-1}`` (``2 n`` neurons) keeps only its weight ``u`` to input ``i`` and no bias,
exactly as in :func:`slth.tickets.pensia` (``relu(u x) = u relu(x)`` for ``u > 0``,
``|u| relu(-x)`` for ``u < 0``); the last block of ``2 n`` *bias neurons* keeps no
input weight and only its bias ``c``: for ``c > 0`` it outputs the constant
``relu(c) = c`` and acts as a constant input. The output layer (``d_l`` neurons, biases
pruned) approximates ``w_ji`` by subset sums of products ``v u`` as in Pensia et al.,
and ``b_j`` by a subset sum of products ``v c`` over the bias neurons with ``c > 0``
(a random subset-sum problem over products of two source entries). With ``rho = 2 n``
the intermediate width is the paper's ``rho (d_{l-1} + 1)``. In target layers
``l >= 2`` the inputs are ReLU outputs: the neurons with ``u < 0`` are dead and only the
positive side is solved (as in :func:`slth.tickets.pensia`).

Source distributions (``dist``):

* ``"uniform"``, ``"normal"``: i.i.d. weights and biases (U[-1, 1] or N(0, 1)) in every
  layer; the paper's code draws the bias block from U[0, 1], here half of the symmetric
  bias block is positive (and used), which is why the block has ``2 n`` neurons.
* ``"he"`` (scaled He, the initialisation the paper discusses): layer ``k`` has weights
  ``N(0, s_k^2)``, ``s_k = sqrt(2 / fan_in)``, and biases ``N(0, (beta S_k)^2)`` with
  ``S_k = s_1 ... s_k`` (the bias scale grows with depth as the product of the weight
  scales; ``beta = bias_factor``, 0.05 in the paper's code, ``init_with_bias``). By
  positive homogeneity such a ReLU network is ``S_{2L}`` times a network with N(0, 1)
  weights and N(0, beta^2) biases: pruning cannot undo that factor. The ticket of a He
  source therefore approximates the *scaled target* ``S_{2L} f``
  (:func:`he_scaled_target`: layer ``l``'s weights scaled by ``s_{2l-1} s_{2l}``, its
  biases by ``S_{2l}``; ``Ticket.target``) within ``S_{2L} eps``; ``params`` record
  ``output_scale = S_{2L}`` and ``relative_eps = eps``. The small ``beta`` makes the
  bias products small (of order ``beta`` against the target's biases): on a 3-4-2
  target with biases up to 0.39, at the formula's width for eps = 0.1, ``beta = 0.05``
  left relative certified errors of 0.081 and 0.089 (two seeds), nearly all from the
  first layer's biases, against about 1e-4 for ``beta`` in {0.2, 0.5, 1} (check how the
  paper treats targets with large biases).

Where this departs from the paper: the subset sums are solved with the exact and
windowed searches of :mod:`slth.tickets.search` (the paper's code enumerates subsets of
at most 15 values and re-draws the block until a tolerance is met, growing the
source); the output layer's source biases exist and are pruned; the constant ``C`` of
:func:`slth.bounds.fischer_burkholz_n` is this package's calibration.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import sparse

from slth import bounds
from slth._validate import (
    as_float,
    as_seed_sequence,
    check_choice,
    check_int,
    check_memory,
    check_open_unit,
    check_positive,
    check_threads,
    resolve_max_bytes,
)
from slth.nets.activations import get as get_activation
from slth.nets.mlp import MLP, from_sklearn
from slth.tickets.search import UnivariateLayer, progress_bar
from slth.tickets.ticket import (
    SourceSpec,
    Ticket,
    Timer,
    check_build_args,
    check_target,
    gather_csr,
    read_columns,
)

__all__ = ["BIAS_FACTOR", "fischer_burkholz", "fischer_burkholz_sklearn", "he_scales",
           "he_scaled_target", "sklearn_target"]

#: Default bias factor ``beta`` of the scaled He source (the paper's code default).
BIAS_FACTOR = 0.05

DISTS = ("uniform", "normal", "he")


def he_scales(source_widths, bias_factor: float = BIAS_FACTOR):
    """Weight and bias scales of a scaled He source of the given widths.

    Layer ``k`` (1-based) has weight scale ``s_k = sqrt(2 / d_{k-1})`` and bias scale
    ``beta S_k``, ``S_k = s_1 ... s_k``. Returns ``(weight_scale, bias_scale)`` tuples.

    Examples
    --------
    >>> w, b = he_scales((2, 8, 1), 0.5)
    >>> [round(v, 6) for v in w], [round(v, 6) for v in b]
    ([1.0, 0.5], [0.5, 0.25])
    """
    bias_factor = check_positive(bias_factor, "bias_factor")
    ws, bs, prod = [], [], 1.0
    for fan_in in source_widths[:-1]:
        s = math.sqrt(2.0 / fan_in)
        prod *= s
        ws.append(s)
        bs.append(bias_factor * prod)
    return tuple(ws), tuple(bs)


def he_scaled_target(target: MLP, weight_scale) -> MLP:
    """The target a ticket of a scaled He source approximates: ``S_{2L} f``.

    Target layer ``l`` (1-based) gets weights ``s_{2l-1} s_{2l} W_l`` and biases
    ``S_{2l} b_l`` (``s``: the source's weight scales, ``S_k = s_1 ... s_k``); for ReLU
    hidden layers this network computes ``S_{2L} f(x)`` exactly (positive homogeneity),
    and each of its layers is what the corresponding pair of source layers represents.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> t = random_target([3, 4, 2], bias=True, seed=0)
    >>> ts = he_scaled_target(t, (0.5, 2.0, 0.25, 0.5))
    >>> x = np.ones((1, 3))
    >>> bool(np.allclose(ts(x), 0.125 * t(x)))
    True
    """
    t = target.dense()
    ws, bs, prod = [], [], 1.0
    for l, (w, b) in enumerate(zip(t.weights, t.biases, strict=True)):
        pair = weight_scale[2 * l] * weight_scale[2 * l + 1]
        prod *= pair
        ws.append(w * pair)
        bs.append(None if b is None else b * prod)
    return MLP(ws, bs, t.activations)


def check_fischer_burkholz_target(target: MLP, check_assumptions: bool):
    """The dense target and its violations of the assumptions (check): ReLU hidden
    layers, ``||W_l||_2 <= 1`` and biases in ``[-1, 1]``. Other activations are refused;
    norm violations are refused with ``check_assumptions``, else returned."""
    L = target.depth
    if L > 1 and any(a.name != "relu" for a in target.activations[:L - 1]):
        raise ValueError("target activation must be relu for fischer_burkholz (depth 2L, "
                         f"ReLU), got {[a.name for a in target.activations[:L - 1]]}; use "
                         "slth.tickets.burkholz for other activations")
    dense = target.dense()
    violations = []
    for l, (w, b) in enumerate(zip(dense.weights, dense.biases, strict=True)):
        s = float(np.linalg.norm(w, 2))
        if s > 1.0 + 1e-9:
            violations.append(f"||W_{l}||_2 = {s:.6g} > 1")
        if b is not None and b.size and float(np.abs(b).max()) > 1.0 + 1e-12:
            violations.append(f"max|b_{l}| = {float(np.abs(b).max()):.6g} > 1")
    if violations and check_assumptions:
        raise ValueError("target violates fischer_burkholz's assumption (spectral norm <= 1, "
                         "biases in [-1, 1]): " + "; ".join(violations)
                         + " (pass check_assumptions=False to build anyway, or rescale the "
                         "target: sklearn_target(..., normalize=True) does)")
    return dense, violations


def fischer_burkholz(target: MLP, eps: float = 0.01, delta: float = 0.01, seed=None,
                     n: int | None = None, *, dist: str = "uniform",
                     C: float = bounds.DEFAULT_C, bias_factor: float = BIAS_FACTOR,
                     radius: float = 1.0, max_values: int = 20,
                     check_assumptions: bool = True, threads: int | None = None,
                     max_bytes: int | None = None, progress: bool | None = None) -> Ticket:
    """Prune a random depth-2L ReLU network with biases to approximate ``target``
    (Fischer & Burkholz 2021).

    Parameters
    ----------
    target : MLP
        ReLU network with (or without) biases; the construction assumes
        ``||W_l||_2 <= 1`` and biases in ``[-1, 1]`` (check).
    eps, delta : float in (0, 1)
        Accuracy (sup of the l2 error on the l2 ball of ``radius``) and failure
        probability. For ``dist="he"`` the ticket's accuracy is ``output_scale * eps``
        on the scaled target (see the module docstring).
    seed : int, SeedSequence, Generator or None
        Seed of the random source.
    n : int, optional
        Neurons per sign in each block (blocks of ``2 n``; ``rho = 2 n``). ``None``: the
        width formula with the ``C`` in use (:func:`slth.bounds.fischer_burkholz_n`).
    dist : {"uniform", "normal", "he"}
        Source weights and biases: U[-1, 1], N(0, 1), or scaled He.
    C : float
        Constant of the width formula (default: this package's calibration).
    bias_factor : float
        ``beta`` of the scaled He source (``dist="he"`` only).
    radius : float
        Radius of the input ball.
    max_values : int
        Values per exact subset-sum problem.
    check_assumptions : bool
        Refuse targets violating the assumptions (``False``: build and record them in
        ``params["assumption_violations"]``).
    threads, max_bytes, progress
        As for :func:`slth.tickets.pensia`.

    Returns
    -------
    Ticket

    Raises
    ------
    ValueError
        Non-ReLU activation, norm violation, bad eps/delta/dist, memory.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> tg = random_target([3, 4, 2], bias=True, seed=0)
    >>> t = fischer_burkholz(tg, eps=0.1, delta=0.1, seed=1)
    >>> t.params["n"], t.widths
    (27, (3, 216, 4, 270, 2))
    >>> sorted(t.errors)
    ['layer1_bias', 'layer1_neg', 'layer1_pos', 'layer2_bias', 'layer2_pos']
    """
    target = check_target(target)
    dist = check_choice(dist, "dist", DISTS)
    eps, delta, C, max_values, _ = check_build_args(
        "fischer_burkholz", eps, delta, C, max_values, "normal" if dist == "he" else dist)
    threads = check_threads(threads)
    radius = check_positive(radius, "radius")
    bias_factor = check_positive(bias_factor, "bias_factor")
    dense, violations = check_fischer_burkholz_target(target, check_assumptions)
    widths = target.widths
    formula_n = bounds.fischer_burkholz_n(widths, eps, delta, C, radius)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    ss = as_seed_sequence(seed)
    L = target.depth
    m = 2 * n
    src_widths = bounds.fischer_burkholz_widths(widths, n)
    acts = (target.activations[0] if L > 1 else get_activation("relu"),) * (2 * L - 1)
    if dist == "he":
        wscale, bscale = he_scales(src_widths, bias_factor)
        spec = SourceSpec(src_widths, acts, (True,) * (2 * L), "normal", int(ss.entropy),
                          tuple(ss.spawn_key), wscale, bscale)
        aimed = he_scaled_target(dense, wscale)
        out_scale = float(np.prod(wscale))
    else:
        spec = SourceSpec(src_widths, acts, (True,) * (2 * L), dist, int(ss.entropy),
                          tuple(ss.spawn_key))
        aimed, out_scale = dense, 1.0
    k = min(max_values, m)
    est = sum(widths[l] * widths[l + 1] for l in range(L)) * 2 * k * (8 * 3 + 8)
    est += 8 * max(spec.block_rows(2 * l + 1) * (widths[l] + 1) * k * 3 for l in range(L))
    check_memory(est, resolve_max_bytes(max_bytes), "target",
                 f"a fischer_burkholz build with n={n} for widths {widths}", "use a smaller n")
    opts = {"threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    weights, biases, bmasks, errors, vpp = [], [], [], {}, []
    t_start = time.perf_counter()
    tol = bounds.fischer_burkholz_weight_eps(widths, eps, radius)
    pair_scale, bias_scale = 1.0, 1.0
    for l in range(L):
        pair = spec.weight_scale[2 * l] * spec.weight_scale[2 * l + 1]
        pair_scale, bias_scale = pair, bias_scale * pair
        pieces = _solve_pair(spec, l, aimed.weights[l], aimed.biases[l], m, max_values,
                             (tol * pair_scale, tol * bias_scale), opts, timer, progress)
        hidden, b_hidden, bmask, out, errs, values = pieces
        weights += [hidden, out]
        biases += [b_hidden, np.zeros(out.shape[0])]
        bmasks += [bmask, np.zeros(out.shape[0], dtype=bool)]
        vpp.append(values)
        for side, e in errs.items():
            errors[f"layer{l + 1}_{side}"] = e
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "fischer_burkholz", "eps": eps * out_scale, "delta": delta, "n": n,
        "formula_n": formula_n, "dist": dist, "seed": int(ss.entropy),
        "spawn_key": list(ss.spawn_key), "C": C, "radius": radius, "norm": "l2",
        "max_values": max_values, "values_per_problem": vpp, "block": m,
        "relative_eps": eps, "output_scale": out_scale,
        "bias_factor": bias_factor if dist == "he" else None,
        "assumption_violations": violations,
    }
    return Ticket(aimed, spec, tuple(weights), tuple(biases), tuple(bmasks), errors, params,
                  timer.times)


def _solve_pair(spec: SourceSpec, l: int, wt: np.ndarray, bt, m: int, max_values: int,
                tols: tuple, opts: dict, timer: Timer, progress: bool | None):
    """Source layers ``2 l + 1`` and ``2 l + 2``, pruned to represent ``(wt, bt)``.

    Returns the pruned hidden layer (CSR), its pruned biases and bias mask, the pruned
    output layer (CSR), the errors per side (``pos``, ``neg`` for the first layer,
    ``bias``) and the values per problem.
    """
    threads = opts["threads"]
    d_out, d_in = wt.shape
    n_uni = m * d_in
    bt = np.zeros(d_out) if bt is None else np.asarray(bt, dtype=np.float64)
    with timer("draw"):
        u = np.empty(n_uni)
        c = np.empty(m)
        for r0, W, b in spec.iter_blocks(2 * l, threads):
            rr = np.arange(r0, r0 + W.shape[0])
            uni = rr < n_uni
            u[rr[uni]] = W[uni.nonzero()[0], rr[uni] // m]
            c[rr[~uni] - n_uni] = b[~uni]
    weight_layer = UnivariateLayer(u, d_in, m, max_values, homogeneous=True, tol=tols[0],
                                   positive_only=l > 0)
    # the bias block as a univariate layer over one constant input 1: relu(c * 1) = c for
    # c > 0, so only the positive side (bias neurons with c > 0) is a candidate
    bias_layer = UnivariateLayer(c, 1, m, max_values, homogeneous=True, tol=tols[1],
                                 positive_only=True)
    rows, cols, vals = [], [], []
    errs = [np.empty((d_out, d_in)) for _ in weight_layer.sides]
    e_bias = np.empty(d_out)
    nblocks = -(-d_out // spec.block_rows(2 * l + 1))
    with progress_bar(nblocks, progress, (len(errs) * d_in + 1) * d_out,
                      f"fischer_burkholz layer {l + 1}") as bar:
        for r0, W, _ in timer.timed(spec.iter_blocks(2 * l + 1, threads), "draw"):
            R = W.shape[0]
            with timer("solve"):
                r_, c_, v_, es = weight_layer.solve_rows(W, wt[r0:r0 + R], r0, opts)
                Wb = np.ascontiguousarray(W[:, n_uni:])
                rb, cb, vb, eb = bias_layer.solve_rows(Wb, bt[r0:r0 + R, None], r0, opts)
            rows += r_ + rb
            cols += c_ + [cc + n_uni for cc in cb]
            vals += v_ + vb
            for e, part in zip(errs, es, strict=True):
                e[r0:r0 + R] = part
            e_bias[r0:r0 + R] = eb[0][:, 0]
            bar.update(1)
    with timer("assemble"):
        out = gather_csr((d_out, m * (d_in + 1)), rows, cols, vals)
        read = read_columns(out)
        used = np.flatnonzero(read[:n_uni])
        hidden = sparse.csr_matrix(
            (u[used], used // m, np.searchsorted(used, np.arange(m * (d_in + 1) + 1))),
            shape=(m * (d_in + 1), d_in))
        bmask = np.zeros(m * (d_in + 1), dtype=bool)
        bmask[n_uni:] = read[n_uni:]
        b_hidden = np.zeros(m * (d_in + 1))
        b_hidden[n_uni:] = np.where(read[n_uni:], c, 0.0)
    out_errs = {"pos": errs[0]}
    if l == 0:
        out_errs["neg"] = errs[1]
    out_errs["bias"] = e_bias
    return (hidden, b_hidden, bmask, out, out_errs,
            max(weight_layer.values_per_problem, bias_layer.values_per_problem))


# ---------------------------------------------------------------- scikit-learn targets
def sklearn_target(model, normalize: bool = True) -> tuple[MLP, float]:
    """The ReLU network of a fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor``.

    The network is the model's pre-output function (its logits: the output activation,
    softmax or logistic, is left out). With ``normalize``, layer ``l`` is divided by
    ``s_l = max(1, ||W_l||_2, max|b_l| / (s_1 ... s_{l-1}))`` and its biases by
    ``s_1 ... s_l``: the result meets the construction's assumptions and, by positive
    homogeneity, the model's logits are ``scale`` times its output. scikit-learn is
    imported only by the caller's model (an optional extra).

    Returns
    -------
    (MLP, float)
        The target and ``scale`` (1 without ``normalize``).

    Raises
    ------
    ValueError
        If the model is not fitted or its activation is not ``"relu"``.

    Examples
    --------
    Any object with the fitted attributes will do (here a stand-in for a model):

    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(coefs_=[np.array([[4.0, 0.0]]), np.array([[1.0], [0.0]])],
    ...                         intercepts_=[np.array([2.0, 0.0]), np.array([0.5])],
    ...                         activation="relu")
    >>> f, scale = sklearn_target(model)
    >>> scale, f(np.array([[0.25]])) * scale      # relu(4 x + 2) + 0.5 = 3.5
    (4.0, array([[3.5]]))
    """
    coefs = getattr(model, "coefs_", None)
    intercepts = getattr(model, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise ValueError(f"model must be a fitted scikit-learn MLPClassifier or MLPRegressor "
                         f"(with coefs_ and intercepts_), got {type(model).__name__}")
    activation = getattr(model, "activation", None)
    if activation != "relu":
        raise ValueError(f"model.activation must be 'relu' for fischer_burkholz, got "
                         f"{activation!r}")
    net = from_sklearn(model)              # the one reader of scikit-learn's layout
    ws = [np.array(w, dtype=np.float64) for w in net.weights]
    bs = [np.array(b, dtype=np.float64) for b in net.biases]
    scale = 1.0
    if normalize:
        for l in range(len(ws)):
            bs[l] /= scale
            s = max(1.0, float(np.linalg.norm(ws[l], 2)), float(np.abs(bs[l]).max(initial=0)))
            ws[l] /= s
            bs[l] /= s
            scale *= s
    return MLP(ws, bs, "relu"), scale


def fischer_burkholz_sklearn(model, eps: float = 0.01, delta: float = 0.01, seed=None,
                             n: int | None = None, **kwargs) -> tuple[Ticket, float]:
    """A :func:`fischer_burkholz` ticket of a fitted scikit-learn ReLU MLP.

    The model is converted and normalised by :func:`sklearn_target`; the ticket
    approximates the normalised network within ``eps`` (on the ball of ``radius``), so
    ``scale * ticket(x)`` approximates the model's logits within ``scale * eps``.
    Inputs should be scaled to the ball (as the model was trained on them).

    Returns
    -------
    (Ticket, float)
        The ticket and ``scale``.
    """
    eps = check_open_unit(eps, "eps")
    target, scale = sklearn_target(model, normalize=True)
    return fischer_burkholz(target, eps, delta, seed, n, **kwargs), as_float(scale, "scale")
