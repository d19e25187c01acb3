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
   error, of the first ones: :func:`slth.tickets.search.solve_with_retry`), and
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
windows, and for smooth activations the linear-regime scale is chosen so that the tangent
remainder's term stays within its share for a target at the assumption's bound
(:func:`planned_alpha`: fixed before any draw, like every scale of the source). Where the
first layer's tolerance is tight, its problems are searched with a k-tree
(:data:`TREE_VALUES`, ``first_layer``). On a 784-300-100-10 ReLU target at the formula's
width (n = 75, eps = 0.01) the certified bound on the unit ball drops from 0.042 to
0.0049, for 1.5 times the build time (162 s against 108 s on 2 cores; 261 s and 0.0061
with fine windows in the first layer).

Where this departs from Burkholz 2022 (each a named choice, listed in
``Ticket.params["choices"]`` when in use):

* ``"linear_regime_scale"`` (smooth activations): the paper asks for a first layer small
  enough to pass ``x_i`` almost linearly; the scale ``alpha`` of the first layer and the
  matching ``1 / (alpha phi'(0))`` of the second layer's univariate columns, and the rule
  choosing ``alpha`` (:func:`default_alpha`, :func:`planned_alpha`), are this package's.
  The column scaling makes the source's second layer non-identically distributed.
* ``"coarse_bias_neurons"`` (``phi(0) != 0``): neurons added to cancel ``phi(0) sum(v)``
  at the scale ``1 / alpha`` (:func:`coarse_count`); not in the paper.
* ``"copies_read"``: the later layers read at most ``copies_read`` of the ``n`` copies
  (and a few more where those cannot reach the tolerance); the paper's construction
  uses all ``n``. Unread copies are pruned whole.
* ``"refine"``: accuracy aimed at the certified bound (finer windows where a layer's
  term would exceed its share); the paper needs every subset sum within one tolerance.
"""

from __future__ import annotations

import inspect
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
from slth.nets.activations import get as get_activation
from slth.nets.norms import spectral_estimate, target_bounds
from slth.tickets.search import UnivariateLayer, progress_bar, solve_with_retry
from slth.tickets.ticket import (
    RowBatchCSR,
    SourceSpec,
    Ticket,
    Timer,
    check_build_args,
    check_target,
    gather_csr,
    read_columns,
)

__all__ = ["BurkholzBuild", "alpha_for_remainder", "burkholz", "burkholz_source",
           "check_burkholz_target",
           "default_alpha", "first_layer_solver"]

#: Window orders of the further attempts in layers after the first (see
#: :func:`slth.tickets.search.second_attempt`), whose first attempt is a fine window of
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
#: ``"fine"`` window (:func:`slth.tickets.search.solve_greedy_window`): on 200,000
#: problems like those of a 784-300-100-10 ticket (products of U[0, 2] and U[-1, 1], 125
#: candidates) its 20 values leave 1.2 % of the problems above the tolerance, as many as
#: an exact prefix of 22 after its retry (9.9 % before), at about 0.75 times the cost of
#: that prefix alone.
FIRST_LAYER_SAVING = 2

#: Values of the first layer's first attempt when its refinement tolerance is below
#: :data:`TREE_BELOW` and its problems have at least :data:`TREE_MIN_CANDIDATES`
#: candidates: a k-tree search (:func:`slth.rss.window_kernels.tree_search`, 8 lists of 6
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
#: the later layers as :func:`planned_amplification` plans them, stay within it (see
#: :func:`planned_alpha`). On a tanh 784-30-20-10 target the default scale left a
#: certified bound of 0.0149 (eps = 0.01), 80 % of it from the remainder.
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
    :func:`burkholz` uses :func:`planned_alpha` instead. This is this package's choice;
    the paper only requires a small enough scale.
    """
    return alpha_for_remainder(act, eps / (16.0 * np.sqrt(width)), values)


def planned_amplification(widths, copies: int) -> tuple[float, int]:
    """What the later layers are planned to do to the first layer's errors, from the
    target's widths alone: ``(amplification, read copies)``.

    The certified bound multiplies the first layer's errors by the spectral norms of the
    kept later layers and sums them over the copies the second layer's outputs feed. For
    a target at the bound the construction assumes (every weight of magnitude 1), kept
    layer ``l`` represents a ``rows x d_l`` block of ones, ``rows`` the copies of its
    neurons that the next layer reads (``copies`` per neuron; the output layer has one
    row per output), whose spectral norm is ``sqrt(rows d_l)``. The product of those
    norms, and ``copies d_1`` read copies of the first target layer (``d_1`` for a
    one-layer target), depend on nothing drawn. (On tanh targets from 4-6-5-2 to
    60-30-20-10 with weights uniform in [-1, 1], the measured amplification was 3 to
    50 times lower.)

    Examples
    --------
    >>> amp, reads = planned_amplification([4, 6, 5, 2], 10)
    >>> round(amp, 3), reads
    (54.772, 60)
    """
    L = len(widths) - 1
    amplification = 1.0
    for l in range(1, L):
        rows = widths[L] if l == L - 1 else copies * widths[l + 1]
        amplification *= np.sqrt(rows * widths[l])
    return float(amplification), (copies * widths[1] if L > 1 else widths[1])


def planned_alpha(act, eps: float, values: int, widths, copies: int, coarse: int) -> float:
    """Scale of the linear-regime first layer with ``refine``, fixed before any draw.

    :func:`default_alpha`, lowered so that the tangent remainders of the read copies,
    amplified as :func:`planned_amplification` plans, stay within
    :data:`REMAINDER_SHARE` of ``eps``; with coarse bias neurons (``coarse > 0``, for
    ``phi(0) != 0``) not below :data:`COARSE_ALPHA_FRACTION` of the default. A function
    of the target's widths, eps, the activation and the construction's parameters only:
    two targets of the same widths get the same source.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> a = planned_alpha(get("tanh"), 0.1, 10, [4, 6, 5, 2], 10, 0)
    >>> amp, reads = planned_amplification([4, 6, 5, 2], 10)
    >>> round(a / alpha_for_remainder(get("tanh"), 0.01 / (amp * np.sqrt(reads)), 10), 12)
    1.0
    """
    alpha = default_alpha(act, eps, values, max(widths))
    amplification, reads = planned_amplification(widths, copies)
    lowest = alpha * COARSE_ALPHA_FRACTION if coarse else 0.0
    return min(alpha, max(lowest, alpha_for_remainder(
        act, REMAINDER_SHARE * eps / (amplification * np.sqrt(max(reads, 1))), values)))


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
        ``None``: the paper's width formula with the ``C`` in use
        (:func:`slth.bounds.burkholz_n`; see :data:`slth.bounds.FORMULAS`).
    dist : {"uniform", "normal"}
        Distribution of the source entries.
    C : float
        Constant of the width formula, which the paper does not give (default: this
        package's calibration, see :data:`slth.bounds.FORMULAS`).
    max_values : int
        Values of the exact part of a subset-sum problem. In the first layer, the first
        attempt is a ``"fine"`` window of ``max_values - 2`` values (greedy around the
        smallest magnitudes, :func:`slth.tickets.search.solve_greedy_window`), and problems
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
        Linear-regime scale for smooth activations (default: :func:`planned_alpha` with
        ``refine``, else :func:`default_alpha`; both depend only on what is fixed before
        the draw).
    refine : bool
        Spend subset-sum accuracy where the certified bound needs it: each layer's
        problems whose error exceeds :func:`refine_tolerance` (the error that keeps that
        layer's term of the bound on the unit l2 ball near its share of ``eps``, given
        the spectral norms of the layers solved after it) get finer windows of up to
        ``max_values +`` :data:`REFINE_EXTRA` values (:func:`slth.tickets.search.refine_windows`).
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
    build = _setup(target, eps, delta, seed, n, dist=dist, C=C, max_values=max_values,
                   copies_read=copies_read, alpha=alpha, tau=tau, refine=refine,
                   first_layer=first_layer, check_assumptions=check_assumptions,
                   threads=threads, max_bytes=max_bytes, progress=progress)
    build.solve_later_layers()
    build.draw_first_layer()
    build.solve_first_layer()
    build.solve_later_biases()
    return build.ticket()


def _setup(target, eps, delta, seed, n, *, dist, C, max_values, copies_read, alpha, tau,
           refine, first_layer, check_assumptions, threads, max_bytes, progress):
    """The validated arguments of :func:`burkholz` as a :class:`BurkholzBuild` (its source
    fixed, nothing drawn or solved yet)."""
    target = check_target(target)
    eps, delta, C, max_values, dist = check_build_args("burkholz", eps, delta, C, max_values,
                                                       dist)
    threads = check_threads(threads)
    copies_read = (max_values + 8 if copies_read is None
                   else check_int(copies_read, "copies_read", minimum=1))
    tau = check_positive(tau, "tau")
    first_layer = check_choice(first_layer, "first_layer", ("auto", "fine", "tree"))
    act, dense_target, violations = check_burkholz_target(target, tau, check_assumptions)
    return BurkholzBuild(target, act, dense_target, violations, eps, delta, seed, n, dist=dist,
                         C=C, max_values=max_values, copies_read=copies_read, alpha=alpha,
                         tau=tau, refine=refine, first_layer=first_layer, threads=threads,
                         max_bytes=max_bytes, progress=progress)


def burkholz_source(target, eps: float = 0.01, delta: float = 0.01, seed=None,
                    n: int | None = None, **options) -> SourceSpec:
    """The random source :func:`burkholz` would prune, without solving anything.

    The same arguments give the same source: ``burkholz_source(*args, **kw)`` equals
    ``burkholz(*args, **kw).spec`` (widths, scales, seed: the same parameters, drawn
    layer by layer from the seed), at the cost of validating the arguments only. A
    search on the construction's own source (:func:`slth.lab.to_torch` of the spec)
    needs no ticket.

    Parameters
    ----------
    target, eps, delta, seed, n
        As in :func:`burkholz`.
    **options
        Keyword arguments of :func:`burkholz` (``dist``, ``C``, ``max_values``,
        ``copies_read``, ``alpha``, ``tau``, ``refine``, ...); those that shape the source
        are ``dist``, ``C`` (through ``n=None``), ``max_values`` (coarse bias neurons) and,
        for smooth activations, ``alpha``, ``refine``, ``copies_read``.

    Returns
    -------
    SourceSpec

    Examples
    --------
    >>> from slth.nets import random_target
    >>> target = random_target([3, 4, 2], norm="max", bias=True, seed=0)
    >>> spec = burkholz_source(target, eps=0.1, delta=0.1, seed=1, n=8)
    >>> spec.widths, spec.n_params
    ((3, 112, 40, 2), 5008)
    >>> spec.to_json() == burkholz(target, eps=0.1, delta=0.1, seed=1, n=8).spec.to_json()
    True
    """
    # burkholz's own keyword defaults: one place for them
    kw = {k: p.default for k, p in inspect.signature(burkholz).parameters.items()
          if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(kw))
    if unknown:
        raise TypeError(f"burkholz_source got unknown options {unknown}; allowed: "
                        f"{', '.join(sorted(kw))}")
    kw.update(options)
    return _setup(target, eps, delta, seed, n, **kw).spec


def check_burkholz_target(target, tau: float, check_assumptions: bool):
    """The hidden activation, the dense target and its assumption violations.

    Refuses mixed hidden activations, activations the construction does not cover (it
    needs a ReLU-like one, or a smooth one with ``phi'(0) > 0`` and a tangent remainder
    bound), a ``tau`` of zero activation and, with ``check_assumptions``, weights or
    biases outside [-1, 1] (else they are returned as violations). A one-layer target
    has no hidden activation: its source is ReLU.
    """
    L = target.depth
    acts = target.activations
    if L > 1 and any(a is not acts[0] and a.name != acts[0].name for a in acts):
        raise ValueError("target must use one hidden activation for burkholz, got "
                         f"{[a.name for a in acts]}")
    act = acts[0] if L > 1 else get_activation("relu")
    if not act.homogeneous:
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
    return act, dense_target, violations


class BurkholzBuild:
    """One :func:`burkholz` build: the source's layout, the steps, the state they share.

    Construction fixes the source's widths and scales from the arguments
    (:meth:`source_spec`); the steps then run in this order:

    1. :meth:`solve_later_layers`: target layers ``L - 1 .. 1`` backwards, so that a
       layer's refinement tolerance knows the kept layers its errors pass through, and
       only the copies the next layer reads are solved;
    2. :meth:`draw_first_layer`, :meth:`solve_first_layer`: the univariate and bias
       neurons, and the subset sums of source layer 2 over their products;
    3. :meth:`solve_later_biases`: the later layers' biases, forwards, from the achieved
       outputs of the constant neurons;
    4. :meth:`ticket`: assembly of the kept weights and the first layer's masks.

    The arguments are those of :func:`burkholz`, validated.
    """

    def __init__(self, target, act, dense_target, violations: list, eps: float, delta: float,
                 seed, n: int | None, *, dist: str, C: float, max_values: int,
                 copies_read: int, alpha: float | None, tau: float, refine: bool,
                 first_layer: str, threads: int | None, max_bytes: int | None,
                 progress: bool | None):
        self.target, self.act, self.dense_target = target, act, dense_target
        self.violations = violations
        self.eps, self.delta, self.C, self.dist, self.tau = eps, delta, C, dist, tau
        self.max_values, self.refine, self.first_layer = max_values, refine, first_layer
        self.threads, self.max_bytes, self.progress = threads, max_bytes, progress
        widths = self.widths = target.widths
        L = self.L = target.depth
        homogeneous = self.homogeneous = act.homogeneous
        self.formula_n = bounds.burkholz_n(widths, eps, delta, C)
        n = self.n = self.formula_n if n is None else check_int(n, "n", minimum=1)
        blk = self.blk = bounds.burkholz_block(n, dist)
        self.m = 2 * blk if homogeneous else blk
        c = self.c = n
        self.d0 = widths[0]
        self.k1 = min(blk + 4 * int(np.sqrt(blk)) + 1 if homogeneous else blk, max_values)
        if homogeneous:
            alpha = 1.0
        elif alpha is not None:
            alpha = check_positive(as_float(alpha, "alpha"), "alpha")
        self.mc = coarse_count(act, blk, self.d0, max_values)
        self.src_widths = bounds.burkholz_widths(widths, n, homogeneous, coarse=self.mc,
                                                 dist=dist)
        self.ss = as_seed_sequence(seed)
        self.cr = min(c, copies_read)            # copies of a neuron the later layers read
        self.cw = min(c, self.cr + LATER_REACH)  # ... and their last exact attempts may reach
        if alpha is None:                        # fixed before any draw
            alpha = (planned_alpha(act, eps, self.k1, widths, self.cw, self.mc) if refine
                     else default_alpha(act, eps, self.k1, max(widths)))
        self.alpha = alpha
        self.spec, self.col_record = self.source_spec(self.alpha)
        self.kl = min(self.cr, max_values)
        self.check_later_memory()
        self.opts = {"threads": threads, "max_bytes": max_bytes}
        self.timer = Timer()
        self.t_start = time.perf_counter()
        self.errors: dict = {}
        # problems above this error get a second attempt (see solve_with_retry)
        self.tol = eps / (2.0 * L * max(widths))
        self.slope = act.slope_neg if homogeneous else 0.0
        self.vpp: list = []
        # per target layer: kept entries (COO pieces), amplification of its errors (the
        # product of the spectral norms of the kept layers after it), read copies (rows
        # of its errors), refinement tolerances (weights, biases), errors, bias columns,
        # and the rows of its source layer that the next layer reads
        self.parts = [([], [], []) for _ in range(L)]
        self.shares = ([FIRST_SHARE if L > 1 else FIRST_SHARE_ALONE]
                       + [LATER_SHARE / max(L - 1, 1)] * (L - 1))
        self.amplification = 1.0
        self.amps = [1.0] * L
        self.reads = [0] * L
        self.refine_values = max_values + REFINE_EXTRA
        self.refine_tols: list = [(np.inf, np.inf)] * L
        self.e_ws: list = [None] * L
        self.bias_raw: list = [None] * L
        self.needed: list = [None] * L
        self.needed[L - 1] = np.ones(self.src_widths[L + 1], dtype=bool)

    # ------------------------------------------------------------ the source
    def source_spec(self, alpha: float):
        """The source for a linear-regime scale ``alpha`` (only its first two layers
        depend on it) and the record of its column scales."""
        L, m, d0, mc, act = self.L, self.m, self.d0, self.mc, self.act
        # First layer U[-2, 2] (weights and biases), as in the paper's code: products of a
        # first- and a second-layer weight then cover [-2, 2], leaving room around |w| <= 1.
        weight_scale = [2.0 * alpha] + [1.0] * L
        col_scale: list = [None] * (L + 1)
        col_record: list = [None] * (L + 1)
        if not self.homogeneous:
            cs = np.ones(self.src_widths[1])
            cs[: m * d0 + mc] = 1.0 / (alpha * act.dphi0)
            col_scale[1] = cs
            col_record[1] = [m * d0 + mc, 1.0 / (alpha * act.dphi0), 1.0]
        return (SourceSpec(self.src_widths, (act,) * L, (True,) + (False,) * L, self.dist,
                           int(self.ss.entropy), tuple(self.ss.spawn_key), tuple(weight_scale),
                           (2.0,) + (1.0,) * L, tuple(col_scale)), col_record)

    def check_later_memory(self) -> None:
        """Refuse builds whose layers after the second would not fit: kept entries (value,
        index, row during assembly) and per-block temporaries. (Layer 2 is checked once
        its needed copies are known, :meth:`solve_first_layer`.)"""
        widths, src_widths, L = self.widths, self.src_widths, self.L
        later = sum(src_widths[l + 2] * (widths[l] + 1) for l in range(1, L))
        check_memory(later * self.kl * 0.5 * 24 + 8 * 4 * (1 << 20) * self.kl,
                     resolve_max_bytes(self.max_bytes), "target",
                     f"a burkholz build with n={self.n} for widths {widths} ({later:,} "
                     "subset-sum problems after layer 2)", "use a smaller n or max_values")

    def row_targets(self, l: int, r: np.ndarray):
        """Target weights (R, d_in), biases (R,) and constant flags of rows ``r`` of
        source layer ``l + 2`` (target layer ``l + 1``)."""
        widths, c = self.widths, self.c
        d_out = widths[l + 1]
        if l == self.L - 1:
            j = r
            is_const = np.zeros(r.size, bool)
        else:
            j = np.minimum(r // c, d_out)
            is_const = r >= c * d_out
        wt = np.zeros((r.size, widths[l]))
        wt[~is_const] = self.dense_target.weights[l][j[~is_const]]
        b = self.dense_target.biases[l]
        bt = np.full(r.size, self.tau)
        bt[~is_const] = b[j[~is_const]] if b is not None else 0.0
        return wt, bt, is_const

    def needed_batches(self, sl: int, need: np.ndarray, d_in: int):
        """``(rows, weights, blocks)``: the needed rows of source layer ``sl`` in batches
        of about 2^16 subset-sum problems (few calls into the engine), drawn block by
        block (the blocks of a batch concurrently), skipping blocks without a needed
        row."""
        spec = self.spec
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
            with self.timer("draw"):
                lo, hi = blocks[start] * br, (blocks[end - 1] + 1) * br
                rows = lo + np.flatnonzero(need[lo:hi])
                size = rows.size * spec.widths[sl]
                if size > buffer.size:
                    buffer = np.empty(size)
                W = spec.draw_rows(sl, rows, self.threads,
                                   out=buffer[:size].reshape(rows.size, -1))
            yield rows, W, end - start
            start = end

    def progress_bar(self, sl: int, need: np.ndarray, d_in: int):
        """The progress bar of source layer ``sl + 1``'s problems (blocks with a needed row)."""
        blocks = np.unique(np.flatnonzero(need) // self.spec.block_rows(sl)).size
        return progress_bar(blocks, self.progress, int(need.sum()) * (d_in + 1),
                            f"burkholz layer {sl + 1}")

    def tolerances(self, l: int, activation_norm: float, cols: int):
        """(weights, biases) refinement tolerances of target layer ``l``."""
        if not self.refine:
            return np.inf, np.inf
        share = self.shares[l] * self.eps
        return (refine_tolerance((1.0 - BIAS_FRACTION) * share, self.amps[l], activation_norm,
                                 self.reads[l], cols),
                refine_tolerance(BIAS_FRACTION * share, self.amps[l], 1.0, self.reads[l], 0))

    def solve_biases(self, l: int, bvals: np.ndarray, bt: np.ndarray):
        """Bias problems of target layer ``l + 1`` over candidates ``bvals`` (a ``"fine"``
        first attempt with :data:`BIAS_EXTRA_VALUES` more values): masks and errors."""
        return solve_with_retry(bvals, np.ones(bvals.shape, bool), bt,
                                self.max_values + BIAS_EXTRA_VALUES, self.tol, self.opts,
                                first="fine", refine_tol=self.refine_tols[l][1],
                                refine_values=self.refine_values + BIAS_EXTRA_VALUES)

    # ------------------------------------------------------------ later layers
    def solve_later_layers(self) -> None:
        """Weights of target layers ``L - 1 .. 1``, backwards.

        A copy of a neuron is solved only when the next source layer reads it; copies
        nobody reads are pruned whole (their recorded errors are NaN). The attempts look
        at the first ``copies_read`` copies, so that about that many copies of each
        neuron are read; the last exact attempts of the few problems those cannot solve
        reach up to ``cw``. Each layer's bias problems need the achieved outputs of the
        previous constant neurons, so they are solved afterwards, forwards
        (:meth:`solve_later_biases`).
        """
        L, c, widths, needed = self.L, self.c, self.widths, self.needed
        # refinement targets (see refine_tolerance): the target's activation norms on the
        # unit ball, and the product of the spectral norms of the layers solved so far
        act_norms = target_bounds(self.dense_target, 1.0, "l2")[1] if self.refine else None
        for l in range(L - 1, 0, -1):
            self.solve_later_layer(l, act_norms[l] if self.refine else 1.0)
        # the read copies' errors (one row each, one column per input and sign) reach the
        # output through the later layers' kept weights
        self.amps[0] = self.amplification
        self.reads[0] = int(np.count_nonzero(
            needed[0][:self.src_widths[2] if L == 1 else c * widths[1]]))

    def solve_later_layer(self, l: int, activation_norm: float) -> None:
        """Weights of target layer ``l + 1 >= 2`` (source layer ``l + 2``) for the copies
        the next layer reads; marks the copies of layer ``l`` that these rows read."""
        L, c, cw, widths, needed = self.L, self.c, self.cw, self.widths, self.needed
        sl = l + 1
        rows_out, cols_in = self.src_widths[sl + 1], self.src_widths[sl]
        d_in = widths[l]
        widx = np.arange(d_in)[:, None] * c + np.arange(cw)[None, :]
        bcols = c * d_in + np.arange(c)
        self.vpp.insert(0, self.kl)
        e_w = np.full((rows_out, d_in), np.nan)
        braw = np.zeros((rows_out, c))
        read = np.zeros(cols_in, dtype=bool)
        rows, cols, vals = self.parts[l]
        self.amps[l] = self.amplification
        self.reads[l] = int(np.count_nonzero(
            needed[l][:rows_out if l == L - 1 else c * widths[l + 1]]))
        self.refine_tols[l] = self.tolerances(l, activation_norm, d_in)
        with self.progress_bar(sl, needed[l], d_in) as bar:
            for grow, W, nb in self.needed_batches(sl, needed[l], d_in):
                wt, _, is_const = self.row_targets(l, grow)
                act_rows = np.flatnonzero(~is_const)
                braw[grow] = W[:, bcols]
                if act_rows.size:
                    with self.timer("solve"):
                        # all rows active (most batches): no copy of the batch
                        Wa = W if act_rows.size == W.shape[0] else W[act_rows]
                        mk, er = solve_with_retry(
                            Wa[:, widx].reshape(-1, cw), np.ones((act_rows.size * d_in, cw), bool),
                            wt[act_rows].reshape(-1), self.max_values, self.tol, self.opts,
                            span=self.cr, orders=LATER_ORDERS, first="fine",
                            exhaustive=LATER_EXHAUSTIVE, refine_tol=self.refine_tols[l][0],
                            refine_values=self.refine_values)
                        rr, ii, tt = np.nonzero(mk.reshape(act_rows.size, d_in, -1))
                        rows.append(grow[act_rows[rr]])
                        cols.append(widx[ii, tt])
                        vals.append(Wa[rr, widx[ii, tt]])
                        read[widx[ii, tt]] = True
                        e_w[grow[act_rows]] = er.reshape(act_rows.size, d_in)
                bar.update(nb)
        self.e_ws[l] = [e_w]
        self.bias_raw[l] = braw
        if self.refine:
            kept = gather_csr((rows_out, cols_in), rows, cols, vals)
            self.amplification *= spectral_estimate(kept[:, :c * d_in])
        read[c * d_in:] = True                 # constant neurons feed the biases
        needed[l - 1] = read

    # ------------------------------------------------------------ first layer
    def draw_first_layer(self) -> None:
        """Source layer 1: the univariate weights ``u`` and the bias neurons' biases."""
        m, d0, mc = self.m, self.d0, self.mc
        with self.timer("draw"):
            u = np.empty(m * d0)
            cb = np.empty(mc + m)
            for r0, W, bias in self.spec.iter_blocks(0, self.threads):
                rr = np.arange(r0, r0 + W.shape[0])
                uni = rr < m * d0
                u[rr[uni]] = W[uni.nonzero()[0], rr[uni] // m]
                cb[rr[~uni] - m * d0] = bias[~uni]
        self.u, self.cb = u, cb
        self.phic = self.act(cb)

    def first_layer_search(self) -> UnivariateLayer:
        """The first layer's solver (:func:`first_layer_solver`), its tolerances set; a
        k-tree where ``first_layer`` asks for it or (``"auto"``) the refinement's
        tolerance is below :data:`TREE_BELOW` with enough candidates."""
        homogeneous, d0 = self.homogeneous, self.d0
        self.refine_tols[0] = self.tolerances(
            0, np.sqrt(1.0 + self.slope**2) if homogeneous else 1.0,
            2 * d0 if homogeneous else d0)
        self.tree = self.first_layer == "tree" or (
            self.first_layer == "auto" and self.blk >= TREE_MIN_CANDIDATES
            and self.refine_tols[0][0] < TREE_BELOW)
        layer = first_layer_solver(self.u, d0, self.m, self.max_values, homogeneous,
                                   1.0 if homogeneous else self.act.dphi0, self.tol,
                                   self.refine_tols[0][0], self.tree)
        self.vpp.insert(0, layer.values_per_problem)
        return layer

    def first_layer_buffer(self) -> RowBatchCSR:
        """The CSR buffer of source layer 2, sized from the needed copies, after checking
        that the pass fits in memory."""
        rows_out, cols_in, d0 = self.src_widths[2], self.src_widths[1], self.d0
        # memory of what this pass keeps, now that the needed copies are known: about 18
        # bytes per kept entry at the peak (measured 16 for 784-300-100-10 at n = 75: 12 in
        # the assembled layer), the error arrays, and the per-batch temporaries
        first_problems = int(self.needed[0].sum()) * (2 * d0 + 1 if self.homogeneous
                                                      else d0 + 1)
        kept_per_problem = 0.5 * (TREE_VALUES if self.tree else self.k1)
        check_memory(first_problems * kept_per_problem * 18 + 16 * rows_out * d0
                     + 8 * 4 * (1 << 20) * self.k1,
                     resolve_max_bytes(self.max_bytes), "target",
                     f"a burkholz build with n={self.n} for widths {self.widths} "
                     f"({first_problems:,} subset-sum problems in layer 2)",
                     "use a smaller n or max_values"
                     + (", or first_layer='fine' (about half the kept entries)"
                        if self.tree else ""))
        # the widest layer: its kept entries are assembled batch by batch, 12 bytes each,
        # in a buffer sized (with a margin) from the estimate
        return RowBatchCSR((rows_out, cols_in),
                           expected=int(1.05 * first_problems * kept_per_problem))

    def solve_first_layer(self) -> None:
        """Source layer 2 (target layer 1): the copies' weights over the univariate
        neurons' products, their biases over the bias neurons, batch by batch."""
        homogeneous, m, d0, mc, L = self.homogeneous, self.m, self.d0, self.mc, self.L
        layer = self.first_layer_search()
        self.first = self.first_layer_buffer()
        # ReLU-like: only bias neurons with c > 0 give useful constants (phi(c) = c).
        bias_idx = mc + np.flatnonzero(self.cb[mc:] > 0.0 if homogeneous
                                       else self.phic[mc:] != 0.0)
        bias_cols = m * d0 + bias_idx
        self.e_ws[0] = [np.full((self.src_widths[2], d0), np.nan)
                        for _ in range(2 if homogeneous else 1)]
        self.e_b = [np.full(self.src_widths[l + 2], np.nan) for l in range(L)]
        self.achieved_b = [np.zeros(self.src_widths[l + 2]) for l in range(L)]
        with self.progress_bar(1, self.needed[0], d0) as bar:
            for grow, W, nb in self.needed_batches(1, self.needed[0], d0):
                with self.timer("solve"):
                    rows, cols, vals = self.solve_first_batch(layer, grow, W, bias_cols,
                                                              self.phic[bias_idx])
                with self.timer("assemble"):
                    self.first.add(rows, cols, vals, self.threads)
                bar.update(nb)

    def solve_first_batch(self, layer: UnivariateLayer, grow: np.ndarray, W: np.ndarray,
                          bias_cols: np.ndarray, bias_act: np.ndarray):
        """Rows ``grow`` (weights ``W``) of source layer 2: weights, coarse and fine
        biases. Returns COO pieces of the kept entries."""
        gain = 1.0 / (1.0 + self.slope) if self.homogeneous else 1.0
        rows, cols, vals = [], [], []
        wt, bt, is_const = self.row_targets(0, grow)
        act_rows = np.flatnonzero(~is_const)
        if act_rows.size:
            # all rows active (most batches): no copy of the batch
            Wa = W if act_rows.size == grow.size else W[act_rows]
            r_, c_, v_, es = layer.solve_rows(Wa, wt[act_rows] * gain, 0, self.opts)
            rows += [grow[act_rows[x]] for x in r_]
            cols += c_
            vals += v_
            for e, x in zip(self.e_ws[0], es, strict=True):
                e[grow[act_rows]] = x
            if self.mc:
                bt = self.cancel_offset(grow, W, Wa, act_rows, r_, v_, bt,
                                        (rows, cols, vals))
        bvals = W[:, bias_cols] * bias_act[None, :]
        mk, er = self.solve_biases(0, bvals, bt)
        rr, tt = np.nonzero(mk)
        rows.append(grow[rr])
        cols.append(bias_cols[tt])
        vals.append(W[rr, bias_cols[tt]])
        self.e_b[0][grow] = er
        self.achieved_b[0][grow] = np.where(mk, bvals, 0.0).sum(axis=1)
        return rows, cols, vals

    def cancel_offset(self, grow, W, Wa, act_rows, r_, v_, bt, parts) -> np.ndarray:
        """``phi(0) != 0``: the kept univariate neurons (rows ``r_``, values ``v_`` of
        ``Wa``) add ``phi(0) * sum(v)``; the coarse bias neurons cancel it. Appends their
        kept entries to ``parts`` and returns the biases left for the fine bias neurons."""
        act, mc, R = self.act, self.mc, grow.size
        coarse_cols = self.m * self.d0 + np.arange(mc)
        offset = np.zeros(R)
        for rr_, vv_ in zip(r_, v_, strict=True):
            np.add.at(offset, act_rows[rr_], act.phi0 * vv_)
        cvals = Wa[:, coarse_cols] * self.phic[:mc][None, :]
        # the window of the largest magnitudes reaches the offset only on a coarse grid
        # (residuals up to 79 seen, for a sigmoid target); a window of mixed magnitudes
        # refines it
        cmask, _ = solve_with_retry(cvals, np.ones(cvals.shape, bool),
                                    bt[act_rows] - offset[act_rows], self.max_values,
                                    self.tol, self.opts, first="largest", orders=("first",))
        csum = np.where(cmask, cvals, 0.0).sum(axis=1)
        rr, tt = np.nonzero(cmask)
        rows, cols, vals = parts
        rows.append(grow[act_rows[rr]])
        cols.append(coarse_cols[tt])
        vals.append(W[act_rows[rr], coarse_cols[tt]])
        bt = bt.copy()
        bt[act_rows] -= offset[act_rows] + csum
        return bt

    # ------------------------------------------------------------ biases, assembly
    def solve_later_biases(self) -> None:
        """Biases of target layers ``2 .. L``, forwards: each over the achieved outputs of
        the previous layer's constant neurons."""
        c, widths, act = self.c, self.widths, self.act
        for l in range(1, self.L):
            const_out = act(self.achieved_b[l - 1][c * widths[l]:])
            rows, cols, vals = self.parts[l]
            need = np.flatnonzero(self.needed[l])
            _, bt, _ = self.row_targets(l, np.arange(self.src_widths[l + 2]))
            with self.timer("solve"):
                bvals = self.bias_raw[l][need] * const_out[None, :]
                mk, er = self.solve_biases(l, bvals, bt[need])
            rr, tt = np.nonzero(mk)
            rows.append(need[rr])
            cols.append(c * widths[l] + tt)
            vals.append(self.bias_raw[l][need[rr], tt])
            self.e_b[l][need] = er
            self.achieved_b[l][need] = np.where(mk, bvals, 0.0).sum(axis=1)

    def first_layer_masks(self, layer2) -> tuple:
        """Source layer 1 pruned to the neurons ``layer2`` reads: its weights (CSR), its
        biases (the bias neurons' where kept) and the bias mask."""
        m, d0, n1 = self.m, self.d0, self.src_widths[1]
        used = np.flatnonzero(read_columns(layer2))
        uni = used[used < m * d0]
        first = sparse.csr_matrix(
            (self.u[uni], uni // m, np.searchsorted(uni, np.arange(n1 + 1))), shape=(n1, d0))
        _, b1 = self.spec.layer(0) if n1 * d0 <= (1 << 22) else (None, None)
        if b1 is None:
            b1 = np.zeros(n1)
            b1[m * d0:] = self.cb
        bmask = np.zeros(n1, dtype=bool)
        bmask[used[used >= m * d0]] = True
        return first, np.where(bmask, b1, 0.0), bmask

    def ticket(self) -> Ticket:
        """The assembled :class:`~slth.tickets.Ticket`."""
        L, timer, errors = self.L, self.timer, self.errors
        weights = []
        with timer("assemble"):
            weights.append(self.first.tocsr())
            for l in range(1, L):
                rows, cols, vals = self.parts[l]
                weights.append(gather_csr((self.src_widths[l + 2], self.src_widths[l + 1]),
                                          rows, cols, vals))
        for l in range(L):
            if l == 0 and self.homogeneous:
                errors["layer1_pos"], errors["layer1_neg"] = self.e_ws[0]
            else:
                errors[f"layer{l + 1}_weights"] = self.e_ws[l][0]
            errors[f"layer{l + 1}_bias"] = self.e_b[l]
        with timer("assemble"):
            first, b1, bmask = self.first_layer_masks(weights[0])
        weights.insert(0, first)
        timer.times["total"] = time.perf_counter() - self.t_start
        return Ticket(self.target, self.spec, tuple(weights), (b1,) + (None,) * L,
                      (bmask,) + (None,) * L, errors, self.params(), timer.times)

    def params(self) -> dict:
        """The ticket's ``params``."""
        ss = self.ss
        return {
            "construction": "burkholz", "eps": self.eps, "delta": self.delta, "n": self.n,
            "formula_n": self.formula_n, "dist": self.dist, "seed": int(ss.entropy),
            "spawn_key": list(ss.spawn_key), "C": self.C, "max_values": self.max_values,
            "copies_read": self.cr, "refine": self.refine,
            "first_layer": "tree" if self.tree else "fine",
            "refine_tols": [list(t) for t in self.refine_tols] if self.refine else None,
            "values_per_problem": self.vpp, "block": self.m,
            "copies": self.c, "bias_neurons": self.m, "coarse_bias_neurons": self.mc,
            "coarse_formula": coarse_count(self.act,
                                           bounds.burkholz_block(self.formula_n, self.dist),
                                           self.d0, self.max_values),
            "alpha": self.alpha, "tau": self.tau, "activation": self.act.name,
            "radius": 1.0, "norm": "l2",
            "homogeneous": self.homogeneous, "col_scale": self.col_record,
            "assumption_violations": self.violations, "choices": self.choices(),
        }

    def choices(self) -> list:
        """The choices of this package in use in this build, where it departs from
        Burkholz 2022 (see the module docstring)."""
        out = []
        if not self.homogeneous:
            out.append(f"linear_regime_scale: alpha = {self.alpha:.4g}")
        if self.mc:
            out.append(f"coarse_bias_neurons: {self.mc}")
        if self.cr < self.c:
            out.append(f"copies_read: {self.cr} of {self.c}")
        if self.refine:
            out.append("refine")
        return out
