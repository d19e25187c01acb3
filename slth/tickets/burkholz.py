"""Depth-L+1 tickets for targets with biases and general activations (Burkholz 2022).

Reconstructed from the paper and its public code (RelationalML/LT-existence); the
layout of the source, for a target with widths ``d_0, ..., d_L`` and ``n`` copies:

1. Source layer 1 (``d_0 -> m d_0 + m`` neurons) is univariate: block ``i`` holds ``m``
   neurons that keep only their weight ``u`` to input ``i``; the last ``m`` neurons
   are *bias neurons*: all input weights pruned, bias ``c`` kept, output ``phi(c)``.
   For ReLU-like activations ``m = 2 b`` and blocks are split by the sign of ``u``
   exactly as in the depth-2L construction; ``b`` is :func:`slth.bounds.burkholz_block`
   (``ceil(5 n / 3)`` for uniform sources: these problems are over products).
   Layer-1 weights and biases are drawn from ``2 X`` (U[-2, 2] for the uniform
   distribution, as in the paper's code).
   For smooth activations (tanh, sigmoid, ...) ``m = b`` and the neurons work in the linear
   regime: the source's first layer is scaled by a small ``alpha`` and the univariate
   columns of the second layer by ``1 / (alpha phi'(0))``, so that ``v phi(alpha u x) = v'
   u' x + O(alpha^(p-1))`` with ``u', v'`` unscaled draws; the remainder is part of the
   certified bound. When ``phi(0) != 0`` (sigmoid, softplus) the kept univariate neurons
   also add the constant ``phi(0) sum(v)``, of the large scale ``1 / (alpha phi'(0))``:
   *coarse* bias neurons, whose second-layer columns have that scale too, cancel it
   (greedy, then an exact window of the largest magnitudes and, where that leaves an
   error, of the first ones: :func:`slth.tickets.pensia.solve_with_retry`), and
   the ordinary (*fine*) bias neurons fit the remaining bias at unit scale.
2. Source layer 2 holds ``n`` copies of every neuron of target layer 1 (plus ``n``
   constant neurons when ``L > 1``). Copy ``k`` of neuron ``j`` approximates ``w_ji`` by
   a subset sum of products ``v u`` in block ``i`` and ``b_j`` by a subset sum of
   ``v phi(c)`` over the bias neurons; constant neurons approximate ``tau`` (default 1).
3. Source layer ``l + 1`` (target layer ``l >= 2``) holds ``n`` copies of each target
   neuron: since input neuron ``i`` exists as ``n`` near-identical copies,
   ``sum_{k in S} v_k phi(z_i^(k)) ~ (sum_S v_k) phi(z_i)``: ``w_ji`` is a subset sum
   of ``n`` plain source weights; the bias is a subset sum over the constant
   neurons' (exactly known) outputs. The last layer has one row per output.

Source biases exist in layer 1 only (they are zero in the paper's deeper layers).

The layers are solved backwards, so that when a layer's problems are solved the kept
weights of the layers after it, through which its errors reach the output, are known.
With ``refine=True`` (the default) each layer's problems whose error would make its term
of the certified bound exceed its share of ``eps`` (:func:`refine_tolerance`) get finer
windows, and for smooth activations the linear-regime scale is lowered to keep the tangent
remainder's term within its share. Where the first layer's tolerance is tight, its
problems are searched with a k-tree (:data:`TREE_VALUES`, ``first_layer``). On a
784-300-100-10 ReLU target at the theorem's width (n = 75, eps = 0.01) the certified
bound on the unit ball drops from 0.042 to 0.0049, for 1.5 times the build time (162 s
against 108 s on 2 cores; 261 s and 0.0061 with fine windows in the first layer).
"""

from __future__ import annotations

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
    check_positive,
    check_threads,
    resolve_max_bytes,
)
from slth.tickets.pensia import (
    UnivariateLayer,
    check_target,
    progress_bar,
    solve_with_retry,
)
from slth.tickets.ticket import (
    RowBatchCSR,
    SourceSpec,
    Ticket,
    Timer,
    check_build_args,
    gather_csr,
    read_columns,
)

__all__ = ["alpha_for_remainder", "burkholz", "default_alpha", "first_layer_solver"]

#: Window orders of the further attempts in layers after the first (see
#: :func:`slth.tickets.pensia.second_attempt`), whose first attempt is a fine window of
#: plain uniform copies: a window of the largest magnitudes, then one of the smallest
#: (with an exact prefix as the first attempt, these resolved the problems whose first
#: copies were nearly one-sided; after a fine window, windows of the first and the
#: largest values do as well, measured on 784-30-20-10).
LATER_ORDERS = ("largest", "smallest")

#: Problems of the layers after the first that are still above the tolerance after the
#: windows of :data:`LATER_ORDERS` get attempts exact over their first ``copies_read``
#: copies, then over one more copy at a time, up to :data:`LATER_REACH` more and at most
#: this many in all (``2^20`` sums per half at 40), stopping at the tolerance: further
#: copies are read only where the read ones cannot reach it. On a 784-300-100-10 ticket
#: at n = 75 (30 read copies) the windows left 1,350 of 888,600 weights above the
#: tolerance, with errors up to 3.6e-4 (170 times the tolerance) that dominated the
#: certified bound of their layer. The exact attempts over the 30 copies left 136 (up to
#: 3.6e-4, where the copies are nearly one-sided), those up to 34 copies left 6 (up to
#: 1.5e-5, a quarter of the certified bound through the output layer), those up to 40
#: none (1.6e-9 for that one).
LATER_EXHAUSTIVE = 40

#: Copies beyond ``copies_read`` that those last exact attempts may read (so that a small
#: ``copies_read`` keeps them small too).
LATER_REACH = 10

#: Values beyond ``max_values`` in the bias problems, whose first attempt is a ``"fine"``
#: window: there is one per source row (a few thousand, against millions of weight
#: problems), and a bias error is a constant that reaches the output through every
#: copy; at 22 values they made half of the first layer's certified bound on a
#: 784-300-100-10 ticket.
BIAS_EXTRA_VALUES = 4

#: Values fewer than ``max_values`` in the first attempt of the first layer's problems, a
#: ``"fine"`` window (:func:`slth.tickets.pensia.solve_greedy_window`): on 200,000
#: problems like those of a 784-300-100-10 ticket (products of U[0, 2] and U[-1, 1], 125
#: candidates) its 20 values leave 1.2 % of the problems above the tolerance, as many as
#: an exact prefix of 22 after its retry (9.9 % before), at about 0.75 times the cost of
#: that prefix alone.
FIRST_LAYER_SAVING = 2

#: Values of the first layer's first attempt when its refinement tolerance is below
#: :data:`TREE_BELOW` and its problems have at least :data:`TREE_MIN_CANDIDATES`
#: candidates: a k-tree search (:func:`slth.rss.kernels.tree_search`, 8 lists of 6
#: values) after the greedy part of a fine window. On 20,000 problems like those of a
#: 784-300-100-10 ticket (125 products of uniforms, one thread, in one process), with the
#: refinement up to 28 values, per problem:
#:
#: ===========  ===================  ====================  ===================
#: tolerance    fine window of 20    fine window of 22     k-tree of 48
#: ===========  ===================  ====================  ===================
#: 1e-7         36.5 us, rms 4.8e-8  32.7 us, rms 4.2e-8   19.6 us, rms 2.7e-8
#: 3e-7         19.5 us, rms 1.3e-7  23.6 us, rms 8.2e-8   17.9 us, rms 3.6e-8
#: 5e-7         16.1 us, rms 1.9e-7  22.7 us, rms 1.0e-7   18.0 us, rms 3.8e-8
#: 1e-6         13.6 us, rms 2.7e-7  21.7 us, rms 1.3e-7   17.9 us, rms 4.2e-8
#: ===========  ===================  ====================  ===================
TREE_VALUES = 48

#: Refinement tolerance below which the first layer starts with the k-tree (see
#: :data:`TREE_VALUES`); above it, a fine window of ``max_values - 2`` is cheaper.
TREE_BELOW = 4e-7

#: Fewer candidates than this: the first attempt is a fine window (the k-tree needs
#: many more values than the window, taken from the smallest magnitudes).
TREE_MIN_CANDIDATES = 2 * TREE_VALUES

#: Window orders of the further attempts in the first layer: the fine window's few
#: failures (its greedy part leaves a residual at the edge of the window's sums) are
#: resolved by a window of other values, the first ones and then the largest.
FIRST_LAYER_ORDERS = ("first", "largest")


#: Shares of ``eps`` that the refinement (``refine=True``) aims the certified bound's
#: terms at (on the unit l2 ball): the first layer's subset sums, the most problems and
#: the costliest to refine, get :data:`FIRST_SHARE` (:data:`FIRST_SHARE_ALONE` for a
#: one-layer target); the later layers split :data:`LATER_SHARE`; the rest is left for the
#: tangent remainder and the looseness of the estimates.
FIRST_SHARE, FIRST_SHARE_ALONE, LATER_SHARE = 0.5, 0.8, 0.3

#: Part of a layer's share that its bias problems get (a bias error adds to its copy's
#: error whatever the input: on a 784-300-100-10 ticket the first layer's bias errors,
#: left at the windows' accuracy, made a quarter of that layer's term).
BIAS_FRACTION = 0.1

#: Share of ``eps`` for the tangent remainder of smooth activations (with ``refine``):
#: the first layer's scale is lowered until the remainders of the read copies, through
#: the later layers, stay within it (see :func:`default_alpha`). On a tanh 784-30-20-10
#: target the default scale left a certified bound of 0.0149 (eps = 0.01), 80 % of it
#: from the remainder.
REMAINDER_SHARE = 0.1

#: Lowest fraction of the default scale that the refinement uses when ``phi(0) != 0``:
#: the coarse bias neurons cancel ``phi(0) sum(v)`` at the scale ``1 / alpha``, and their
#: residual must stay within the fine bias neurons' reach (at 1/16 of the default a
#: softplus 60-30-20-10 ticket was certified at 0.0094 for eps = 0.05, at 1/64 at 2069).
COARSE_ALPHA_FRACTION = 1.0 / 16.0

#: Values beyond ``max_values`` that the finer windows of the refinement may reach.
REFINE_EXTRA = 6


def refine_tolerance(share: float, amplification: float, activation_norm: float,
                     rows: int, cols: int) -> float:
    """Per-weight error that keeps one layer's term of the certified bound near ``share``.

    A layer whose weight errors form an ``rows x cols`` matrix ``E`` (one row per read
    copy) adds about ``amplification * ||E|| * activation_norm`` to the bound, with
    ``amplification`` the product of the spectral norms of the later layers' kept
    weights. For errors like those of the subset sums (independent, of similar size),
    ``||E|| ~ rms (sqrt(rows) + sqrt(cols))``, and errors capped at ``tau`` have an rms
    of about ``tau / 2`` (measured on 784-30-20-10 tickets). Returns that ``tau``
    (``inf`` when nothing reaches the output). A target for the solver; the certified
    bound itself is computed afterwards, rigorously.

    Examples
    --------
    >>> round(refine_tolerance(0.005, 600.0, 1.0, 9000, 1568) * 1e7, 3)
    1.239
    """
    scale = amplification * activation_norm * (np.sqrt(rows) + np.sqrt(cols))
    return float(2.0 * share / scale) if scale > 0.0 else float("inf")


def first_layer_solver(u, d0: int, m: int, max_values: int, homogeneous: bool, gain: float,
                       tol: float, refine_tol: float, tree: bool,
                       first_values: int | None = None) -> UnivariateLayer:
    """The solver of the first layer's subset sums (source layer 2's univariate columns).

    Candidates are the products ``v u gain`` of each input's block of ``m`` univariate
    neurons (split by the sign of ``u`` when ``homogeneous``). The first attempt is a
    k-tree over :data:`TREE_VALUES` values (``tree``) or a fine window of ``max_values -``
    :data:`FIRST_LAYER_SAVING`; ``first_values`` overrides either (to measure other
    first attempts). Problems above ``tol`` get the windows of :data:`FIRST_LAYER_ORDERS`,
    those above ``refine_tol`` finer windows of up to ``max_values +``
    :data:`REFINE_EXTRA` values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u = rng.uniform(-2.0, 2.0, 3 * 250)                 # 3 inputs, blocks of 250
    >>> solver = first_layer_solver(u, 3, 250, 22, True, 1.0, np.inf, 1e-7, tree=True)
    >>> W = rng.uniform(-1.0, 1.0, (2, 3 * 250))            # two source rows
    >>> *_, errors = solver.solve_rows(W, rng.uniform(-1.0, 1.0, (2, 3)), 0, {})
    >>> bool(max(e.max() for e in errors) < 1e-7)             # both signs, six weights
    True
    """
    if first_values is None:
        first_values = TREE_VALUES if tree else max(1, max_values - FIRST_LAYER_SAVING)
    return UnivariateLayer(u, d0, m, max_values, homogeneous, gain=gain, tol=tol,
                           orders=FIRST_LAYER_ORDERS, first="tree" if tree else "fine",
                           first_values=first_values, refine_tol=refine_tol,
                           refine_values=max_values + REFINE_EXTRA)


def spectral_estimate(matrix, iterations: int = 30) -> float:
    """Power-iteration estimate (from below) of the spectral norm of a sparse matrix.

    Sparse products and numpy's pairwise sums only, so the result does not depend on
    the number of threads.

    Examples
    --------
    >>> from scipy import sparse
    >>> round(spectral_estimate(sparse.csr_matrix([[3.0, 0.0], [4.0, 0.0]])), 6)
    5.0
    """
    matrix = sparse.csr_matrix(matrix)
    x = np.full(matrix.shape[1], 1.0 / np.sqrt(max(matrix.shape[1], 1)))
    sigma = 0.0
    for _ in range(iterations):
        x = matrix.T @ (matrix @ x)
        norm = float(np.sqrt(np.sum(x * x)))
        if norm == 0.0:
            return 0.0
        sigma = np.sqrt(norm)
        x /= norm
    return float(sigma)


def alpha_for_remainder(act, remainder: float, values: int) -> float:
    """Linear-regime scale whose tangent remainder per copy is at most ``remainder``.

    With the tangent remainder ``|phi(t) - phi'(0) t| <= K |t|^p``, first-layer weights
    ``2 alpha u'`` and second-layer weights ``v' / (alpha phi'(0))`` (``|u'|, |v'| <= 1``),
    a copy that keeps at most ``values`` neurons per input has a linearisation error of
    at most ``values K 2^p alpha^(p-1) / phi'(0)`` on the unit ball; this solves for
    ``alpha``.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> tanh = get("tanh")                           # K = 1/3, p = 3
    >>> a = alpha_for_remainder(tanh, 1e-6, 20)
    >>> round(20 * (1 / 3) * 2**3 * a**2 / 1.0 / 1e-6, 9)
    1.0
    """
    K, p = act.remainder
    bound = act.dphi0 * remainder / (K * 2.0**p * values)
    return float(bound ** (1.0 / (p - 1.0)))


def default_alpha(act, eps: float, values: int, width: int) -> float:
    """Scale of the linear-regime first layer for a smooth activation.

    The scale whose tangent remainder per copy (:func:`alpha_for_remainder`) is
    ``eps / (16 sqrt(width))`` (``width`` the widest target layer). With ``refine``,
    :func:`burkholz` lowers it further once the later layers are solved, so that the
    remainder's term of the certified bound, through those layers, stays within
    :data:`REMAINDER_SHARE` of ``eps``. This is this package's choice; the paper only
    requires a small enough scale.
    """
    return alpha_for_remainder(act, eps / (16.0 * np.sqrt(width)), values)


def coarse_count(act, n: int, d0: int, max_values: int) -> int:
    """Coarse bias neurons for a smooth activation with ``phi(0) != 0`` (else 0).

    The kept univariate neurons of a copy add ``phi(0) sum(v)`` to its pre-activation, a
    random walk of about ``d0 k / 2`` terms of size ``1 / (alpha phi'(0))``. Coarse bias
    neurons (second-layer columns at that scale) cancel it; there are
    ``n + ceil(32 |phi(0)| sqrt(d0 k / 6))`` of them (``k`` values per problem), enough to
    reach about eight standard deviations of the offset. This is this package's choice.
    """
    if act.homogeneous or act.phi0 == 0.0:
        return 0
    k = min(n, max_values)
    return int(n + np.ceil(32.0 * abs(act.phi0) * np.sqrt(d0 * k / 6.0)))


def burkholz(target, eps: float = 0.01, delta: float = 0.01, seed=None, n: int | None = None,
             *, dist: str = "uniform", C: float = bounds.DEFAULT_C, max_values: int = 22,
             copies_read: int | None = None, alpha: float | None = None, tau: float = 1.0,
             refine: bool = True, first_layer: str = "auto", check_assumptions: bool = True,
             threads: int | None = None, max_bytes: int | None = None,
             progress: bool | None = None):
    """Prune a random depth-(L+1) network to approximate ``target`` (Burkholz 2022).

    Parameters
    ----------
    target : MLP
        Network with (optional) biases; hidden activation ReLU, leaky ReLU, or a
        smooth activation with ``phi'(0) > 0`` and a known tangent remainder (tanh,
        sigmoid, softplus, or :func:`slth.nets.activations.custom`). Assumption checked:
        all weights and biases in [-1, 1].
    eps, delta : float in (0, 1)
        Accuracy and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source.
    n : int, optional
        Copies per target neuron (and values per later-layer subset-sum problem);
        ``None``: :func:`slth.bounds.burkholz_n`.
    dist : {"uniform", "normal"}
        Distribution of the source entries.
    C : float
        Unspecified constant of the width requirement.
    max_values : int
        Values of the exact part of a subset-sum problem. In the first layer, the first
        attempt is a ``"fine"`` window of ``max_values - 2`` values (greedy around the
        smallest magnitudes, :func:`slth.tickets.pensia.solve_greedy_window`), and problems
        whose error exceeds ``eps / (2 L max(widths))`` get further windows of
        ``max_values`` (:data:`FIRST_LAYER_ORDERS`); where the refinement tolerance is below
        :data:`TREE_BELOW` (large targets), the first attempt is a k-tree search over
        :data:`TREE_VALUES` values instead (``first_layer``). In the later layers, the first
        attempt is a fine window of ``max_values`` of the ``copies_read`` copies, the
        further windows are those of :data:`LATER_ORDERS`, and problems still above the
        tolerance are solved exactly over the read copies, then over up to
        :data:`LATER_REACH` more (at most :data:`LATER_EXHAUSTIVE` in all). Bias problems
        use ``max_values +`` :data:`BIAS_EXTRA_VALUES` values. The per-weight accuracy is
        about ``2^-max_values``, and the cost of a problem about ``2^(max_values / 2)``. The
        default 22 builds a 784-30-20-10 ticket in about 1.2 times the time of 20, with
        first-layer errors half as large and a certified bound about three times smaller
        (0.0105 against 0.030).
    copies_read : int, optional
        Copies of each neuron that the layers after the first read (default
        ``max_values + 8``): the subset-sum problems of those layers, and their second
        attempts, draw from these copies, so only they are solved in the layer before;
        only problems that these copies cannot solve within the tolerance reach a few
        more (:data:`LATER_REACH`). Fewer copies mean fewer problems in that layer
        and a smaller certified bound (each read copy's error reaches the output); more
        give the second attempts room to pick large values first.
    alpha : float, optional
        Linear-regime scale for smooth activations (default :func:`default_alpha`, lowered
        with ``refine`` to keep the tangent remainder's term within
        :data:`REMAINDER_SHARE` of ``eps``).
    refine : bool
        Spend subset-sum accuracy where the certified bound needs it: each layer's
        problems whose error exceeds :func:`refine_tolerance` (the error that keeps that
        layer's term of the bound on the unit l2 ball near its share of ``eps``, given
        the spectral norms of the layers solved after it) get finer windows of up to
        ``max_values +`` :data:`REFINE_EXTRA` values (:func:`slth.tickets.pensia.refine_windows`).
        The tolerances are in ``params["refine_tols"]``. ``False`` builds faster, with
        a larger certified bound.
    first_layer : {"auto", "fine", "tree"}
        Search of the first layer's first attempt (:data:`TREE_VALUES`): ``"fine"``
        windows, or a k-tree over :data:`TREE_VALUES` values, faster where the
        refinement needs most problems finer than ``max_values`` and with smaller
        errors, but keeping about twice as many first-layer entries (on a
        784-300-100-10 ReLU target at n = 75: 162 s against 261 s, certified 0.0049
        against 0.0061, 347M kept entries against 175M; a tanh target: 123 s against 164 s,
        certified 0.0043 against 0.0055, check 25 s against 17 s). ``"auto"``: the tree
        when the first layer's refinement tolerance is below :data:`TREE_BELOW` and its
        problems have at least :data:`TREE_MIN_CANDIDATES` candidates.
    tau : float
        Pre-activation targeted by the constant neurons.
    check_assumptions, threads, max_bytes, progress
        As in :func:`slth.tickets.pensia`.

    Returns
    -------
    Ticket

    Examples
    --------
    >>> from slth.nets import random_target
    >>> t = burkholz(random_target([3, 4, 2], norm="max", bias=True, seed=0), eps=0.1,
    ...              delta=0.1, seed=1, n=8)
    >>> t.depth, t.widths
    (3, (3, 112, 40, 2))
    """
    target = check_target(target)
    eps, delta, C, max_values, dist = check_build_args("burkholz", eps, delta, C, max_values,
                                                       dist)
    threads = check_threads(threads)
    copies_read = (max_values + 8 if copies_read is None
                   else check_int(copies_read, "copies_read", minimum=1))
    tau = check_positive(tau, "tau")
    first_layer = check_choice(first_layer, "first_layer", ("auto", "fine", "tree"))
    L = target.depth
    acts = target.activations
    if L > 1 and any(a is not acts[0] and a.name != acts[0].name for a in acts):
        raise ValueError("target must use one hidden activation for burkholz, got "
                         f"{[a.name for a in acts]}")
    from slth.nets.activations import get as get_activation

    act = acts[0] if L > 1 else get_activation("relu")
    homogeneous = act.homogeneous
    if not homogeneous:
        if act.dphi0 <= 0.0 or act.remainder is None:
            raise ValueError(
                f"target activation {act.name!r} is not supported by burkholz: need a "
                "ReLU-like activation (relu, leaky_relu) or a smooth one with phi'(0) > 0 "
                "and a tangent remainder bound (tanh, sigmoid, softplus); got "
                f"phi'(0)={act.dphi0:.4g}, remainder={act.remainder}")
    if tau * 0 != 0 or act(np.array([tau]))[0] == 0.0:
        raise ValueError(f"tau must give a non-zero activation, got tau={tau!r}")
    dense_target = target.dense()
    violations = []
    for l, (w, b) in enumerate(zip(dense_target.weights, dense_target.biases, strict=True)):
        mw = float(np.abs(w).max())
        if mw > 1.0 + 1e-12:
            violations.append(f"max|W_{l}| = {mw:.6g} > 1")
        if b is not None and np.abs(b).max() > 1.0 + 1e-12:
            violations.append(f"max|b_{l}| = {float(np.abs(b).max()):.6g} > 1")
    if violations and check_assumptions:
        raise ValueError("target violates burkholz's assumption (weights and biases in "
                         "[-1, 1]): " + "; ".join(violations)
                         + " (pass check_assumptions=False to build anyway)")
    widths = target.widths
    required = bounds.burkholz_n(widths, eps, delta, C)
    n = required if n is None else check_int(n, "n", minimum=1)
    blk = bounds.burkholz_block(n, dist)
    m = 2 * blk if homogeneous else blk
    c = n
    d0 = widths[0]
    k1 = min(blk + 4 * int(np.sqrt(blk)) + 1 if homogeneous else blk, max_values)
    if homogeneous:
        alpha = 1.0
    elif alpha is not None:
        alpha = check_positive(as_float(alpha, "alpha"), "alpha")
    mc = coarse_count(act, blk, d0, max_values)
    src_widths = bounds.burkholz_widths(widths, n, homogeneous, coarse=mc, dist=dist)
    ss = as_seed_sequence(seed)
    Ls = L + 1

    def make_spec(alpha):
        """The source for a linear-regime scale ``alpha`` (only its first two layers
        depend on it) and the record of its column scales."""
        # First layer U[-2, 2] (weights and biases), as in the paper's code: products of a
        # first- and a second-layer weight then cover [-2, 2], leaving room around |w| <= 1.
        weight_scale = [2.0 * alpha] + [1.0] * L
        col_scale: list = [None] * Ls
        col_record: list = [None] * Ls
        if not homogeneous:
            cs = np.ones(src_widths[1])
            cs[: m * d0 + mc] = 1.0 / (alpha * act.dphi0)
            col_scale[1] = cs
            col_record[1] = [m * d0 + mc, 1.0 / (alpha * act.dphi0), 1.0]
        return (SourceSpec(src_widths, (act,) * L, (True,) + (False,) * L, dist,
                           int(ss.entropy), tuple(ss.spawn_key), tuple(weight_scale),
                           (2.0,) + (1.0,) * L, tuple(col_scale)), col_record)

    alpha_given = alpha is not None
    if alpha is None:
        alpha = default_alpha(act, eps, k1, max(widths))
    spec, col_record = make_spec(alpha)
    # memory: kept entries (value, index, row during assembly) and per-block temporaries;
    # here for target layers 2..L, again for layer 1 once its needed copies are known
    later = sum(src_widths[l + 2] * (widths[l] + 1) for l in range(1, L))
    cr = min(c, copies_read)            # copies of a neuron the later layers read
    cw = min(c, cr + LATER_REACH)        # ... and their last exact attempts may reach
    kl = min(cr, max_values)
    check_memory(later * kl * 0.5 * 24 + 8 * 4 * (1 << 20) * kl,
                 resolve_max_bytes(max_bytes), "target",
                 f"a burkholz build with n={n} for widths {widths} ({later:,} subset-sum "
                 "problems after layer 2)", "use a smaller n or max_values")
    opts = {"threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    t_start = time.perf_counter()
    errors: dict = {}

    # problems above this error get a second attempt (see solve_with_retry)
    tol = eps / (2.0 * L * max(widths))
    slope = act.slope_neg if homogeneous else 0.0
    vpp: list = []

    def targets_for(l, r):
        """Target weights (R, d_in), biases (R,) and constant flags of rows ``r`` of
        source layer ``l + 1``."""
        last = l == L - 1
        d_out = widths[l + 1]
        if last:
            j = r
            is_const = np.zeros(r.size, bool)
        else:
            j = np.minimum(r // c, d_out)
            is_const = r >= c * d_out
        wt = np.zeros((r.size, widths[l]))
        wt[~is_const] = dense_target.weights[l][j[~is_const]]
        b = dense_target.biases[l]
        bt = np.full(r.size, tau)
        bt[~is_const] = b[j[~is_const]] if b is not None else 0.0
        return wt, bt, is_const

    def needed_batches(sl, need, d_in):
        """``(rows, weights, blocks)``: the needed rows of source layer ``sl`` in batches
        of about 2^16 subset-sum problems (few calls into the engine), drawn block by
        block (the blocks of a batch concurrently), skipping blocks without a needed
        row."""
        min_rows = max(1, (1 << 16) // (2 * d_in + 1))
        br = spec.block_rows(sl)
        blocks, per_block = np.unique(np.flatnonzero(need) // br, return_counts=True)
        # a batch closes once it holds at least min_rows needed rows
        ends = []
        total = 0
        for i, cnt in enumerate(per_block):
            total += int(cnt)
            if total >= min_rows:
                ends.append(i + 1)
                total = 0
        if blocks.size and (not ends or ends[-1] < blocks.size):
            ends.append(blocks.size)
        start = 0
        # every batch is drawn into one buffer (a batch's weights are valid until the
        # next one): touching fresh memory costs more than drawing
        buffer = np.empty(0)
        for end in ends:
            with timer("draw"):
                lo, hi = blocks[start] * br, (blocks[end - 1] + 1) * br
                rows = lo + np.flatnonzero(need[lo:hi])
                size = rows.size * spec.widths[sl]
                if size > buffer.size:
                    buffer = np.empty(size)
                W = spec.draw_rows(sl, rows, opts["threads"],
                                   out=buffer[:size].reshape(rows.size, -1))
            yield rows, W, end - start
            start = end

    def block_count(sl, need):
        return np.unique(np.flatnonzero(need) // spec.block_rows(sl)).size

    # Weights of target layers L-1 .. 1 first, backwards: a copy of a neuron is solved
    # only when the next source layer reads it; copies nobody reads are pruned whole
    # (their recorded errors are NaN). The attempts look at the first ``copies_read``
    # copies, so that about that many copies of each neuron are read; the last exact
    # attempts of the few problems those cannot solve reach up to ``cw``. Each layer's
    # bias problems need the achieved outputs of the previous constant neurons, so they
    # are solved afterwards, forwards.
    parts = [([], [], []) for _ in range(L)]
    # refinement targets (see refine_tolerance): the target's activation norms on the unit
    # ball, and the product of the spectral norms of the layers solved so far
    if refine:
        from slth.nets.norms import target_bounds

        act_norms = target_bounds(dense_target, 1.0, "l2")[1]
    shares = [FIRST_SHARE if L > 1 else FIRST_SHARE_ALONE] + [LATER_SHARE / max(L - 1, 1)] * (L - 1)
    amplification = 1.0
    amps = [1.0] * L                    # amplification of each layer's errors
    reads = [0] * L                     # read copies (rows of each layer's errors)
    refine_values = max_values + REFINE_EXTRA
    refine_tols: list = [(np.inf, np.inf)] * L

    def tolerances(l, activation_norm, cols):
        """(weights, biases) refinement tolerances of target layer ``l``."""
        if not refine:
            return np.inf, np.inf
        share = shares[l] * eps
        return (refine_tolerance((1.0 - BIAS_FRACTION) * share, amps[l], activation_norm,
                                 reads[l], cols),
                refine_tolerance(BIAS_FRACTION * share, amps[l], 1.0, reads[l], 0))
    e_ws: list = [None] * L
    bias_raw: list = [None] * L
    needed: list = [None] * L
    needed[L - 1] = np.ones(src_widths[L + 1], dtype=bool)
    for l in range(L - 1, 0, -1):
        sl = l + 1
        rows_out, cols_in = src_widths[sl + 1], src_widths[sl]
        d_in = widths[l]
        widx = np.arange(d_in)[:, None] * c + np.arange(cw)[None, :]
        bcols = c * d_in + np.arange(c)
        vpp.insert(0, kl)
        e_w = np.full((rows_out, d_in), np.nan)
        braw = np.zeros((rows_out, c))
        read = np.zeros(cols_in, dtype=bool)
        rows, cols, vals = parts[l]
        amps[l] = amplification
        reads[l] = int(np.count_nonzero(needed[l][:rows_out if l == L - 1 else c * widths[l + 1]]))
        refine_tols[l] = tolerances(l, act_norms[l] if refine else 1.0, d_in)
        with progress_bar(block_count(sl, needed[l]), progress,
                          int(needed[l].sum()) * (d_in + 1), f"burkholz layer {sl + 1}") as bar:
            for grow, W, nb in needed_batches(sl, needed[l], d_in):
                wt, _, is_const = targets_for(l, grow)
                act_rows = np.flatnonzero(~is_const)
                braw[grow] = W[:, bcols]
                if act_rows.size:
                    with timer("solve"):
                        # all rows active (most batches): no copy of the batch
                        Wa = W if act_rows.size == W.shape[0] else W[act_rows]
                        mk, er = solve_with_retry(
                            Wa[:, widx].reshape(-1, cw), np.ones((act_rows.size * d_in, cw), bool),
                            wt[act_rows].reshape(-1), max_values, tol, opts, span=cr,
                            orders=LATER_ORDERS, first="fine", exhaustive=LATER_EXHAUSTIVE,
                            refine_tol=refine_tols[l][0], refine_values=refine_values)
                        rr, ii, tt = np.nonzero(mk.reshape(act_rows.size, d_in, -1))
                        rows.append(grow[act_rows[rr]])
                        cols.append(widx[ii, tt])
                        vals.append(Wa[rr, widx[ii, tt]])
                        read[widx[ii, tt]] = True
                        e_w[grow[act_rows]] = er.reshape(act_rows.size, d_in)
                bar.update(nb)
        e_ws[l] = [e_w]
        bias_raw[l] = braw
        if refine:
            kept = gather_csr((rows_out, cols_in), rows, cols, vals)
            amplification *= spectral_estimate(kept[:, :c * d_in])
        read[c * d_in:] = True                 # constant neurons feed the biases
        needed[l - 1] = read

    # the read copies' errors (one row each, one column per input and sign) reach the
    # output through the later layers' kept weights
    amps[0] = amplification
    reads[0] = int(np.count_nonzero(needed[0][:src_widths[2] if L == 1 else c * widths[1]]))
    if refine and not alpha_given:
        # the tangent remainder of each read copy reaches the output the same way: keep
        # its term within REMAINDER_SHARE of eps
        lowest = alpha * COARSE_ALPHA_FRACTION if mc else 0.0
        alpha = min(alpha, max(lowest, alpha_for_remainder(
            act, REMAINDER_SHARE * eps / (amplification * np.sqrt(max(reads[0], 1))), k1)))
        spec, col_record = make_spec(alpha)

    # ---- source layer 1: univariate and bias neurons
    n1 = src_widths[1]
    with timer("draw"):
        u = np.empty(m * d0)
        cb = np.empty(mc + m)
        for r0, W, bias in spec.iter_blocks(0, threads):
            rr = np.arange(r0, r0 + W.shape[0])
            uni = rr < m * d0
            u[rr[uni]] = W[uni.nonzero()[0], rr[uni] // m]
            cb[rr[~uni] - m * d0] = bias[~uni]
    phic = act(cb)
    gain = 1.0 / (1.0 + slope) if homogeneous else 1.0
    refine_tols[0] = tolerances(0, np.sqrt(1.0 + slope**2) if homogeneous else 1.0,
                                2 * d0 if homogeneous else d0)
    tree = first_layer == "tree" or (first_layer == "auto" and blk >= TREE_MIN_CANDIDATES
                                     and refine_tols[0][0] < TREE_BELOW)
    layer = first_layer_solver(u, d0, m, max_values, homogeneous,
                               1.0 if homogeneous else act.dphi0, tol, refine_tols[0][0], tree)
    # ReLU-like: only bias neurons with c > 0 give useful constants (phi(c) = c).
    bias_idx = mc + np.flatnonzero(cb[mc:] > 0.0 if homogeneous else phic[mc:] != 0.0)
    coarse_cols = m * d0 + np.arange(mc)
    vpp.insert(0, layer.values_per_problem)

    # ---- source layer 2 (target layer 1): univariate and bias neurons, forwards
    rows_out, cols_in = src_widths[2], src_widths[1]
    d_in = d0
    # memory of what this pass keeps, now that the needed copies are known: about 18
    # bytes per kept entry at the peak (measured 16 for 784-300-100-10 at n = 75: 12 in
    # the assembled layer), the error arrays, and the per-batch temporaries
    first_problems = int(needed[0].sum()) * (2 * d0 + 1 if homogeneous else d0 + 1)
    kept_per_problem = 0.5 * (TREE_VALUES if tree else k1)
    check_memory(first_problems * kept_per_problem * 18 + 16 * rows_out * d0
                 + 8 * 4 * (1 << 20) * k1,
                 resolve_max_bytes(max_bytes), "target",
                 f"a burkholz build with n={n} for widths {widths} ({first_problems:,} "
                 "subset-sum problems in layer 2)", "use a smaller n or max_values"
                 + (", or first_layer='fine' (about half the kept entries)" if tree else ""))
    # the widest layer: its kept entries are assembled batch by batch, 12 bytes each, in
    # a buffer sized (with a margin) from the estimate
    first_layer = RowBatchCSR((rows_out, cols_in),
                              expected=int(1.05 * first_problems * kept_per_problem))
    e_w = [np.full((rows_out, d_in), np.nan) for _ in range(2 if homogeneous else 1)]
    e_b = [np.full(src_widths[l + 2], np.nan) for l in range(L)]
    achieved_b = [np.zeros(src_widths[l + 2]) for l in range(L)]
    bcols = m * d0 + bias_idx
    bvals_act = phic[bias_idx]
    with progress_bar(block_count(1, needed[0]), progress, int(needed[0].sum()) * (d_in + 1),
                      "burkholz layer 2") as bar:
        for grow, W, nb in needed_batches(1, needed[0], d_in):
            R = grow.size
            rows, cols, vals = [], [], []
            wt, bt, is_const = targets_for(0, grow)
            act_rows = np.flatnonzero(~is_const)
            with timer("solve"):
                if act_rows.size:
                    # all rows active (most batches): no copy of the batch
                    Wa = W if act_rows.size == R else W[act_rows]
                    r_, c_, v_, es = layer.solve_rows(Wa, wt[act_rows] * gain, 0, opts)
                    rows += [grow[act_rows[x]] for x in r_]
                    cols += c_
                    vals += v_
                    for e, x in zip(e_w, es, strict=True):
                        e[grow[act_rows]] = x
                    if mc:
                        # phi(0) != 0: the kept univariate neurons add phi(0) * sum(v);
                        # the coarse bias neurons cancel it
                        offset = np.zeros(R)
                        for rr_, vv_ in zip(r_, v_, strict=True):
                            np.add.at(offset, act_rows[rr_], act.phi0 * vv_)
                        cvals = Wa[:, coarse_cols] * phic[:mc][None, :]
                        # the window of the largest magnitudes reaches the offset only on
                        # a coarse grid (residuals up to 79 seen, for a sigmoid target); a
                        # window of mixed magnitudes refines it
                        cmask, _ = solve_with_retry(
                            cvals, np.ones(cvals.shape, bool),
                            bt[act_rows] - offset[act_rows], max_values, tol, opts,
                            first="largest", orders=("first",))
                        csum = np.where(cmask, cvals, 0.0).sum(axis=1)
                        rr, tt = np.nonzero(cmask)
                        rows.append(grow[act_rows[rr]])
                        cols.append(coarse_cols[tt])
                        vals.append(W[act_rows[rr], coarse_cols[tt]])
                        bt = bt.copy()
                        bt[act_rows] -= offset[act_rows] + csum
                bvals = W[:, bcols] * bvals_act[None, :]
                mk, er = solve_with_retry(bvals, np.ones(bvals.shape, bool), bt,
                                          max_values + BIAS_EXTRA_VALUES, tol, opts,
                                          first="fine", refine_tol=refine_tols[0][1],
                                          refine_values=refine_values + BIAS_EXTRA_VALUES)
                rr, tt = np.nonzero(mk)
                rows.append(grow[rr])
                cols.append(bcols[tt])
                vals.append(W[rr, bcols[tt]])
                e_b[0][grow] = er
                achieved_b[0][grow] = np.where(mk, bvals, 0.0).sum(axis=1)
            with timer("assemble"):
                first_layer.add(rows, cols, vals, threads)
            bar.update(nb)
    e_ws[0] = e_w

    # ---- biases of the later layers, forwards (constant neurons' outputs known now)
    for l in range(1, L):
        const_out = act(achieved_b[l - 1][c * widths[l]:])
        rows, cols, vals = parts[l]
        need = np.flatnonzero(needed[l])
        _, bt, _ = targets_for(l, np.arange(src_widths[l + 2]))
        with timer("solve"):
            bvals = bias_raw[l][need] * const_out[None, :]
            mk, er = solve_with_retry(bvals, np.ones(bvals.shape, bool), bt[need],
                                      max_values + BIAS_EXTRA_VALUES, tol, opts, first="fine",
                                      refine_tol=refine_tols[l][1],
                                      refine_values=refine_values + BIAS_EXTRA_VALUES)
        rr, tt = np.nonzero(mk)
        rows.append(need[rr])
        cols.append(c * widths[l] + tt)
        vals.append(bias_raw[l][need[rr], tt])
        e_b[l][need] = er
        achieved_b[l][need] = np.where(mk, bvals, 0.0).sum(axis=1)

    weights = []
    with timer("assemble"):
        weights.append(first_layer.tocsr())
        for l in range(1, L):
            rows, cols, vals = parts[l]
            weights.append(gather_csr((src_widths[l + 2], src_widths[l + 1]), rows, cols, vals))
    for l in range(L):
        if l == 0 and homogeneous:
            errors["layer1_pos"], errors["layer1_neg"] = e_ws[0]
        else:
            errors[f"layer{l + 1}_weights"] = e_ws[l][0]
        errors[f"layer{l + 1}_bias"] = e_b[l]

    # ---- source layer 1 masks from the neurons layer 2 uses
    with timer("assemble"):
        used = np.flatnonzero(read_columns(weights[0]))
        uni = used[used < m * d0]
        first = sparse.csr_matrix(
            (u[uni], uni // m, np.searchsorted(uni, np.arange(n1 + 1))), shape=(n1, d0))
        _, b1 = spec.layer(0) if n1 * d0 <= (1 << 22) else (None, None)
        if b1 is None:
            b1 = np.zeros(n1)
            b1[m * d0:] = cb
        bmask = np.zeros(n1, dtype=bool)
        bmask[used[used >= m * d0]] = True
        b1 = np.where(bmask, b1, 0.0)
    weights.insert(0, first)
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "burkholz", "eps": eps, "delta": delta, "n": n, "required_n": required,
        "dist": dist, "seed": int(ss.entropy), "spawn_key": list(ss.spawn_key), "C": C,
        "max_values": max_values, "copies_read": cr, "refine": refine,
        "first_layer": "tree" if tree else "fine",
        "refine_tols": [list(t) for t in refine_tols] if refine else None,
        "values_per_problem": vpp, "block": m,
        "copies": c, "bias_neurons": m, "coarse_bias_neurons": mc,
        "coarse_required": coarse_count(act, bounds.burkholz_block(required, dist), d0,
                                        max_values), "alpha": alpha,
        "tau": tau, "activation": act.name,
        "homogeneous": homogeneous, "col_scale": col_record,
        "assumption_violations": violations,
    }
    biases = (b1,) + (None,) * L
    bmasks = (bmask,) + (None,) * L
    return Ticket(target, spec, tuple(weights), biases, bmasks, errors, params, timer.times)
