"""The input domain: the ball ``{x : ||x|| <= radius}`` in the l2 or the max norm.

:func:`sample_ball` draws the random inputs of the searches; :func:`to_ball` maps an
unconstrained variable onto the open ball (with :func:`from_ball` its inverse and
:func:`pullback` its vector-Jacobian product), so that the local maximisation of
:func:`slth.verify.empirical_error` runs without constraints. :func:`resolve_domain`
gives the ball a check runs on: the ticket's own (``Ticket.domain``) unless the caller
asks for another, which the report then notes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from slth._validate import check_choice, check_positive

__all__ = ["sample_ball", "to_ball", "from_ball", "pullback", "resolve_domain"]

_BALLS = {"l2": "l2 ball", "inf": "max-norm ball"}


def resolve_domain(ticket, radius: float | None = None, norm: str | None = None,
                   norms: Sequence[str] = ("l2", "inf")) -> tuple[float, str, str]:
    """The ball a check of ``ticket`` runs on: ``(radius, norm, note)``.

    ``radius`` and ``norm`` default to the ticket's domain (:attr:`Ticket.domain`);
    ``norms`` are those the check supports. ``note`` is empty on the ticket's own ball,
    and otherwise says which ball was checked and which one the ticket was built for.

    Raises
    ------
    ValueError
        A radius that is not positive and finite, a norm outside ``norms``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ticket = SimpleNamespace(domain=(1.0, "l2"))
    >>> resolve_domain(ticket)
    (1.0, 'l2', '')
    >>> resolve_domain(ticket, radius=2)[2]
    'checked on the l2 ball of radius 2; the ticket was built for radius 1'
    >>> resolve_domain(ticket, norm="inf")[2]
    'checked on the max-norm ball of radius 1; the ticket was built for the l2 ball of radius 1'
    """
    built_radius, built_norm = ticket.domain
    radius = built_radius if radius is None else check_positive(radius, "radius")
    norm = check_choice(built_norm if norm is None else norm, "norm", tuple(norms))
    note = ""
    if (radius, norm) != (built_radius, built_norm):
        built = (f"radius {built_radius:g}" if norm == built_norm
                 else f"the {_BALLS.get(built_norm, built_norm)} of radius {built_radius:g}")
        note = (f"checked on the {_BALLS[norm]} of radius {radius:g}; the ticket was built "
                f"for {built}")
    return radius, norm, note


def sample_ball(rng: np.random.Generator, size: int, dim: int, radius: float,
                norm: str = "l2") -> NDArray[np.float64]:
    """Random points of the ball: half uniform inside, half on the boundary.

    Examples
    --------
    >>> x = sample_ball(np.random.default_rng(0), 4, 3, 2.0)
    >>> bool(np.all(np.linalg.norm(x, axis=1) <= 2.0 + 1e-12))
    True
    """
    half = size // 2
    if norm == "l2":
        g = rng.standard_normal((size, dim))
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        rad = np.ones(size)
        rad[:half] = rng.uniform(0.0, 1.0, half) ** (1.0 / dim)
        return radius * g * rad[:, None]
    x = rng.uniform(-1.0, 1.0, (size, dim))
    q = half + (size - half) // 2
    x[half:q] = np.sign(x[half:q]) + (x[half:q] == 0)           # corners
    face = rng.integers(0, dim, size - q)
    x[q + np.arange(size - q), face] = np.sign(x[q + np.arange(size - q), face]) + 0.0
    return radius * x


def to_ball(y, radius, norm):
    """The point of the open ball that the unconstrained search variable ``y`` stands for:
    ``radius y / sqrt(1 + ||y||^2)`` (l2), ``radius tanh(y)`` (max norm).

    Examples
    --------
    >>> y = np.array([0.3, -2.0])
    >>> bool(np.allclose(from_ball(to_ball(y, 2.0, "l2"), 2.0, "l2"), y))
    True
    """
    if norm == "l2":
        s = np.sqrt(1.0 + y @ y)
        return radius * y / s
    return radius * np.tanh(y)


def from_ball(x, radius, norm):
    """A search variable ``y`` with ``to_ball(y) = x`` (points on or near the boundary are
    first pulled in to 0.999 of the radius)."""
    if norm == "l2":
        rho = float(np.linalg.norm(x))
        if rho == 0.0:
            return np.zeros_like(x)
        t = min(rho / radius, 0.999)
        return x / rho * (t / np.sqrt(1.0 - t * t))
    return np.arctanh(np.clip(x / radius, -0.999, 0.999))


def pullback(y, gx, radius, norm):
    """The gradient in ``y`` of a function of ``x = to_ball(y)`` whose gradient in ``x``
    at that point is ``gx``."""
    if norm == "l2":
        s = np.sqrt(1.0 + y @ y)
        return radius * (gx / s - y * (y @ gx) / s**3)
    return radius * (1.0 - np.tanh(y) ** 2) * gx
