"""CNN and ResNet tickets with general activations (Burkholz, ICML 2022).

Burkholz, "Convolutional and residual networks provably contain lottery tickets"
(ICML 2022; code RelationalML/LT-existence, ``Utils/pruning.py``: ``prune_layer_first``,
``prune_layer`` and the ``prune_conv`` / ``prune_conv_2L`` drivers of ``main_cnn.py``).

Statement (reconstructed; constants are not given by the paper, see
:data:`slth.bounds.FORMULAS`): let ``f`` be a CNN of depth ``L`` with kernels
``K_l`` of shape ``(c_l, c_{l-1}, k_l, k_l)``, biases ``b_l``, filters of l1 norm at
most 1 and ``|b_l| <= 1`` (check), an activation ``phi`` that is ReLU-like (ReLU,
leaky ReLU) or smooth around 0 with a bounded tangent remainder (tanh, sigmoid), and
possibly identity skip connections (residual blocks). A random CNN of depth ``L + 1``
(or ``2L``) whose hidden layers have ``rho (c_l + 1)`` channels, entries uniform,
contains with probability at least ``1 - delta`` a subnetwork (pruning only; skip
connections kept) with ``max |f(x) - g(x)| <= eps`` on ``[-1, 1]^(c_0 x H x W)``, for
``rho = O(log(N / min(eps, delta)))``, ``N`` the number of target parameters (check:
the paper's exact argument of the logarithm).

Source layouts built here (``n`` copies per target channel, ``b`` univariate channels
per input channel and sign, :func:`slth.bounds.burkholz_block`):

* **A univariate pair** (every target layer of ``"2L"``, the first of ``"L+1"``): a
  1 x 1 convolution from ``c`` to ``m c + mc + b`` channels (``m = 2 b`` for ReLU-like
  activations, split by the sign of ``u`` as in :mod:`slth.tickets.cnn`, ``m = b``
  otherwise): channel ``s < m c`` keeps only its weight ``u_s`` to input channel
  ``s // m``; the last ``mc + b`` channels are *bias channels* (all weights pruned, bias
  ``c_s`` kept, output ``phi(c_s)``; ``mc`` coarse ones only where ``phi(0) != 0``). It
  is followed by the ``k x k`` convolution whose entries are subset sums of the
  products ``u_s V_js[p]`` (one problem per output row, input channel, kernel position
  and sign) and whose constant part ``sum V phi(c)`` approximates the target's bias.
  The 1 x 1 layer draws ``2 X`` (U[-2, 2] for uniform sources, as in the paper's code).
  **The target's zero padding is moved onto the 1 x 1 layer** and the ``k x k`` layer
  is valid: padded positions then carry ``phi(u 0) = phi(0)`` and ``phi(c_s)``, so
  the constants are the same at every position (the paper's code pads the ``k x k``
  layer, where a bias channel is zero at the border).
* **"L+1"**: the pair for target layer 1, with ``n`` copies of every output channel
  (plus ``n`` *constant channels* approximating ``tau``); then one ``k x k`` layer per
  further target layer, ``n`` copies of every channel (one for the output layer):
  entry ``K[j, i, p]`` of copy ``k`` is a subset sum over the ``n`` source weights
  ``V[(j, k), (i, k'), p]`` of the input's copies (plain entries, no products); the
  bias a subset sum over the constant channels' exactly known outputs at the centre
  tap (always inside the image with ``2 padding <= k - 1``). A skip connection
  ``(i, j)`` with ``1 <= i <= j <= L - 2`` becomes ``(i + 1, j + 1)`` of the source: copy
  ``k`` of ``a_i`` is added to copy ``k`` of target layer ``j``'s pre-activation, and the
  constant channels add their exactly known outputs.
* **"2L"**: one pair per target layer; a skip connection ``(i, j)`` of the target
  becomes ``(2 i, 2 j + 1)`` of the source, kept in the ticket.

For smooth activations the 1 x 1 layer works in the linear regime: its weights are
``2 alpha X`` and the ``k x k`` layer's columns of univariate (and coarse) channels
are scaled by ``1 / (alpha phi'(0))``, so that ``V phi(alpha u x) = phi(0) V +
phi'(0) u V x + O(alpha^(p-1))`` (as :mod:`slth.tickets.burkholz`, ``"linear_regime_scale"``).
``alpha`` is fixed before any draw from eps, the activation's tangent remainder, the
kernel shapes and the activation bounds the assumptions imply
(:func:`slth.tickets.burkholz.alpha_for_remainder`). Where ``phi(0) != 0`` (sigmoid)
the kept univariate channels add ``phi(0) sum V``; coarse bias channels (columns at the
same scale) cancel it, then the ordinary bias channels fit the bias
(``"coarse_bias_neurons"``).

Where this departs from the paper (listed in ``Ticket.params["choices"]``): the linear
regime scale and the coarse bias channels above, the padding moved onto the 1 x 1
layers (``"padding_on_1x1"``), bias entries at the centre tap in the later layers of
``"L+1"`` (``"bias_at_centre_tap"``), finer windows in ``"L+1"`` where a problem's error
would exceed its share of the certified bound (``"refine"``: the copies' errors reach
the next layer through the kept weights of a row, about ``c k^2 max_values / 4`` in l1
norm, :func:`refine_tolerances`; the paper needs every subset sum within one tolerance),
and at depth ``L + 1`` only skips between hidden layers (where the skipped channels
exist as copies; a skip from the input or into the output layer is covered at ``2L``). Every subset
sum is solved by the shared search of :mod:`slth.tickets.search`, not by the paper's
fixed-size enumeration (``exhaustive`` in ``Utils/pruning.py``). Tickets cannot be saved
(:meth:`BurkholzCNNTicket.save`); they are rebuilt from their seed.

Examples
--------
>>> from slth.nets import random_cnn_target
>>> f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5, activation="tanh")
>>> t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=1, n=6)
>>> t.widths, t.depth
((1, 20, 18, 2), 3)
>>> all(np.array_equal(p * m, q) for p, m, q in
...     zip(t.source.parameters(), t.masks, t.network().parameters()))
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from slth import bounds, distributions
from slth._validate import (
    as_seed_sequence,
    check_choice,
    check_int,
    check_memory,
    check_positive,
    resolve_max_bytes,
)
from slth.nets.cnn import CNN
from slth.tickets.burkholz import alpha_for_remainder, coarse_count
from slth.tickets.cnn import CNNTicket
from slth.tickets.search import UnivariateLayer, solve_with_retry
from slth.tickets.ticket import Timer, check_build_args

__all__ = ["BurkholzCNNSpec", "BurkholzCNNTicket", "burkholz_cnn", "burkholz_cnn_2l",
           "SCHEMES"]

#: The two source layouts: depth ``L + 1`` and ``2 L``.
SCHEMES = ("L+1", "2L")

#: Activations the construction covers: ReLU-like (sign split) or smooth with a tangent
#: remainder (linear regime).
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")

#: Share of ``eps`` the tangent remainders of the linear-regime layers may use, split
#: over the target layers and the entries of a filter (see :func:`layer_alpha`).
REMAINDER_SHARE = 0.1

#: Shares of ``eps`` the refinement aims the certified bound's terms at (L+1 layout):
#: the first pair's problems, and the copies' layers together (see :func:`refine_tolerances`).
FIRST_SHARE, LATER_SHARE = 0.5, 0.3

#: Values beyond ``max_values`` that the refinement's finer windows may reach.
REFINE_EXTRA = 6

#: Mean magnitude of a source entry, per distribution (uniform on [-1, 1]: 1/2; standard
#: normal: sqrt(2 / pi)), for the planned amplification of :func:`refine_tolerances`.
MEAN_ABS = {"uniform": 0.5, "normal": float(np.sqrt(2.0 / np.pi))}

#: Window orders of the retries of the copies' problems (as in :mod:`slth.tickets.burkholz`).
LATER_ORDERS = ("largest", "smallest")


# ---------------------------------------------------------------------- source
@dataclass(frozen=True, eq=False)
class BurkholzCNNSpec:
    """A random CNN source with biases, column scales and skips, defined by its seed.

    Layer ``l`` has kernels ``shapes[l]`` with i.i.d. entries ``scales[l] X`` (``X`` from
    ``dist``), times ``col_scales[l][c]`` on input channel ``c`` where given, and, where
    ``biased[l]``, biases ``scales[l] X`` (``bias_scales[l]``); drawn from
    ``SeedSequence(entropy, spawn_key=spawn_key + (l,))``.
    """

    shapes: tuple
    paddings: tuple
    activations: tuple
    biased: tuple
    scales: tuple
    bias_scales: tuple
    col_scales: tuple
    dist: str
    entropy: int
    spawn_key: tuple = ()
    pool: str | None = None
    skips: tuple = ()

    @property
    def depth(self) -> int:
        return len(self.shapes)

    @property
    def channels(self) -> tuple[int, ...]:
        return (self.shapes[0][1], *(s[0] for s in self.shapes))

    @property
    def widths(self) -> tuple[int, ...]:
        return self.channels

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(s[2] for s in self.shapes)

    def shape(self, l: int) -> tuple:
        return self.shapes[l]

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(s) + (s[0] if b else 0)
                       for s, b in zip(self.shapes, self.biased, strict=True)))

    @property
    def nbytes(self) -> int:
        return 8 * self.n_params

    def layer(self, l: int) -> tuple:
        """``(kernels, biases or None)`` of layer ``l``."""
        rng = np.random.default_rng(np.random.SeedSequence(self.entropy,
                                                           spawn_key=(*self.spawn_key, l)))
        k = distributions.sample(self.dist, self.shapes[l], rng) * self.scales[l]
        if self.col_scales[l] is not None:
            k *= np.asarray(self.col_scales[l])[None, :, None, None]
        b = (distributions.sample(self.dist, self.shapes[l][0], rng) * self.bias_scales[l]
             if self.biased[l] else None)
        return k, b

    def network(self, max_bytes: int | None = None) -> CNN:
        """The dense source CNN (refused when over ``max_bytes``)."""
        check_memory(self.nbytes, resolve_max_bytes(max_bytes), "source",
                     f"the dense source ({self.n_params:,} parameters)", "use a smaller n")
        layers = [self.layer(l) for l in range(self.depth)]
        return CNN([k for k, _ in layers], [b for _, b in layers], self.activations,
                   self.paddings, self.pool, skips=self.skips)


@dataclass(frozen=True, eq=False, repr=False)
class BurkholzCNNTicket(CNNTicket):
    """A pruned random CNN (with biases and skip connections) approximating a target CNN.

    As :class:`~slth.tickets.cnn.CNNTicket`; ``biases`` are the pruned biases (source
    bias where kept, 0 elsewhere; ``None`` for layers without biases), ``bias_masks``
    their masks, and the skip connections of ``spec`` are kept as they are.
    """

    @cached_property
    def _network(self) -> CNN:
        return CNN(list(self.weights), list(self.biases), self.spec.activations,
                   self.spec.paddings, self.spec.pool, skips=self.spec.skips)

    @property
    def masks(self) -> list[NDArray[np.bool_]]:
        """Boolean masks aligned with ``source.parameters()`` (kernels, then biases)."""
        out = []
        for k, b in zip(self.kernel_masks, self.bias_masks, strict=True):
            out.append(k.copy())
            if b is not None:
                out.append(b.copy())
        return out

    @property
    def kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    def copies_read(self) -> list[dict]:
        """Copies of each hidden target channel that the next source layer reads (the
        L+1 layout; see :meth:`slth.tickets.Ticket.copies_read`), ``[]`` for ``"2L"``."""
        if self.params.get("scheme") != "L+1":
            return []
        n, ch = int(self.params["n"]), self.target.channels
        out = []
        for l in range(1, len(ch) - 1):
            cols = self.kernel_masks[l + 1].any(axis=(0, 2, 3))[:n * ch[l]]
            read = cols.reshape(ch[l], n).sum(axis=1)
            out.append({"layer": l, "copies": n, "min": int(read.min()),
                        "median": float(np.median(read)), "max": int(read.max())})
        return out

    def save(self, path) -> None:
        """Not offered for these tickets (rebuild them from their seed)."""
        raise NotImplementedError("saving burkholz_cnn tickets is not supported; rebuild "
                                  "the ticket from its seed and parameters (ticket.params)")


# ----------------------------------------------------------------- validation
def check_burkholz_cnn_target(target, scheme: str, radius: float, check_assumptions: bool):
    """Validate a target for :func:`burkholz_cnn`; returns the list of assumption
    violations (filters of l1 norm > 1, biases > 1 in magnitude)."""
    if not isinstance(target, CNN):
        raise TypeError(f"target must be a slth.nets.CNN, got {type(target).__name__}; "
                        "build one with slth.nets.CNN or slth.nets.random_cnn_target")
    if target.head is not None:
        raise ValueError("target.head is set: burkholz_cnn approximates the convolutions "
                         "(and a global pooling); pass the target without its linear head")
    if target.depth < 2:
        raise ValueError(f"target must have at least 2 layers for burkholz_cnn (the source "
                         f"uses the target's hidden activation), got depth {target.depth}")
    acts = {a.name for a in target.activations}
    if len(acts) > 1:
        raise ValueError(f"target activations must all be the same, got {sorted(acts)}")
    act = target.activations[0] if target.activations else None
    if act is not None and act.name not in ACTIVATIONS:
        raise ValueError(f"target activation must be one of {ACTIVATIONS} for burkholz_cnn, "
                         f"got {act.name!r}")
    bad = [(i, j) for i, j in target.skips if i < 1 or j > target.depth - 2]
    if bad and scheme != "2L":
        raise ValueError(f"target.skips: {bad} at depth L+1: a skip must start at a hidden "
                         "layer's output (i >= 1) and end before the output layer "
                         f"(j <= {target.depth - 2}), where the skipped channels exist as "
                         "copies; other residual targets are covered at depth 2L "
                         "(burkholz_cnn_2l)")
    for l, (k, p) in enumerate(zip(target.kernel_sizes, target.paddings, strict=True)):
        if 2 * p > k - 1:
            raise ValueError(f"target.paddings[{l}] = {p} with kernel size {k}: the "
                             "construction needs 2 padding <= kernel size - 1 (a centre tap "
                             "inside every window)")
    violations = []
    for l, k in enumerate(target.kernels):
        s = float(np.abs(k).sum(axis=(1, 2, 3)).max())
        if s > 1.0 + 1e-9:
            violations.append(f"max filter l1 norm of kernels[{l}] = {s:.6g} > 1")
        b = target.biases[l]
        if b is not None and np.abs(b).max() > 1.0 + 1e-9:
            violations.append(f"max |biases[{l}]| = {np.abs(b).max():.6g} > 1")
    if violations and check_assumptions:
        raise ValueError("target violates the assumptions of burkholz_cnn (filters of l1 "
                         "norm <= 1, |bias| <= 1): " + "; ".join(violations)
                         + " (pass check_assumptions=False to build anyway, or rescale)")
    return violations


def layer_alpha(act, eps: float, L: int, c_in: int, k: int, reach: float, values: int,
                amplification: float = 1.0) -> float:
    """Linear-regime scale of a 1 x 1 layer whose inputs are at most ``reach`` in
    magnitude: the tangent remainder of one filter (``c_in k^2`` problems of at most
    ``values`` kept channels each), times the planned ``amplification`` of the layer's
    errors by the later layers (:func:`planned_amplification`), stays within
    ``REMAINDER_SHARE eps / L``.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> a = layer_alpha(get("tanh"), 0.1, 2, 1, 3, 1.0, 20)
    >>> bool(0 < a < 0.01)
    True
    """
    _, p = act.remainder
    per_problem = REMAINDER_SHARE * eps / (L * c_in * k * k * reach**p * amplification)
    return alpha_for_remainder(act, per_problem, values)


def planned_amplification(channels, kernel_sizes, act, dist: str,
                          max_values: int) -> list[float]:
    """Per target layer of the L+1 layout, the planned factor between its copies'
    errors and the output error: the product over the later layers of ``Lip(phi)
    c_l k_l^2 (max_values / 2) E|X|`` (see :func:`refine_tolerances`). From the shapes,
    the activation and the distribution only.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> planned_amplification((1, 2, 2), (3, 3), get("relu"), "uniform", 20)
    [90.0, 1.0]
    """
    L = len(channels) - 1
    gain = [act.lipschitz * channels[l] * kernel_sizes[l] ** 2 * max_values / 2.0
            * MEAN_ABS[dist] for l in range(L)]
    return [float(np.prod(gain[l + 1:])) for l in range(L)]


def refine_tolerances(channels, kernel_sizes, eps: float, radius: float, act, dist: str,
                      max_values: int) -> list[float]:
    """Per target layer, the subset-sum error the L+1 layout aims at, fixed before any draw.

    In the certificate (:mod:`slth.verify.burkholz_cnn`) the copies' errors of target
    layer ``l`` reach the next layer through the kept weights of each of its rows,
    ``sum |V|``: about ``c_l k_l^2`` problems of ``max_values / 2`` kept entries of mean
    magnitude :data:`MEAN_ABS` (the planned gain). Layer ``l``'s errors are amplified by
    the product of the later layers' gains (times the activation's Lipschitz constant);
    its ``c_{l-1} k_l^2`` problems per row get the share :data:`FIRST_SHARE` (first
    layer) or :data:`LATER_SHARE` split over the later layers, on inputs of magnitude
    ``radius`` (first layer) or 1.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> [f"{t:.2g}" for t in refine_tolerances((1, 2, 2), (3, 3), 0.1, 1.0, get("relu"),
    ...                                        "uniform", 20)]
    ['6.2e-05', '0.0017']
    """
    L = len(channels) - 1
    amps = planned_amplification(channels, kernel_sizes, act, dist, max_values)
    out = []
    for l in range(L):
        amp = amps[l]
        share = FIRST_SHARE if l == 0 else LATER_SHARE / max(L - 1, 1)
        reach = radius if l == 0 else 1.0
        out.append(share * eps / (amp * channels[l] * kernel_sizes[l] ** 2 * reach))
    return out


def activation_reach(act, radius: float, L: int, skips) -> list[float]:
    """Bounds on the target's layer inputs under the assumptions (filters of l1 norm
    <= 1, ``|b| <= 1``): ``r_0 = radius``, ``r_{l+1} = sup |phi|`` on
    ``[-(r_l + 1 + skip), r_l + 1 + skip]``. Depends on no draw."""
    r = [float(radius)]
    for l in range(L - 1):
        z = r[l] + 1.0 + sum(r[i] for i, j in skips if j == l)
        r.append(float(act.bound_abs(np.array(-z), np.array(z))))
    return r


def formula_widths(ticket) -> tuple[int, ...]:
    """The source channels of a ticket's layout at ``params["formula_n"]`` (the width
    formula with the ``C`` in use)."""
    p = ticket.params
    t = ticket.target
    return source_channels(t.channels, int(p["formula_n"]), p["scheme"], t.activations[0],
                           p["dist"], t.kernel_sizes, int(p["max_values"]))


def source_channels(channels, n: int, scheme: str, act, dist: str, kernel_sizes,
                    max_values: int) -> tuple[int, ...]:
    """The source channels of the layout (see the module docstring) for ``n`` copies.

    Examples
    --------
    >>> from slth.nets.activations import get
    >>> source_channels((1, 2, 2), 28, "L+1", get("relu"), "uniform", (3, 3), 20)
    (1, 141, 84, 2)
    """
    b = bounds.burkholz_block(n, dist)
    m = 2 * b if act.homogeneous else b
    L = len(channels) - 1
    pairs = range(L) if scheme == "2L" else range(1)
    mc = 0 if act.homogeneous else coarse_count(
        act, b, max(channels[l] * kernel_sizes[l] ** 2 for l in pairs), max_values)
    if scheme == "2L":
        out = [channels[0]]
        for l in range(L):
            out += [m * channels[l] + mc + b, channels[l + 1]]
        return tuple(out)
    return (channels[0], m * channels[0] + mc + b,
            *(n * c + n for c in channels[1:-1]), channels[-1])


def source_params(target, n: int, scheme: str, dist: str, max_values: int) -> int:
    """Parameters (kernel entries and the 1 x 1 layers' biases) of the source the
    construction draws for ``target`` at ``n`` copies, without drawing it.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> f = random_cnn_target([1, 2, 2], 3, seed=0)
    >>> t = burkholz_cnn(f, eps=0.2, delta=0.2, seed=0, n=3)
    >>> source_params(f, 3, "L+1", "uniform", 20) == t.spec.n_params
    True
    """
    c = source_channels(target.channels, n, scheme, target.activations[0], dist,
                        target.kernel_sizes, max_values)
    ks = target.kernel_sizes
    if scheme == "2L":
        sizes = [q for k in ks for q in (1, k)]
    else:
        sizes = [1, *ks]
    total = sum(c[l + 1] * c[l] * sizes[l] ** 2 for l in range(len(sizes)))
    return int(total + sum(c[l + 1] for l in range(len(sizes)) if sizes[l] == 1))


# ---------------------------------------------------------------- subset sums
class _Build:
    """One build: the source, then every layer's problems, forwards."""

    def __init__(self, target, scheme, eps, delta, seed, n, dist, C, radius, max_values, tau,
                 alpha, refine, threads, max_bytes, violations):
        self.target, self.scheme, self.eps, self.delta = target, scheme, eps, delta
        self.dist, self.C, self.radius, self.max_values, self.tau = dist, C, radius, max_values, tau
        self.violations = violations
        L = target.depth
        self.L = L
        ch, ks = target.channels, target.kernel_sizes
        self.formula_n = bounds.burkholz_cnn_n(ch, ks, eps, delta, C)
        self.n = self.formula_n if n is None else check_int(n, "n", minimum=1)
        self.act = target.activations[0] if L > 1 else None
        act = self.act
        self.homogeneous = act is None or act.homogeneous
        self.slope = act.slope_neg if act is not None and act.homogeneous else 0.0
        self.b = bounds.burkholz_block(self.n, dist)
        self.m = 2 * self.b if self.homogeneous else self.b
        self.tol = bounds.cnn_weight_eps(ch, ks, eps, radius)
        self.opts = {"threads": threads, "max_bytes": max_bytes}
        self.ss = as_seed_sequence(seed)
        self.timer = Timer()
        self.values = min(max_values, self.m)
        # the pairs' 1 x 1 layers: one (2L) or only the first (L+1)
        pairs = range(L) if scheme == "2L" else range(1)
        reach = activation_reach(act, radius, L, target.skips) if act is not None \
            else [radius]
        self.alpha = {}
        self.mc = 0
        if not self.homogeneous:
            given = None if alpha is None else check_positive(alpha, "alpha")
            amps = (planned_amplification(ch, ks, act, dist, max_values)
                    if scheme == "L+1" else [1.0] * L)
            for l in pairs:
                self.alpha[l] = given if given is not None else layer_alpha(
                    act, eps, L, ch[l], ks[l], reach[l], self.values, amps[l])
            self.mc = coarse_count(act, self.b, max(ch[l] * ks[l] ** 2 for l in pairs),
                                   max_values)
        self.refine_tols = (refine_tolerances(ch, ks, eps, radius, act, dist, max_values)
                            if refine and scheme == "L+1" else [np.inf] * L)
        self.refine_values = max_values + REFINE_EXTRA
        self.refine = refine
        self.spec = self.source_spec()
        check_memory(3 * self.spec.nbytes, resolve_max_bytes(max_bytes), "n",
                     f"a burkholz_cnn build with n={self.n} for channels {ch}",
                     "use a smaller n")

    # -------------------------------------------------------------- layout
    def pair_width(self, c: int) -> int:
        return self.m * c + self.mc + self.b

    def source_spec(self) -> BurkholzCNNSpec:
        t, L, n, act = self.target, self.L, self.n, self.act
        ch, ks, pads = t.channels, t.kernel_sizes, t.paddings
        shapes, paddings, biased, scales, bscales, cols = [], [], [], [], [], []

        def add_pair(l, out):
            w = self.pair_width(ch[l])
            a = self.alpha.get(l, 1.0)
            shapes.extend([(w, ch[l], 1, 1), (out, w, ks[l], ks[l])])
            paddings.extend([pads[l], 0])
            biased.extend([True, False])
            scales.extend([2.0 * a, 1.0])
            bscales.extend([2.0, 1.0])
            col = None
            if not self.homogeneous:
                col = np.ones(w)
                col[:self.m * ch[l] + self.mc] = 1.0 / (a * act.dphi0)
                col = tuple(col)
            cols.extend([None, col])

        if self.scheme == "2L":
            for l in range(L):
                add_pair(l, ch[l + 1])
            skips = tuple((2 * i, 2 * j + 1) for i, j in t.skips)
        else:
            add_pair(0, n * ch[1] + n if L > 1 else ch[1])
            for l in range(1, L):
                out = n * ch[l + 1] + n if l < L - 1 else ch[l + 1]
                shapes.append((out, n * ch[l] + n, ks[l], ks[l]))
                paddings.append(pads[l])
                biased.append(False)
                scales.append(1.0)
                bscales.append(1.0)
                cols.append(None)
            # copies of a_i are the inputs of source layer i + 1, the copies of target
            # layer j's pre-activations the outputs of source layer j + 1
            skips = tuple((i + 1, j + 1) for i, j in t.skips)
        acts = (act,) * (len(shapes) - 1)
        return BurkholzCNNSpec(tuple(shapes), tuple(paddings), acts, tuple(biased),
                               tuple(scales), tuple(bscales), tuple(cols), self.dist,
                               int(self.ss.entropy), tuple(self.ss.spawn_key), t.pool, skips)

    # -------------------------------------------------------------- a pair
    def solve_pair(self, sl: int, l: int, row_targets, positive_only: bool, errors: dict):
        """Source layers ``sl`` (1 x 1) and ``sl + 1`` (k x k) for target layer ``l``.

        ``row_targets``: per output row ``(kernel (c_in, k, k) or None, bias)``. Returns
        the pruned kernels, biases and masks of both layers, and the achieved constant
        (bias) of every row.
        """
        act, m, mc, nb = self.act, self.m, self.mc, self.b
        c_in, k = self.target.channels[l], self.target.kernel_sizes[l]
        U, cb = self.spec.layer(sl)
        V, _ = self.spec.layer(sl + 1)
        R, mci = V.shape[0], m * c_in
        u = U[np.arange(mci), np.arange(mci) // m, 0, 0]
        phic = cb[mci:] if act is None else act(cb[mci:])     # bias channels' outputs
        phi0 = 0.0 if act is None else act.phi0
        mask_v = np.zeros(V.shape, dtype=bool)
        active = np.array([kt is not None for kt, _ in row_targets])
        gain = 1.0 if self.homogeneous else act.dphi0
        layer = UnivariateLayer(u, c_in, m, self.max_values, homogeneous=self.homogeneous,
                                gain=gain, tol=self.tol, positive_only=positive_only,
                                refine_tol=self.refine_tols[l],
                                refine_values=self.refine_values)
        e_sides = [np.zeros((R, c_in, k, k)) for _ in layer.sides]
        rows = np.flatnonzero(active)
        if rows.size:
            W = V[rows][:, :mci].transpose(0, 2, 3, 1).reshape(rows.size * k * k, mci)
            wt = np.stack([row_targets[r][0] for r in rows]).transpose(0, 2, 3, 1)
            wt = wt.reshape(rows.size * k * k, c_in) / (1.0 + self.slope)
            with self.timer("solve"):
                rr, cc, _, es = layer.solve_rows(W, wt, 0, self.opts)
            blk = np.zeros((rows.size * k * k, mci), dtype=bool)
            for r_, c_ in zip(rr, cc, strict=True):
                blk[r_, c_] = True
            mask_v[rows, :mci] = blk.reshape(rows.size, k, k, mci).transpose(0, 3, 1, 2)
            for e, x in zip(e_sides, es, strict=True):
                e[rows] = x.reshape(rows.size, k, k, c_in).transpose(0, 3, 1, 2)
        # constants: phi(0) sum V over the kept univariate channels (phi(0) != 0), the
        # coarse channels cancelling it, the fine bias channels fitting the bias
        bt = np.array([b for _, b in row_targets], dtype=float)
        offset = phi0 * np.where(mask_v[:, :mci], V[:, :mci], 0.0).sum(axis=(1, 2, 3))
        if mc:
            cvals = (V[:, mci:mci + mc] * phic[:mc, None, None]).reshape(R, -1)
            with self.timer("solve"):
                cm, _ = solve_with_retry(cvals, np.ones(cvals.shape, bool), -offset,
                                         self.max_values, self.tol, self.opts, first="largest",
                                         orders=("first",))
            mask_v[:, mci:mci + mc] = cm.reshape(R, mc, k, k)
            offset = offset + np.where(cm, cvals, 0.0).sum(axis=1)
        fvals = (V[:, mci + mc:] * phic[mc:, None, None]).reshape(R, -1)
        valid = np.broadcast_to((phic[mc:] != 0.0)[:, None, None] if not self.homogeneous
                                else (cb[mci + mc:] > 0.0)[:, None, None],
                                (nb, k, k)).reshape(1, -1).repeat(R, axis=0)
        with self.timer("solve"):
            fm, e_b = solve_with_retry(fvals, valid, bt - offset, self.max_values, self.tol,
                                       self.opts, first="fine", orders=LATER_ORDERS,
                                       refine_tol=self.refine_tols[l],
                                       refine_values=self.refine_values)
        mask_v[:, mci + mc:] = fm.reshape(R, nb, k, k)
        const = offset + np.where(fm, fvals, 0.0).sum(axis=1)
        used = mask_v.any(axis=(0, 2, 3))
        mask_u = np.zeros(U.shape, dtype=bool)
        uni = np.flatnonzero(used[:mci])
        mask_u[uni, uni // m, 0, 0] = True
        mask_b = np.zeros(cb.shape, dtype=bool)
        mask_b[mci:] = used[mci:]
        tag = f"layer{l + 1}"
        # weight errors of the rows that copy a target channel (constant rows have none)
        for side, e in zip(("pos", "neg") if self.homogeneous else ("weights",), e_sides,
                           strict=False):
            errors[f"{tag}_{side}"] = e[rows]
        errors[f"{tag}_bias"] = e_b
        return ((U * mask_u, np.where(mask_b, cb, 0.0), mask_u, mask_b),
                (V * mask_v, None, mask_v, None), const)

    # ------------------------------------------------------ copies (L+1)
    def solve_copies(self, sl: int, l: int, const_in: np.ndarray, errors: dict):
        """Source layer ``sl`` (target layer ``l >= 1`` of the L+1 layout): every copy's
        entries over the input's ``n`` copies, its bias over the constant channels'
        outputs ``const_in`` at the centre tap. Returns the pruned layer and the achieved
        constants of the rows."""
        t, n, L = self.target, self.n, self.L
        c_in, c_out, k = t.channels[l], t.channels[l + 1], t.kernel_sizes[l]
        p = t.paddings[l]
        V, _ = self.spec.layer(sl)
        R = V.shape[0]
        copies = n if l < L - 1 else 1
        j_of = np.arange(R) // copies
        act_rows = np.flatnonzero(j_of < c_out)
        mask = np.zeros(V.shape, dtype=bool)
        # rows (row, i, p, q) x the n copies of input channel i
        Vc = V[act_rows][:, :n * c_in].reshape(act_rows.size, c_in, n, k, k)
        vals = Vc.transpose(0, 1, 3, 4, 2).reshape(-1, n)
        wt = t.kernels[l][j_of[act_rows]].reshape(-1)
        with self.timer("solve"):
            mk, er = solve_with_retry(vals, np.ones(vals.shape, bool), wt, self.max_values,
                                      self.tol, self.opts, first="fine", orders=LATER_ORDERS,
                                      refine_tol=self.refine_tols[l],
                                      refine_values=self.refine_values)
        mask[act_rows, :n * c_in] = mk.reshape(act_rows.size, c_in, k, k, n).transpose(
            0, 1, 4, 2, 3).reshape(act_rows.size, n * c_in, k, k)
        e_w = er.reshape(act_rows.size, c_in, k, k)
        b = t.biases[l]
        bt = np.full(R, self.tau)
        bt[act_rows] = 0.0 if b is None else b[j_of[act_rows]]
        bvals = V[:, n * c_in:, p, p] * self.act(const_in)[None, :]
        with self.timer("solve"):
            bm, e_b = solve_with_retry(bvals, np.ones(bvals.shape, bool), bt, self.max_values,
                                       self.tol, self.opts, first="fine", orders=LATER_ORDERS,
                                       refine_tol=self.refine_tols[l],
                                       refine_values=self.refine_values)
        mask[:, n * c_in:, p, p] = bm
        errors[f"layer{l + 1}_weights"] = e_w
        errors[f"layer{l + 1}_bias"] = e_b
        return V * mask, mask, np.where(bm, bvals, 0.0).sum(axis=1)

    # ---------------------------------------------------------------- build
    def run(self) -> BurkholzCNNTicket:
        t, L, n = self.target, self.L, self.n
        t_start = time.perf_counter()
        weights, biases, kmasks, bmasks, errors = [], [], [], [], {}

        def add(layer):
            w, b, km, bm = layer
            weights.append(w)
            biases.append(b)
            kmasks.append(km)
            bmasks.append(bm)

        def targets_of(l, copies, extra):
            b = t.biases[l]
            rows = [(t.kernels[l][j], 0.0 if b is None else float(b[j]))
                    for j in range(t.channels[l + 1]) for _ in range(copies)]
            return rows + [(None, self.tau)] * extra

        if self.scheme == "2L":
            relu = self.act is not None and self.act.homogeneous and self.slope == 0.0
            for l in range(L):
                first, second, _ = self.solve_pair(2 * l, l, targets_of(l, 1, 0),
                                                   positive_only=relu and l > 0,
                                                   errors=errors)
                add(first)
                add(second)
        else:
            copies, extra = (n, n) if L > 1 else (1, 0)
            first, second, const = self.solve_pair(0, 0, targets_of(0, copies, extra),
                                                   positive_only=False, errors=errors)
            add(first)
            add(second)
            consts = [const]           # pre-activations of each layer's constant rows
            for l in range(1, L):
                const_in = const[n * t.channels[l]:]
                w, km, const = self.solve_copies(l + 1, l, const_in, errors)
                for i, j in t.skips:   # a skipped constant channel adds its output
                    if j == l:
                        const[n * t.channels[l + 1]:] += self.act(
                            consts[i - 1][n * t.channels[i]:])
                consts.append(const)
                add((w, None, km, None))
        self.timer.times["total"] = time.perf_counter() - t_start
        return BurkholzCNNTicket(t, self.spec, tuple(weights), tuple(biases), tuple(bmasks),
                                 errors, self.params(), self.timer.times, tuple(kmasks))

    def params(self) -> dict:
        ss = self.ss
        choices = []
        if not self.homogeneous:
            choices.append("linear_regime_scale: alpha = " + ", ".join(
                f"{a:.4g}" for a in self.alpha.values()))
        if self.mc:
            choices.append(f"coarse_bias_neurons: {self.mc}")
        choices.append("padding_on_1x1")
        if self.refine and self.scheme == "L+1":
            choices.append("refine")
        if self.scheme == "L+1" and self.L > 1:
            choices.append("bias_at_centre_tap")
        return {
            "construction": "burkholz_cnn" if self.scheme == "L+1" else "burkholz_cnn_2l",
            "scheme": self.scheme, "eps": self.eps, "delta": self.delta, "n": self.n,
            "formula_n": self.formula_n, "dist": self.dist, "seed": int(ss.entropy),
            "spawn_key": list(ss.spawn_key), "C": self.C, "radius": self.radius,
            "norm": "inf", "max_values": self.max_values, "block": self.m,
            "coarse_bias_neurons": self.mc, "bias_neurons": self.b, "copies": self.n,
            "copies_read": self.n,
            "tau": self.tau, "alpha": [self.alpha[k] for k in sorted(self.alpha)],
            "activation": None if self.act is None else self.act.name,
            "homogeneous": self.homogeneous, "weight_eps": self.tol,
            "refine_tols": [float(x) for x in self.refine_tols],
            "assumption_violations": self.violations, "choices": choices,
        }


def burkholz_cnn(target: CNN, eps: float = 0.01, delta: float = 0.01, seed=None,
                 n: int | None = None, *, scheme: str = "L+1", dist: str = "uniform",
                 C: float = bounds.DEFAULT_C, radius: float = 1.0, max_values: int = 20,
                 tau: float = 1.0, alpha: float | None = None, refine: bool = True,
                 check_assumptions: bool = True, threads: int | None = None,
                 max_bytes: int | None = None) -> BurkholzCNNTicket:
    """Prune a random CNN of depth ``L + 1`` (or ``2L``) to approximate ``target``.

    Burkholz (ICML 2022); the layouts and the departures are in the module docstring.

    Parameters
    ----------
    target : CNN
        Kernels, optional biases, one activation of ``"relu"``, ``"leaky_relu"``,
        ``"tanh"``, ``"sigmoid"``, padding with ``2 padding <= k - 1``; skip connections
        (with ``scheme="L+1"`` only between hidden layers). The construction assumes
        filters of l1 norm <= 1 and ``|b| <= 1``.
    eps, delta : float in (0, 1)
        Accuracy (max-norm error on ``[-radius, radius]`` inputs) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source.
    n : int, optional
        Copies per target channel (the univariate blocks have
        :func:`slth.bounds.burkholz_block` channels per sign). ``None``: the width formula
        with the ``C`` in use (:func:`slth.bounds.burkholz_cnn_n`).
    scheme : {"L+1", "2L"}
        Source depth.
    dist : {"uniform", "normal"}
        Distribution of the source entries.
    C : float
        Constant of the width formula (default: this package's calibration).
    radius : float
        Max-norm radius of the inputs.
    max_values : int
        Values per exact subset-sum attempt.
    tau : float
        Value the constant channels of the L+1 layout approximate.
    alpha : float, optional
        Linear-regime scale of the 1 x 1 layers (smooth activations); default
        :func:`layer_alpha`, fixed before any draw.
    refine : bool
        With the L+1 layout, finer windows for the problems above the tolerances of
        :func:`refine_tolerances` (aimed at the certified bound; no effect on ``"2L"``).
    check_assumptions : bool
        Refuse targets outside the assumptions (else record the violations).
    threads : int, optional
        Threads of the subset-sum engine.
    max_bytes : int, optional
        Memory cap.

    Returns
    -------
    BurkholzCNNTicket

    Raises
    ------
    TypeError
        If ``target`` is not a CNN.
    ValueError
        An activation not covered, a head, skips from the input or into the output
        layer with ``scheme="L+1"``, a padding
        over ``(k - 1) / 2``, an assumption violation, eps/delta outside (0, 1), a build
        over the memory cap.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> f = random_cnn_target([1, 2, 2], 3, seed=0, bias=0.5)
    >>> t = burkholz_cnn(f, eps=0.1, delta=0.1, seed=0)         # the formula's n
    >>> t.params["n"], t.widths
    (28, (1, 141, 84, 2))
    >>> x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 6, 6))
    >>> bool(np.abs(t(x) - f(x)).max() < 0.01)
    True
    """
    eps, delta, C, max_values, dist = check_build_args("burkholz_cnn", eps, delta, C,
                                                       max_values, dist)
    scheme = check_choice(scheme, "scheme", SCHEMES)
    radius = check_positive(radius, "radius")
    tau = check_positive(tau, "tau")
    violations = check_burkholz_cnn_target(target, scheme, radius, check_assumptions)
    return _Build(target, scheme, eps, delta, seed, n, dist, C, radius, max_values, tau,
                  alpha, bool(refine), threads, max_bytes, violations).run()


def burkholz_cnn_2l(target: CNN, eps: float = 0.01, delta: float = 0.01, seed=None,
                    n: int | None = None, **kwargs) -> BurkholzCNNTicket:
    """:func:`burkholz_cnn` with ``scheme="2L"``: one univariate pair per target layer,
    residual targets (skip connections kept) included.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> f = random_cnn_target([2, 2, 2], 3, seed=0, bias=0.5, skips=[(0, 1)])
    >>> t = burkholz_cnn_2l(f, eps=0.1, delta=0.1, seed=0, n=6)
    >>> t.spec.skips, t.depth
    (((0, 3),), 4)
    """
    if "scheme" in kwargs:
        raise TypeError("burkholz_cnn_2l() got an unexpected keyword argument 'scheme'")
    return burkholz_cnn(target, eps, delta, seed, n, scheme="2L", **kwargs)
