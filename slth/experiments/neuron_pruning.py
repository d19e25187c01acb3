"""Pruning whole neurons against pruning weights, in one random network (Malach et al. 2020).

Malach, Yehudai, Shalev-Shwartz, Shamir (ICML 2020), Section 3 (check the theorem's
exact form): a neuron-subnetwork of a random depth-2 network -- hidden neurons kept or
removed whole -- computes ``sum_{k in S} v_k relu(<w_k, x>)``, a random-features model
with 0/1 coefficients, and random features of polynomial size cannot approximate even a
single neuron in general (they cite the limitations of random features, e.g. Yehudai and
Shamir 2019); weight-subnetworks can (:func:`slth.tickets.malach`).

:func:`neuron_vs_weight` makes this concrete. The target is one linear neuron
``f(x) = <w*, x>`` with ``||w*||_2 = 1`` on the unit l2 ball (as an MLP, ``[[w*]]``, its
spectral norm 1). The source is the one :func:`slth.tickets.malach` draws for it: a
random depth-2 ReLU network with ``N = 2 n d`` hidden neurons, weights i.i.d. uniform on
[-1, 1]. The same source is pruned two ways:

* by weights: :func:`slth.tickets.malach` (one neuron pair per target weight); its
  error on the sampled inputs and its certified sup error
  (:func:`slth.verify.certified_error`);
* by whole neurons: a subset ``S`` of the hidden neurons (all of a kept neuron's input
  weights kept, its output weight kept), judged by the largest error over the sampled
  inputs. Three figures: ``greedy`` (single flips that lower the squared error, until
  none does: an achievable error), ``lp_bound`` (the linear-programming relaxation over
  ``s in [0, 1]^N``: no subset does better on these inputs, so no subset does better
  on the ball) and, for ``N <= exact_max``, ``exact`` (the optimum over all subsets on
  these inputs, :func:`scipy.optimize.milp`; ``exact_optimal`` says whether the solver
  proved it within its time limit, otherwise it is the best subset found, not a bound).

Both source and target are positively homogeneous, so the sup over the ball is the sup
over the sphere, where the inputs are sampled. ``lp_bound`` and ``exact`` are lower
bounds on the sup error of every neuron-subnetwork; when either exceeds the weight-pruned
ticket's certified error, the separation is proved for that draw.

Examples
--------
>>> r = neuron_vs_weight(d=2, n=4, samples=64, seed=0)
>>> r["hidden"], r["exact"] is not None
(16, True)
>>> r["lp_bound"] <= r["exact"] <= r["greedy"] + 1e-12
True
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from slth._validate import as_seed_sequence, check_int

__all__ = ["neuron_vs_weight", "neuron_features", "greedy_subset", "lp_bound", "exact_subset",
           "max_error"]


def neuron_features(W: NDArray, v: NDArray, X: NDArray) -> NDArray:
    """``Phi[i, k] = v_k relu(<W_k, x_i>)``: the output of hidden neuron ``k`` on input
    ``i``, so that the neuron subset ``s`` computes ``Phi @ s``.

    Examples
    --------
    >>> neuron_features(np.array([[1.0, 0.0], [0.0, -1.0]]), np.array([2.0, 0.5]),
    ...                 np.array([[1.0, -2.0]])).tolist()
    [[2.0, 1.0]]
    """
    return np.maximum(np.asarray(X) @ np.asarray(W).T, 0.0) * np.asarray(v)


def max_error(Phi: NDArray, y: NDArray, s: NDArray) -> float:
    """``max_i |y_i - (Phi s)_i|``: the error of neuron subset ``s`` on the inputs."""
    return float(np.max(np.abs(y - Phi @ np.asarray(s, dtype=float)), initial=0.0))


def greedy_subset(Phi: NDArray, y: NDArray) -> NDArray[np.bool_]:
    """A neuron subset by single flips: from the empty set, flip (add or remove) the
    neuron that lowers ``||y - Phi s||_2^2`` most, until no flip lowers it.

    Deterministic (ties to the lowest index); at most ``4 N`` flips.

    Examples
    --------
    >>> Phi = np.array([[1.0, 0.5, 0.25], [0.0, 1.0, 0.5]])
    >>> greedy_subset(Phi, np.array([1.25, 0.5])).tolist()
    [True, False, True]
    """
    Phi = np.asarray(Phi, dtype=float)
    y = np.asarray(y, dtype=float)
    N = Phi.shape[1]
    s = np.zeros(N, dtype=bool)
    r = y.copy()
    sq = np.einsum("ik,ik->k", Phi, Phi)
    for _ in range(4 * N):
        # change of ||r||^2 when neuron k is added (r - phi_k) or removed (r + phi_k)
        g = Phi.T @ r
        delta = np.where(s, 2.0 * g + sq, -2.0 * g + sq)
        k = int(np.argmin(delta))
        if not delta[k] < -1e-12 * max(1.0, float(r @ r)):
            break
        r = r + Phi[:, k] if s[k] else r - Phi[:, k]
        s[k] = ~s[k]
    return s


def lp_bound(Phi: NDArray, y: NDArray) -> float:
    """``min over s in [0, 1]^N of max_i |y_i - (Phi s)_i|``: the linear-programming
    relaxation (:func:`scipy.optimize.linprog`, HiGHS), a lower bound on the error of
    every neuron subset on these inputs.

    Examples
    --------
    >>> round(lp_bound(np.array([[1.0], [1.0]]), np.array([0.5, 2.0])), 6)  # s = 1
    1.0
    """
    from scipy.optimize import linprog

    A, b, c = _lp(Phi, y)
    res = linprog(c, A_ub=A, b_ub=b, bounds=[(0, 1)] * Phi.shape[1] + [(0, None)],
                  method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: {res.message}")
    # the dual value certifies the optimum; HiGHS' primal objective is within its tolerance
    return max(0.0, float(res.fun) - 1e-9)


def exact_subset(Phi: NDArray, y: NDArray, time_limit: float = 60.0):
    """The neuron subset with the smallest ``max_i |y_i - (Phi s)_i|``, by
    :func:`scipy.optimize.milp` (binary ``s``).

    Returns
    -------
    (ndarray of bool, float, bool)
        The subset, its error (recomputed) and whether the solver proved it optimal
        within ``time_limit`` seconds.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    A, b, c = _lp(Phi, y)
    N = Phi.shape[1]
    res = milp(c, constraints=LinearConstraint(A, -np.inf, b),
               integrality=np.r_[np.ones(N), 0.0],
               bounds=Bounds(np.zeros(N + 1), np.r_[np.ones(N), np.inf]),
               options={"time_limit": float(time_limit)})
    if res.x is None:
        raise RuntimeError(f"milp found no solution: {res.message}")
    s = res.x[:N] > 0.5
    return s, max_error(Phi, y, s), res.status == 0


def _lp(Phi, y):
    """``min t`` s.t. ``y - Phi s <= t`` and ``Phi s - y <= t``, variables ``(s, t)``."""
    Phi = np.asarray(Phi, dtype=float)
    y = np.asarray(y, dtype=float)
    m, N = Phi.shape
    one = np.ones((m, 1))
    A = np.vstack([np.hstack([-Phi, -one]), np.hstack([Phi, -one])])
    b = np.r_[-y, y]
    c = np.r_[np.zeros(N), 1.0]
    return A, b, c


def neuron_vs_weight(d: int = 8, n: int = 64, samples: int = 256, seed=0, *,
                     exact_max: int = 24, time_limit: float = 60.0) -> dict:
    """Prune one random depth-2 network by weights and by whole neurons (module doc).

    Parameters
    ----------
    d : int
        Input dimension of the target neuron.
    n : int
        Neurons per sign and input of the source (hidden width ``N = 2 n d``).
    samples : int
        Inputs on the unit sphere at which errors are measured.
    seed : int, SeedSequence, Generator or None
        Root seed: children 0, 1, 2 draw the target, the source and the inputs.
    exact_max : int
        Largest ``N`` solved exactly (:func:`exact_subset`).
    time_limit : float
        Seconds for the exact solver.

    Returns
    -------
    dict
        ``d``, ``n``, ``hidden`` (``N``), ``samples``; the weight-pruned ticket's
        ``weight_sample`` (largest error on the inputs) and ``weight_certified``,
        ``weight_kept``; the neuron subsets' ``greedy`` (its error) and
        ``greedy_kept``, ``lp_bound``, ``exact`` and ``exact_kept`` (``None`` above
        ``exact_max``), ``exact_optimal``; ``seconds``.
    """
    from slth.nets import MLP
    from slth.tickets import malach
    from slth.verify import certified_error

    d = check_int(d, "d", minimum=1)
    n = check_int(n, "n", minimum=1)
    samples = check_int(samples, "samples", minimum=1)
    exact_max = check_int(exact_max, "exact_max", minimum=0)
    t0 = time.perf_counter()
    s_target, s_source, s_inputs = as_seed_sequence(seed).spawn(3)
    w = np.random.default_rng(s_target).standard_normal(d)
    target = MLP([(w / np.linalg.norm(w))[None, :]], [None], "relu")
    X = np.random.default_rng(s_inputs).standard_normal((samples, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = target(X)[:, 0]
    ticket = malach(target, eps=0.5, delta=0.5, seed=s_source, n=n)
    weight_sample = float(np.max(np.abs(ticket(X)[:, 0] - y)))
    weight_certified = float(certified_error(ticket)[0])
    (W, _), (v, _) = ticket.spec.layer(0), ticket.spec.layer(1)
    Phi = neuron_features(W, v[0], X)
    s = greedy_subset(Phi, y)
    out = {"d": d, "n": n, "hidden": int(Phi.shape[1]), "samples": samples,
           "weight_sample": weight_sample, "weight_certified": weight_certified,
           "weight_kept": int(ticket.kept), "greedy": max_error(Phi, y, s),
           "greedy_kept": int(s.sum()), "lp_bound": lp_bound(Phi, y), "exact": None,
           "exact_kept": None, "exact_optimal": None}
    if Phi.shape[1] <= exact_max:
        se, err, optimal = exact_subset(Phi, y, time_limit)
        out.update(exact=err, exact_kept=int(se.sum()), exact_optimal=bool(optimal))
    out["seconds"] = time.perf_counter() - t0
    return out
