"""Multilayer perceptrons: forward pass, vector-Jacobian product, initialisers, loaders.

An :class:`MLP` is a frozen container of numpy arrays (or ``scipy.sparse``
matrices for pruned networks) computing

    f(x) = W_L phi_{L-1}( ... phi_1(W_1 x + b_1) ... ) + b_L

batch-first: ``x`` has shape ``(batch, d_in)`` and weights are ``(d_out, d_in)``.
The last layer is linear.

Examples
--------
>>> import numpy as np
>>> from slth.nets import MLP
>>> net = MLP([np.array([[1.0, -1.0]]), np.array([[2.0]])], [None, np.array([0.5])], "relu")
>>> net(np.array([[3.0, 1.0], [0.0, 1.0]]))
array([[4.5],
       [0.5]])
>>> net.widths
(2, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from slth import distributions
from slth._numba import parallel_kernel
from slth._validate import (
    SeedLike,
    all_finite,
    as_float_array,
    as_seed_sequence,
    check_choice,
    check_positive,
    check_widths,
)
from slth.nets.activations import Activation
from slth.nets.activations import get as get_activation

__all__ = ["MLP", "random_mlp", "random_target", "from_arrays", "from_sklearn", "scale_to_unit"]


@parallel_kernel
def _csr_matmul(indptr, indices, data, x, out):  # pragma: no cover - compiled
    # out[r] = sum_k data[k] * x[indices[k]] over the stored entries of row r, in order;
    # each row is written by one thread, so the result does not depend on the thread count
    for r in numba.prange(out.shape[0]):
        for b in range(out.shape[1]):
            out[r, b] = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            c = indices[k]
            v = data[k]
            for b in range(out.shape[1]):
                out[r, b] += v * x[c, b]


def matmul(w, h: NDArray[np.float64]) -> NDArray[np.float64]:
    """``w @ h`` for a dense or CSR ``w`` and a dense 2-D ``h`` (rows are features)."""
    if not sparse.issparse(w):
        return w @ h
    if w.format != "csr":
        return np.asarray(w @ h)
    out = np.empty((w.shape[0], h.shape[1]))
    _csr_matmul(w.indptr, w.indices, w.data, np.ascontiguousarray(h), out)
    return out


def _as_weight(w, name: str):
    if sparse.issparse(w):
        w = sparse.csr_matrix(w, dtype=np.float64)
        if not all_finite(w.data):
            raise ValueError(f"{name} must be finite")
        return w
    return as_float_array(w, name, ndim=2)


@dataclass(frozen=True, eq=False)
class MLP:
    """A fully connected network; hidden layers apply an activation, the output is linear.

    Parameters
    ----------
    weights : sequence of 2-D arrays (or scipy.sparse matrices)
        ``weights[l]`` has shape ``(d_{l+1}, d_l)``.
    biases : sequence of 1-D arrays or None, or None
        One entry per layer (``None``: that layer has no bias); ``None`` for no biases at all.
    activation : str, Activation or sequence of them
        One activation for all hidden layers, or one per hidden layer.

    Raises
    ------
    ValueError
        Shapes that do not chain, non-finite entries, unknown activation names.
    """

    weights: tuple
    biases: tuple
    activations: tuple

    def __init__(self, weights, biases=None, activation: str | Activation | Sequence = "relu"):
        if isinstance(weights, (np.ndarray,)) or sparse.issparse(weights):
            raise TypeError("weights must be a sequence of 2-D arrays, one per layer, "
                            f"got a single array of shape {weights.shape}")
        weights = tuple(_as_weight(w, f"weights[{i}]") for i, w in enumerate(weights))
        if not weights:
            raise ValueError("weights must hold at least one layer, got an empty sequence")
        L = len(weights)
        if biases is None:
            biases = (None,) * L
        biases = tuple(biases)
        if len(biases) != L:
            raise ValueError(f"biases must have one entry per layer ({L}), got {len(biases)}")
        checked = []
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if i > 0 and w.shape[1] != weights[i - 1].shape[0]:
                raise ValueError(
                    f"weights[{i}] has shape {w.shape}: its {w.shape[1]} columns must match "
                    f"the {weights[i - 1].shape[0]} rows of weights[{i - 1}]")
            if b is not None:
                b = as_float_array(b, f"biases[{i}]", ndim=1)
                if b.shape[0] != w.shape[0]:
                    raise ValueError(f"biases[{i}] has length {b.shape[0]}, must equal the "
                                     f"{w.shape[0]} rows of weights[{i}]")
            checked.append(b)
        if isinstance(activation, (str, Activation)) or callable(activation):
            acts = (get_activation(activation),) * (L - 1)
        else:
            acts = tuple(get_activation(a) for a in activation)
            if len(acts) != L - 1:
                raise ValueError(f"activation: need one per hidden layer ({L - 1}), "
                                 f"got {len(acts)}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", tuple(checked))
        object.__setattr__(self, "activations", acts)

    def __repr__(self) -> str:
        acts = ",".join(a.name for a in self.activations) or "-"
        kind = "sparse" if self.is_sparse else "dense"
        return (f"MLP(widths={self.widths}, activations={acts}, "
                f"biases={[b is not None for b in self.biases]}, {kind})")

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.weights)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(d_0, d_1, ..., d_L)``."""
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    @property
    def activation(self) -> Activation:
        """The hidden activation when all hidden layers share one (else the first)."""
        return self.activations[0] if self.activations else get_activation("relu")

    @property
    def is_sparse(self) -> bool:
        """Whether any weight matrix is stored as ``scipy.sparse``."""
        return any(sparse.issparse(w) for w in self.weights)

    def parameters(self) -> list:
        """Flat list ``[W_1, b_1, W_2, b_2, ...]`` (absent biases skipped)."""
        out = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out.append(w)
            if b is not None:
                out.append(b)
        return out

    @property
    def n_params(self) -> int:
        """Number of parameters (all entries, including zeros)."""
        return int(sum(int(np.prod(p.shape)) for p in self.parameters()))

    @property
    def nnz(self) -> int:
        """Number of non-zero parameters."""
        total = 0
        for p in self.parameters():
            total += int(p.count_nonzero()) if sparse.issparse(p) else int(np.count_nonzero(p))
        return total

    def without_dead_neurons(self) -> MLP:
        """The same function with hidden neurons that cannot contribute removed.

        A hidden neuron is dead when no weight leaves it, or when no weight or bias enters
        it and its activation vanishes at 0. Typical for pruned networks: the forward pass
        gets cheaper, the outputs are unchanged (only zero terms are dropped).

        Examples
        --------
        >>> net = MLP([np.array([[1.0], [0.0]]), np.array([[2.0, 5.0]])], None, "relu")
        >>> small = net.without_dead_neurons()
        >>> small.widths, small(np.array([[3.0]]))
        ((1, 1, 1), array([[6.]]))
        """
        ws = [sparse.csr_matrix(w) for w in self.weights]
        bs = [None if b is None else b.copy() for b in self.biases]
        for l in range(self.depth - 1):
            w_in, w_out = ws[l], ws[l + 1]
            no_in = np.diff(w_in.indptr) == 0
            if bs[l] is not None:
                no_in &= bs[l] == 0
            no_out = np.diff(w_out.tocsc().indptr) == 0
            dead = no_out | (no_in & (self.activations[l].phi0 == 0.0))
            keep = np.flatnonzero(~dead)
            ws[l] = w_in[keep]
            if bs[l] is not None:
                bs[l] = bs[l][keep]
            ws[l + 1] = w_out[:, keep].tocsr()
        return MLP(ws, bs, self.activations)

    def dense(self) -> MLP:
        """A copy with every weight as a dense ndarray."""
        ws = [w.toarray() if sparse.issparse(w) else w for w in self.weights]
        return MLP(ws, self.biases, self.activations)

    # ---------------------------------------------------------------- forward
    def _check_x(self, x) -> NDArray[np.float64]:
        x = as_float_array(x, "x", ndim=(1, 2))
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.widths[0]:
            raise ValueError(f"x must have {self.widths[0]} columns (the input width), "
                             f"got shape {x.shape}")
        return x

    def _pre(self, l: int, h_t: NDArray[np.float64]) -> NDArray[np.float64]:
        # h_t is (d_l, batch): W @ h works for dense and sparse W alike.
        z = matmul(self.weights[l], h_t)
        if self.biases[l] is not None:
            z = z + self.biases[l][:, None]
        return z

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Forward pass; ``x`` of shape ``(batch, d_in)`` (or ``(d_in,)``)."""
        h = self._check_x(x).T
        for l in range(self.depth):
            h = self._pre(l, h)
            if l < self.depth - 1:
                h = self.activations[l](h)
        return np.ascontiguousarray(h.T)

    def preactivations(self, x: ArrayLike) -> list[NDArray[np.float64]]:
        """Pre-activations of every layer, each of shape ``(batch, d_l)``."""
        h = self._check_x(x).T
        out = []
        for l in range(self.depth):
            z = self._pre(l, h)
            out.append(np.ascontiguousarray(z.T))
            h = self.activations[l](z) if l < self.depth - 1 else z
        return out

    def vjp(self, x: ArrayLike, cotangent: ArrayLike) -> NDArray[np.float64]:
        """Vector-Jacobian product: row ``i`` is ``J_f(x_i)^T cotangent_i``.

        Examples
        --------
        >>> net = MLP([np.array([[2.0, 0.0]])], None)
        >>> net.vjp(np.zeros((1, 2)), np.ones((1, 1)))
        array([[2., 0.]])
        """
        h = self._check_x(x).T
        zs = []
        for l in range(self.depth):
            z = self._pre(l, h)
            zs.append(z)
            h = self.activations[l](z) if l < self.depth - 1 else z
        g = np.asarray(cotangent, dtype=np.float64).T
        for l in range(self.depth - 1, -1, -1):
            if l < self.depth - 1:
                g = g * self.activations[l].derivative(zs[l])
            g = np.asarray(self.weights[l].T @ g)
        return np.ascontiguousarray(g.T)


# -------------------------------------------------------------- initialisers
def random_mlp(widths: Sequence[int], *, activation: str | Activation = "relu",
               dist: str = "uniform", scale: float = 1.0, bias: bool = True,
               seed: SeedLike = None) -> MLP:
    """A random network with i.i.d. entries ``scale * X``, ``X ~ dist`` (a source).

    Each layer draws from its own child of ``SeedSequence(seed)``, weights then biases.

    Examples
    --------
    >>> net = random_mlp([3, 4, 2], seed=0)
    >>> net.widths, float(np.abs(net.weights[0]).max()) <= 1.0
    ((3, 4, 2), True)
    """
    widths = check_widths(widths)
    scale = check_positive(scale, "scale")
    children = as_seed_sequence(seed).spawn(len(widths) - 1)
    ws, bs = [], []
    for l, child in enumerate(children):
        rng = np.random.default_rng(child)
        ws.append(scale * distributions.sample(dist, (widths[l + 1], widths[l]), rng))
        bs.append(scale * distributions.sample(dist, widths[l + 1], rng) if bias else None)
    return MLP(ws, bs, activation)


def random_target(widths: Sequence[int], *, activation: str | Activation = "relu",
                  norm: str = "spectral", bound: float = 1.0, bias: bool = False,
                  seed: SeedLike = None) -> MLP:
    """A random target network satisfying a theorem's norm assumption.

    Entries are drawn N(0, 1) and every layer is rescaled so that

    * ``norm="spectral"``: ``||W_l||_2 = bound`` and ``||b_l||_2 <= bound``
      (Pensia et al.: spectral norm at most 1);
    * ``norm="max"``: ``max |W_l| = bound`` and ``max |b_l| <= bound``
      (entries in [-1, 1], the subset-sum range of the depth-L+1 construction).

    Examples
    --------
    >>> t = random_target([3, 4, 2], seed=0)
    >>> [round(float(np.linalg.norm(w, 2)), 12) for w in t.weights]
    [1.0, 1.0]
    """
    widths = check_widths(widths)
    norm = check_choice(norm, "norm", ("spectral", "max"))
    bound = check_positive(bound, "bound")
    children = as_seed_sequence(seed).spawn(len(widths) - 1)
    ws, bs = [], []
    for l, child in enumerate(children):
        rng = np.random.default_rng(child)
        w = rng.standard_normal((widths[l + 1], widths[l]))
        b = rng.standard_normal(widths[l + 1])
        if norm == "spectral":
            w *= bound / np.linalg.norm(w, 2)
            b *= bound / max(np.linalg.norm(b), bound) * 0.5
        else:
            w *= bound / np.abs(w).max()
            b *= bound / max(np.abs(b).max(), 1.0) * 0.5
        ws.append(w)
        bs.append(b if bias else None)
    return MLP(ws, bs, activation)


def from_arrays(weights, biases=None, activation="relu", *, layout: str = "out_in") -> MLP:
    """Build a target from plain arrays.

    Parameters
    ----------
    layout : {"out_in", "in_out"}
        ``"out_in"``: weights are ``(d_out, d_in)`` (this package, PyTorch);
        ``"in_out"``: ``(d_in, d_out)`` (scikit-learn, Keras), transposed here.

    Examples
    --------
    >>> from_arrays([np.ones((3, 2))], layout="in_out").widths
    (3, 2)
    """
    layout = check_choice(layout, "layout", ("out_in", "in_out"))
    ws = [as_float_array(w, f"weights[{i}]", ndim=2) for i, w in enumerate(weights)]
    if layout == "in_out":
        ws = [np.ascontiguousarray(w.T) for w in ws]
    return MLP(ws, biases, activation)


_SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid"}


def from_sklearn(model) -> MLP:
    """The network of a fitted ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``.

    The returned MLP computes the model's output-layer *pre-activation* (the logits
    of a classifier); ``argmax`` over its outputs (or ``> 0`` for a binary classifier
    with one output) gives ``model.predict``'s class index.

    Raises
    ------
    TypeError
        If ``model`` is not a fitted scikit-learn MLP.
    ValueError
        For the ``identity`` activation (not one of the supported activations).
    """
    coefs = getattr(model, "coefs_", None)
    intercepts = getattr(model, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise TypeError("model must be a fitted sklearn MLPClassifier or MLPRegressor "
                        f"(with coefs_ and intercepts_), got {type(model).__name__}")
    act = getattr(model, "activation", "relu")
    if act not in _SKLEARN_ACTIVATIONS:
        raise ValueError(f"model.activation must be one of {tuple(_SKLEARN_ACTIVATIONS)}, "
                         f"got {act!r}")
    return from_arrays(coefs, list(intercepts), _SKLEARN_ACTIVATIONS[act], layout="in_out")


def scale_to_unit(net: MLP, input_scale: float = 1.0, *,
                  per: str = "neuron") -> tuple[MLP, float]:
    """An equivalent network with every weight and bias in [-1, 1], reading scaled inputs.

    For a positively homogeneous activation (``phi(s z) = s phi(z)`` for ``s > 0``: ReLU,
    leaky ReLU), dividing a hidden neuron's weights and bias by ``s > 0`` divides its
    output by ``s``, which the next layer's weights undo. Reading ``input_scale * x``
    instead of ``x`` is undone by dividing the first layer's weights by ``input_scale``.
    The output layer can only be divided by one common positive factor ``c``: the
    returned network ``g`` computes ``g(input_scale * x) = net(x) / c``. Dividing the
    logits of a classifier by ``c > 0`` does not change their argmax (nor the class
    order), so ``g`` classifies ``input_scale * x`` as ``net`` classifies ``x``; its
    softmax is that of ``net`` at temperature ``c``.

    This brings a trained network into the assumptions of the constructions (weights and
    biases in [-1, 1], :func:`slth.tickets.burkholz`) and its inputs into their domain
    (e.g. the unit l2 ball: ``input_scale = 1 / max ||x||_2``).

    Parameters
    ----------
    net : MLP
        With a positively homogeneous hidden activation (any, for one layer).
    input_scale : float > 0
        Factor applied to the inputs ``g`` reads.
    per : {"neuron", "layer"}
        ``"neuron"``: each hidden neuron gets its own divisor, the largest magnitude of its
        weights and bias, so every hidden row reaches 1 (the smallest ``c``);
        ``"layer"``: one divisor per layer, its largest magnitude.

    Returns
    -------
    g : MLP
        Dense, with weights and biases in [-1, 1] (the largest magnitude of each hidden row
        or layer, and of the output layer, exactly 1).
    c : float
        The factor of the logits: ``g(input_scale * x) = net(x) / c``.

    Raises
    ------
    ValueError
        A hidden activation that is not positively homogeneous, a non-positive
        ``input_scale``, an unknown ``per``, or an all-zero output layer.

    Examples
    --------
    >>> net = MLP([np.array([[4.0, -2.0]]), np.array([[3.0], [-1.0]])],
    ...           [np.array([1.0]), np.array([0.5, 0.0])], "relu")
    >>> g, c = scale_to_unit(net, 0.5)
    >>> g.weights[0], g.biases[0], c
    (array([[ 1. , -0.5]]), array([0.125]), 24.0)
    >>> x = np.array([[1.0, 0.5], [2.0, -1.0]])
    >>> bool(np.allclose(g(0.5 * x) * c, net(x)))
    True
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an slth MLP, got {type(net).__name__}")
    input_scale = check_positive(input_scale, "input_scale")
    per = check_choice(per, "per", ("neuron", "layer"))
    for a in net.activations:
        if not a.homogeneous:
            raise ValueError(f"net: activation {a.name!r} is not positively homogeneous; "
                             "scale_to_unit needs relu or leaky_relu hidden layers")
    dense = net.dense()
    ws = [np.array(w, dtype=np.float64) for w in dense.weights]
    bs = [np.zeros(w.shape[0]) if b is None else np.array(b, dtype=np.float64)
          for w, b in zip(ws, dense.biases, strict=True)]
    ws[0] /= input_scale
    L = len(ws)
    for l in range(L):
        rows = np.maximum(np.abs(ws[l]).max(axis=1), np.abs(bs[l]))
        if l < L - 1 and per == "neuron":
            # a dead neuron (all zero) keeps its zeros: divide by 1
            s = np.where(rows > 0.0, rows, 1.0)
        else:
            top = float(rows.max())
            if l == L - 1 and top == 0.0:
                raise ValueError("net: the output layer is all zero; no positive factor "
                                 "brings it to [-1, 1] with its largest magnitude 1")
            s = np.full(rows.shape, top if top > 0.0 else 1.0)
        ws[l] /= s[:, None]
        bs[l] /= s
        if l < L - 1:
            ws[l + 1] *= s[None, :]
    out_bias = [None if b is None else bs[l] for l, b in enumerate(dense.biases)]
    return MLP(ws, out_bias, net.activations), float(s[0])
