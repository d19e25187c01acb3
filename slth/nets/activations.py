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

The built-in activations' constants are proved (comments next to each); those of a
:func:`custom` activation are the caller's, tested on grids by :func:`check_constants`
(a grid cannot prove a constant: ``Activation.proved`` tells them apart, and the reports
of :mod:`slth.verify` say when a certificate rests on declared constants).

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

__all__ = ["Activation", "ACTIVATIONS", "NAMES", "get", "custom", "check_constants",
           "same_activation"]


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
    proved : bool
        The constants are proved (the built-in activations); ``False`` for constants
        declared by a caller (:func:`custom`), which are only tested on grids.
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
    proved: bool = False

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
        Activation("relu", _relu, _relu_d, 1.0, 0.0, 1.0, slope_neg=0.0, proved=True),
        Activation("leaky_relu", _leaky_fn, _leaky_d, 1.0, 0.0, 1.0, slope_neg=0.01,
                   proved=True),
        # |tanh t - t| <= |t|^3 / 3 (alternating Taylor series, tanh odd and concave on t >= 0)
        Activation("tanh", np.tanh, _tanh_d, 1.0, 0.0, 1.0, remainder=(1.0 / 3.0, 3.0),
                   proved=True),
        # sigmoid(t) - 1/2 - t/4 = (tanh(t/2) - t/2) / 2, so the bound is (|t|/2)^3 / 6
        Activation("sigmoid", special.expit, _sigmoid_d, 0.25, 0.5, 0.25,
                   remainder=(1.0 / 48.0, 3.0), proved=True),
        # softplus'' = sigmoid' <= 1/4, so the tangent remainder is at most t^2 / 8
        Activation("softplus", _softplus, special.expit, 1.0, float(np.log(2.0)), 0.5,
                   remainder=(1.0 / 8.0, 2.0), proved=True),
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
                      slope_neg=slope, proved=True)


def custom(fn: Callable, *, lipschitz: float, derivative: Callable | None = None,
           name: str = "custom", remainder: tuple[float, float] | None = None,
           monotone: bool = False) -> Activation:
    """Wrap a user-supplied elementwise function, its declared constants tested on grids.

    The certificates of :mod:`slth.verify` rely on the constants: they are tested by
    :func:`check_constants` (the Lipschitz constant and monotonicity on ``[-50, 50]``,
    ``phi'(0)`` against finite differences, the tangent remainder on ``[-50, 50]`` and on
    ``1e-6 <= |t| <= 1``), and a constant the grid contradicts is refused. A grid cannot
    prove a constant: the activation is marked ``proved=False``, and a report whose
    certificate rests on it says so.

    Parameters
    ----------
    fn : callable
        Vectorised function on float64 arrays.
    lipschitz : float
        A Lipschitz constant of ``fn`` on the real line.
    derivative : callable, optional
        ``phi'``; a central finite difference is used when omitted. ``phi'(0)`` is its
        value at 0.
    name : str
        Label for reports.
    remainder : (K, p), optional
        Tangent remainder bound ``|phi(t) - phi(0) - phi'(0) t| <= K |t|^p`` for all
        real t (``K >= 0``, ``p > 1``); required by the depth-L+1 construction for
        non-homogeneous activations.
    monotone : bool
        Whether ``fn`` is non-decreasing (the interval bounds of the certificates then
        take its values at the ends of an interval).

    Returns
    -------
    Activation

    Raises
    ------
    TypeError
        ``fn`` or ``derivative`` not callable, ``remainder`` not a pair of numbers.
    ValueError
        A constant the grids contradict (the message names it, the declared value and
        the measured one), ``fn`` not elementwise or not finite on the grid.

    Examples
    --------
    >>> act = custom(np.sin, lipschitz=1.0, derivative=np.cos, remainder=(1 / 6, 3))
    >>> act.phi0, act.dphi0, act.proved
    (0.0, 1.0, False)
    >>> custom(np.sin, lipschitz=1.0, remainder=(1e-6, 3))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: remainder: declared K=1e-06 (p=3) ..., measured K >= 0.166667 (at t=-50: ...)
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
    elif not callable(derivative):
        raise TypeError(f"derivative must be callable or None, got {derivative!r}")
    if remainder is not None:
        if isinstance(remainder, (str, bytes)) or not hasattr(remainder, "__len__") \
                or len(remainder) != 2:
            raise TypeError(f"remainder must be a pair (K, p), got {remainder!r}")
        k, p = (as_float(remainder[0], "remainder[0]"), as_float(remainder[1], "remainder[1]"))
        if k < 0.0:
            raise ValueError(f"remainder[0] (K) must be >= 0, got {k!r}")
        if p <= 1.0:
            raise ValueError(f"remainder[1] (p) must be > 1 (a remainder of higher order "
                             f"than the tangent), got {p!r}")
        remainder = (k, p)
    grid = _grids()[0]
    vals = np.asarray(fn(grid), dtype=np.float64)
    if vals.shape != grid.shape or not np.all(np.isfinite(vals)):
        raise ValueError(f"fn must map a float64 array elementwise to finite values "
                         f"(tested on [-{CHECK_RANGE:g}, {CHECK_RANGE:g}])")
    phi0 = float(np.asarray(fn(np.zeros(1)))[0])
    dphi0 = float(np.asarray(derivative(np.zeros(1)))[0])
    act = Activation(name, fn, derivative, lipschitz, phi0, dphi0, remainder=remainder,
                     monotone=bool(monotone))
    check_constants(act)
    return act


#: Half-width of the grids of :func:`check_constants` and their step: ``[-50, 50]`` in
#: steps of 1e-3 (100,001 points).
CHECK_RANGE, CHECK_STEP = 50.0, 1e-3

#: Near 0, :func:`check_constants` also tests ``1e-6 <= |t| <= 1``, 40 points per decade.
CHECK_SMALL = (1e-6, 1.0, 40)

#: Rounding allowance of the grid tests, in units of float64's eps times the magnitudes
#: of the values compared.
CHECK_ULPS = 8.0


def _grids():
    """The wide grid (sorted, with 0) and the grid near 0 (sorted, without 0)."""
    half = int(round(CHECK_RANGE / CHECK_STEP))
    wide = np.arange(-half, half + 1) * CHECK_STEP
    lo, hi, per = CHECK_SMALL
    small = np.logspace(np.log10(lo), np.log10(hi), int(round(per * np.log10(hi / lo))) + 1)
    return wide, np.concatenate([-small[::-1], small])


def check_constants(act: Activation) -> None:
    """Test an activation's constants on grids; raise at the first one they contradict.

    Tested, with an allowance for floating-point rounding (:data:`CHECK_ULPS`):

    * ``lipschitz``: the slopes between neighbouring points of ``[-50, 50]`` (step
      1e-3) and of ``1e-6 <= |t| <= 1`` (log-spaced) are at most the constant;
    * ``phi0``: ``fn(0)``;
    * ``dphi0``: within ``1e-5 max(1, |dphi0|)`` of a finite difference of ``fn`` at 0
      (right, left or central, step 1e-6; a kink at 0 has the right derivative);
    * ``remainder`` ``(K, p)``: ``|fn(t) - phi0 - dphi0 t| <= K |t|^p`` on both grids;
    * ``monotone`` (when declared): ``fn`` non-decreasing on the grids;
    * ``slope_neg`` (positive homogeneity, when declared): ``fn(t) = t`` for ``t >= 0``
      and ``slope_neg t`` for ``t < 0`` on the grids.

    A grid test can refute a constant, not prove it: :func:`custom` runs it on every
    declared activation, and the built-in activations (whose constants are proved)
    pass it too.

    Parameters
    ----------
    act : Activation

    Raises
    ------
    ValueError
        Naming the constant, its declared value and the measured one.

    Examples
    --------
    >>> check_constants(get("tanh"))
    >>> import dataclasses
    >>> check_constants(dataclasses.replace(get("tanh"), lipschitz=0.5))
    Traceback (most recent call last):
    ...
    ValueError: lipschitz: declared 0.5, measured slope 1 (between t=-1e-06 and t=0) on [-50, 50]
    """
    if not isinstance(act, Activation):
        raise TypeError(f"act must be an Activation, got {type(act).__name__}")
    wide, small = _grids()
    t = np.union1d(wide, small)
    f = np.asarray(act.fn(t), dtype=np.float64)
    if f.shape != t.shape or not np.all(np.isfinite(f)):
        raise ValueError(f"{act.name}: fn must map a float64 array elementwise to finite "
                         f"values (tested on [-{CHECK_RANGE:g}, {CHECK_RANGE:g}])")
    ulp = CHECK_ULPS * np.finfo(np.float64).eps
    dt, df = np.diff(t), np.diff(f)
    mag = np.abs(f[1:]) + np.abs(f[:-1])
    # lipschitz
    excess = np.abs(df) - act.lipschitz * dt * (1 + 1e-12) - ulp * mag
    i = int(np.argmax(excess / dt))
    if excess[i] > 0:
        raise ValueError(f"lipschitz: declared {act.lipschitz:.6g}, measured slope "
                         f"{abs(df[i]) / dt[i]:.6g} (between t={t[i]:.6g} and "
                         f"t={t[i + 1]:.6g}) on [-{CHECK_RANGE:g}, {CHECK_RANGE:g}]")
    # monotone
    if act.monotone:
        i = int(np.argmin(df + ulp * mag))
        if df[i] + ulp * mag[i] < 0:
            raise ValueError(f"monotone: declared True, measured a decrease: "
                             f"fn({t[i]:.6g}) = {f[i]:.6g} > fn({t[i + 1]:.6g}) = "
                             f"{f[i + 1]:.6g}")
    # phi0 and dphi0
    z = np.flatnonzero(t == 0.0)[0]
    if abs(f[z] - act.phi0) > ulp * max(1.0, abs(act.phi0)):
        raise ValueError(f"phi0: declared {act.phi0:.6g}, measured fn(0) = {f[z]:.6g}")
    h = 1e-6
    fh = np.asarray(act.fn(np.array([-h, 0.0, h])), dtype=np.float64)
    quotients = ((fh[2] - fh[1]) / h, (fh[1] - fh[0]) / h, (fh[2] - fh[0]) / (2 * h))
    gap = min(abs(act.dphi0 - q) for q in quotients)
    if not gap <= 1e-5 * max(1.0, abs(act.dphi0)) + ulp * np.abs(fh).max() / h:
        raise ValueError(f"dphi0: declared phi'(0) = {act.dphi0:.6g}, measured "
                         f"{quotients[2]:.6g} (finite differences of fn at 0: right "
                         f"{quotients[0]:.6g}, left {quotients[1]:.6g})")
    nz = t != 0.0
    tn, fn_ = t[nz], f[nz]
    # positive homogeneity
    if act.slope_neg is not None:
        want = np.where(tn >= 0.0, tn, act.slope_neg * tn)
        bad = np.abs(fn_ - want) > ulp * (np.abs(fn_) + np.abs(want))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"slope_neg: declared {act.slope_neg:.6g} (phi(t) = t for "
                             f"t >= 0, {act.slope_neg:.6g} t for t < 0), measured "
                             f"fn({tn[i]:.6g}) = {fn_[i]:.6g} instead of {want[i]:.6g}")
    # tangent remainder
    if act.remainder is not None:
        K, p = act.remainder
        lin = act.phi0 + act.dphi0 * tn
        r = np.abs(fn_ - lin)
        allowance = ulp * (np.abs(fn_) + np.abs(lin) + abs(act.phi0))
        scale = np.abs(tn) ** p
        over = r - K * scale * (1 + 1e-12) - allowance
        if np.any(over > 0):
            i = int(np.argmax(over))
            needed = float(np.max(np.maximum(r - allowance, 0.0) / scale))
            raise ValueError(
                f"remainder: declared K={K:.6g} (p={p:g}) for |phi(t) - phi(0) - phi'(0) t| "
                f"<= K |t|^p, measured K >= {needed:.6g} (at t={tn[i]:.6g}: "
                f"{r[i]:.6g} > {K * scale[i]:.6g})")


def same_activation(a: Activation, b: Activation) -> bool:
    """Whether two activations are the same function with the same constants.

    Built-in activations compare by name and negative slope (``leaky_relu(0.2)`` made
    twice is the same activation); others by function and constants.

    Examples
    --------
    >>> same_activation(leaky_relu(0.2), leaky_relu(0.2)), same_activation(get("relu"),
    ...                                                                    get("tanh"))
    (True, False)
    """
    if a is b:
        return True
    if a.proved and b.proved:
        return a.name == b.name and a.slope_neg == b.slope_neg
    return (a.fn is b.fn and a.proved == b.proved
            and (a.name, a.lipschitz, a.phi0, a.dphi0, a.slope_neg, a.remainder, a.monotone)
            == (b.name, b.lipschitz, b.phi0, b.dphi0, b.slope_neg, b.remainder, b.monotone))


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
