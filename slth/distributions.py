"""The random weight distributions of the SLTH constructions.

Five families, all symmetric around 0:

``"uniform"``
    uniform on [-1, 1]; density 1/2 on [-1, 1].
``"normal"``
    standard normal N(0, 1).
``"nsn"``
    normal-times-standard-normal: the product of two independent N(0, 1);
    density K0(|x|)/pi (K0 the modified Bessel function of the second kind).
``"uniform_product"``
    the product of two independent uniform[-1, 1]; density -ln|x|/2 on [-1, 1].
``"hyperbolic"``, ``"hyperbolic:<gamma>"``
    the hyperbolic distribution of Orseau, Hutter, Rivasplata (2020): a random sign times
    a magnitude of density proportional to ``1/|x|`` on ``[gamma, 1]``, i.e.
    ``1 / (2 ln(1/gamma) |x|)`` for ``gamma <= |x| <= 1`` (``log|x|`` is uniform on
    ``[ln gamma, 0]``: every dyadic scale gets the same mass). ``"hyperbolic"`` is
    ``gamma = 2^-10`` (:data:`HYPERBOLIC_GAMMA`); :func:`hyperbolic` makes the others.

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
>>> float(distributions.cdf("hyperbolic:0.25", 0.5))  # 1/2 + ln(0.5/0.25) / (2 ln 4)
0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from slth._validate import SeedLike, as_generator, check_choice, check_out

__all__ = ["Distribution", "DISTRIBUTIONS", "NAMES", "HYPERBOLIC_GAMMA", "hyperbolic", "get",
           "sample", "pdf", "cdf"]


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


def _hyperbolic_sampler(gamma: float):
    log_gamma = np.log(gamma)

    def draw(rng: np.random.Generator, size: tuple[int, ...], out=None) -> NDArray[np.float64]:
        # Two interleaved uniforms per draw (prefix-consistent streams): the first gives
        # the magnitude gamma^r = exp(r ln gamma), log-uniform on [gamma, 1]; the second
        # the sign.
        r = rng.random((*size, 2))
        x = np.exp(r[..., 0] * log_gamma) if out is None else np.exp(r[..., 0] * log_gamma,
                                                                        out=out)
        x[r[..., 1] < 0.5] *= -1.0
        return x
    return draw


def _hyperbolic_pdf(gamma: float):
    scale = 1.0 / (2.0 * np.log(1.0 / gamma))

    def pdf(x):
        ax = np.abs(x)
        with np.errstate(divide="ignore"):
            return np.where((ax >= gamma) & (ax <= 1.0), scale / ax, 0.0)
    return pdf


def _hyperbolic_cdf(gamma: float):
    log_inv = np.log(1.0 / gamma)

    def cdf(x):
        t = np.clip(np.abs(x), gamma, 1.0)
        return 0.5 + np.sign(x) * np.log(t / gamma) / (2.0 * log_inv)
    return cdf


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

#: ``gamma`` of ``"hyperbolic"``: the smallest magnitude, ``2^-10``.
HYPERBOLIC_GAMMA = 2.0**-10


def hyperbolic(gamma: float = HYPERBOLIC_GAMMA) -> Distribution:
    """The hyperbolic distribution on ``[-1, -gamma] U [gamma, 1]`` (Orseau et al. 2020).

    Density ``1 / (2 ln(1/gamma) |x|)`` for ``gamma <= |x| <= 1``, zero elsewhere;
    variance ``(1 - gamma^2) / (2 ln(1/gamma))``. The paper's support is recorded here as
    ``[gamma, 1]`` with a random sign (check: its exact lower end and whether it scales it
    with the target).

    Parameters
    ----------
    gamma : float in (0, 1)
        Smallest magnitude.

    Returns
    -------
    Distribution
        Named ``"hyperbolic"`` for the default ``gamma``, else ``"hyperbolic:<gamma>"``
        (the name :func:`get` reads back).

    Examples
    --------
    >>> hyperbolic(0.5).name, hyperbolic().name
    ('hyperbolic:0.5', 'hyperbolic')
    >>> round(hyperbolic(0.5).variance, 6)   # (1 - 1/4) / (2 ln 2)
    0.541011
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)):
        raise TypeError(f"gamma must be a real number in (0, 1), got {gamma!r}")
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise ValueError(f"gamma must be in (0, 1) (the smallest magnitude of the hyperbolic "
                         f"distribution), got {g!r}")
    name = "hyperbolic" if g == HYPERBOLIC_GAMMA else f"hyperbolic:{g!r}"
    return Distribution(name, f"hyperbolic on [{g:g}, 1], random sign", (-1.0, 1.0), 0.0,
                        (1.0 - g * g) / (2.0 * math.log(1.0 / g)),
                        _hyperbolic_sampler(g), _hyperbolic_pdf(g), _hyperbolic_cdf(g))


DISTRIBUTIONS["hyperbolic"] = hyperbolic()
NAMES: tuple[str, ...] = tuple(DISTRIBUTIONS)


def get(dist: str | Distribution) -> Distribution:
    """Look up a distribution by name (a ``Distribution`` passes through).

    ``"hyperbolic:<gamma>"`` names the hyperbolic distribution of that ``gamma``
    (:func:`hyperbolic`).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known names.

    Examples
    --------
    >>> get("hyperbolic:0.125").support, get("hyperbolic:0.0009765625").name
    ((-1.0, 1.0), 'hyperbolic')
    """
    if isinstance(dist, Distribution):
        return dist
    if isinstance(dist, str) and dist.startswith("hyperbolic:"):
        text = dist.split(":", 1)[1]
        try:
            gamma = float(text)
        except ValueError:
            raise ValueError(f"dist: the gamma of {dist!r} must be a number in (0, 1), such "
                             "as 'hyperbolic:0.001'") from None
        return hyperbolic(gamma)
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
