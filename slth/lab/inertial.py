"""Inertial-manifold diagnostics of a small trained network, with its exact Hessian.

Zhang, Wang, Li, Wu and Zhang, "Validating the Lottery Ticket Hypothesis with Inertial
Manifold Theory", NeurIPS 2021 (no public code). The paper's statement, as far as it can
be checked here (reconstructed, check): write gradient descent as the flow
``d theta/dt = -A theta + F(theta)`` with ``A`` the loss's Hessian at a reference point
``theta0`` and ``F`` the nonlinear remainder ``F(theta) = -grad L(theta) + A (theta -
theta0)`` (a constant shift of coordinates aside). If ``A`` is symmetric positive
(the flow is dissipative) with eigenvalues ``lambda_1 <= lambda_2 <= ...`` and
``F`` is Lipschitz with constant ``Lip``, the spectral gap condition

    lambda_{N+1} - lambda_N > 2 Lip(F)

gives an inertial manifold of dimension ``N``: every trajectory is attracted
exponentially to an ``N``-dimensional invariant manifold, the graph of a map over the
span of the first ``N`` eigenvectors, so that ``N`` coordinates determine the long-time
training dynamics. The paper reads this ``N`` as the size of a winning ticket (check:
the paper identifies the manifold's coordinates with kept weights; here only the count
``N`` is compared with the number of weights one-shot pruning keeps at the essential
sparsity, :mod:`slth.lab.essential`).

What is measured (:func:`diagnose`), on a network small enough for an exact Hessian
(``torch.func`` derivatives of the full-batch cross-entropy over the flat vector of all
parameters, biases and output layer included):

* the full-batch gradient norm after 10 SGD steps from the initial weights and at the
  end of training (the theory is about the flow near ``theta0``; a large gradient
  means the trained point is not a critical point);
* the Hessian's spectrum at the trained weights, and the fraction of negative eigenvalues
  (any negative eigenvalue breaks dissipativity: the theory's first condition fails);
* the gaps ``lambda_{N+1} - lambda_N`` (ascending order) against ``2 Lip``, with ``Lip``
  a *sampled* estimate: the largest ``|F(a) - F(b)| / |a - b|`` over random pairs in a
  ball of radius ``radius`` about ``theta0``. A sample only bounds the constant from
  below, so a gap that beats it is necessary, not sufficient, for the condition;
* the predicted dimension: the smallest ``N`` whose gap beats ``2 Lip`` (``None``:
  no gap does, the second condition fails).

Departures: the paper treats the continuous-time flow of an (over-)parameterised network
and the global Lipschitz constant; here a sampled, local one around the trained
weights, on a 64-16-10 network (1,210 parameters) and scikit-learn's digits.

Examples
--------
>>> import numpy as np
>>> eig = np.array([-0.1, 0.1, 0.2, 3.0, 3.1])
>>> predicted_dimension(eig, 0.5), round(negative_fraction(eig), 2)
(3, 0.2)
"""

from __future__ import annotations

import copy

import numpy as np

from slth._validate import as_seed_sequence, check_int
from slth.lab._torch import nn, torch

__all__ = ["diagnose", "exact_hessian", "flat_loss", "full_gradient", "negative_fraction",
           "predicted_dimension", "remainder_lipschitz"]


def flat_loss(model: nn.Module, x, y):
    """``(theta0, loss)``: ``model``'s parameters as one flat float64 vector and the
    full-batch cross-entropy as a function of such a vector (``torch.func``, the model's
    own parameters untouched). Computed in float64 for the Hessian's accuracy."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    sizes = [int(np.prod(s)) for s in shapes]
    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
    net = copy.deepcopy(model).double()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))

    def loss(theta):
        parts = torch.split(theta, sizes)
        params = {n: p.reshape(s) for n, p, s in zip(names, parts, shapes, strict=True)}
        out = torch.func.functional_call(net, params, (xt,))
        return nn.functional.cross_entropy(out, yt)

    return theta0, loss


def full_gradient(loss, theta) -> np.ndarray:
    """Gradient of ``loss`` (a function of a flat vector) at ``theta``, as numpy."""
    return torch.func.grad(loss)(torch.as_tensor(theta, dtype=torch.float64)).numpy()


def exact_hessian(loss, theta) -> np.ndarray:
    """The exact Hessian of ``loss`` at ``theta``, symmetrised (it is symmetric up to
    rounding).

    Reverse over reverse mode (``jacrev(grad(loss))``): ``torch.func.hessian`` is forward
    over reverse, and the forward mode imports a part of PyTorch that warns it is
    deprecated; the two agree to rounding."""
    t = torch.as_tensor(theta, dtype=torch.float64)
    h = torch.func.jacrev(torch.func.grad(loss))(t).numpy()
    return (h + h.T) / 2


def negative_fraction(eigenvalues, tol: float = 0.0) -> float:
    """Fraction of eigenvalues below ``-tol``."""
    e = np.asarray(eigenvalues, dtype=float)
    return float(np.mean(e < -tol))


def predicted_dimension(eigenvalues, two_lip: float):
    """Smallest ``N >= 1`` with ``lambda_{N+1} - lambda_N > two_lip`` (eigenvalues sorted
    ascending), or ``None`` when no gap is that large.

    Examples
    --------
    >>> predicted_dimension([1.0, 1.1, 5.0], 1.0), predicted_dimension([1.0, 1.1], 1.0)
    (2, None)
    """
    e = np.sort(np.asarray(eigenvalues, dtype=float))
    if not two_lip >= 0:
        raise ValueError(f"two_lip must be >= 0, got {two_lip!r}")
    hit = np.flatnonzero(np.diff(e) > two_lip)
    return int(hit[0]) + 1 if hit.size else None


def remainder_lipschitz(grad, theta0, hessian, *, radius: float, pairs: int = 64,
                        seed=0) -> float:
    """Sampled Lipschitz constant of ``F(theta) = -grad(theta) + H (theta - theta0)`` in
    the ball of radius ``radius`` about ``theta0``: the largest ``|F(a) - F(b)| / |a - b|``
    over ``pairs`` pairs of uniform points of the ball (a lower bound on the constant).

    ``grad`` maps a flat numpy vector to the gradient (numpy). Pairs come from ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([1.0, 2.0])
    >>> remainder_lipschitz(lambda t: A @ t, np.zeros(2), A, radius=1.0) < 1e-12
    True
    """
    theta0 = np.asarray(theta0, dtype=float)
    h = np.asarray(hessian, dtype=float)
    pairs = check_int(pairs, "pairs", minimum=1)
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    rng = np.random.default_rng(as_seed_sequence(seed))
    d = theta0.size

    def ball():
        v = rng.standard_normal(d)
        return theta0 + radius * rng.random() ** (1 / d) * v / np.linalg.norm(v)

    def remainder(t):
        return -np.asarray(grad(t), dtype=float) + h @ (t - theta0)

    best = 0.0
    for _ in range(pairs):
        a, b = ball(), ball()
        best = max(best, float(np.linalg.norm(remainder(a) - remainder(b))
                               / np.linalg.norm(a - b)))
    return best


def diagnose(data, *, hidden=(16,), epochs: int = 30, lr: float = 0.1,
             batch_size: int = 128, early_steps: int = 10, radius: float = 0.1,
             pairs: int = 32, sparsities=None, drop: float = 0.01, seed=0) -> dict:
    """Train a :func:`~slth.lab.imp.lenet` on ``data`` and measure the inertial-manifold
    conditions at its trained weights (see the module's docstring).

    ``seed``'s children: initial weights, data order, the Lipschitz pairs. Returns a dict:
    ``grad_norm_early`` (after ``early_steps`` SGD steps), ``grad_norm_trained``,
    ``eigenvalues`` (ascending), ``negative_fraction``, ``lip`` (sampled), ``gaps``,
    ``predicted_dimension``, ``parameters``, the essential sparsity of the same network
    (``essential_sparsity``, ``essential_kept``: prunable weights kept there,
    ``prunable``), ``dissipative`` and ``gap_condition`` (the two conditions) and
    ``test_accuracy``.
    """
    from slth.lab.essential import essential_sparsity, one_shot_curve
    from slth.lab.imp import accuracy, lenet, prunable_layers, rewind, train

    early_steps = check_int(early_steps, "early_steps", minimum=0)
    t_init, t_order, t_lip = as_seed_sequence(seed).spawn(3)
    model = lenet(data.features, data.classes, hidden, seed=t_init)
    early = train(model, data.x_train, data.y_train, epochs=epochs, lr=lr,
                  batch_size=batch_size, order_seed=t_order, keep_step=early_steps)
    acc = accuracy(model, data.x_test, data.y_test)
    if sparsities is None:
        sparsities = np.linspace(0.0, 0.99, 34)
    curve = one_shot_curve(model, data.x_test, data.y_test, sparsities)
    es = essential_sparsity(sparsities, curve, float(curve[0]), drop)
    prunable = int(sum(la.weight.numel() for la in prunable_layers(model)))

    first = lenet(data.features, data.classes, hidden, seed=t_init)
    rewind(first, early)
    theta_e, loss_e = flat_loss(first, data.x_train, data.y_train)
    theta0, loss = flat_loss(model, data.x_train, data.y_train)
    g_early = full_gradient(loss_e, theta_e)
    g_trained = full_gradient(loss, theta0)
    h = exact_hessian(loss, theta0)
    eig = np.linalg.eigvalsh(h)
    lip = remainder_lipschitz(lambda t: full_gradient(loss, t), theta0.numpy(), h,
                              radius=radius, pairs=pairs, seed=t_lip)
    n = predicted_dimension(eig, 2 * lip)
    neg = negative_fraction(eig, tol=1e-10 * max(1.0, float(np.abs(eig).max())))
    return {
        "grad_norm_early": float(np.linalg.norm(g_early)),
        "grad_norm_trained": float(np.linalg.norm(g_trained)),
        "eigenvalues": eig, "negative_fraction": neg, "lip": lip, "gaps": np.diff(eig),
        "predicted_dimension": n, "parameters": int(theta0.numel()),
        "essential_sparsity": es, "essential_kept": int(round((1 - es) * prunable)),
        "prunable": prunable, "dissipative": neg == 0.0, "gap_condition": n is not None,
        "test_accuracy": acc, "sparsities": np.asarray(sparsities, dtype=float),
        "one_shot_accuracy": curve,
    }
