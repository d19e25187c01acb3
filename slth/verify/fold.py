"""Folded networks: the ticket's function with fewer operations, for the search and the
certificates.

A univariate layer of a positively homogeneous activation followed by a layer ``V`` is
the layer ``(phi(x), phi(-x))`` followed by the dense ``[V U+ | -V U-]``
(:func:`folded_layer`, :func:`folded_network`); a smooth univariate first layer and the
next fold into polynomials of each input (:func:`smooth_folded_network`). Within a
:func:`shared_folds` block (one :func:`slth.verify.check`) each folded layer pair is
computed once for the search and the certificate.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np
from numba import prange
from numpy.typing import NDArray
from scipy import sparse

from slth._numba import parallel_kernel
from slth._validate import resolve_max_bytes
from slth.nets.mlp import MLP
from slth.tickets.ticket import Ticket, read_columns
from slth.verify.domain import sample_ball

__all__ = ["SMOOTH_FOLD_DEGREE", "SMOOTH_FOLD_SHARE", "SmoothFold", "check_univariate",
           "column_subset", "folded_layer", "folded_network", "shared_folds",
           "smooth_folded_network", "zero_input_response"]


def column_subset(w, cols: NDArray[np.int64]) -> sparse.csr_matrix:
    """``w[:, cols]`` for sorted, distinct ``cols``; when every stored entry lies in
    ``cols`` (the usual case: ``cols`` are the read columns) the entries are only
    renumbered."""
    w = w.tocsr()
    rank = np.full(w.shape[1], -1, dtype=np.int64)
    rank[cols] = np.arange(cols.size)
    new = rank[w.indices]
    if new.size and new.min() < 0:
        return w[:, cols]
    return sparse.csr_matrix((w.data, new, w.indptr), shape=(w.shape[0], cols.size))


def folded_network(ticket: Ticket) -> MLP | None:
    """The ticket's function with each univariate ReLU-like layer folded into the next.

    A univariate neuron ``phi(u x_i)`` of a positively homogeneous activation equals
    ``u phi(x_i)`` for ``u > 0`` and ``|u| phi(-x_i)`` for ``u < 0``; so a univariate layer
    followed by ``V`` is the layer ``(phi(x), phi(-x))`` followed by the dense
    ``[V U+, -V U-]`` (bias neurons, with no input, fold into a bias). The result computes
    the same function as the pruned network up to rounding (sums are reassociated), with
    far fewer operations for wide tickets. ``None`` when there is no such layer (smooth
    activations: see :func:`smooth_folded_network`; CNN tickets) or when one keeps
    several input weights of a neuron (not the construction's layout).

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import burkholz
    >>> t = burkholz(random_target([3, 4, 2], norm="max", bias=True, seed=0), eps=0.1,
    ...              delta=0.1, seed=1, n=4)
    >>> x = np.random.default_rng(0).uniform(-1, 1, (5, 3))
    >>> folded_network(t).widths, bool(np.allclose(folded_network(t)(x), t(x), atol=1e-12))
    ((3, 6, 11, 2), True)
    """
    construction = ticket.params.get("construction")
    acts = ticket.spec.activations
    if construction in ("pensia", "orseau", "fischer_burkholz", "malach"):  # sign-split layouts
        pairs = list(range(0, ticket.depth, 2))
    elif construction == "burkholz" and acts[0].homogeneous:
        pairs = [0]
    else:
        return None
    if not all(_is_univariate(ticket.weights[l].tocsr()) for l in pairs):
        return None
    ws, bs, out_acts = [], [], []
    keep_cols = None          # columns of the next layer kept (rows dropped before it)
    l = 0
    while l < ticket.depth:
        if l not in pairs:
            w = ticket.weights[l].tocsr()
            w = w if keep_cols is None else column_subset(w, keep_cols)
            b = ticket.biases[l]
            keep_cols = None
            if l < ticket.depth - 1:
                out_acts.append(acts[l])
                if l + 1 not in pairs:
                    # neurons the next layer does not read (unread copies) are dropped
                    keep_cols = np.flatnonzero(read_columns(ticket.weights[l + 1]))
                    w = w[keep_cols]
                    b = None if b is None else b[keep_cols]
            ws.append(w)
            bs.append(b)
            l += 1
            continue
        d = ticket.weights[l].shape[1]
        ws.append(np.vstack([np.eye(d), -np.eye(d)]))
        bs.append(None)
        out_acts.append(acts[l])
        if l + 2 < ticket.depth and l + 2 not in pairs:
            # neurons the next layer does not read (unread copies) are dropped
            keep_cols = np.flatnonzero(read_columns(ticket.weights[l + 2]))
        ws.append(folded_layer(ticket, l, keep_cols))
        # neurons without input weights output phi(bias), a constant (phi(0) = 0 here)
        shift = zero_input_response(ticket, l)
        b_next = ticket.biases[l + 1]
        shift = shift + (0.0 if b_next is None else b_next)
        bs.append(shift if keep_cols is None else shift[keep_cols])
        if l + 1 < ticket.depth - 1:
            out_acts.append(acts[l + 1])
        l += 2
    return MLP(ws, bs, out_acts)


#: Degree of the per-input polynomials that replace a smooth univariate layer in the
#: search (:func:`smooth_folded_network`): its neurons ``phi(u x_i)`` work at ``|u x_i|``
#: of order ``alpha`` (1.6e-5 for a 784-300-100-10 tanh ticket), where the terms beyond
#: degree 6 are below rounding.
SMOOTH_FOLD_DEGREE = 6

#: Largest disagreement between a smooth fold and the ticket's network on a few random
#: inputs, as a share of the ticket's error there (the quantity the fold helps search
#: for); above it the search uses the network itself. The network's own rounding is of
#: this order where ``phi(0) != 0``: its univariate columns, scaled by ``1 / alpha``, add
#: ``phi(0)``-sized terms that the coarse bias neurons cancel (4e-8 on outputs of 3, for
#: errors of 2e-5, on a 784-60-30-10 sigmoid ticket).
SMOOTH_FOLD_SHARE = 0.01


class SmoothFold:
    """``tail(phi(h0 + sum_p (x ** p) @ coef[p - 1].T))``: a network whose univariate
    smooth layer and the layer after it are replaced by one polynomial per input and
    output neuron (see :func:`smooth_folded_network`). Callable on ``(batch, d_in)``
    inputs, with :meth:`vjp` as :class:`slth.nets.MLP` has."""

    def __init__(self, h0, coef, activation, tail: MLP):
        self.h0, self.coef, self.activation, self.tail = h0, coef, activation, tail

    def _h(self, x):
        h = np.repeat(self.h0[None, :], x.shape[0], axis=0)
        power = x
        for c in self.coef:
            h += power @ c.T
            power = power * x
        return h

    def __call__(self, x):
        h = self._h(np.atleast_2d(np.asarray(x, dtype=np.float64)))
        return self.tail(self.activation(h))

    def vjp(self, x, cotangent):
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        h = self._h(x)
        g = self.tail.vjp(self.activation(h), cotangent) * self.activation.derivative(h)
        out = np.zeros_like(x)
        power = np.ones_like(x)
        for p, c in enumerate(self.coef, start=1):
            out += p * power * (g @ c)
            power = power * x
        return out


def smooth_folded_network(ticket: Ticket, radius: float, net: MLP | None = None):
    """The function of a burkholz ticket with a smooth univariate first layer, with that
    layer and the next folded into polynomials of each input (a :class:`SmoothFold`).

    Input ``i`` reaches the second layer only through the neurons ``phi(u_s x_i)`` of
    its block: ``sum_s V[:, s] (phi(u_s x_i) - phi(0))`` is a smooth function of ``x_i``
    alone, interpolated on ``[-radius, radius]`` at :data:`SMOOTH_FOLD_DEGREE`
    Chebyshev points by a polynomial without constant term (the response at ``x = 0``
    is the bias). Dense products of (read neurons x inputs) replace the sparse layer
    of all kept entries. ``None`` for other tickets, when those dense coefficients would
    not fit in the default memory cap, and when the fold disagrees with the
    ticket's network (``net``, default ``ticket.network()``) on a few random inputs
    by more than :data:`SMOOTH_FOLD_SHARE` of the ticket's error there. Only the search
    uses it: reported errors are recomputed with the network.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import burkholz
    >>> target = random_target([3, 4, 2], norm="max", bias=True, seed=0, activation="tanh")
    >>> t = burkholz(target, eps=0.1, delta=0.1, seed=1, n=4)
    >>> x = np.random.default_rng(0).uniform(-0.5, 0.5, (5, 3))
    >>> bool(np.allclose(smooth_folded_network(t, 1.0)(x), t(x), rtol=0, atol=1e-12))
    True
    """
    acts = ticket.spec.activations
    # a one-layer target's source is ReLU (folded_network)
    if ticket.params.get("construction") != "burkholz" or acts[0].homogeneous:
        return None
    U = ticket.weights[0].tocsr()
    if not _is_univariate(U):
        return None
    act = acts[0]
    rows = np.flatnonzero(read_columns(ticket.weights[2]))     # read by the third layer
    degree = SMOOTH_FOLD_DEGREE
    if (degree + 1) * rows.size * U.shape[1] * 8 > resolve_max_bytes(None):
        return None                     # the dense fold would not fit: search the network
    Vr = ticket.weights[1].tocsr()[rows]
    h0 = zero_input_response(ticket, 0)[rows].copy()
    if ticket.biases[1] is not None:
        h0 += ticket.biases[1][rows]
    nodes = radius * np.cos((2 * np.arange(1, degree + 1) - 1) * np.pi / (2 * degree))
    # coef[p - 1] = sum_k inv[p - 1, k] Y_k, with Y_k the responses at x_i = nodes[k]
    inv = np.linalg.inv(nodes[:, None] ** np.arange(1, degree + 1)[None, :])
    coef = np.zeros((degree, rows.size, U.shape[1]))
    for k, z in enumerate(nodes):
        D = U.copy()
        D.data = act(U.data * z) - act.phi0
        Y = (Vr @ D).toarray()
        for p in range(degree):
            coef[p] += inv[p, k] * Y
    tail = MLP([column_subset(ticket.weights[2], rows)] + list(ticket.weights[3:]),
               list(ticket.biases[2:]), acts[2:])
    fold = SmoothFold(h0, coef, acts[1], tail)
    net = ticket.network() if net is None else net
    x = sample_ball(np.random.default_rng(0), 4, U.shape[1], radius)
    want = net(x)
    error = np.abs(ticket.target(x) - want).max()
    if not np.abs(fold(x) - want).max() <= SMOOTH_FOLD_SHARE * error:
        return None
    return fold


def check_univariate(U: sparse.csr_matrix, m: int, n_uni: int, what: str):
    """Raise unless ``U`` has the univariate layout of a construction: its first ``n_uni``
    neurons keep at most one input weight each, that of their block (neuron ``s`` reads
    input ``s // m``), and the others none.

    Raises
    ------
    ValueError
        Naming the layer as ``what``.
    """
    U = U.tocsr()
    counts = np.diff(U.indptr)
    if np.any(counts[:n_uni] > 1) or np.any(counts[n_uni:] > 0):
        raise ValueError(f"ticket: {what} does not have the univariate layout of the "
                         "construction (a hidden neuron keeps more than one input weight)")
    rows = np.repeat(np.arange(U.shape[0]), counts)
    if np.any(U.indices != rows // m):
        raise ValueError(f"ticket: {what} keeps a weight outside its neuron's input block")


#: Folded layer pairs shared by the search and the certificate within one
#: :func:`shared_folds` block (per thread; nothing is kept after it, so a ticket changed
#: in place is re-read).
_shared = threading.local()


@contextlib.contextmanager
def shared_folds():
    """Within the block, :func:`folded_layer` and :func:`zero_input_response` compute each
    layer pair of a ticket once and share it (in this thread): :func:`slth.verify.check`
    runs its search and its certificate in one block. Yields the cache (a dict).

    Examples
    --------
    >>> with shared_folds() as cache:
    ...     len(cache)
    0
    """
    previous = getattr(_shared, "folds", None)
    _shared.folds = {}
    try:
        yield _shared.folds
    finally:
        _shared.folds = previous


@parallel_kernel
def _fold_kernel(v_indptr, v_indices, v_data, column, magnitude, rows, out):
    # out[k] = [V U+ | -V U-] on row rows[k] of V for a univariate U: neuron s feeds
    # out[:, column[s]] (< 0: nothing) with |u_s|. One thread per row, entries in stored
    # order: the result does not depend on the thread count.
    for k in prange(rows.shape[0]):
        r = rows[k]
        for j in range(out.shape[1]):
            out[k, j] = 0.0
        for p in range(v_indptr[r], v_indptr[r + 1]):
            s = v_indices[p]
            c = column[s]
            if c >= 0:
                out[k, c] += v_data[p] * magnitude[s]


def folded_layer(ticket: Ticket, l: int, rows=None) -> NDArray[np.float64]:
    """``[V U+ | -V U-]`` (dense, read-only) on the given rows of ``V`` (default all), for
    layer ``l`` of a ticket and the layer ``V`` after it (``U+`` / ``U-``: the positive /
    negative kept weights of ``U``): the folded layer of :func:`folded_network`. Rows of
    ``V`` without a stored entry fold to zero.

    Within a :func:`shared_folds` block the rows with an entry are folded once and shared.
    """
    V = ticket.weights[l + 1].tocsr()
    d = ticket.weights[l].shape[1]
    wanted = np.arange(V.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    cache = getattr(_shared, "folds", None)
    if cache is None:
        out = _fold_dense(ticket, l, wanted)
    else:
        key = (id(ticket), l)
        if key not in cache:
            nz = np.flatnonzero(np.diff(V.indptr) > 0)
            cache[key] = (nz, _fold_dense(ticket, l, nz))
        nz, F = cache[key]
        if np.array_equal(nz, wanted):
            out = F
        else:
            pos = np.minimum(np.searchsorted(nz, wanted), max(nz.size - 1, 0))
            hit = nz[pos] == wanted if nz.size else np.zeros(wanted.size, bool)
            out = np.zeros((wanted.size, 2 * d))
            out[hit] = F[pos[hit]]
    out.flags.writeable = False
    return out


def zero_input_response(ticket: Ticket, l: int) -> NDArray[np.float64]:
    """``V h`` (read-only) for layer ``l`` of a ticket and the layer ``V`` after it, with
    ``h`` the outputs of layer ``l``: ``phi(b)`` for its neurons without input weights
    (constants), ``phi(0)`` for the others (their value at a zero input). Within a
    :func:`shared_folds` block, computed once and shared."""
    cache = getattr(_shared, "folds", None)
    key = (id(ticket), l, "zero input")
    if cache is not None and key in cache:
        return cache[key]
    U = ticket.weights[l].tocsr()
    b = ticket.biases[l]
    act = ticket.spec.activations[l]
    h = np.full(U.shape[0], act.phi0)
    if b is not None:
        no_in = np.diff(U.indptr) == 0
        h[no_in] = act(b[no_in])
    out = np.asarray(ticket.weights[l + 1] @ h).ravel()
    out.flags.writeable = False
    if cache is not None:
        cache[key] = out
    return out


def _fold_dense(ticket: Ticket, l: int, rows: NDArray[np.int64]) -> NDArray[np.float64]:
    U, V = ticket.weights[l].tocsr(), ticket.weights[l + 1].tocsr()
    d = U.shape[1]
    if not _is_univariate(U):
        raise ValueError(f"ticket: layer {l + 1} is not univariate (a hidden neuron keeps "
                         "more than one input weight); it cannot be folded")
    one = np.flatnonzero(np.diff(U.indptr) == 1)
    u, j = U.data[U.indptr[one]], U.indices[U.indptr[one]]
    column = np.full(U.shape[0], -1, dtype=np.int64)
    column[one] = np.where(u > 0, j, np.where(u < 0, d + j, -1))
    magnitude = np.zeros(U.shape[0])
    magnitude[one] = np.abs(u)
    out = np.empty((rows.size, 2 * d))
    _fold_kernel(V.indptr, V.indices, V.data, column, magnitude, rows, out)
    return out


def _is_univariate(U: sparse.csr_matrix) -> bool:
    return bool(np.diff(U.indptr).max(initial=0) <= 1)
