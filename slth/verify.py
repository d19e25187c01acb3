"""How close is a ticket to its target? Lower bound, certified upper bound, the theorem's eps.

For an input domain -- the ball ``{x : ||x|| <= radius}`` in the l2 norm (the
theorems' setting) or the max norm -- :func:`check` reports

* ``empirical``: a lower bound on ``sup_x ||target(x) - ticket(x)||_2``, the largest
  error found at random inputs (inside the ball and on its boundary) and after local
  maximisation (``scipy.optimize.minimize``, L-BFGS-B with exact gradients) started
  from the worst of them;
* ``certified``: a rigorous upper bound on the same supremum, obtained by recomputing,
  from the pruned network itself, the effective weights each target weight is
  represented by, and propagating their errors through the layers with interval
  bounds, Lipschitz constants and spectral norms (see :func:`certified_error`);
* ``eps``: what the theorem promises at the width it requires.

Examples
--------
>>> from slth.nets import random_target
>>> from slth.tickets import pensia
>>> t = pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1)
>>> r = check(t, samples=256, seed=0)
>>> bool(r.empirical <= r.certified <= r.eps), r.ok
(True, True)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from numba import prange
from numpy.typing import NDArray
from scipy import optimize, sparse

from slth import bounds
from slth._numba import parallel_kernel
from slth._validate import (
    as_generator,
    check_choice,
    check_int,
    check_positive,
    resolve_max_bytes,
)
from slth.nets.mlp import MLP
from slth.nets.norms import dual_norms, opnorm, target_bounds
from slth.tickets.ticket import Ticket, read_columns

__all__ = ["Report", "SmoothFold", "check", "certified_error", "empirical_error",
           "folded_network", "sample_ball", "smooth_folded_network"]

#: Relative and absolute slack added to certified bounds for floating-point rounding.
REL_SLACK, ABS_SLACK = 1e-9, 1e-12


@dataclass(frozen=True)
class Report:
    """Result of :func:`check`.

    Attributes
    ----------
    empirical : float
        Lower bound on the sup error (largest error found).
    certified : float
        Upper bound on the sup error.
    eps : float
        The theorem's accuracy.
    ok : bool
        ``empirical <= certified``, and, when the source has the theorem's width,
        ``certified <= eps`` and the target meets the theorem's assumptions.
    meets_eps : bool
        ``certified <= eps`` (the ticket is certified eps-close whatever its width).
    theorem_width : bool
        ``n >= required_n``.
    """

    empirical: float
    certified: float
    eps: float
    ok: bool
    meets_eps: bool
    theorem_width: bool
    n: int
    required_n: int
    widths: tuple
    required_widths: tuple
    radius: float
    norm: str
    construction: str
    worst_input: NDArray[np.float64] = field(repr=False)
    assumption_violations: tuple = ()
    layers: tuple = field(default=(), repr=False)
    seconds: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Flat dict of the headline figures."""
        return {
            "construction": self.construction, "empirical": self.empirical,
            "certified": self.certified, "eps": self.eps, "ok": self.ok,
            "meets_eps": self.meets_eps, "theorem_width": self.theorem_width, "n": self.n,
            "required_n": self.required_n, "source_widths": "-".join(map(str, self.widths)),
            "required_widths": "-".join(map(str, self.required_widths)),
            "radius": self.radius, "norm": self.norm,
            "assumption_violations": "; ".join(self.assumption_violations) or "none",
        }

    def __str__(self) -> str:
        return "\n".join(f"{k:>22}: {v}" for k, v in self.summary().items())


# ------------------------------------------------------------------- domain
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


def _to_ball(y, radius, norm):
    if norm == "l2":
        s = np.sqrt(1.0 + y @ y)
        return radius * y / s
    return radius * np.tanh(y)


def _from_ball(x, radius, norm):
    if norm == "l2":
        rho = float(np.linalg.norm(x))
        if rho == 0.0:
            return np.zeros_like(x)
        t = min(rho / radius, 0.999)
        return x / rho * (t / np.sqrt(1.0 - t * t))
    return np.arctanh(np.clip(x / radius, -0.999, 0.999))


def _pullback(y, gx, radius, norm):
    if norm == "l2":
        s = np.sqrt(1.0 + y @ y)
        return radius * (gx / s - y * (y @ gx) / s**3)
    return radius * (1.0 - np.tanh(y) ** 2) * gx


#: Sparse layers at least this dense are densified for batched passes (a dense product
#: is then the faster one), if their dense copy takes at most BATCH_DENSE_BYTES.
BATCH_DENSE_DENSITY, BATCH_DENSE_BYTES = 0.1, 1 << 30


def _for_batches(net: MLP) -> MLP:
    """``net`` with its dense enough sparse layers densified (same function, rounding
    aside), for passes over many inputs."""
    ws = [w.toarray() if sparse.issparse(w)
          and w.nnz >= BATCH_DENSE_DENSITY * w.shape[0] * w.shape[1]
          and 8.0 * w.shape[0] * w.shape[1] <= BATCH_DENSE_BYTES else w for w in net.weights]
    return MLP(ws, net.biases, net.activations)


def _errors(f: MLP, g: MLP, x: NDArray[np.float64], chunk: int = 64) -> NDArray[np.float64]:
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        out[s:s + chunk] = np.linalg.norm(f(x[s:s + chunk]) - g(x[s:s + chunk]), axis=1)
    return out


def empirical_error(ticket: Ticket, radius: float = 1.0, samples: int = 2048, seed=0, *,
                    norm: str = "l2", starts: int = 4, maxiter: int = 50):
    """Largest ``||target(x) - ticket(x)||_2`` found on the ball (a lower bound on the sup).

    Random inputs, then L-BFGS from the worst ones, on the ticket's function folded
    where it can be (:func:`folded_network`, :func:`smooth_folded_network`); the
    reported error is recomputed with the ticket's own network.

    Returns
    -------
    (float, ndarray)
        The error and the input where it was found.
    """
    # search on the folded network when there is one (the same function, much cheaper);
    # every reported error is recomputed with the ticket's own network
    f, g = ticket.target, folded_network(ticket)
    net = ticket.network()
    if g is None:
        net = net.without_dead_neurons()
        g = smooth_folded_network(ticket, radius, net) or net
    d0 = f.widths[0]
    rng = as_generator(seed)
    x = sample_ball(rng, samples, d0, radius, norm)
    errs = _errors(f, _for_batches(g) if isinstance(g, MLP) else g, x)
    top = np.argsort(errs)[::-1][:max(starts, 1)]

    def objective(y):
        xx = _to_ball(y, radius, norm)[None, :]
        diff = f(xx) - g(xx)
        gx = f.vjp(xx, diff)[0] - g.vjp(xx, diff)[0]
        return -0.5 * float(diff[0] @ diff[0]), -_pullback(y, gx, radius, norm)

    found = [x[top]]
    for i in top[:starts]:
        res = optimize.minimize(objective, _from_ball(x[i], radius, norm), jac=True,
                                method="L-BFGS-B", options={"maxiter": maxiter})
        found.append(_to_ball(res.x, radius, norm)[None, :])
    # one pass over the ticket's own (large) network for all candidates
    found = np.concatenate(found)
    real = _errors(f, net, found, chunk=found.shape[0])
    best_i = int(np.argmax(real))
    return float(real[best_i]), found[best_i]


def _column_subset(w, cols: NDArray[np.int64]) -> sparse.csr_matrix:
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
    if construction == "pensia":
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
            w = w if keep_cols is None else _column_subset(w, keep_cols)
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
        ws.append(_fold(ticket, l, keep_cols))
        # neurons without input weights output phi(bias), a constant (phi(0) = 0 here)
        shift = _zero_input_response(ticket, l)
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
    h0 = _zero_input_response(ticket, 0)[rows].copy()
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
    tail = MLP([_column_subset(ticket.weights[2], rows)] + list(ticket.weights[3:]),
               list(ticket.biases[2:]), acts[2:])
    fold = SmoothFold(h0, coef, acts[1], tail)
    net = ticket.network() if net is None else net
    x = sample_ball(np.random.default_rng(0), 4, U.shape[1], radius)
    want = net(x)
    error = np.abs(ticket.target(x) - want).max()
    if not np.abs(fold(x) - want).max() <= SMOOTH_FOLD_SHARE * error:
        return None
    return fold


# ---------------------------------------------------------------- certificate
def _check_univariate(U: sparse.csr_matrix, m: int, n_uni: int, what: str):
    U = U.tocsr()
    counts = np.diff(U.indptr)
    if np.any(counts[:n_uni] > 1) or np.any(counts[n_uni:] > 0):
        raise ValueError(f"ticket: {what} does not have the univariate layout of the "
                         "construction (a hidden neuron keeps more than one input weight)")
    rows = np.repeat(np.arange(U.shape[0]), counts)
    if np.any(U.indices != rows // m):
        raise ValueError(f"ticket: {what} keeps a weight outside its neuron's input block")


#: Folded layer pairs shared by the search and the certificate within one :func:`check`
#: (per thread; nothing is kept between calls, so a ticket changed in place is re-read).
_shared = threading.local()


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


def _fold(ticket: Ticket, l: int, rows=None) -> NDArray[np.float64]:
    """``[V U+ | -V U-]`` (dense, read-only) on the given rows of ``V`` (default all), for
    layer ``l`` of a ticket and the layer ``V`` after it (``U+`` / ``U-``: the positive /
    negative kept weights of ``U``): the folded layer of :func:`folded_network`. Rows of
    ``V`` without a stored entry fold to zero.

    Within one :func:`check` the rows with an entry are folded once and shared.
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


def _zero_input_response(ticket: Ticket, l: int) -> NDArray[np.float64]:
    """``V h`` (read-only) for layer ``l`` of a ticket and the layer ``V`` after it, with
    ``h`` the outputs of layer ``l``: ``phi(b)`` for its neurons without input weights
    (constants), ``phi(0)`` for the others (their value at a zero input). Within one
    :func:`check`, computed once and shared."""
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


def _certify_pensia(ticket: Ticket, radius: float, norm: str):
    t = ticket.target.dense()
    P, A = target_bounds(t, radius, norm)
    m = int(ticket.params["block"])
    layers = []
    delta = D = None
    for l in range(t.depth):
        w = t.weights[l]
        U = ticket.weights[2 * l]
        _check_univariate(U, m, U.shape[0], f"layer {2 * l + 1}")
        F = _fold(ticket, 2 * l)
        Ahat = F[:, :w.shape[1]]
        eA, eB = Ahat - w, -F[:, w.shape[1]:] - w
        if l == 0:
            # g(x) - W x = eA relu(x) - eB relu(-x); (relu(x), relu(-x)) has the norm of x
            c = np.maximum(np.abs(eA), np.abs(eB))
            delta = radius * dual_norms(c, norm)
            D = opnorm(np.hstack([eA, eB])) * A[0]
        else:
            # inputs are ReLU outputs (>= 0): g(a) = Ahat a exactly
            c = np.abs(eA)
            delta = np.minimum(c @ P[l], np.linalg.norm(c, axis=1) * A[l]) \
                + np.abs(Ahat) @ delta
            D = opnorm(eA) * A[l] + opnorm(Ahat) * D
        D = min(D, float(np.linalg.norm(delta)))
        layers.append({"layer": l + 1, "max_weight_error": float(c.max(initial=0.0)),
                       "bound": D})
    return D, layers


def _certify_burkholz(ticket: Ticket, radius: float, norm: str):
    t = ticket.target.dense()
    P, A = target_bounds(t, radius, norm)
    prm = ticket.params
    m, c, tau = int(prm["block"]), int(prm["copies"]), float(prm["tau"])
    act = ticket.spec.activations[0]
    L = t.depth
    d = t.widths
    n_uni = m * d[0]
    U1 = ticket.weights[0]
    _check_univariate(U1, m, n_uni, "layer 1")
    if np.any(ticket.bias_masks[0][:n_uni]):
        raise ValueError("ticket: layer 1 keeps the bias of a univariate neuron")
    V = ticket.weights[1].tocsr()

    def row_targets(l, r):
        """Target weights, biases and constant flags of rows ``r`` of source layer ``l + 2``."""
        if l == L - 1:
            j, const = r, np.zeros(r.size, bool)
        else:
            j, const = np.minimum(r // c, d[l + 1]), r >= c * d[l + 1]
        wrow = np.zeros((r.size, d[l]))
        wrow[~const] = t.weights[l][j[~const]]
        brow = np.full(r.size, tau)
        b = t.biases[l]
        brow[~const] = 0.0 if b is None else b[j[~const]]
        return wrow, brow, const

    def reads(l):
        """Copies of target layer ``l``'s neurons that the next source layer reads."""
        if l == L - 1:
            return np.ones(d[L], dtype=bool)
        return read_columns(ticket.weights[l + 2])[: c * d[l + 1]]

    # Two bounds travel through the layers: ``delta`` per copy (absolute values) and
    # ``D``, the l2 norm of the errors of all copies the next layer reads (spectral
    # norms, so that errors of different copies may cancel). Copies nobody reads do not
    # reach the output and are left out: only the read copies and the constant neurons
    # (checked not to depend on the input) are bounded.
    ncopy = c * d[1] if L > 1 else d[1]
    rows = np.concatenate([np.flatnonzero(reads(0)), np.arange(ncopy, V.shape[0])])
    wrow, brow, const = row_targets(0, rows)
    # bias neurons' constants, and the univariate neurons at x = 0 (offset term)
    pre_const = _zero_input_response(ticket, 0)[rows]
    if act.homogeneous:
        a = act.slope_neg
        # error of a copy = ell . (phi(x), phi(-x)) + const; ||(phi(x), phi(-x))|| <= rho,
        # with ell = [V U+ - w / (1 + a), -(V U- - w / (1 + a))]
        wa = wrow / (1 + a)
        F = _fold(ticket, 0, rows)
        ell = np.empty(F.shape)
        np.subtract(F[:, :d[0]], wa, out=ell[:, :d[0]])
        np.add(F[:, d[0]:], wa, out=ell[:, d[0]:])
        del wa, F
        eA, eB = np.abs(ell[:, :d[0]]), np.abs(ell[:, d[0]:])
        cmat = np.maximum(eA, eB, out=eA) if a == 0.0 else np.maximum(eA + a * eB,
                                                                      a * eA + eB)
        del eA, eB
        lin = np.zeros(rows.size)
        rho = np.sqrt(1.0 + a * a) * A[0]
    else:
        K, p = act.remainder
        Vr = V[rows]
        ell = np.asarray((Vr @ U1).toarray()) * act.dphi0 - wrow  # linear part of the error
        cmat = np.abs(ell)
        Up = U1.copy()
        Up.data = K * np.abs(Up.data) ** p
        C = np.asarray((abs(Vr) @ Up).toarray())
        lin = radius**p * (C.max(axis=1) if (norm == "l2" and p >= 2) else C.sum(axis=1))
        rho = A[0]
    delta = radius * dual_norms(cmat, norm) + lin + np.abs(pre_const - brow)
    if np.any(delta[const] > np.abs(pre_const - brow)[const] * (1 + 1e-12) + 1e-300):
        raise ValueError("ticket: a constant neuron of layer 2 depends on the input")
    used = reads(0)
    copies = ~const
    # The errors of layer 2 are affine in x up to a bounded remainder:
    # z_hat_r - z_r = ell_r . y + k_r(x), |k_r| <= kappa_r, ||y|| <= rho, hence
    # ||(z_hat - z)_used|| <= rho ||ell_used|| + ||kappa_used||. A few failed subset sums
    # would dominate the spectral norm: they are split off (ell = small + outliers, any
    # threshold is valid) and bounded either row by row (in kappa, which also serves the
    # per-copy bounds of the next layer) or by their own spectral norm (a sparse matrix
    # whose entries are spread over rows and columns: far below its Frobenius norm);
    # without failures, the tail of ordinary errors is better left in (||ell|| is below
    # the sum of the two parts' norms).
    n_read = int(np.count_nonzero(copies))      # the read copies come first in ``rows``
    ell_u = ell[:n_read]
    cut = 4.0 * np.sqrt(np.vdot(ell_u, ell_u) / ell_u.size) if ell_u.size else 0.0
    full_norm = opnorm(ell_u)
    out_r, out_c = np.nonzero(np.abs(ell_u) > cut)
    out_v = ell_u[out_r, out_c]
    outliers = sparse.csr_matrix((out_v, (out_r, out_c)), shape=ell_u.shape)
    ell_u[out_r, out_c] = 0.0
    ell_norm = opnorm(ell_u)
    kappa0 = (lin + np.abs(pre_const - brow))[copies]
    kappa = kappa0 + rho * np.sqrt(np.bincount(out_r, out_v**2, minlength=n_read))
    delta_u = delta[copies]
    D = min(float(np.linalg.norm(delta_u)), rho * ell_norm + float(np.linalg.norm(kappa)),
            rho * min(full_norm, ell_norm + opnorm(outliers)) + float(np.linalg.norm(kappa0)))
    layers = [{"layer": 1, "max_weight_error": float(cmat.max(initial=0.0)), "bound": D}]
    const_out = act(pre_const[const])
    for l in range(1, L):
        V = ticket.weights[l + 1].tocsr()
        ncopy = c * d[l]
        used_next = reads(l)
        nnext = used_next.size
        rows = np.concatenate([np.flatnonzero(used_next), np.arange(nnext, V.shape[0])])
        wrow, brow, const = row_targets(l, rows)
        V = V[rows]
        Vc, Vk = V[:, :ncopy], V[:, ncopy:]
        agg = sparse.csr_matrix((np.ones(ncopy), np.arange(ncopy) // c, np.arange(ncopy + 1)),
                                shape=(ncopy, d[l]))
        W_eff = np.asarray((Vc @ agg).toarray())
        e_signed = W_eff - wrow
        e = np.abs(e_signed)
        pre_const = np.asarray(Vk @ const_out).ravel()
        eb = np.abs(pre_const - brow)
        if np.any(np.diff(Vc.tocsr().indptr)[const] > 0):
            raise ValueError(f"ticket: a constant neuron of layer {l + 2} depends on the input")
        Vu = _column_subset(Vc, np.flatnonzero(used))
        absVu = abs(Vu)
        row_norm = np.sqrt(np.asarray(absVu.power(2).sum(axis=1)).ravel())
        # per row: absolute values, or Cauchy-Schwarz against the l2 bound
        prop = np.minimum(absVu @ delta_u, row_norm * D)
        if l == 1:
            prop = np.minimum(prop, rho * ell_norm * row_norm + absVu @ kappa)
        del absVu
        direct = np.minimum(e @ P[l], np.linalg.norm(e, axis=1) * A[l])
        delta = direct + act.lipschitz * prop + eb
        sel = ~const
        # the direct errors of all read copies are E a (a: the target's activations), E
        # signed: errors of either sign in a row may cancel, and ||E|| <= || |E| ||
        direct_l2 = min(float(np.linalg.norm(direct[sel])), opnorm(e_signed[sel]) * A[l])
        D = min(float(np.linalg.norm(delta[sel])),
                act.lipschitz * opnorm(Vu[sel]) * D + direct_l2
                + float(np.linalg.norm(eb[sel])))
        layers.append({"layer": l + 1, "max_weight_error": float(e[sel].max(initial=0.0)),
                       "bound": D})
        const_out = act(pre_const[const])
        delta_u = delta[sel]
        used = used_next
    return D, layers


_CERTIFY = {"pensia": _certify_pensia, "burkholz": _certify_burkholz}


def certified_error(ticket: Ticket, radius: float = 1.0, norm: str = "l2"):
    """Rigorous upper bound on ``sup ||target(x) - ticket(x)||_2`` over the ball.

    The bound is recomputed from the pruned network: for every target weight the
    effective weight the ticket realises (a sum of kept source weights or products of
    them), its error against the target, the exactly known constants of the bias
    neurons, and for smooth activations the tangent remainder of the first layer.
    Errors are propagated layer by layer: per coordinate (interval bounds of the target's
    activations, absolute values of the kept weights, the activation's Lipschitz
    constant) and, for the depth-2L construction, also in the l2 norm with spectral
    norms; the smaller bound is reported.

    Returns
    -------
    (float, list of dict)
        The bound and per-layer details.

    Raises
    ------
    ValueError
        If the ticket's masks do not have the layout of its construction.
    """
    radius = check_positive(radius, "radius")
    norm = check_choice(norm, "norm", ("l2", "inf"))
    construction = ticket.params.get("construction")
    if construction not in _CERTIFY:
        raise ValueError(f"ticket.params['construction'] must be one of {tuple(_CERTIFY)}, "
                         f"got {construction!r}")
    bound, layers = _CERTIFY[construction](ticket, radius, norm)
    return float(bound) * (1 + REL_SLACK) + ABS_SLACK, layers


def _required_widths(ticket: Ticket) -> tuple:
    p = ticket.params
    w = ticket.target.widths
    if p["construction"] == "pensia":
        return bounds.pensia_widths(w, int(p["required_n"]))
    return bounds.burkholz_widths(w, int(p["required_n"]), bool(p["homogeneous"]),
                                  int(p.get("coarse_required", 0)), p.get("dist", "uniform"))


def check(ticket: Ticket, radius: float = 1.0, samples: int = 2048, seed=0, *,
          norm: str = "l2", starts: int = 4, maxiter: int = 50) -> Report:
    """Empirical and certified error of a ticket on the ball, next to the theorem's eps.

    Parameters
    ----------
    ticket : Ticket
    radius : float
        Radius of the input ball.
    samples : int
        Random inputs (half inside the ball, half on its boundary).
    seed : int, Generator or None
        Seed of the random inputs.
    norm : {"l2", "inf"}
        Norm of the input ball (the output error is always measured in l2).
    starts, maxiter : int
        Local maximisations from the worst samples, and their iteration cap.

    Returns
    -------
    Report
    """
    if not isinstance(ticket, Ticket):
        raise TypeError(f"ticket must be a slth.tickets.Ticket, got {type(ticket).__name__}")
    if str(ticket.params.get("construction", "")).startswith("cnn_"):
        return check_cnn(ticket, radius, samples, seed)
    radius = check_positive(radius, "radius")
    norm = check_choice(norm, "norm", ("l2", "inf"))
    samples = check_int(samples, "samples", minimum=1)
    starts = check_int(starts, "starts", minimum=0)
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    t0 = time.perf_counter()
    _shared.folds = {}             # the search and the certificate fold the same layers
    try:
        emp, worst = empirical_error(ticket, radius, samples, seed, norm=norm,
                                     starts=starts, maxiter=maxiter)
        t1 = time.perf_counter()
        cert, layers = certified_error(ticket, radius, norm)
    finally:
        _shared.folds = None
    t2 = time.perf_counter()
    return _report(ticket, emp, cert, worst, layers, _required_widths(ticket), radius, norm,
                   {"empirical": t1 - t0, "certified": t2 - t1})


def _report(ticket: Ticket, emp: float, cert: float, worst, layers, required_widths,
            radius: float, norm: str, seconds: dict) -> Report:
    """The :class:`Report` of a check: ``ok`` needs ``empirical <= certified`` and, at the
    theorem's width, ``certified <= eps`` and no violated assumption."""
    p = ticket.params
    eps = float(p["eps"])
    violations = tuple(p.get("assumption_violations", ()))
    theorem_width = ticket.theorem_width
    meets = cert <= eps
    ok = emp <= cert and (not theorem_width or (meets and not violations))
    return Report(emp, cert, eps, bool(ok), bool(meets), bool(theorem_width), int(p["n"]),
                  int(p["required_n"]), tuple(ticket.widths), tuple(required_widths),
                  radius, norm, str(p["construction"]), worst, violations, tuple(layers),
                  seconds)


# ------------------------------------------------------------------------- CNNs
# CNN tickets (slth.tickets.cnn_unstructured, cnn_structured): inputs in the max-norm
# ball [-radius, radius]^(c_0 x H x W), error in the max norm over all output entries.

__all__ += ["cnn_certified_error", "cnn_empirical_error", "check_cnn"]


def cnn_certified_error(ticket: Ticket, radius: float = 1.0):
    """Rigorous bound on ``sup_x max |target(x) - ticket(x)|`` for a CNN ticket.

    From the pruned kernels, for each target layer the effective kernels
    ``A_jc = sum u_s V_js`` (kept positive ``u_s`` of block ``c``) and
    ``B_jc = sum |u_s| V_js`` (kept negative ones) are recomputed (see
    :mod:`slth.tickets.cnn`); with ``eA = A - K``, ``eB = B + K`` and ``P_c`` a bound on
    the target's activations of channel ``c`` (``P = radius`` at the input, then
    ``P_j = sum_{c,p} |K_jcp| P_c``), the per-channel error bounds are

    * layer 1 (inputs of any sign): ``delta_j = radius sum_{c,p} max(|eA_jcp|, |eB_jcp|)``
      (``relu(x)`` and ``relu(-x)`` are never both non-zero);
    * later layers (inputs are ReLU outputs, ``relu(-x) = 0``):
      ``delta_j = sum_{c,p} |eA_jcp| P_c + sum_{c,p} |A_jcp| delta_c``.

    Zero padding only removes terms and a global pooling is 1-Lipschitz in the max
    norm, so ``max_j delta_j`` of the last layer bounds the error for every image size.

    Returns
    -------
    (float, list of dict)

    Raises
    ------
    ValueError
        If a 1 x 1 layer of the ticket does not have the univariate layout (a channel
        keeping a weight to an input channel outside its block, or more than one).
    """
    radius = check_positive(radius, "radius")
    t = ticket.target
    m = int(ticket.params["block"])
    P = np.full(t.channels[0], radius)
    delta = None
    layers = []
    for l in range(t.depth):
        K = t.kernels[l]
        U, V = ticket.weights[2 * l], ticket.weights[2 * l + 1]
        c_in = K.shape[1]
        if U.shape != (m * c_in, c_in, 1, 1) or V.shape != (K.shape[0], m * c_in, *K.shape[2:]):
            raise ValueError(f"ticket: source layers {2 * l + 1}, {2 * l + 2} have shapes "
                             f"{U.shape}, {V.shape}, which do not match the target's kernels "
                             f"{K.shape} with blocks of {m} channels")
        u2 = U[:, :, 0, 0]
        nz = u2 != 0
        own = np.zeros_like(nz)
        own[np.arange(u2.shape[0]), np.arange(u2.shape[0]) // m] = True
        if np.any(nz & ~own):
            raise ValueError(f"ticket: layer {2 * l + 1} keeps a weight outside the input "
                             "block of its channel (not the univariate layout)")
        u = u2[np.arange(u2.shape[0]), np.arange(u2.shape[0]) // m]
        up = np.where(u > 0, u, 0.0).reshape(c_in, m)
        un = np.where(u < 0, -u, 0.0).reshape(c_in, m)
        Vb = V.reshape(V.shape[0], c_in, m, *V.shape[2:])
        A = np.einsum("jcmpq,cm->jcpq", Vb, up)
        B = np.einsum("jcmpq,cm->jcpq", Vb, un)
        eA, eB = np.abs(A - K), np.abs(B + K)
        if l == 0:
            emax = np.maximum(eA, eB)
            delta = radius * emax.sum(axis=(1, 2, 3))
        else:
            emax = eA
            delta = (eA.sum(axis=(2, 3)) @ P) + (np.abs(A).sum(axis=(2, 3)) @ delta)
        P = np.abs(K).sum(axis=(2, 3)) @ P
        layers.append({"layer": l + 1, "max_weight_error": float(emax.max(initial=0.0)),
                       "bound": float(delta.max(initial=0.0))})
    bound = float(delta.max(initial=0.0))
    return bound * (1 + REL_SLACK) + ABS_SLACK, layers


def cnn_empirical_error(ticket: Ticket, radius: float = 1.0, samples: int = 512, seed=0, *,
                        image_size: int = 8, chunk: int = 64, rounds: int = 16):
    """Largest ``max |target(x) - ticket(x)|`` found (a lower bound on the sup).

    Inputs are ``image_size x image_size`` images with ``c_0`` channels: half uniform in
    ``[-radius, radius]``, half random corners (entries ``+-radius``), where the
    piecewise-linear error tends to peak. Then ``rounds`` rounds of local search from
    the worst image (``samples`` more evaluations in all): copies of it, each with a
    random tenth of its entries redrawn from ``{-radius, 0, radius}``, the best kept.
    The pruned network is evaluated in its compacted form (removed channels dropped: the
    same sums without their zero terms).

    Returns
    -------
    (float, ndarray)
        The error and the image where it was found.
    """
    f = ticket.target
    g = ticket.compact() if hasattr(ticket, "compact") else ticket.network()
    rng = as_generator(seed)
    shape = (f.channels[0], image_size, image_size)
    best, best_x = -1.0, None
    for s in range(0, samples, chunk):
        b = min(chunk, samples - s)
        x = rng.uniform(-radius, radius, (b, *shape))
        x[b // 2:] = radius * np.where(x[b // 2:] >= 0, 1.0, -1.0)
        err = np.abs(f(x) - g(x)).reshape(b, -1).max(axis=1)
        i = int(np.argmax(err))
        if err[i] > best:
            best, best_x = float(err[i]), x[i]
    per_round = max(1, min(chunk, samples // max(rounds, 1)))
    for _ in range(rounds):
        x = np.repeat(best_x[None], per_round, axis=0)
        flip = rng.random(x.shape) < 0.1
        x[flip] = radius * rng.integers(-1, 2, int(flip.sum()))
        err = np.abs(f(x) - g(x)).reshape(per_round, -1).max(axis=1)
        i = int(np.argmax(err))
        if err[i] > best:
            best, best_x = float(err[i]), x[i]
    return best, best_x


def check_cnn(ticket: Ticket, radius: float = 1.0, samples: int = 512, seed=0, *,
              image_size: int = 8) -> Report:
    """Empirical and certified max-norm error of a CNN ticket, next to the theorem's eps.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> from slth.tickets import cnn_unstructured
    >>> t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
    ...                      seed=0)
    >>> r = check_cnn(t, samples=64, image_size=5)
    >>> bool(r.empirical <= r.certified <= r.eps), r.ok, r.norm
    (True, True, 'inf')
    """
    from slth.nets.cnn import CNN

    if not isinstance(ticket, Ticket) or not isinstance(ticket.target, CNN):
        raise TypeError(f"ticket must be a CNN ticket (slth.tickets.cnn_unstructured or "
                        f"cnn_structured), got {type(ticket).__name__}")
    radius = check_positive(radius, "radius")
    samples = check_int(samples, "samples", minimum=1)
    image_size = check_int(image_size, "image_size", minimum=1)
    t0 = time.perf_counter()
    emp, worst = cnn_empirical_error(ticket, radius, samples, seed, image_size=image_size)
    t1 = time.perf_counter()
    cert, layers = cnn_certified_error(ticket, radius)
    t2 = time.perf_counter()
    required = bounds.cnn_widths(ticket.target.channels, int(ticket.params["required_n"]))
    return _report(ticket, emp, cert, worst, layers, required, radius, "inf",
                   {"empirical": t1 - t0, "certified": t2 - t1})


def _certify_cnn(ticket: Ticket, radius: float, norm: str):
    if norm != "inf":
        raise ValueError(f"norm must be 'inf' for CNN tickets (max-norm inputs and errors), "
                         f"got {norm!r}")
    bound, layers = cnn_certified_error(ticket, radius)
    return (bound - ABS_SLACK) / (1 + REL_SLACK), layers


_CERTIFY.update({"cnn_unstructured": _certify_cnn, "cnn_structured": _certify_cnn})
