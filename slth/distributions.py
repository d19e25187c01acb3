"""The random weight distributions of the SLTH constructions.

Four distributions, all symmetric around 0:

``"uniform"``
    uniform on [-1, 1]; density 1/2 on [-1, 1].
``"normal"``
    standard normal N(0, 1).
``"nsn"``
    normal-times-standard-normal: the product of two independent N(0, 1);
    density K0(|x|)/pi (K0 the modified Bessel function of the second kind).
``"uniform_product"``
    the product of two independent uniform[-1, 1]; density -ln|x|/2 on [-1, 1].

Products arise when a target weight is represented through two random source
weights in series (the depth-2L and CNN constructions).

Sampling is prefix-consistent: for a 1-D ``size``, the first k draws of
``sample(dist, n, seed)`` equal ``sample(dist, k, seed)``, so one seed defines
one infinite i.i.d. stream.

Examples
--------
>>> from slth import distributions
>>> x = distributions.sample("nsn", 4, seed=0)
>>> x.shape
(4,)
>>> round(float(distributions.pdf("uniform_product", 0.5)), 12)  # -ln(0.5)/2
0.34657359028
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from slth._validate import SeedLike, as_generator, check_choice, check_out

__all__ = ["Distribution", "DISTRIBUTIONS", "NAMES", "get", "sample", "pdf", "cdf"]


# Samplers fill ``out`` when given (C-contiguous float64 of shape ``size``), else a new array.

def _uniform(rng: np.random.Generator, size: tuple[int, ...], out=None) -> NDArray[np.float64]:
    # rng.uniform(-1, 1) computes -1 + 2 r from r = rng.random(): the same doubles, in place
    x = rng.random(size) if out is None else rng.random(out=out)
    x *= 2.0
    x -= 1.0
    return x


def _normal(rng: np.random.Generator, size: tuple[int, ...], out=None) -> NDArray[np.float64]:
    return rng.standard_normal(size) if out is None else rng.standard_normal(out=out)


def _nsn(rng: np.random.Generator, size: tuple[int, ...], out=None) -> NDArray[np.float64]:
    # Draw the two factors interleaved so that a longer stream extends a shorter one.
    return rng.standard_normal((*size, 2)).prod(axis=-1, out=out)


def _uniform_product(rng: np.random.Generator, size: tuple[int, ...],
                     out=None) -> NDArray[np.float64]:
    return _uniform(rng, (*size, 2)).prod(axis=-1, out=out)


def _uniform_pdf(x):
    return np.where(np.abs(x) <= 1.0, 0.5, 0.0)


def _uniform_cdf(x):
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0)


def _normal_pdf(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _normal_cdf(x):
    return special.ndtr(x)


def _nsn_pdf(x):
    with np.errstate(divide="ignore"):
        return special.k0(np.abs(x)) / np.pi


def _nsn_cdf(x):
    # int_0^t K0 = (pi t / 2) (K0(t) L_{-1}(t) + K1(t) L_0(t)), L the modified Struve functions.
    t = np.abs(x)
    with np.errstate(invalid="ignore"):
        half = (t / 2.0) * (
            special.k0(t) * special.modstruve(-1, t) + special.k1(t) * special.modstruve(0, t)
        )
    half = np.where(t == 0.0, 0.0, half)
    # The Struve form loses precision for large t, where the tail is below 1e-15 anyway.
    half = np.where(t > 30.0, 0.5, np.minimum(half, 0.5))
    return 0.5 + np.sign(x) * half


def _uniform_product_pdf(x):
    ax = np.abs(x)
    with np.errstate(divide="ignore"):
        return np.where(ax <= 1.0, -np.log(ax) / 2.0, 0.0)


def _uniform_product_cdf(x):
    t = np.minimum(np.abs(x), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(t > 0.0, (t - t * np.log(t)) / 2.0, 0.0)
    return 0.5 + np.sign(x) * half


@dataclass(frozen=True)
class Distribution:
    """A named weight distribution with its sampler, density and moments.

    Attributes
    ----------
    name : str
        Registry key.
    description : str
        One line for tables and plots.
    support : tuple of float
        Smallest interval holding all mass.
    mean, variance : float
        Exact moments.
    """

    name: str
    description: str
    support: tuple[float, float]
    mean: float
    variance: float
    _sampler: Callable
    _pdf: Callable
    _cdf: Callable

    def sample(self, size, seed: SeedLike = None) -> NDArray[np.float64]:
        """I.i.d. draws of the given size (int or tuple)."""
        return sample(self.name, size, seed)

    def pdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Density at x (closed form)."""
        return self._pdf(np.asarray(x, dtype=np.float64))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Distribution function at x (closed form)."""
        return self._cdf(np.asarray(x, dtype=np.float64))


DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        Distribution("uniform", "uniform[-1, 1]", (-1.0, 1.0), 0.0, 1.0 / 3.0,
                     _uniform, _uniform_pdf, _uniform_cdf),
        Distribution("normal", "N(0, 1)", (-np.inf, np.inf), 0.0, 1.0,
                     _normal, _normal_pdf, _normal_cdf),
        Distribution("nsn", "product of two independent N(0, 1)", (-np.inf, np.inf), 0.0, 1.0,
                     _nsn, _nsn_pdf, _nsn_cdf),
        Distribution("uniform_product", "product of two independent uniform[-1, 1]",
                     (-1.0, 1.0), 0.0, 1.0 / 9.0,
                     _uniform_product, _uniform_product_pdf, _uniform_product_cdf),
    )
}
NAMES: tuple[str, ...] = tuple(DISTRIBUTIONS)


def get(dist: str | Distribution) -> Distribution:
    """Look up a distribution by name (a ``Distribution`` passes through).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known names.
    """
    if isinstance(dist, Distribution):
        return dist
    return DISTRIBUTIONS[check_choice(dist, "dist", NAMES)]


def _as_size(size) -> tuple[int, ...]:
    shape = (size,) if np.ndim(size) == 0 else tuple(size)
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size must be a non-negative int or a tuple of them, got {size!r}")
    return tuple(int(s) for s in shape)


def sample(dist: str | Distribution, size, seed: SeedLike = None, *,
           out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Draw i.i.d. samples.

    Parameters
    ----------
    dist : str or Distribution
        One of :data:`NAMES`.
    size : int or tuple of int
        Output shape.
    seed : int, numpy.random.Generator, SeedSequence or None
        Source of randomness; an int gives a reproducible stream.
    out : ndarray of float64, optional
        C-contiguous array of shape ``size`` to fill (and return) instead of a new one;
        the draws are the same. Saves allocating fresh memory for large draws.

    Returns
    -------
    ndarray of float64

    Examples
    --------
    >>> sample("uniform", 3, seed=1).round(3)
    array([ 0.024,  0.901, -0.712])
    >>> buffer = np.empty(3)
    >>> bool((sample("uniform", 3, seed=1, out=buffer) == sample("uniform", 3, seed=1)).all())
    True
    """
    d = get(dist)
    shape = _as_size(size)
    check_out(out, shape)
    return d._sampler(as_generator(seed), shape, out)


def pdf(dist: str | Distribution, x: ArrayLike) -> NDArray[np.float64]:
    """Closed-form density of ``dist`` at ``x``."""
    return get(dist).pdf(x)


def cdf(dist: str | Distribution, x: ArrayLike) -> NDArray[np.float64]:
    """Closed-form distribution function of ``dist`` at ``x``."""
    return get(dist).cdf(x)
