"""The papers' width formulas: source widths as functions of the target, eps and delta.

The papers state their widths up to constants they do not give. Every formula here has
the form ``n = max(1, ceil(C term))`` with its constant ``C`` named, and :data:`FORMULAS`
records, per construction and lemma, whose formula it is, what ``n`` counts, the ``C`` in
use and where that ``C`` comes from: the paper's own constant, this package's
calibration, or a placeholder (fitted to nothing). :meth:`WidthFormula.label` is how
every output names a width computed here. None of the constants in use is a paper's, so
these widths are the papers' formulas evaluated with constants this package chose, not
widths a theorem guarantees to suffice. Each formula is given as a plain function
(numbers in, numbers out) and as a sympy expression (to print, differentiate or plot).

Random subset sum (Lueker 1998; Pensia et al. 2020, Cor. 3.3; da Cunha et al.,
ESA 2023): ``n >= C log2(2 / min(eps, delta))`` i.i.d. samples approximate every
target in [-1, 1] within eps with probability at least 1 - delta, for a constant
``C`` that depends on the distribution and that the papers do not give. The constants
:data:`RSS_C` are this package's calibration with the exact
:func:`slth.rss.min_samples`: the smallest round constants whose n reached coverage
probability 1 - delta at eps = delta in {0.2, 0.1, 0.03, 0.01, 0.001} (3000 trials
each). Products of two uniforms, whose mass sits near 0, need the larger constant, and
the hyperbolic distribution of Orseau et al. (``gamma = 2^-10``), which spreads its mass
evenly over the dyadic scales of [2^-10, 1], the largest (8; fitted with seed 2027,
rechecked with seed 4049).
The lemma rows of ``slth verify-bounds`` measure coverage with the same estimator, so
they re-check this fit. ``python -m proofs_check`` re-checks these claims with
Clopper-Pearson bounds.

The network formulas (:func:`pensia_n`, :func:`burkholz_n`, :func:`cnn_unstructured_n`)
use :data:`DEFAULT_C` (``C = 3``) in their own union-bound forms, calibrated so that
tickets of small random targets built at the formula's width are certified eps-close
(``slth verify-bounds`` and the package's tests; those rows test the calibration). The
depth-L+1 first layer's block of ``ceil(5n/3)`` neurons per sign is the ratio of two
calibrated subset-sum constants (:func:`burkholz_block`). The multidimensional formula
(:func:`mrss_n`) takes ``C = 3`` as a placeholder. The structured CNN formula
(:func:`cnn_structured_channels`) is a placeholder as a whole: the paper's width statement
is not transcribed here, and in its place this package evaluates Becchetti et al.'s i.i.d.
multidimensional RSS rate with ``d = k^2``, exponent ``a = 3``, ``C = 3`` and a union
bound over the structured problems; its label says so (:attr:`WidthFormula.stands_in`).

Examples
--------
>>> from slth import bounds
>>> bounds.rss_n(0.01, 0.01)
23
>>> bounds.pensia_n([784, 300, 100, 10], eps=0.01, delta=0.01)
77
>>> str(bounds.rss_n_expr())
'C*log(2/Min(delta, epsilon))/log(2)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from slth._validate import (
    as_float,
    check_choice,
    check_int,
    check_open_unit,
    check_positive,
    check_widths,
)

__all__ = [
    "DEFAULT_C", "RSS_C", "rss_n", "rss_n_expr", "pensia_weight_eps", "pensia_n", "pensia_n_expr",
    "pensia_widths", "burkholz_n", "burkholz_n_expr", "burkholz_block", "burkholz_widths",
    "rss_problems", "width_from_term", "rss_term", "pensia_term", "burkholz_term", "mrss_n",
    "mrss_term", "WidthFormula", "FORMULAS", "counting_lower_n", "fischer_burkholz_weight_eps",
    "fischer_burkholz_n", "fischer_burkholz_term", "fischer_burkholz_n_expr",
    "fischer_burkholz_widths", "fischer_burkholz_problems", "burkholz_cnn_n",
    "burkholz_cnn_term", "burkholz_cnn_n_expr",
]

#: Constant ``C`` of the networks' width formulas (not given by the papers; this package's
#: calibration, see the module docstring and :data:`FORMULAS`).
DEFAULT_C = 3.0

#: Constant of the random-subset-sum lemma per sample distribution (this package's
#: calibration, see the module docstring).
RSS_C = {"uniform": 3.0, "normal": 3.0, "nsn": 3.0, "uniform_product": 5.0, "hyperbolic": 8.0}


def rss_n(eps: float, delta: float, C: float | None = None, dist: str = "uniform") -> int:
    """Samples per subset-sum problem: ``ceil(C log2(2 / min(eps, delta)))``.

    Parameters
    ----------
    eps : float in (0, 1)
        Accuracy for every target in [-1, 1].
    delta : float in (0, 1)
        Failure probability.
    C : float, optional
        The lemma's constant (unspecified in the papers); default ``RSS_C[dist]``.
    dist : str
        Sample distribution, for the default constant (a key of :data:`RSS_C`).

    Examples
    --------
    >>> rss_n(2**-10, 0.5, C=1.0)
    11
    >>> rss_n(0.01, 0.01, dist="uniform_product")
    39
    """
    if C is None:
        C = RSS_C[check_choice(dist, "dist", tuple(RSS_C))]
    return width_from_term(C, rss_term(eps, delta))


def rss_term(eps: float, delta: float) -> float:
    """``log2(2 / min(eps, delta))``: the term :func:`rss_n` multiplies by ``C``."""
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    return math.log2(2.0 / min(eps, delta))


def width_from_term(C: float, term: float) -> int:
    """``max(1, ceil(C term))``, the form of every width formula here (``C term`` within
    1e-9 of an integer counts as that integer, so that an implied constant
    ``C* = n / term`` gives back ``n``).

    Examples
    --------
    >>> width_from_term(3.0, 2.5), width_from_term(0.1, 2.0)
    (8, 1)
    """
    C = check_positive(C, "C")
    return max(1, math.ceil(C * term - 1e-9))


def rss_n_expr():
    """``C log2(2 / min(epsilon, delta))`` as a sympy expression."""
    eps, delta, C = sp.symbols("epsilon delta C", positive=True)
    return C * sp.log(2 / sp.Min(eps, delta), 2)


def rss_problems(widths: Sequence[int], construction: str = "pensia", n: int = 1) -> int:
    """Number of subset-sum problems a construction solves (for union bounds and cost).

    ``pensia``: two per target weight (the sign split, as in the paper; the build solves
    the negative side in the first layer only, it is dead in the later ones, so this
    count bounds the problems solved from above and the union bound over it holds).
    ``burkholz``: per copy of each target neuron, two per first-layer weight and one per
    later weight, plus biases.
    """
    w = check_widths(widths)
    if construction == "pensia":
        return 2 * sum(w[l] * w[l + 1] for l in range(len(w) - 1))
    L = len(w) - 1
    total = 0
    for l in range(L):
        rows = w[l + 1] * n + (n if l < L - 1 else 0) if l < L - 1 else w[l + 1]
        per_row = 2 * w[0] + 1 if l == 0 else w[l] + 1
        total += rows * per_row
    return total


# ----------------------------------------------------------------- Pensia et al.
def pensia_weight_eps(widths: Sequence[int], eps: float, radius: float = 1.0) -> float:
    """Per-weight accuracy that makes the depth-2L ticket eps-close.

    ``eps / (2 L D max(radius, eps))`` with ``D = max_l sqrt(d_l d_{l-1})``: if every
    achieved subset-sum error is at most this, the error propagation of :mod:`slth.verify`
    (spectral norms at most 1, no biases, ReLU) gives a sup error of at most
    ``L e D r (1 + e D)^(L-1) <= (eps / 2) exp(eps / (2 max(r, eps))) <= 0.83 eps`` on the
    ball of radius ``r``. (With ``radius`` alone in place of ``max(radius, eps)`` the last
    step fails for ``radius < eps / (2 ln 2)``.)

    Examples
    --------
    >>> round(pensia_weight_eps([4, 4, 4], 0.1), 6)
    0.00625
    """
    w = check_widths(widths)
    eps = check_open_unit(eps, "eps")
    radius = check_positive(radius, "radius")
    L = len(w) - 1
    D = max(math.sqrt(w[l] * w[l + 1]) for l in range(L))
    return eps / (2.0 * L * D * max(radius, eps))


def pensia_n(widths: Sequence[int], eps: float, delta: float, C: float = DEFAULT_C,
             radius: float = 1.0) -> int:
    """Samples per sign of each block (half the block width) in Pensia et al.'s construction.

    ``n = ceil(C log2(1 / min(eps_w, delta_w)))`` with ``eps_w`` from
    :func:`pensia_weight_eps` and ``delta_w = delta / (2 sum_l d_l d_{l-1})`` (a union
    bound over all subset-sum problems). The paper states
    ``n = O(log(d_{l-1} d_l L / min(eps, delta)))`` without the constant; ``C`` is it.
    """
    return width_from_term(C, pensia_term(widths, eps, delta, radius))


def pensia_term(widths: Sequence[int], eps: float, delta: float, radius: float = 1.0) -> float:
    """``log2(1 / min(eps_w, delta_w))``: the term :func:`pensia_n` multiplies by ``C``."""
    w = check_widths(widths)
    delta = check_open_unit(delta, "delta")
    eps_w = pensia_weight_eps(w, eps, radius)
    delta_w = delta / rss_problems(w, "pensia")
    return math.log2(1.0 / min(eps_w, delta_w))


def pensia_n_expr():
    """Pensia's ``n`` as a sympy expression in the widths' scale ``d``, depth ``L``, eps, delta, C.

    With all widths equal to ``d``: ``C log2(max(2 L d / eps, 2 L d^2 / delta))``.
    """
    d, L, eps, delta, C = sp.symbols("d L epsilon delta C", positive=True)
    return C * sp.log(sp.Max(2 * L * d / eps, 2 * L * d**2 / delta), 2)


def pensia_widths(widths: Sequence[int], n: int) -> tuple[int, ...]:
    """Source widths of the depth-2L construction: ``d_0, 2 n d_0, d_1, 2 n d_1, ..., d_L``."""
    w = check_widths(widths)
    n = check_int(n, "n", minimum=1)
    out = [w[0]]
    for l in range(len(w) - 1):
        out += [2 * n * w[l], w[l + 1]]
    return tuple(out)


# -------------------------------------------------------------------- Malach et al.
#: Constant ``C`` of :func:`malach_n`: not the paper's (its statement gives the width as a
#: polynomial; its proof's constants are not transcribed here, (check)). ``C = 4`` is this
#: package's derivation of a sufficient constant for the form of :func:`malach_term`: for
#: ``u, v`` i.i.d. uniform on [-1, 1] the density of ``|u| v`` is ``-ln|t| / 2``,
#: decreasing in ``|t|``, so every window of width ``e`` inside [-1, 1] holds mass at least
#: that of ``[1 - e, 1]``, ``(e + (1 - e) ln(1 - e)) / 2 >= e^2 / 4``; a neuron of a block of
#: ``2 n`` has the right sign and a good product with probability at least ``e^2 / 8``, and
#: ``(1 - e^2 / 8)^(2 n) <= exp(-n e^2 / 4) <= delta_w`` for ``n >= 4 ln(1 / delta_w) / e^2``.
#: Not fitted to anything (a placeholder in :data:`FORMULAS`'s terms).
MALACH_C = 4.0


def malach_n(widths: Sequence[int], eps: float, delta: float, C: float = MALACH_C,
             radius: float = 1.0) -> int:
    """Neurons per sign in each block of Malach et al.'s depth-2L construction.

    ``n = ceil(C ln(1 / delta_w) / eps_w^2)``, with the per-weight accuracy ``eps_w`` of
    :func:`pensia_weight_eps` (the same layout and error propagation) and
    ``delta_w = delta / (2 sum_l d_l d_{l-1})`` (a union bound over both signs of every
    target weight). Each target weight keeps one neuron per sign (a good pair); the
    chance that one random neuron is good is of order ``eps_w^2`` at worst, hence the
    width polynomial in ``1 / eps`` (Pensia et al.'s subset sums need ``log(1 / eps)``).
    ``C`` defaults to :data:`MALACH_C`, this package's derivation, not the paper's.

    Examples
    --------
    >>> malach_n([2, 2, 1], 0.1, 0.1)
    122560
    >>> malach_n([2, 2, 1], 0.1, 0.1, C=0.01)
    307
    """
    return width_from_term(C, malach_term(widths, eps, delta, radius))


def malach_term(widths: Sequence[int], eps: float, delta: float, radius: float = 1.0) -> float:
    """``ln(1 / delta_w) / eps_w^2``: the term :func:`malach_n` multiplies by ``C``.

    Examples
    --------
    >>> round(malach_term([2, 2, 1], 0.1, 0.1), 1)
    30639.9
    """
    w = check_widths(widths)
    delta = check_open_unit(delta, "delta")
    eps_w = pensia_weight_eps(w, eps, radius)
    delta_w = delta / rss_problems(w, "pensia")
    return math.log(1.0 / delta_w) / eps_w**2


def malach_n_expr():
    """Malach's ``n`` (this package's form, :func:`malach_n`) as a sympy expression in
    the widths' scale ``d``, depth ``L``, eps, delta and C (inputs in the unit ball).

    With all widths ``d``: ``eps_w = eps / (2 L d)``, ``delta_w = delta / (2 L d^2)``.

    Examples
    --------
    >>> print(malach_n_expr())
    4*C*L**2*d**2*log(2*L*d**2/delta)/epsilon**2
    """
    d, L, eps, delta, C = sp.symbols("d L epsilon delta C", positive=True)
    return C * sp.log(2 * L * d**2 / delta) * (2 * L * d / eps) ** 2


__all__ += ["MALACH_C", "malach_n", "malach_term", "malach_n_expr"]
# ------------------------------------------------------- Orseau, Hutter, Rivasplata
__all__ += ["ORSEAU_C", "orseau_gamma", "orseau_n", "orseau_term", "orseau_n_expr", "orseau_widths",
            "source_sizes"]

#: Constant ``C`` of the depth-2L hyperbolic construction's width formula (not given by the
#: paper; this package's calibration, see :data:`FORMULAS`).
ORSEAU_C = 1.25


def orseau_n(widths: Sequence[int], eps: float, delta: float, C: float = ORSEAU_C,
             radius: float = 1.0) -> int:
    """Neurons per sign in each per-weight block of Orseau et al.'s construction.

    Orseau, Hutter, Rivasplata (2020) give every target weight its own block of
    hyperbolic neurons whose size is logarithmic (check: the paper's exact power of the
    logarithm, its argument and constants). This package evaluates

        n = ceil(C log2(1/gamma) log2(1 / min(eps_w, delta_w))),

    with the per-weight accuracy ``eps_w`` of :func:`pensia_weight_eps` (the same error
    propagation: the tickets fold like Pensia et al.'s), ``delta_w = delta / (2 sum_l d_l
    d_{l-1})`` (a union bound over both signs of every weight) and ``gamma`` from
    :func:`orseau_gamma`. The factor ``log2(1/gamma)`` (about ``log2(1/eps_w) / 2``) is
    this package's departure: a sample lands on a given dyadic scale with probability
    ``1 / log2(1/gamma)``, so covering the scales of a decomposition within probability
    ``delta_w`` takes about ``log2(1/gamma) log2(1/delta_w)`` samples; without it the
    formula fell short of the measured sufficient width at eps <= 0.03 (implied
    constants of the width without the factor grew from about 3 at eps = 0.1 to 7 at
    eps = 0.003, 4-4-2 targets), with it they stay between 0.8 and 1.1. ``C`` (default
    :data:`ORSEAU_C`) is this package's calibration.

    Examples
    --------
    >>> orseau_n([4, 4, 2], 0.01, 0.01)
    92
    """
    return width_from_term(C, orseau_term(widths, eps, delta, radius))


def orseau_gamma(widths: Sequence[int], eps: float, radius: float = 1.0) -> float:
    """Smallest magnitude ``gamma`` of the hyperbolic source: ``2^-ceil(log2(1/eps_w) / 2)``,
    ``eps_w`` from :func:`pensia_weight_eps`.

    A product of two source weights then reaches down to about ``eps_w`` (``gamma^2 <=
    eps_w``), the finest scale a per-weight decomposition needs, while each dyadic scale
    of ``[gamma, 1]`` keeps mass ``1 / log2(1/gamma)``: a smaller ``gamma`` spreads the
    same mass over scales below the accuracy, where it only slows the large terms of the
    decomposition. This package's choice (check: how the paper ties ``gamma`` to eps);
    fixed by the target's widths, eps and the radius before any draw.

    Examples
    --------
    >>> orseau_gamma([4, 4, 2], 0.1)          # eps_w = 0.00625, log2(1/eps_w) = 7.3
    0.0625
    """
    e = pensia_weight_eps(widths, eps, radius)
    return 2.0 ** -math.ceil(math.log2(1.0 / e) / 2.0 - 1e-12)


def orseau_term(widths: Sequence[int], eps: float, delta: float, radius: float = 1.0) -> float:
    """``log2(1/gamma) log2(1 / min(eps_w, delta_w))``: the term :func:`orseau_n`
    multiplies by ``C`` (:func:`orseau_gamma` times :func:`pensia_term`).

    Examples
    --------
    >>> orseau_term([4, 4, 2], 0.1, 0.1) == 4 * pensia_term([4, 4, 2], 0.1, 0.1)
    True
    """
    gamma = orseau_gamma(widths, eps, radius)
    return math.log2(1.0 / gamma) * pensia_term(widths, eps, delta, radius)


def orseau_n_expr():
    """Orseau et al.'s ``n`` per block (:func:`orseau_n`) as a sympy expression, all
    widths ``d``, radius 1: ``C ceiling(log2(2 L d / eps) / 2) log2(max(2 L d / eps,
    2 L d^2 / delta))``; the blocks are per target weight (:func:`orseau_widths`).

    Examples
    --------
    >>> print(orseau_n_expr())
    C*log(Max(2*L*d/epsilon, 2*L*d**2/delta))*ceiling(log(2*L*d/epsilon)/(2*log(2)))/log(2)
    """
    d, L, eps, delta, C = sp.symbols("d L epsilon delta C", positive=True)
    lg_gamma = sp.ceiling(sp.log(2 * L * d / eps, 2) / 2)
    return C * lg_gamma * sp.log(sp.Max(2 * L * d / eps, 2 * L * d**2 / delta), 2)


def orseau_widths(widths: Sequence[int], n: int) -> tuple[int, ...]:
    """Source widths of the hyperbolic depth-2L construction:
    ``d_0, 2 n d_0 d_1, d_1, 2 n d_1 d_2, ..., d_L`` (a block of ``2 n`` neurons per target
    weight, against Pensia's per input neuron, :func:`pensia_widths`).

    Examples
    --------
    >>> orseau_widths([3, 4, 2], 2)
    (3, 48, 4, 32, 2)
    """
    w = check_widths(widths)
    n = check_int(n, "n", minimum=1)
    out = [w[0]]
    for l in range(len(w) - 1):
        out += [2 * n * w[l] * w[l + 1], w[l + 1]]
    return tuple(out)


def source_sizes(widths: Sequence[int], eps: float, delta: float,
                 C_pensia: float = DEFAULT_C, C_orseau: float = ORSEAU_C,
                 radius: float = 1.0) -> dict:
    """Parameters of Pensia et al.'s and Orseau et al.'s depth-2L sources for one target,
    each at its width formula's ``n`` (with its ``C``).

    Both sources are dense and bias-free: layer pair ``l`` has ``h (d_{l-1} + d_l)``
    weights, ``h`` its hidden width (``2 n d_{l-1}`` for Pensia's blocks per input
    neuron, ``2 n d_{l-1} d_l`` for Orseau's blocks per target weight). Orseau's blocks
    trade the shared block for a factor ``d_l`` in width.

    Returns
    -------
    dict
        ``{"pensia": {"n", "widths", "params"}, "orseau": {...}, "target_params",
        "ratio"}`` (``ratio``: Orseau's parameters over Pensia's).

    Examples
    --------
    >>> s = source_sizes([4, 4, 2], 0.01, 0.01)
    >>> s["pensia"]["params"], s["orseau"]["params"], s["target_params"]
    (4144, 32384, 24)
    """
    w = check_widths(widths)
    out: dict = {"target_params": sum(w[l] * w[l + 1] for l in range(len(w) - 1))}
    for name, C, n_of, widths_of in (("pensia", C_pensia, pensia_n, pensia_widths),
                                     ("orseau", C_orseau, orseau_n, orseau_widths)):
        n = n_of(w, eps, delta, C, radius)
        sw = widths_of(w, n)
        out[name] = {"n": n, "widths": sw,
                     "params": sum(sw[l] * sw[l + 1] for l in range(len(sw) - 1))}
    out["ratio"] = out["orseau"]["params"] / out["pensia"]["params"]
    return out


# ------------------------------------------------------------------- Burkholz
def burkholz_n(widths: Sequence[int], eps: float, delta: float, C: float = DEFAULT_C) -> int:
    """Copies per target neuron (and samples per problem) of the depth-L+1 construction.

    ``n = ceil(C log2(N / min(eps, delta)))``, ``N`` the number of target parameters
    (weights and biases), the form of Burkholz (2022) with its unspecified constant
    as ``C``.

    Examples
    --------
    >>> burkholz_n([3, 4, 2], 0.1, 0.1)
    25
    """
    return width_from_term(C, burkholz_term(widths, eps, delta))


def burkholz_term(widths: Sequence[int], eps: float, delta: float) -> float:
    """``log2(N / min(eps, delta))``: the term :func:`burkholz_n` multiplies by ``C``."""
    w = check_widths(widths)
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    N = sum(w[l + 1] * (w[l] + 1) for l in range(len(w) - 1))
    return math.log2(N / min(eps, delta))


def burkholz_n_expr():
    """Burkholz's ``n`` as a sympy expression in the parameter count ``N``, eps, delta, C."""
    N, eps, delta, C = sp.symbols("N epsilon delta C", positive=True)
    return C * sp.log(N / sp.Min(eps, delta), 2)


#: Distribution of the product of two independent source entries (first-layer problems).
PRODUCT_OF = {"uniform": "uniform_product", "normal": "nsn"}


def burkholz_block(n: int, dist: str = "uniform") -> int:
    """Univariate neurons per input (and per sign, for ReLU-like activations) of layer 1.

    The first layer's subset-sum problems are over products of two source entries, whose
    lemma constant :data:`RSS_C` is larger than that of plain entries (5 against 3 for
    uniform sources: products of uniforms put much of their mass near 0), so the block
    is ``ceil(n RSS_C[product] / RSS_C[dist])``, ``n`` the copies per target neuron.
    For normal sources (products NSN, constant 3) it is ``n``.

    Examples
    --------
    >>> burkholz_block(25), burkholz_block(25, "normal")
    (42, 25)
    """
    n = check_int(n, "n", minimum=1)
    dist = check_choice(dist, "dist", tuple(PRODUCT_OF))
    return max(1, math.ceil(n * RSS_C[PRODUCT_OF[dist]] / RSS_C[dist] - 1e-9))


def burkholz_widths(widths: Sequence[int], n: int, homogeneous: bool = True,
                    coarse: int = 0, dist: str = "uniform") -> tuple[int, ...]:
    """Source widths of the depth-L+1 construction.

    ``d_0``, then ``m (d_0 + 1)`` univariate and bias neurons (``m = 2 b`` for
    ReLU-like activations, split by sign, ``b`` otherwise, ``b`` from
    :func:`burkholz_block`), then ``n (d_l + 1)`` for each hidden target layer (``n``
    copies of each neuron plus ``n`` constant neurons), then ``d_L``. ``coarse`` extra
    bias neurons serve activations with ``phi(0) != 0``
    (see :func:`slth.tickets.burkholz.coarse_count`).

    Examples
    --------
    >>> burkholz_widths([3, 4, 2], 6)
    (3, 80, 30, 2)
    """
    w = check_widths(widths)
    n = check_int(n, "n", minimum=1)
    coarse = check_int(coarse, "coarse", minimum=0)
    b = burkholz_block(n, dist)
    m = 2 * b if homogeneous else b
    out = [w[0], m * (w[0] + 1) + coarse]
    out += [n * (w[l] + 1) for l in range(1, len(w) - 1)]
    out.append(w[-1])
    return tuple(out)


# ---------------------------------------------------------- Fischer & Burkholz
def fischer_burkholz_problems(widths: Sequence[int]) -> int:
    """Subset-sum problems of the depth-2L construction with biases: two per target
    weight (the sign split) and one per target bias (over the bias block).

    Examples
    --------
    >>> fischer_burkholz_problems([4, 4, 2])
    54
    """
    w = check_widths(widths)
    return sum(w[l + 1] * (2 * w[l] + 1) for l in range(len(w) - 1))


def fischer_burkholz_weight_eps(widths: Sequence[int], eps: float, radius: float = 1.0) -> float:
    """Per-parameter accuracy of the depth-2L construction with biases.

    :func:`pensia_weight_eps` with each bias read as the weight of a constant input 1:
    ``eps / (2 L D max(radius, 1))`` with ``D = max_l sqrt(d_l (d_{l-1} + 1))`` (the
    augmented input ``(x, 1)`` has norm at most ``sqrt(2) max(radius, 1)``; the constant
    ``C`` of :func:`fischer_burkholz_n` absorbs the rest).

    Examples
    --------
    >>> round(fischer_burkholz_weight_eps([4, 4, 2], 0.1), 6)
    0.00559
    """
    w = check_widths(widths)
    eps = check_open_unit(eps, "eps")
    radius = check_positive(radius, "radius")
    L = len(w) - 1
    D = max(math.sqrt(w[l + 1] * (w[l] + 1)) for l in range(L))
    return eps / (2.0 * L * D * max(radius, 1.0))


def fischer_burkholz_term(widths: Sequence[int], eps: float, delta: float,
                          radius: float = 1.0) -> float:
    """``log2(1 / min(eps_w, delta_w))``: the term :func:`fischer_burkholz_n` multiplies
    by ``C``."""
    w = check_widths(widths)
    delta = check_open_unit(delta, "delta")
    eps_w = fischer_burkholz_weight_eps(w, eps, radius)
    delta_w = delta / fischer_burkholz_problems(w)
    return math.log2(1.0 / min(eps_w, delta_w))


def fischer_burkholz_n(widths: Sequence[int], eps: float, delta: float, C: float = DEFAULT_C,
                       radius: float = 1.0) -> int:
    """Neurons per sign in each block (input blocks and the bias block) of Fischer &
    Burkholz's depth-2L construction with biases.

    ``n = ceil(C log2(1 / min(eps_w, delta_w)))`` with ``eps_w`` from
    :func:`fischer_burkholz_weight_eps` and ``delta_w = delta / P``, ``P`` the number of
    subset-sum problems (two per weight, one per bias: a union bound). The paper states
    the intermediate width ``rho (d_{l-1} + 1)`` with ``rho = O(log(N / min(eps,
    delta)))`` up to a constant it does not give (check); ``rho = 2 n`` here and ``C`` is
    that constant. Where the target has no biases the term differs from
    :func:`pensia_term` only through the ``+ 1`` of the bias block.

    Examples
    --------
    >>> fischer_burkholz_n([4, 4, 2], 0.1, 0.1)
    28
    """
    return width_from_term(C, fischer_burkholz_term(widths, eps, delta, radius))


def fischer_burkholz_n_expr():
    """Fischer & Burkholz's ``n`` as a sympy expression in the widths' scale ``d``, depth
    ``L``, eps, delta, C (radius 1).

    With all widths equal to ``d``: ``C log2(max(2 L sqrt(d (d + 1)) / eps,
    L d (2 d + 1) / delta))``.
    """
    d, L, eps, delta, C = sp.symbols("d L epsilon delta C", positive=True)
    return C * sp.log(sp.Max(2 * L * sp.sqrt(d * (d + 1)) / eps,
                             L * d * (2 * d + 1) / delta), 2)


def fischer_burkholz_widths(widths: Sequence[int], n: int) -> tuple[int, ...]:
    """Source widths of the depth-2L construction with biases: ``d_0, 2 n (d_0 + 1), d_1,
    2 n (d_1 + 1), ..., d_L`` (per input a block of ``2 n`` univariate neurons, and a
    block of ``2 n`` bias neurons).

    Examples
    --------
    >>> fischer_burkholz_widths([3, 4, 2], 5)
    (3, 40, 4, 50, 2)
    """
    w = check_widths(widths)
    n = check_int(n, "n", minimum=1)
    out = [w[0]]
    for l in range(len(w) - 1):
        out += [2 * n * (w[l] + 1), w[l + 1]]
    return tuple(out)


def as_eps(eps) -> float:
    """Validate an accuracy in (0, 1) (shared by the constructions)."""
    return check_open_unit(as_float(eps, "eps"), "eps")


# ------------------------------------------------------------------------- CNNs
# da Cunha, Natale, Viennot (ICLR 2022), unstructured, and da Cunha, d'Amore, Natale
# (NeurIPS 2023), structured. Targets: ReLU CNNs without biases whose output filters have
# l1 norm <= 1; inputs in the max-norm ball of ``radius``; error in the max norm over all
# output entries. Both constructions represent target layer l (kernels k_l x k_l,
# c_{l-1} -> c_l) by a 1 x 1 source convolution to 2 n c_{l-1} channels followed by a
# k_l x k_l source convolution to c_l channels.

__all__ += ["cnn_weight_eps", "cnn_problems", "cnn_unstructured_n", "cnn_unstructured_n_expr",
            "cnn_structured_channels", "cnn_structured_channels_expr", "cnn_widths",
            "cnn_structured_eta",
            "DEFAULT_KERNEL_EXPONENT", "cnn_unstructured_term", "cnn_structured_term"]

#: Exponent ``a`` of the kernel dimension ``D = k^2`` in the structured placeholder
#: formula: that of the i.i.d. multidimensional RSS bound of Becchetti et al.
#: (``n = O(d^3 log(1/eps)(log(1/eps) + log d))``), which the NSN variant of da Cunha,
#: d'Amore, Natale builds on. Not the paper's exponent, which is not transcribed here.
DEFAULT_KERNEL_EXPONENT = 3.0


def _cnn_shape(channels: Sequence[int], kernel_sizes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    c = check_widths(channels, "channels")
    L = len(c) - 1
    if isinstance(kernel_sizes, int) and not isinstance(kernel_sizes, bool):
        kernel_sizes = (kernel_sizes,) * L
    try:
        ks = tuple(kernel_sizes)
    except TypeError as exc:
        raise TypeError(f"kernel_sizes must be an int or a sequence of ints, "
                        f"got {kernel_sizes!r}") from exc
    if len(ks) != L:
        raise ValueError(f"kernel_sizes must have one entry per layer ({L}), got {ks!r}")
    return c, tuple(check_int(k, f"kernel_sizes[{i}]", minimum=1) for i, k in enumerate(ks))


def cnn_weight_eps(channels: Sequence[int], kernel_sizes, eps: float,
                   radius: float = 1.0) -> float:
    """Per-entry accuracy that makes a CNN ticket (either construction) eps-close.

    With every effective kernel entry within ``e`` of the target's, layer ``l`` adds at
    most ``a_l = c_{l-1} k_l^2 e`` times the max norm of its input, and the errors of the
    max-norm propagation of :mod:`slth.verify` compound to
    ``radius (prod_l (1 + a_l) - 1)``. This returns the largest ``e`` with
    ``a = max_l a_l`` and ``radius ((1 + a)^L - 1) = eps``:
    ``e = ((1 + eps / radius)^(1/L) - 1) / max_l c_{l-1} k_l^2``.

    Examples
    --------
    >>> round(cnn_weight_eps([1, 2, 2], 3, 0.21), 6)
    0.005556
    """
    c, ks = _cnn_shape(channels, kernel_sizes)
    eps = check_open_unit(eps, "eps")
    radius = check_positive(radius, "radius")
    L = len(c) - 1
    a = (1.0 + eps / radius) ** (1.0 / L) - 1.0
    return a / max(c[l] * ks[l] ** 2 for l in range(L))


def cnn_problems(channels: Sequence[int], kernel_sizes, structured: bool = False) -> int:
    """Subset-sum problems of a CNN construction: two (the sign split) per target kernel
    entry (unstructured) or per target kernel (structured, multidimensional). The
    paper's count: the unstructured build solves one in the later layers (their
    negative side is dead), so this bounds the problems solved from above.

    Examples
    --------
    >>> cnn_problems([1, 2, 2], 3), cnn_problems([1, 2, 2], 3, structured=True)
    (108, 12)
    """
    c, ks = _cnn_shape(channels, kernel_sizes)
    per = [c[l] * c[l + 1] * (1 if structured else ks[l] ** 2) for l in range(len(c) - 1)]
    return 2 * sum(per)


def cnn_unstructured_n(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                       C: float = DEFAULT_C, radius: float = 1.0) -> int:
    """Random channels per sign and input channel of the unstructured depth-2L CNN ticket.

    ``n = ceil(C log2(1 / min(e, delta / P)))`` with ``e`` from :func:`cnn_weight_eps` and
    ``P`` from :func:`cnn_problems` (a union bound). The paper states
    ``n = O(log(d^2 c_{l-1} c_l L / min(eps, delta)))`` without the constant; ``C`` is it
    (default :data:`DEFAULT_C`). The source layer pair of target layer ``l`` has
    ``2 n c_{l-1}`` intermediate channels.

    Examples
    --------
    >>> cnn_unstructured_n([1, 8, 16], 3, eps=0.1, delta=0.01)
    54
    """
    return width_from_term(C, cnn_unstructured_term(channels, kernel_sizes, eps, delta, radius))


def cnn_unstructured_term(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                          radius: float = 1.0) -> float:
    """``log2(1 / min(e, delta / P))``: the term :func:`cnn_unstructured_n` multiplies by
    ``C``."""
    c, ks = _cnn_shape(channels, kernel_sizes)
    delta = check_open_unit(delta, "delta")
    e = cnn_weight_eps(c, ks, eps, radius)
    return math.log2(1.0 / min(e, delta / cnn_problems(c, ks)))


def cnn_unstructured_n_expr():
    """The unstructured formula with all channels ``c``, kernels ``k``, depth ``L``:
    ``C log2(1 / min(((1 + epsilon/r)^(1/L) - 1) / (c k^2), delta / (2 L c^2 k^2)))``."""
    c, k, L, eps, delta, C, r = sp.symbols("c k L epsilon delta C r", positive=True)
    e = ((1 + eps / r) ** (1 / L) - 1) / (c * k**2)
    return C * sp.log(1 / sp.Min(e, delta / (2 * L * c**2 * k**2)), 2)


def cnn_structured_channels(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                            C: float = DEFAULT_C, radius: float = 1.0,
                            kernel_exponent: float = DEFAULT_KERNEL_EXPONENT) -> int:
    """Random channels per sign and input channel of the structured CNN ticket, by a
    placeholder formula (not da Cunha, d'Amore, Natale's statement).

    The paper's width statement (its exponents in the kernel size, channels and depth,
    and its NSN multidimensional RSS lemma) is not transcribed here. In its place this
    evaluates Becchetti et al.'s i.i.d. multidimensional RSS rate: each target kernel (a
    vector in R^D, ``D = k^2``) is one subset-sum problem within ``e``
    (:func:`cnn_weight_eps`) in the max norm, with failure probability ``delta / P``
    (:func:`cnn_problems`, structured; a union bound), and

        n = ceil(C D^a log2(1/eta) (log2(1/eta) + log2 D)),   eta = min(e, delta / P),

    with ``D = max_l k_l^2``. ``C`` (default :data:`DEFAULT_C`, the network formulas'
    constant, not fitted to this construction) and ``a = kernel_exponent`` (default
    :data:`DEFAULT_KERNEL_EXPONENT`, Becchetti et al.'s exponent) are this package's
    choices. The i.i.d. rate does not cover the construction's vectors, which share their
    scalar factor across output channels (the dependence the paper's NSN lemma handles).
    The source layer pair of target layer ``l`` has ``2 n c_{l-1}`` intermediate channels
    (:func:`cnn_widths`): this package's layout (a 1 x 1 convolution with one weight per
    intermediate channel, then a k x k convolution, normal entries), which may differ from
    the paper's source architecture.

    Examples
    --------
    >>> cnn_structured_channels([1, 2, 2], 1, eps=0.2, delta=0.1)
    144
    """
    return width_from_term(C, cnn_structured_term(channels, kernel_sizes, eps, delta, radius,
                                                  kernel_exponent))


def cnn_structured_eta(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                       radius: float = 1.0) -> float:
    """``eta = min(e, delta / P)``: the per-problem accuracy and failure probability of the
    structured placeholder formula (:func:`cnn_structured_channels`).

    Examples
    --------
    >>> round(cnn_structured_eta([1, 2, 2], 1, eps=0.2, delta=0.1), 6)
    0.008333
    """
    c, ks = _cnn_shape(channels, kernel_sizes)
    delta = check_open_unit(delta, "delta")
    e = cnn_weight_eps(c, ks, eps, radius)
    return min(e, delta / cnn_problems(c, ks, structured=True))


def cnn_structured_term(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                        radius: float = 1.0,
                        kernel_exponent: float = DEFAULT_KERNEL_EXPONENT) -> float:
    """``D^a log2(1/eta) (log2(1/eta) + log2 D)``: the term :func:`cnn_structured_channels`
    multiplies by ``C`` (``eta`` from :func:`cnn_structured_eta`)."""
    _, ks = _cnn_shape(channels, kernel_sizes)
    a = check_positive(kernel_exponent, "kernel_exponent")
    eta = cnn_structured_eta(channels, ks, eps, delta, radius)
    D = max(k * k for k in ks)
    lg = math.log2(1.0 / eta)
    return D**a * lg * (lg + math.log2(D))


def cnn_structured_channels_expr():
    """The structured placeholder formula (:func:`cnn_structured_channels`) as a sympy
    expression in ``D = k^2``, ``eta`` (:func:`cnn_structured_eta`), ``C`` and the
    exponent ``a``: Becchetti et al.'s i.i.d. MRSS rate, not the paper's statement.

    Examples
    --------
    >>> print(cnn_structured_channels_expr())
    C*D**a*(log(D)/log(2) + log(1/eta)/log(2))*log(1/eta)/log(2)
    """
    D, eta, C, a = sp.symbols("D eta C a", positive=True)
    lg = sp.log(1 / eta, 2)
    return C * D**a * lg * (lg + sp.log(D, 2))


def cnn_widths(channels: Sequence[int], n: int) -> tuple[int, ...]:
    """Source channels of both CNN constructions: ``c_0, 2 n c_0, c_1, 2 n c_1, ..., c_L``.

    Examples
    --------
    >>> cnn_widths([1, 2, 2], 3)
    (1, 6, 2, 12, 2)
    """
    return pensia_widths(channels, n)


def burkholz_cnn_n(channels: Sequence[int], kernel_sizes, eps: float, delta: float,
                   C: float = DEFAULT_C) -> int:
    """Copies per target channel of Burkholz's CNN / ResNet tickets (depth L+1 and 2L).

    ``n = ceil(C log2(N / min(eps, delta)))``, ``N`` the number of target parameters
    (kernel entries and biases): the form of Burkholz (ICML 2022, ``rho = O(log(N /
    min(eps, delta)))``, check) with its unspecified constant as ``C`` (default this
    package's calibration, :data:`DEFAULT_C`). The univariate blocks have
    :func:`burkholz_block` channels per sign.

    Examples
    --------
    >>> burkholz_cnn_n([1, 2, 2], 3, eps=0.1, delta=0.1)
    28
    """
    return width_from_term(C, burkholz_cnn_term(channels, kernel_sizes, eps, delta))


def burkholz_cnn_term(channels: Sequence[int], kernel_sizes, eps: float,
                      delta: float) -> float:
    """``log2(N / min(eps, delta))``: the term :func:`burkholz_cnn_n` multiplies by ``C``."""
    c, ks = _cnn_shape(channels, kernel_sizes)
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    N = sum(c[l + 1] * (c[l] * ks[l] ** 2 + 1) for l in range(len(ks)))
    return math.log2(N / min(eps, delta))


def burkholz_cnn_n_expr():
    """The CNN formula with all channels ``c``, kernels ``k``, depth ``L``:
    ``C log2(L c (c k^2 + 1) / min(epsilon, delta))``."""
    c, k, L, eps, delta, C = sp.symbols("c k L epsilon delta C", positive=True)
    return C * sp.log(L * c * (c * k**2 + 1) / sp.Min(eps, delta), 2)


def counting_lower_n(eps: float, d: int = 1) -> int:
    """No fewer than ``ceil(d log2(1/eps))`` vectors can cover [-1, 1]^d within eps in the
    max norm: their ``2^n`` subset sums cover a volume of at most ``2^n (2 eps)^d`` of the
    cube's ``2^d``. A lower bound on the sample size of the subset-sum lemmas (1-D: ``d = 1``).

    Examples
    --------
    >>> counting_lower_n(0.01), counting_lower_n(0.1, 3)
    (7, 10)
    """
    eps = check_open_unit(eps, "eps")
    d = check_int(d, "d", minimum=1)
    return max(1, math.ceil(d * math.log2(1.0 / eps) - 1e-9))


# ------------------------------------------------------------------- MRSS lemma
def mrss_n(eps: float, d: int, C: float = DEFAULT_C) -> int:
    """Becchetti et al.'s MRSS width ``ceil(C d^3 log2(1/eps) (log2(1/eps) + log2 d))``.

    Becchetti et al. (arXiv 2207.13944) prove ``n = O(d^3 log(1/eps) (log(1/eps) + log d))``
    without the constant; the default ``C = 3`` is borrowed from the network formulas
    (:data:`DEFAULT_C`), not fitted to this lemma.

    Examples
    --------
    >>> mrss_n(0.1, 2)
    345
    """
    return width_from_term(C, mrss_term(eps, d))


def mrss_term(eps: float, d: int) -> float:
    """``d^3 log2(1/eps) (log2(1/eps) + log2 d)``: the term :func:`mrss_n` multiplies by
    ``C``."""
    eps = check_open_unit(eps, "eps")
    d = check_int(d, "d", minimum=1)
    le = math.log2(1.0 / eps)
    return d**3 * le * (le + math.log2(d))


# ------------------------------------------------------------- the formulas, named
@dataclass(frozen=True)
class WidthFormula:
    """A paper's width formula as this package evaluates it: ``n = max(1, ceil(C term))``.

    Attributes
    ----------
    name : str
        The construction or lemma (``"pensia"``, ``"rss"``, ...).
    paper : str
        Whose formula: the citation shown in every output.
    quantity : str
        What ``n`` counts in that construction.
    term : callable
        The formula without its constant, called with the construction's arguments.
    C : float
        The constant in use by default.
    per_dist : dict, optional
        The constant per sample distribution, where it depends on it (:data:`RSS_C`);
        ``C`` is then that of uniform samples.
    origin : {"paper", "calibrated", "placeholder"}
        Where ``C`` comes from: the paper's own constant, this package's calibration, or
        a placeholder (neither given by the paper nor fitted).
    fitted : str
        How ``C`` was chosen.
    stands_in : str, optional
        For a formula that is a placeholder as a whole (the paper's statement not
        transcribed): what is evaluated in its place, a format string over ``C``,
        ``C_origin`` and the names of :attr:`params`. :meth:`label` then reads
        ``"placeholder for <paper>'s width formula ...: <stands_in>"``.
    params : dict, optional
        The formula's other named parameters and their defaults (``{"kernel_exponent":
        3.0}``), shown by :meth:`label`.
    """

    name: str
    paper: str
    quantity: str
    term: Callable[..., float]
    C: float
    origin: str
    fitted: str
    per_dist: dict | None = None
    stands_in: str | None = None
    params: dict | None = None

    def n(self, *args, C: float | None = None, **kwargs) -> int:
        """The formula's ``n`` for the construction's arguments (``C`` default :attr:`C`)."""
        return width_from_term(self.C if C is None else C, self.term(*args, **kwargs))

    def implied_C(self, n: int, *args, **kwargs) -> float:
        """``C* = n / term``: the constant at which the formula gives ``n``.

        Examples
        --------
        >>> f = FORMULAS["burkholz"]
        >>> c = f.implied_C(10, [3, 4, 2], 0.1, 0.1)
        >>> round(c, 4), f.n([3, 4, 2], 0.1, 0.1, C=c)
        (1.2465, 10)
        """
        n = check_int(n, "n", minimum=1)
        return n / self.term(*args, **kwargs)

    def default_C(self, dist: str | None = None) -> float:
        """The constant in use for samples of ``dist`` (:attr:`per_dist`), else :attr:`C`.

        Examples
        --------
        >>> FORMULAS["rss"].default_C("uniform_product"), FORMULAS["pensia"].default_C()
        (5.0, 3.0)
        """
        if self.per_dist is not None and dist is not None and dist in self.per_dist:
            return float(self.per_dist[dist])
        return self.C

    def label(self, C: float | None = None, dist: str | None = None, **params) -> str:
        """``"<paper>'s width formula with C = <value> (<origin>)"``, as outputs name it
        (``dist``: the sample distribution, for formulas whose constant depends on it;
        ``params``: values of :attr:`params` other than their defaults). A formula that
        stands in for a paper's untranscribed one (:attr:`stands_in`) is named as the
        placeholder it is, with its parameters.

        Examples
        --------
        >>> FORMULAS["pensia"].label()
        "Pensia et al. 2020's width formula with C = 3 (this package's calibration)"
        >>> print(FORMULAS["cnn_structured"].label(kernel_exponent=2))
        ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
        placeholder for da Cunha et al. 2023's width formula (not the paper's statement): ...
        d = k^2, exponent a = 2, C = 3 (this package's choice, not fitted), union bound ...
        """
        C = self.default_C(dist) if C is None else float(C)
        where = self.origin_of(C, dist)
        if self.stands_in is not None:
            origin = {"placeholder": "this package's choice, not fitted"}.get(
                where, self._ORIGIN_TEXT[where])
            values = {**(self.params or {}), **{k: v for k, v in params.items()
                                                 if v is not None}}
            unknown = set(values) - set(self.params or {})
            if unknown:
                raise ValueError(f"params of {self.name!r} are {sorted(self.params or {})}, "
                                 f"got {sorted(unknown)}")
            text = self.stands_in.format(C=f"{C:g}", C_origin=origin,
                                         **{k: f"{float(v):g}" for k, v in values.items()})
            return (f"placeholder for {self.paper}'s width formula (not the paper's "
                    f"statement): {text}")
        return f"{self.paper}'s width formula with C = {C:g} ({self._ORIGIN_TEXT[where]})"

    _ORIGIN_TEXT = {"paper": "the paper's constant", "calibrated": "this package's calibration",
                    "placeholder": "a placeholder, not fitted", "given": "given by the caller"}

    def origin_of(self, C: float | None = None, dist: str | None = None) -> str:
        """Where a constant comes from: :attr:`origin` for the constant in use
        (:meth:`default_C`), ``"given"`` (by the caller) for any other.

        Examples
        --------
        >>> FORMULAS["mrss"].origin_of(), FORMULAS["mrss"].origin_of(5.0)
        ('placeholder', 'given')
        >>> FORMULAS["rss"].origin_of(3.0, "uniform_product")
        'given'
        """
        if C is None or float(C) == self.default_C(dist):
            return self.origin
        return "given"


_NETWORK_FIT = ("not given by the paper; chosen by this package so that tickets of small "
                "random targets (4-4-2, eps = 0.1) built at the formula's width are "
                "certified within eps (slth verify-bounds)")

#: The width formulas, by construction or lemma. ``"rss"`` uses the constant of uniform
#: samples; :data:`RSS_C` holds the others.
FORMULAS: dict[str, WidthFormula] = {f.name: f for f in (
    WidthFormula("rss", "Lueker 1998 (as in Pensia et al. 2020, Cor. 3.3)",
                 "samples per subset-sum problem", rss_term, RSS_C["uniform"], "calibrated",
                 "not given by the papers; the smallest round constant whose n reached "
                 "coverage probability 1 - delta at eps = delta in {0.2, 0.1, 0.03, 0.01, "
                 "0.001} in 3000 trials of slth.rss.min_samples (the estimator the lemma "
                 "rows of slth verify-bounds use again), per sample distribution",
                 RSS_C),
    WidthFormula("mrss", "Becchetti et al. 2022", "vectors", mrss_term, DEFAULT_C,
                 "placeholder", "not given by the paper; the network formulas' constant, "
                 "not fitted to this lemma"),
    WidthFormula("pensia", "Pensia et al. 2020", "neurons per sign in each block",
                 pensia_term, DEFAULT_C, "calibrated", _NETWORK_FIT),
    WidthFormula("malach", "Malach et al. 2020", "neurons per sign in each block",
                 malach_term, MALACH_C, "placeholder",
                 "not given in the paper's statement (its proof's constants are not "
                 "transcribed here); C = 4 is this package's derivation of a sufficient "
                 "constant for its form ln(1/delta_w)/eps_w^2 (each neuron of a block is "
                 "good with probability >= eps_w^2/8; see slth.bounds.MALACH_C), not "
                 "fitted"),
    WidthFormula("orseau", "Orseau et al. 2020", "neurons per sign in each per-weight block",
                 orseau_term, ORSEAU_C, "calibrated", _NETWORK_FIT.replace(
                     "random targets", "random targets, hyperbolic sources") + "; the "
                 "smallest round constant (a multiple of 1/4) whose width was at least the "
                 "smallest n certified for 0.9 of the seeds at eps in {0.1, 0.03, 0.01} (5 "
                 "seeds) and 0.003 (3 seeds), 4-4-2, delta = 0.1 (slth.experiments.slack)"),
    WidthFormula("burkholz", "Burkholz 2022", "copies per target neuron", burkholz_term,
                 DEFAULT_C, "calibrated", _NETWORK_FIT + "; the first layer's block of "
                 "ceil(5n/3) per sign is the ratio of two calibrated RSS constants "
                 "(burkholz_block)"),
    WidthFormula("fischer_burkholz", "Fischer & Burkholz 2021", "neurons per sign in each "
                 "block", fischer_burkholz_term, DEFAULT_C, "calibrated", _NETWORK_FIT),
    WidthFormula("cnn_unstructured", "da Cunha et al. 2022", "channels per sign and input "
                 "channel", cnn_unstructured_term, DEFAULT_C, "calibrated", _NETWORK_FIT
                 .replace("4-4-2", "1-2-2 3x3")),
    WidthFormula("cnn_structured", "da Cunha et al. 2023", "channels per sign and input "
                 "channel", cnn_structured_term, DEFAULT_C, "placeholder",
                 "the formula is a placeholder, not the paper's statement (which is not "
                 "transcribed here); C is the network formulas' constant, not fitted to "
                 "this construction",
                 stands_in="Becchetti et al. 2022's i.i.d. MRSS rate n = C d^a "
                 "log2(1/eta) (log2(1/eta) + log2 d) with d = k^2, exponent a = "
                 "{kernel_exponent}, C = {C} ({C_origin}), union bound over the P "
                 "structured problems (eta = min(e, delta / P))",
                 params={"kernel_exponent": DEFAULT_KERNEL_EXPONENT}),
    WidthFormula("burkholz_cnn", "Burkholz 2022 (ICML)", "copies per target channel",
                 burkholz_cnn_term, DEFAULT_C, "calibrated", _NETWORK_FIT
                 .replace("4-4-2", "1-2-2 3x3 with biases, relu and tanh")),
    WidthFormula("burkholz_cnn_2l", "Burkholz 2022 (ICML)", "channels per sign and input "
                 "channel (univariate blocks: burkholz_block)", burkholz_cnn_term,
                 DEFAULT_C, "calibrated", _NETWORK_FIT
                 .replace("4-4-2", "1-2-2 3x3 with biases, relu and tanh")),
)}
