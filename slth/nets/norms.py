"""Rigorous norm bounds of matrices and of a target network's activations.

The certificates of :mod:`slth.verify` and the constructions of :mod:`slth.tickets`
both need them:

* :func:`opnorm`: an upper bound on a (dense or sparse) matrix's spectral norm, exact up
  to rounding where the Gram matrix is affordable (:func:`largest_eigenvalue_bound`);
* :func:`spectral_estimate`: a power-iteration estimate of it, from below;
* :func:`dual_norms`: the row-wise dual norm of the input ball;
* :func:`target_bounds`: interval and l2 bounds of a target's hidden activations over
  the input ball.

Examples
--------
>>> from slth.nets import random_target
>>> P, A = target_bounds(random_target([3, 4, 2], seed=0), 1.0, "l2")
>>> [p.shape for p in P], len(A)
([(3,), (4,)], 2)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, sparse
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from slth.nets.mlp import MLP

__all__ = ["GRAM_SIDE", "GRAM_FLOPS", "GRAM_DENSE_BYTES", "GRAM_CHUNK", "SPARSE_GRAM_DENSITY",
           "EIGSH_SIDE", "opnorm", "largest_eigenvalue_bound", "spectral_estimate",
           "dual_norms", "target_bounds"]

#: Largest smaller side, and largest cost (multiply-adds), of a matrix whose spectral norm
#: is computed exactly (from the Gram matrix); larger ones get the Schur/Frobenius bound.
GRAM_SIDE, GRAM_FLOPS = 4096, 4e11

#: Matrices up to this size (dense, in bytes) get their Gram matrix from one product;
#: larger ones are densified :data:`GRAM_CHUNK` columns (or rows) at a time.
GRAM_DENSE_BYTES = 1 << 30

#: Columns (or rows) densified at a time while accumulating a Gram matrix.
GRAM_CHUNK = 2048

#: Sparse matrices at most this dense get their Gram matrix from a sparse product.
SPARSE_GRAM_DENSITY = 0.05

#: Gram matrices from this side on get their largest eigenvalue from Lanczos and a
#: Cholesky certificate instead of a full eigendecomposition.
EIGSH_SIDE = 1000


def opnorm(a) -> float:
    """Rigorous upper bound on the spectral norm of a dense or sparse matrix.

    Exact up to rounding (the largest eigenvalue of the Gram matrix of the smaller side,
    accumulated over dense chunks of the larger side, or for sparse matrices at most
    :data:`SPARSE_GRAM_DENSITY` dense from a sparse product, with a margin for rounding)
    when the smaller side is at most :data:`GRAM_SIDE` and the product costs at most
    :data:`GRAM_FLOPS`; otherwise the smaller of the Frobenius norm and the Schur bound
    ``sqrt(max_i sum_j |a_ij| * max_j sum_i |a_ij|)``.

    Parameters
    ----------
    a : ndarray or scipy.sparse matrix
        A two-dimensional matrix.

    Returns
    -------
    float
        A number at least the largest singular value of ``a`` (0 for an empty matrix).

    Examples
    --------
    >>> a = np.array([[3.0, 0.0], [4.0, 0.0]])
    >>> bool(abs(opnorm(a) - 5.0) < 1e-8), bool(opnorm(sparse.csr_matrix(a)) >= 5.0)
    (True, True)
    """
    rows, cols = a.shape
    if rows == 0 or cols == 0:
        return 0.0
    small, large = min(rows, cols), max(rows, cols)
    if small <= GRAM_SIDE and float(small) * small * large <= GRAM_FLOPS:
        # orient so that the smaller side is the rows: G = sum over column chunks of B B^T
        m = a if rows <= cols else a.T
        if sparse.issparse(m) and m.nnz <= SPARSE_GRAM_DENSITY * small * large:
            m = m.tocsr()
            g = np.asarray((m @ m.T).toarray())
        elif 8.0 * small * large <= GRAM_DENSE_BYTES:
            # one symmetric product (syrk) over the whole matrix
            m = m.toarray() if sparse.issparse(m) else np.asarray(m)
            g = m @ m.T
        else:
            m = m.tocsc() if sparse.issparse(m) else np.asarray(m)
            g = np.zeros((small, small))
            for s in range(0, large, GRAM_CHUNK):
                blk = m[:, s:s + GRAM_CHUNK]
                blk = blk.toarray() if sparse.issparse(blk) else blk
                g += blk @ blk.T
        lam = largest_eigenvalue_bound(g)
        # rounding of the Gram sums and of eigvalsh: both below (sides) * eps * ||a||_F^2
        margin = (large + small + 10) * np.finfo(float).eps * float(np.trace(g))
        return float(np.sqrt(max(lam, 0.0) + margin)) + 1e-300
    absa = abs(a) if sparse.issparse(a) else np.abs(a)
    row = float(np.asarray(absa.sum(axis=1)).max())
    col = float(np.asarray(absa.sum(axis=0)).max())
    fro = float(np.sqrt(absa.multiply(absa).sum())) if sparse.issparse(a) \
        else float(np.linalg.norm(a))
    return min(fro, float(np.sqrt(row * col))) * (1 + 1e-10)


def largest_eigenvalue_bound(g: NDArray[np.float64]) -> float:
    """The largest eigenvalue of a Gram matrix ``g`` (up to the rounding of eigvalsh),
    or a bound above it.

    From :data:`EIGSH_SIDE` on, a full eigendecomposition is the larger cost: a Lanczos
    estimate (``scipy.sparse.linalg.eigsh`` from a fixed start) raised by a relative
    1e-8 to ``theta`` is confirmed instead by a Cholesky factorisation of
    ``theta I - g``. When it runs to completion, ``theta I - g`` is positive
    semidefinite up to a perturbation of norm at most ``gamma / (1 - gamma) tr(theta I -
    g) + eps theta`` with ``gamma = (n + 1) eps`` (Higham, *Accuracy and Stability of
    Numerical Algorithms*, Thm 10.3; four times that ``gamma`` is used here for blocked
    factorisations), hence ``lambda_max(g) <= theta (1 + 2 gamma n + 2 eps)``. When it
    fails, eigvalsh decides.

    Parameters
    ----------
    g : ndarray
        A symmetric positive semidefinite matrix (``a a^T``); not modified.

    Returns
    -------
    float

    Examples
    --------
    >>> g = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> largest_eigenvalue_bound(g)
    3.0
    """
    n = g.shape[0]
    if n < EIGSH_SIDE:
        return float(np.linalg.eigvalsh(g)[-1])
    try:
        ritz = float(eigsh(g, k=1, which="LA", v0=np.ones(n), tol=1e-10,
                           return_eigenvectors=False)[0])
        theta = max(ritz, 0.0) * (1.0 + 1e-8) + 1e-300
        shifted = -g
        shifted[np.diag_indices(n)] += theta
        linalg.cholesky(shifted, overwrite_a=True, check_finite=False)
    except (np.linalg.LinAlgError, ArpackNoConvergence):
        return float(np.linalg.eigvalsh(g)[-1])
    u = np.finfo(float).eps
    gamma = 4.0 * (n + 2) * u
    return theta * (1.0 + 2.0 * gamma * n + 2.0 * u)


def spectral_estimate(matrix, iterations: int = 30) -> float:
    """Power-iteration estimate (from below) of the spectral norm of a sparse matrix.

    Sparse products and numpy's pairwise sums only, so the result does not depend on
    the number of threads.

    Examples
    --------
    >>> from scipy import sparse
    >>> round(spectral_estimate(sparse.csr_matrix([[3.0, 0.0], [4.0, 0.0]])), 6)
    5.0
    """
    matrix = sparse.csr_matrix(matrix)
    x = np.full(matrix.shape[1], 1.0 / np.sqrt(max(matrix.shape[1], 1)))
    sigma = 0.0
    for _ in range(iterations):
        x = matrix.T @ (matrix @ x)
        norm = float(np.sqrt(np.sum(x * x)))
        if norm == 0.0:
            return 0.0
        sigma = np.sqrt(norm)
        x /= norm
    return float(sigma)


def dual_norms(c: NDArray[np.float64], norm: str) -> NDArray[np.float64]:
    """Row-wise dual norm: sup over the unit ball of sum_i c_i |x_i|.

    Parameters
    ----------
    c : ndarray, shape (rows, d)
    norm : {"l2", "inf"}
        Norm of the ball (its dual: l2, respectively l1).

    Returns
    -------
    ndarray, shape (rows,)

    Examples
    --------
    >>> dual_norms(np.array([[3.0, -4.0]]), "l2"), dual_norms(np.array([[3.0, -4.0]]), "inf")
    (array([5.]), array([7.]))
    """
    return np.linalg.norm(c, axis=1) if norm == "l2" else np.abs(c).sum(axis=1)


def target_bounds(target: MLP, radius: float, norm: str):
    """Interval bounds of the target's hidden activations over the ball.

    Parameters
    ----------
    target : MLP
    radius : float
        Radius of the input ball.
    norm : {"l2", "inf"}
        Norm of the input ball.

    Returns
    -------
    (list of ndarray, list of float)
        Per hidden layer (and the input first) ``P`` (``|phi(z_i)| <= P_i``) and ``A``
        (``||phi(z)||_2 <= A``); ``P_0 = radius`` and ``A_0`` bounds ``||x||_2``.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> P, A = target_bounds(random_target([3, 4, 2], seed=0), 2.0, "inf")
    >>> P[0], bool(np.isclose(A[0], 2.0 * np.sqrt(3)))
    (array([2., 2., 2.]), True)
    """
    t = target.dense()
    d0 = t.widths[0]
    A = [radius if norm == "l2" else radius * np.sqrt(d0)]
    P = [np.full(d0, radius)]
    lo = hi = None
    for l in range(t.depth - 1):
        w, b = t.weights[l], t.biases[l]
        bb = np.zeros(w.shape[0]) if b is None else b
        if l == 0:
            rad = radius * dual_norms(w, norm)
            lo, hi = bb - rad, bb + rad
        else:
            mid, half = (lo + hi) / 2, (hi - lo) / 2
            c = w @ mid + bb
            rad = np.abs(w) @ half
            lo, hi = c - rad, c + rad
        act = t.activations[l]
        a_lo, a_hi = act.range(lo, hi)
        lo, hi = np.minimum(a_lo, a_hi), np.maximum(a_lo, a_hi)
        p = np.maximum(np.abs(lo), np.abs(hi))
        # norm propagation: ||phi(z)|| <= |phi(0)| sqrt(d) + Lip (||W|| A + ||b||)
        zn = opnorm(w) * A[-1] + (0.0 if b is None else float(np.linalg.norm(b)))
        an = abs(act.phi0) * np.sqrt(w.shape[0]) + act.lipschitz * zn
        P.append(p)
        A.append(min(float(np.linalg.norm(p)), an))
    return P, A

