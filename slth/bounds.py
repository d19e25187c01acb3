"""What the theorems require: source widths as functions of the target, eps and delta.

Every requirement is given twice: as a plain function (numbers in, numbers out)
and as a sympy expression (to print, differentiate or plot symbolically). The
papers state their widths up to constants they do not specify; those constants
are named parameters here, with the defaults this package uses documented.

Random subset sum (Lueker 1998; Pensia et al. 2020, Cor. 3.3; da Cunha et al.,
ESA 2023): ``n >= C log2(1 / min(eps, delta))`` i.i.d. samples (uniform, or
products of two uniforms) approximate every target in [-1, 1] within eps with
probability at least 1 - delta. ``C`` is not given by the papers; the default
``C = 3`` is this package's choice: with it, tickets of small random targets at the
required width are certified eps-close in the package's tests (``C = 2`` was not
enough at delta = 0.1: the product distributions of the first layers reach large
targets only with enough terms of the right sign).

Examples
--------
>>> from slth import bounds
>>> bounds.rss_n(0.01, 0.01)
20
>>> bounds.pensia_n([784, 300, 100, 10], eps=0.01, delta=0.01)
77
>>> str(bounds.rss_n_expr())
'C*log(1/Min(delta, epsilon))/log(2)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import sympy as sp

from slth._validate import as_float, check_int, check_open_unit, check_positive

__all__ = [
    "DEFAULT_C", "rss_n", "rss_n_expr", "pensia_weight_eps", "pensia_n", "pensia_n_expr",
    "pensia_widths", "burkholz_n", "burkholz_n_expr", "burkholz_widths", "rss_problems",
]

#: Default constant of the random-subset-sum lemma (unspecified in the papers).
DEFAULT_C = 3.0


def _widths(widths: Sequence[int]) -> tuple[int, ...]:
    try:
        w = tuple(widths)
    except TypeError as exc:
        raise TypeError(f"widths must be a sequence of ints, got {widths!r}") from exc
    if len(w) < 2:
        raise ValueError(f"widths must hold at least an input and an output width, got {w!r}")
    return tuple(check_int(x, f"widths[{i}]", minimum=1) for i, x in enumerate(w))


def rss_n(eps: float, delta: float, C: float = DEFAULT_C) -> int:
    """Samples per subset-sum problem: ``ceil(C log2(1 / min(eps, delta)))``.

    Parameters
    ----------
    eps : float in (0, 1)
        Accuracy for every target in [-1, 1].
    delta : float in (0, 1)
        Failure probability.
    C : float
        The lemma's constant (unspecified in the papers; default :data:`DEFAULT_C`).

    Examples
    --------
    >>> rss_n(2**-10, 0.5, C=1.0)
    10
    """
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    C = check_positive(C, "C")
    return max(1, math.ceil(C * math.log2(1.0 / min(eps, delta)) - 1e-9))


def rss_n_expr():
    """``C log2(1 / min(epsilon, delta))`` as a sympy expression."""
    eps, delta, C = sp.symbols("epsilon delta C", positive=True)
    return C * sp.log(1 / sp.Min(eps, delta), 2)


def rss_problems(widths: Sequence[int], construction: str = "pensia", n: int = 1) -> int:
    """Number of subset-sum problems a construction solves (for union bounds and cost).

    ``pensia``: two per target weight (the sign split). ``burkholz``: per copy of each
    target neuron, two per first-layer weight and one per later weight, plus biases.
    """
    w = _widths(widths)
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

    ``eps / (2 L D radius)`` with ``D = max_l sqrt(d_l d_{l-1})``: if every achieved
    subset-sum error is at most this, the error propagation of :mod:`slth.verify`
    (spectral norms at most 1, no biases, ReLU) gives a sup error of at most
    ``(eps / 2) exp(eps / (2 radius)) <= eps`` on the ball of that radius.

    Examples
    --------
    >>> round(pensia_weight_eps([4, 4, 4], 0.1), 6)
    0.00625
    """
    w = _widths(widths)
    eps = check_open_unit(eps, "eps")
    radius = check_positive(radius, "radius")
    L = len(w) - 1
    D = max(math.sqrt(w[l] * w[l + 1]) for l in range(L))
    return eps / (2.0 * L * D * radius)


def pensia_n(widths: Sequence[int], eps: float, delta: float, C: float = DEFAULT_C,
             radius: float = 1.0) -> int:
    """Samples per sign of each block (half the block width) in Pensia et al.'s construction.

    ``n = ceil(C log2(1 / min(eps_w, delta_w)))`` with ``eps_w`` from
    :func:`pensia_weight_eps` and ``delta_w = delta / (2 sum_l d_l d_{l-1})`` (a union
    bound over all subset-sum problems). The paper states
    ``n = O(log(d_{l-1} d_l L / min(eps, delta)))`` without the constant; ``C`` is it.
    """
    w = _widths(widths)
    delta = check_open_unit(delta, "delta")
    eps_w = pensia_weight_eps(w, eps, radius)
    delta_w = delta / rss_problems(w, "pensia")
    C = check_positive(C, "C")
    return max(1, math.ceil(C * math.log2(1.0 / min(eps_w, delta_w)) - 1e-9))


def pensia_n_expr():
    """Pensia's ``n`` as a sympy expression in the widths' scale ``d``, depth ``L``, eps, delta, C.

    With all widths equal to ``d``: ``C log2(max(2 L d / eps, 2 L d^2 / delta))``.
    """
    d, L, eps, delta, C = sp.symbols("d L epsilon delta C", positive=True)
    return C * sp.log(sp.Max(2 * L * d / eps, 2 * L * d**2 / delta), 2)


def pensia_widths(widths: Sequence[int], n: int) -> tuple[int, ...]:
    """Source widths of the depth-2L construction: ``d_0, 2 n d_0, d_1, 2 n d_1, ..., d_L``."""
    w = _widths(widths)
    n = check_int(n, "n", minimum=1)
    out = [w[0]]
    for l in range(len(w) - 1):
        out += [2 * n * w[l], w[l + 1]]
    return tuple(out)


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
    w = _widths(widths)
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    C = check_positive(C, "C")
    N = sum(w[l + 1] * (w[l] + 1) for l in range(len(w) - 1))
    return max(1, math.ceil(C * math.log2(N / min(eps, delta)) - 1e-9))


def burkholz_n_expr():
    """Burkholz's ``n`` as a sympy expression in the parameter count ``N``, eps, delta, C."""
    N, eps, delta, C = sp.symbols("N epsilon delta C", positive=True)
    return C * sp.log(N / sp.Min(eps, delta), 2)


def burkholz_widths(widths: Sequence[int], n: int, homogeneous: bool = True) -> tuple[int, ...]:
    """Source widths of the depth-L+1 construction.

    ``d_0``, then ``m (d_0 + 1)`` univariate and bias neurons (``m = 2 n`` for
    ReLU-like activations, split by sign, ``n`` otherwise), then ``n (d_l + 1)`` for each
    hidden target layer (``n`` copies of each neuron plus ``n`` constant neurons), then
    ``d_L``.
    """
    w = _widths(widths)
    n = check_int(n, "n", minimum=1)
    m = 2 * n if homogeneous else n
    out = [w[0], m * (w[0] + 1)]
    out += [n * (w[l] + 1) for l in range(1, len(w) - 1)]
    out.append(w[-1])
    return tuple(out)


def as_eps(eps) -> float:
    """Validate an accuracy in (0, 1) (shared by the constructions)."""
    return check_open_unit(as_float(eps, "eps"), "eps")
