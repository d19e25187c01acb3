"""Random vectors for multidimensional random subset sum.

Two families:

i.i.d. entries
    every entry drawn independently from one of the scalar distributions of
    :mod:`slth.distributions` (``"uniform"``, ``"normal"``, ``"nsn"``,
    ``"uniform_product"``).
``"nsn_vector"``
    the vectors of structured CNN pruning (da Cunha, d'Amore, Natale, 2023):
    ``X_i = a_i * G_i`` with ``a_i`` a standard normal scalar and ``G_i`` a
    standard normal vector. Every entry is an NSN variable, but the entries of
    one vector share the factor ``a_i``. With ``sets=m`` (one vector set per
    output channel), the scalar ``a_i`` is also shared by the i-th vector of
    every set, as the channel weight ``u_k`` of the 1 x 1 source layer is shared
    by all output channels.

Sampling is prefix-consistent in ``n``: the first k vectors of
``sample_vectors(dist, n, d, seed)`` are ``sample_vectors(dist, k, d, seed)``,
so one seed defines one i.i.d. stream of vectors (used by
:func:`slth.mrss.min_samples`).

Examples
--------
>>> from slth.mrss import sample_vectors
>>> x = sample_vectors("nsn_vector", 5, 3, seed=0)
>>> x.shape
(5, 3)
>>> bool((sample_vectors("nsn_vector", 3, 3, seed=0) == x[:3]).all())
True
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from slth import distributions
from slth._validate import SeedLike, as_generator, check_choice, check_int

__all__ = ["VECTOR_DISTRIBUTIONS", "sample_vectors"]

#: Names accepted by :func:`sample_vectors`.
VECTOR_DISTRIBUTIONS: tuple[str, ...] = (*distributions.NAMES, "nsn_vector")


def sample_vectors(dist: str, n: int, d: int, seed: SeedLike = None, *,
                   sets: int | None = None) -> NDArray[np.float64]:
    """Draw ``n`` random vectors in R^d (or ``sets`` such collections).

    Parameters
    ----------
    dist : str
        One of :data:`VECTOR_DISTRIBUTIONS`: a scalar distribution name for
        i.i.d. entries, or ``"nsn_vector"`` for ``a_i * G_i`` (see the module
        docstring).
    n, d : int
        Number of vectors (>= 0) and dimension (>= 1).
    seed : int, numpy.random.Generator, SeedSequence or None
        Source of randomness.
    sets : int, optional
        Number of vector sets. ``None`` returns shape (n, d); an int m returns
        shape (m, n, d), the sets independent for i.i.d. entries and sharing
        the scalar factors for ``"nsn_vector"``.

    Returns
    -------
    ndarray of float64, shape (n, d) or (sets, n, d)

    Examples
    --------
    >>> x = sample_vectors("nsn_vector", 4, 2, seed=1, sets=3)
    >>> x.shape
    (3, 4, 2)
    >>> sample_vectors("uniform", 2, 3, seed=0).round(2)
    array([[ 0.27, -0.46, -0.92],
           [-0.97,  0.63,  0.83]])
    """
    dist = check_choice(dist, "dist", VECTOR_DISTRIBUTIONS)
    n = check_int(n, "n", minimum=0)
    d = check_int(d, "d", minimum=1)
    m = 1 if sets is None else check_int(sets, "sets", minimum=1)
    rng = as_generator(seed)
    if dist == "nsn_vector":
        # Row i: [a_i, G_(0,i,:), ..., G_(m-1,i,:)], so a longer stream extends a shorter one.
        raw = rng.standard_normal((n, 1 + m * d))
        out = raw[:, :1, None] * raw[:, 1:].reshape(n, m, d)
    else:
        out = distributions.sample(dist, (n, m * d), rng).reshape(n, m, d)
    out = np.ascontiguousarray(out.transpose(1, 0, 2))
    return out[0] if sets is None else out
