"""The empirical error: a lower bound on the sup error, found by search.

:func:`empirical_error` evaluates the error at random inputs of the ball
(:func:`slth.verify.domain.sample_ball`) and maximises it locally from the worst of them,
on the ticket's function folded where it can be (:mod:`slth.verify.fold`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, sparse
from threadpoolctl import threadpool_limits

from slth._validate import as_generator
from slth.nets.mlp import MLP
from slth.tickets.ticket import Ticket
from slth.verify.domain import from_ball, pullback, resolve_domain, sample_ball, to_ball
from slth.verify.fold import folded_network, smooth_folded_network

__all__ = ["BATCH_DENSE_DENSITY", "BATCH_DENSE_BYTES", "empirical_error"]


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
    """``||f(x) - g(x)||_2`` per input, ``chunk`` inputs at a time."""
    out = np.empty(x.shape[0])
    for s in range(0, x.shape[0], chunk):
        out[s:s + chunk] = np.linalg.norm(f(x[s:s + chunk]) - g(x[s:s + chunk]), axis=1)
    return out


def empirical_error(ticket: Ticket, radius: float | None = None, samples: int = 2048, seed=0,
                    *, norm: str | None = None, starts: int = 4, maxiter: int = 50):
    """Largest ``||target(x) - ticket(x)||_2`` found on the ball (a lower bound on the sup).

    Random inputs, then L-BFGS from the worst ones, on the ticket's function folded
    where it can be (:func:`~slth.verify.fold.folded_network`,
    :func:`~slth.verify.fold.smooth_folded_network`); the reported error is recomputed
    with the ticket's own network. The ball is the ticket's own
    (:attr:`~slth.tickets.Ticket.domain`) unless ``radius`` or ``norm`` say otherwise.

    Returns
    -------
    (float, ndarray)
        The error and the input where it was found.
    """
    radius, norm, _ = resolve_domain(ticket, radius, norm)
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
        xx = to_ball(y, radius, norm)[None, :]
        diff = f(xx) - g(xx)
        gx = f.vjp(xx, diff)[0] - g.vjp(xx, diff)[0]
        return -0.5 * float(diff[0] @ diff[0]), -pullback(y, gx, radius, norm)

    found = [x[top]]
    # L-BFGS-B's vector operations go through BLAS, whose rounding can depend on its
    # thread count (seen with OpenBLAS's kernels for older CPUs): on one BLAS thread the
    # inputs found, hence the reported error, are the same in every process and sweep
    # worker. Its products are of one input at a time, too small to gain from threads.
    with threadpool_limits(limits=1, user_api="blas"):
        for i in top[:starts]:
            res = optimize.minimize(objective, from_ball(x[i], radius, norm), jac=True,
                                    method="L-BFGS-B", options={"maxiter": maxiter})
            found.append(to_ball(res.x, radius, norm)[None, :])
    # one pass over the ticket's own (large) network for all candidates
    found = np.concatenate(found)
    real = _errors(f, net, found, chunk=found.shape[0])
    best_i = int(np.argmax(real))
    return float(real[best_i]), found[best_i]
