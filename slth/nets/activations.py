"""Activation functions with the facts the constructions and checkers need.

An :class:`Activation` bundles the function, its derivative (for local
maximisation of the error), its Lipschitz constant (for certified bounds) and
the properties a construction relies on:

* ``slope_neg`` -- for positively homogeneous activations
  ``phi(x) = x`` for ``x >= 0`` and ``slope_neg * x`` for ``x < 0`` (ReLU:
  0, leaky ReLU: its slope). Then ``phi(u x) = |u| phi(sign(u) x)`` and
  ``phi(x) - phi(-x) = (1 + slope_neg) x``, the identity the sign-split
  constructions use.
* ``phi0``, ``dphi0`` -- value and derivative at 0.
* ``remainder`` -- ``(K, p)`` with ``|phi(t) - phi0 - dphi0 t| <= K |t|^p`` for
  all real t: how far the function is from its tangent at 0 (used by the
  linear-regime first layer of the depth-L+1 construction).

Examples
--------
>>> from slth.nets import activations
>>> act = activations.get("leaky_relu")
>>> act(np.array([-2.0, 3.0]))
array([-0.02,  3.  ])
>>> act.lipschitz, act.homogeneous
(1.0, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import special

from slth._validate import as_float, check_choice

__all__ = ["Activation", "ACTIVATIONS", "NAMES", "get", "custom"]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation and its properties.

    Attributes
    ----------
    name : str
        Registry key (or the user's name for a custom activation).
    fn, derivative : callable
        Vectorised ``phi`` and ``phi'`` on float64 arrays (the derivative of a
        piecewise-linear function is taken right-continuous at kinks).
    lipschitz : float
        A Lipschitz constant of ``phi`` on the real line.
    phi0, dphi0 : float
        ``phi(0)`` and ``phi'(0)``.
    slope_neg : float or None
        Slope on the negative half-line for positively homogeneous activations
        (``phi(x) = x`` on ``x >= 0``), ``None`` otherwise.
    remainder : tuple (K, p) or None
        Tangent remainder bound ``|phi(t) - phi0 - dphi0 t| <= K |t|^p``;
        ``None`` when unknown.
    monotone : bool
        Non-decreasing on the real line (used for interval bounds).
    """

    name: str
    fn: Callable = field(repr=False)
    derivative: Callable = field(repr=False)
    lipschitz: float
    phi0: float
    dphi0: float
    slope_neg: float | None = None
    remainder: tuple[float, float] | None = None
    monotone: bool = True

    @property
    def homogeneous(self) -> bool:
        """True for ReLU-like activations: ``phi(c x) = c phi(x)`` for ``c >= 0``."""
        return self.slope_neg is not None

    def __call__(self, x):
        return self.fn(x)

    def bound_abs(self, lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
        """An upper bound on ``|phi(t)|`` over each interval ``[lo, hi]``."""
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        if self.monotone:
            return np.maximum(np.abs(self.fn(lo)), np.abs(self.fn(hi)))
        # Not monotone: a grid of the interval plus the Lipschitz slack between grid points.
        grid = np.linspace(0.0, 1.0, 257)
        pts = lo[..., None] + (hi - lo)[..., None] * grid
        slack = self.lipschitz * (hi - lo) / 512.0
        return np.abs(self.fn(pts)).max(axis=-1) + slack

    def range(self, lo: NDArray[np.float64], hi: NDArray[np.float64]):
        """Bounds ``(a, b)`` with ``a <= phi(t) <= b`` for t in ``[lo, hi]``."""
        if self.monotone:
            lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
            return self.fn(lo), self.fn(hi)
        m = self.bound_abs(lo, hi)
        return -m, m


def _relu(x):
    return np.maximum(x, 0.0)


def _relu_d(x):
    return (np.asarray(x) >= 0.0).astype(np.float64)


def _leaky(slope):
    def fn(x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0.0, x, slope * x)

    def d(x):
        return np.where(np.asarray(x) >= 0.0, 1.0, slope)

    return fn, d


def _tanh_d(x):
    return 1.0 - np.tanh(x) ** 2


def _sigmoid_d(x):
    s = special.expit(x)
    return s * (1.0 - s)


def _softplus(x):
    return np.logaddexp(0.0, x)


_leaky_fn, _leaky_d = _leaky(0.01)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", _relu, _relu_d, 1.0, 0.0, 1.0, slope_neg=0.0),
        Activation("leaky_relu", _leaky_fn, _leaky_d, 1.0, 0.0, 1.0, slope_neg=0.01),
        # |tanh t - t| <= |t|^3 / 3 (alternating Taylor series, tanh odd and concave on t >= 0)
        Activation("tanh", np.tanh, _tanh_d, 1.0, 0.0, 1.0, remainder=(1.0 / 3.0, 3.0)),
        # sigmoid(t) - 1/2 - t/4 = (tanh(t/2) - t/2) / 2, so the bound is (|t|/2)^3 / 6
        Activation("sigmoid", special.expit, _sigmoid_d, 0.25, 0.5, 0.25,
                   remainder=(1.0 / 48.0, 3.0)),
        # softplus'' = sigmoid' <= 1/4, so the tangent remainder is at most t^2 / 8
        Activation("softplus", _softplus, special.expit, 1.0, float(np.log(2.0)), 0.5,
                   remainder=(1.0 / 8.0, 2.0)),
    )
}
NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def leaky_relu(slope: float = 0.01) -> Activation:
    """Leaky ReLU with the given negative slope in [0, 1).

    Examples
    --------
    >>> leaky_relu(0.2)(np.array([-1.0]))
    array([-0.2])
    """
    slope = as_float(slope, "slope")
    if not 0.0 <= slope < 1.0:
        raise ValueError(f"slope must lie in [0, 1), got {slope!r}")
    fn, d = _leaky(slope)
    return Activation("relu" if slope == 0.0 else "leaky_relu", fn, d, 1.0, 0.0, 1.0,
                      slope_neg=slope)


def custom(fn: Callable, *, lipschitz: float, derivative: Callable | None = None,
           name: str = "custom", remainder: tuple[float, float] | None = None,
           monotone: bool = False) -> Activation:
    """Wrap a user-supplied elementwise function.

    Parameters
    ----------
    fn : callable
        Vectorised function on float64 arrays.
    lipschitz : float
        A Lipschitz constant (the certified bound relies on it; it is not checked
        beyond a grid test).
    derivative : callable, optional
        ``phi'``; a central finite difference is used when omitted.
    name : str
        Label for reports.
    remainder : (K, p), optional
        Tangent remainder bound ``|phi(t) - phi(0) - phi'(0) t| <= K |t|^p``;
        required by the depth-L+1 construction for non-homogeneous activations.
    monotone : bool
        Whether ``fn`` is non-decreasing (tightens interval bounds).

    Examples
    --------
    >>> act = custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1 / 6, 3))
    >>> act.phi0, act.dphi0
    (0.0, 1.0)
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    lipschitz = as_float(lipschitz, "lipschitz")
    if lipschitz <= 0:
        raise ValueError(f"lipschitz must be > 0, got {lipschitz!r}")
    if derivative is None:
        def derivative(x, _f=fn):
            h = 1e-6
            return (_f(np.asarray(x) + h) - _f(np.asarray(x) - h)) / (2 * h)
    grid = np.linspace(-5.0, 5.0, 1001)
    vals = np.asarray(fn(grid), dtype=np.float64)
    if vals.shape != grid.shape or not np.all(np.isfinite(vals)):
        raise ValueError("fn must map a float64 array elementwise to finite values")
    steep = np.max(np.abs(np.diff(vals)) / np.diff(grid))
    if steep > lipschitz * (1 + 1e-6):
        raise ValueError(
            f"lipschitz={lipschitz!r} is too small: fn has slope {steep:.6g} on [-5, 5]")
    if remainder is not None:
        k, p = (as_float(remainder[0], "remainder[0]"), as_float(remainder[1], "remainder[1]"))
        remainder = (k, p)
    phi0 = float(np.asarray(fn(np.zeros(1)))[0])
    dphi0 = float(np.asarray(derivative(np.zeros(1)))[0])
    return Activation(name, fn, derivative, lipschitz, phi0, dphi0, remainder=remainder,
                      monotone=bool(monotone))


def get(activation: str | Activation) -> Activation:
    """Look up an activation by name; an :class:`Activation` passes through.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        For anything else; wrap plain callables with :func:`custom`.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        return ACTIVATIONS[check_choice(activation, "activation", NAMES)]
    if callable(activation):
        raise TypeError(
            "activation: plain callables need a Lipschitz constant; wrap it with "
            f"slth.nets.activations.custom(fn, lipschitz=...), got {activation!r}")
    raise TypeError(f"activation must be a name in {NAMES} or an Activation, got {activation!r}")
