"""The :class:`Ticket`: a random source network, 0/1 masks, and what was achieved.

A ticket never changes a parameter. It holds

* ``spec`` -- a :class:`SourceSpec` that regenerates the dense random source from
  its seed, block of rows by block of rows (so the source is materialised only on
  request);
* the pruned parameters, ``source * mask`` exactly: weights as ``scipy.sparse``
  CSR matrices whose stored entries are the kept positions, biases as dense
  arrays with zeros where pruned, plus the bias masks;
* the achieved per-weight subset-sum errors, the construction's parameters, and
  the wall time of each phase.

The layout is generic (a list of layers of a feed-forward network), so other
constructions reuse it; construction-specific facts live in ``params``.

Examples
--------
>>> from slth.nets import random_target
>>> from slth.tickets import pensia
>>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=6)
>>> t.depth, t.widths
(4, (2, 24, 3, 36, 1))
>>> all(np.array_equal(p * m, q) for p, m, q in
...     zip(t.source.parameters(), t.masks, t.network().dense().parameters()))
True
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import prange
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from slth import bounds, distributions
from slth._numba import kernel, num_threads, parallel_kernel
from slth._validate import (
    check_int,
    check_memory,
    check_open_unit,
    check_out,
    check_positive,
    check_threads,
    resolve_max_bytes,
)
from slth.nets.activations import ACTIVATIONS, Activation, same_activation
from slth.nets.mlp import MLP

__all__ = ["SourceSpec", "Ticket", "load", "BLOCK_ENTRIES", "check_build_args",
           "check_relu_without_biases", "check_source_activations", "check_target",
           "RENAMED_PARAMS", "upgrade_params"]

#: Entries of ``params`` renamed since earlier versions wrote ticket files: old -> new.
RENAMED_PARAMS = {"required_n": "formula_n", "coarse_required": "coarse_formula"}

#: Entries drawn per block of rows: a layer of shape (rows, cols) is drawn in blocks of
#: ``max(1, BLOCK_ENTRIES // cols)`` rows, each from its own SeedSequence child.
BLOCK_ENTRIES = 1 << 20


def check_build_args(construction: str, eps, delta, C, max_values, dist) -> tuple:
    """The arguments every subset-sum construction shares, validated.

    eps and delta in (0, 1), ``C > 0``, ``1 <= max_values <= 48`` (values per exact
    subset-sum problem) and a source distribution of uniform or normal entries.
    Returns ``(eps, delta, C, max_values, dist)``.
    """
    eps = check_open_unit(eps, "eps")
    delta = check_open_unit(delta, "delta")
    C = check_positive(C, "C")
    max_values = check_int(max_values, "max_values", minimum=1, maximum=48)
    dist = distributions.get(dist).name
    if dist not in ("uniform", "normal"):
        raise ValueError(f"dist must be 'uniform' or 'normal' for {construction}, got {dist!r}")
    return eps, delta, C, max_values, dist


def check_target(target) -> MLP:
    """``target`` if it is an :class:`~slth.nets.MLP` (the MLP constructions' target)."""
    if not isinstance(target, MLP):
        raise TypeError(f"target must be a slth.nets.MLP, got {type(target).__name__}; "
                        "build one with slth.nets.from_arrays or from_sklearn")
    return target


def check_relu_without_biases(target, construction: str, kind: str, hint: str = "") -> None:
    """Refuse targets outside a ReLU construction without biases: another activation, or
    a non-zero bias. ``kind`` names the targets it covers ("targets", "CNNs"), ``hint``
    (appended to both messages) where to go instead."""
    for a in target.activations:
        if a.name != "relu" or a.slope_neg != 0.0:
            raise ValueError(f"target activation must be 'relu' for {construction}, "
                             f"got {a.name!r}{hint}")
    for l, b in enumerate(target.biases):
        if b is not None and np.any(b != 0):
            raise ValueError(f"target.biases[{l}] is non-zero: {construction} covers {kind} "
                             f"without biases{hint}")


def _activation_label(a: Activation) -> str:
    if a.homogeneous and a.slope_neg != 0.0:
        return f"{a.name!r} (slope {a.slope_neg:g})"
    return repr(a.name) if a.proved else f"{a.name!r} (custom)"


def check_source_activations(target, activations: Sequence[Activation]) -> None:
    """Refuse a source whose hidden activations differ from the target's.

    The constructions represent the target with the target's own activation, and the
    certificates assume it: a source computing with another activation is not the
    network their bounds are about. Only hidden activations are compared (a one-layer
    target has none, and its source may use any). When the target's hidden layers mix
    activations, each source activation must be one of them.

    Raises
    ------
    ValueError
        Naming the source's and the target's activations.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.nets.activations import get
    >>> check_source_activations(random_target([2, 3, 1], seed=0), (get("relu"),) * 3)
    >>> tanh = (get("tanh"),)
    >>> check_source_activations(random_target([2, 3, 1], seed=0), tanh)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: source activation 'tanh' (source layer 1) differs from the target's hidden \
activation 'relu': ...
    """
    hidden = tuple(target.activations)
    if not hidden:
        return
    mixed = any(not same_activation(a, hidden[0]) for a in hidden)
    for l, a in enumerate(activations):
        if any(same_activation(a, h) for h in hidden) if mixed else same_activation(a, hidden[0]):
            continue
        want = ("one of " + ", ".join(_activation_label(h) for h in hidden) if mixed
                else _activation_label(hidden[0]))
        raise ValueError(f"source activation {_activation_label(a)} (source layer {l + 1}) "
                         f"differs from the target's hidden activation {want}: the "
                         "constructions and their certificates use the target's activation "
                         "in the source")


def _thread_count(threads) -> int:
    """``threads`` checked, or numba's thread count for ``None``."""
    import numba

    threads = check_threads(threads)
    return numba.get_num_threads() if threads is None else threads


def _thread_map(fn, items: Sequence, threads) -> list:
    """``[fn(x) for x in items]``, on up to ``threads`` threads (for work that releases
    the GIL, such as numpy's generators filling an array)."""
    workers = min(len(items), _thread_count(threads))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


@dataclass(frozen=True, eq=False)
class SourceSpec:
    """A random feed-forward source network, defined by its seed.

    Layer ``l`` has weights ``(widths[l+1], widths[l])`` with entries
    ``weight_scale[l] * col_scale[l][c] * X``, ``X ~ dist`` i.i.d., and (when
    ``bias[l]``) biases ``bias_scale[l] * X``. Rows are drawn in blocks of
    :func:`block_rows` rows; block ``b`` of layer ``l`` uses the generator of
    ``SeedSequence(entropy, spawn_key=spawn_key + (l, b))``, weights first, then
    that block's biases. Any block can therefore be regenerated on its own, and
    the result does not depend on the order of drawing or the thread count.
    """

    widths: tuple[int, ...]
    activations: tuple[Activation, ...]
    bias: tuple[bool, ...]
    dist: str
    entropy: int
    spawn_key: tuple[int, ...] = ()
    weight_scale: tuple[float, ...] = ()
    bias_scale: tuple[float, ...] = ()
    col_scale: tuple = ()

    def __repr__(self) -> str:
        return (f"SourceSpec(widths={self.widths}, dist={self.dist!r}, "
                f"activations={','.join(a.name for a in self.activations) or '-'})")

    def __post_init__(self):
        L = len(self.widths) - 1
        if not self.weight_scale:
            object.__setattr__(self, "weight_scale", (1.0,) * L)
        if not self.bias_scale:
            object.__setattr__(self, "bias_scale", (1.0,) * L)
        if not self.col_scale:
            object.__setattr__(self, "col_scale", (None,) * L)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def shape(self, l: int) -> tuple[int, int]:
        return (self.widths[l + 1], self.widths[l])

    def block_rows(self, l: int) -> int:
        """Rows per drawing block of layer ``l``."""
        return max(1, BLOCK_ENTRIES // self.widths[l])

    @property
    def n_params(self) -> int:
        """Number of source parameters (weights and biases)."""
        return int(sum(self.widths[l + 1] * (self.widths[l] + int(self.bias[l]))
                       for l in range(self.depth)))

    @property
    def nbytes(self) -> int:
        """Bytes of the dense float64 source."""
        return 8 * self.n_params

    def _block(self, l: int, b: int, out=None):
        # out: where to draw the block's weights (all its rows), instead of a new array
        rows, cols = self.shape(l)
        br = self.block_rows(l)
        lo, hi = b * br, min(rows, (b + 1) * br)
        rng = np.random.default_rng(
            np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, l, b)))
        w = distributions.sample(self.dist, (hi - lo, cols), rng, out=out)
        if self.weight_scale[l] != 1.0:        # a unit scale would cost a pass for nothing
            w *= self.weight_scale[l]
        if self.col_scale[l] is not None:
            w *= self.col_scale[l][None, :]
        bias = None
        if self.bias[l]:
            bias = distributions.sample(self.dist, hi - lo, rng) * self.bias_scale[l]
        return w, bias

    def rows(self, l: int, start: int, stop: int):
        """Rows ``start:stop`` of layer ``l``: ``(weights, biases or None)``."""
        rows, _ = self.shape(l)
        if not 0 <= start <= stop <= rows:
            raise ValueError(f"rows must satisfy 0 <= start <= stop <= {rows}, "
                             f"got {start}:{stop}")
        br = self.block_rows(l)
        ws, bs = [], []
        for b in range(start // br, (stop - 1) // br + 1 if stop > start else start // br):
            w, bias = self._block(l, b)
            lo = b * br
            ws.append(w[max(start - lo, 0): stop - lo])
            if bias is not None:
                bs.append(bias[max(start - lo, 0): stop - lo])
        cols = self.widths[l]
        w = np.concatenate(ws) if ws else np.zeros((0, cols))
        bias = (np.concatenate(bs) if bs else np.zeros(0)) if self.bias[l] else None
        return w, bias

    def block(self, l: int, b: int):
        """Drawing block ``b`` of layer ``l``: ``(start row, weights, biases or None)``."""
        w, bias = self._block(l, b)
        return b * self.block_rows(l), w, bias

    def draw_blocks(self, l: int, indices: Sequence[int], threads: int | None = None) -> list:
        """Drawing blocks ``indices`` of layer ``l``, as :meth:`block` gives them.

        The blocks are drawn on ``threads`` threads (default: numba's thread count;
        numpy's generators release the GIL while they fill an array). Each block has its
        own stream, so the arrays do not depend on the thread count.

        Examples
        --------
        >>> spec = SourceSpec((4096, 1024), (), (False,), "uniform", 7)
        >>> [(r0, w.shape) for r0, w, _ in spec.draw_blocks(0, [3, 1], threads=2)]
        [(768, (256, 4096)), (256, (256, 4096))]
        """
        return _thread_map(lambda b: self.block(l, b), indices, threads)

    def draw_rows(self, l: int, rows, threads: int | None = None,
                  out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """The weights of the given rows of layer ``l`` (increasing), ``(len(rows), cols)``.

        Only the drawing blocks holding a row are drawn, on ``threads`` threads (default:
        numba's thread count); a block whose rows are all requested is drawn in place,
        the others are drawn apart and their requested rows copied into place. The same
        array whatever the thread count. ``out`` (C-contiguous float64 of that shape)
        receives the rows instead of a new array: a caller drawing batch after batch
        saves touching fresh memory, which costs more than the draws.

        Examples
        --------
        >>> spec = SourceSpec((4096, 1024), (), (False,), "uniform", 7)
        >>> w = spec.draw_rows(0, [3, 700, 701], threads=2)
        >>> w.shape, bool((w[1:] == spec.rows(0, 700, 702)[0]).all())
        ((3, 4096), True)
        """
        rows = np.asarray(rows, dtype=np.int64)
        n_rows = self.shape(l)[0]
        if rows.ndim != 1 or (rows.size and (rows[0] < 0 or rows[-1] >= n_rows
                                             or np.any(np.diff(rows) <= 0))):
            raise ValueError(f"rows must be increasing row indices of layer {l} (0 to "
                             f"{n_rows - 1}), got {rows!r}")
        shape = (rows.size, self.widths[l])
        check_out(out, shape)
        if out is None:
            out = np.empty(shape)
        br = self.block_rows(l)
        blocks, starts = np.unique(rows // br, return_index=True)
        ends = np.append(starts[1:], rows.size)

        def fill(i):
            lo = int(blocks[i]) * br
            if ends[i] - starts[i] == min(n_rows, lo + br) - lo:
                # every row of the block: drawn in place
                self._block(l, int(blocks[i]), out=out[starts[i]:ends[i]])
            else:
                w, _ = self._block(l, int(blocks[i]))
                np.take(w, rows[starts[i]:ends[i]] - lo, axis=0, out=out[starts[i]:ends[i]])

        _thread_map(fill, range(blocks.size), threads)
        return out

    def iter_blocks(self, l: int, threads: int | None = None):
        """Yield ``(start, weights, biases)`` for every drawing block of layer ``l``, in
        order; ``threads`` blocks at a time are drawn concurrently (:meth:`draw_blocks`)."""
        count = -(-self.shape(l)[0] // self.block_rows(l))
        step = _thread_count(threads)
        for start in range(0, count, step):
            yield from self.draw_blocks(l, range(start, min(count, start + step)), threads)

    def layer(self, l: int):
        """The dense layer ``l``: ``(weights, biases or None)``."""
        return self.rows(l, 0, self.widths[l + 1])

    def network(self, max_bytes: int | None = None) -> MLP:
        """The dense source network (refused when over ``max_bytes``)."""
        check_memory(self.nbytes, resolve_max_bytes(max_bytes), "source",
                     f"the dense source ({self.n_params:,} parameters)",
                     "work with the pruned network, or layer by layer with spec.layer(l)")
        ws, bs = zip(*(self.layer(l) for l in range(self.depth)), strict=True)
        return MLP(list(ws), list(bs), self.activations)

    # -------------------------------------------------------------- storage
    def to_json(self) -> dict:
        return {
            "widths": list(self.widths),
            "activations": [activation_to_json(a) for a in self.activations],
            "bias": list(self.bias), "dist": self.dist, "entropy": str(self.entropy),
            "spawn_key": list(self.spawn_key), "weight_scale": list(self.weight_scale),
            "bias_scale": list(self.bias_scale),
        }


def activation_to_json(a: Activation) -> list:
    """``[name, slope]`` for a built-in activation; custom ones cannot be stored."""
    if a.homogeneous:
        return ["leaky_relu", a.slope_neg]
    if ACTIVATIONS.get(a.name) is not a:
        raise ValueError(f"cannot save a ticket with the custom activation {a.name!r}")
    return [a.name, None]


def _activation_from_json(item) -> Activation:
    from slth.nets.activations import get, leaky_relu

    name, slope = item
    if name == "leaky_relu":
        return leaky_relu(slope)
    return get(name)


_END = object()


class Timer:
    """Collects wall time per phase: ``with timer("solve"): ...``."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - t0

    def timed(self, items, phase: str):
        """Iterate over ``items``, timing the production of each item under ``phase``.

        Examples
        --------
        >>> timer = Timer()
        >>> list(timer.timed(iter([1, 2]), "draw")), sorted(timer.times)
        ([1, 2], ['draw'])
        """
        items = iter(items)
        while True:
            with self(phase):
                item = next(items, _END)
            if item is _END:
                return
            yield item


@dataclass(frozen=True, eq=False)
class Ticket:
    """A pruned random network approximating a target.

    Attributes
    ----------
    target : MLP
        The network to approximate.
    spec : SourceSpec
        Regenerates the random source from its seed.
    weights : tuple of scipy.sparse.csr_matrix
        Pruned weights: the stored entries are exactly the kept source entries.
    biases : tuple of ndarray or None
        Pruned biases (source bias where kept, 0 elsewhere).
    bias_masks : tuple of bool ndarray or None
    errors : dict of str to ndarray
        Achieved per-weight subset-sum errors ``|target value - subset sum|``; NaN for
        problems that were not solved because their neuron is pruned whole (copies of the
        depth-L+1 construction that no later neuron reads).
    params : dict
        ``construction``, ``eps``, ``delta``, ``n``, ``formula_n`` (the paper's width
        formula with the ``C`` in use, see :attr:`formula`), ``C``, ``dist``, ``seed``,
        the input domain the construction aimed at (``radius``, and ``norm``: ``"l2"``
        or ``"inf"``; see :attr:`domain`) and construction-specific entries.
    timings : dict of str to float
        Wall time of each build phase, in seconds.
    """

    target: MLP
    spec: SourceSpec
    weights: tuple
    biases: tuple
    bias_masks: tuple
    errors: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        check_source_activations(self.target, self.spec.activations)

    def __repr__(self) -> str:
        p = self.params
        target = getattr(self.target, "widths", type(self.target).__name__)
        formula = bounds.FORMULAS.get(p.get("construction"))
        origin = f" {formula.origin_of(p.get('C'))}" if formula is not None else ""
        return (f"{type(self).__name__}({p.get('construction')}, target={target}, "
                f"source={getattr(self, 'widths', '?')}, n={p.get('n')} "
                f"(formula n {p.get('formula_n')} with C={p.get('C')}{origin}), "
                f"eps={p.get('eps')}, kept={self.kept:,} of {self.spec.n_params:,})")

    # ------------------------------------------------------------- views
    @property
    def depth(self) -> int:
        """Depth of the source network."""
        return self.spec.depth

    @property
    def widths(self) -> tuple[int, ...]:
        """Widths of the source network."""
        return self.spec.widths

    #: The norm of the input ball of tickets whose params do not record one (files
    #: written before tickets recorded their domain).
    DEFAULT_NORM = "l2"

    @property
    def domain(self) -> tuple[float, str]:
        """The input ball the ticket was built for: ``(radius, norm)``, ``norm`` ``"l2"``
        or ``"inf"`` (the max norm).

        The construction's accuracy targets and the theorem's eps are for this ball, and
        :func:`slth.verify.check` checks on it unless told otherwise. Tickets loaded from
        files that predate the record get the constructions' historical default: radius
        1, the l2 ball for MLP tickets and the max-norm ball for CNN tickets.

        Examples
        --------
        >>> from slth.nets import random_target
        >>> from slth.tickets import pensia
        >>> pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4,
        ...        radius=2.0).domain
        (2.0, 'l2')
        """
        p = self.params
        return float(p.get("radius", 1.0)), str(p.get("norm", self.DEFAULT_NORM))

    @property
    def at_formula_width(self) -> bool:
        """Whether ``n`` is at least the width formula's ``n`` (``params["formula_n"]``)."""
        return int(self.params["n"]) >= int(self.params["formula_n"])

    @property
    def formula(self) -> str:
        """Which width formula gave ``params["formula_n"]``: the paper, the ``C`` in use and
        where that ``C`` comes from (:meth:`slth.bounds.WidthFormula.label`)."""
        p = self.params
        formula = bounds.FORMULAS[p["construction"]]
        # a placeholder formula names its parameters as this ticket used them
        named = {k: p.get(k) for k in (formula.params or {})}
        return formula.label(p.get("C"), **named)

    @cached_property
    def source(self) -> MLP:
        """The dense random source, as sampled (regenerated from the seed on first access)."""
        return self.spec.network()

    def network(self) -> MLP:
        """The pruned network: source parameters times masks, exactly (sparse weights)."""
        return self._network

    @cached_property
    def _network(self) -> MLP:
        return MLP(list(self.weights), list(self.biases), self.spec.activations)

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Forward pass of the pruned network."""
        return self._network(x)

    @property
    def kept(self) -> int:
        """Number of kept source parameters."""
        return int(sum(w.nnz for w in self.weights)
                   + sum(int(m.sum()) for m in self.bias_masks if m is not None))

    @property
    def sparsity(self) -> float:
        """Fraction of source parameters pruned away."""
        return 1.0 - self.kept / self.spec.n_params

    def mask_sparse(self) -> list:
        """Masks as a list aligned with ``source.parameters()``: CSR (weights), bool (biases)."""
        out = []
        for w, m in zip(self.weights, self.bias_masks, strict=True):
            s = w.copy()
            s.data = np.ones_like(s.data, dtype=bool)
            out.append(s)
            if m is not None:
                out.append(m)
        return out

    @property
    def masks(self) -> list[NDArray[np.bool_]]:
        """Dense boolean masks, aligned with ``source.parameters()``."""
        check_memory(self.spec.n_params, resolve_max_bytes(None), "masks",
                     "the dense boolean masks", "use ticket.mask_sparse()")
        return [m.toarray() if sparse.issparse(m) else m.copy() for m in self.mask_sparse()]

    # ------------------------------------------------------------ used neurons
    def used_neurons(self) -> list[NDArray[np.bool_]]:
        """The neurons (CNN: channels) that take part in the pruned network's function,
        one boolean array per source layer (input first).

        The input and output layers count whole. A hidden neuron takes part when it is
        *reached* -- it has a kept incoming weight from a reached neuron of the layer
        before (the inputs are reached), or a kept bias, or its activation is not 0 at 0
        (it then outputs a constant) -- and *read*: it has a kept outgoing weight to a
        neuron of the next layer that is itself read (the outputs are). In the
        constructions' tickets these are the neurons with a kept outgoing weight and a
        kept incoming weight or bias. The pruned network restricted to these neurons
        computes the same function (only zero terms and unread neurons are dropped).

        Examples
        --------
        >>> from slth.nets import random_target
        >>> from slth.tickets import pensia
        >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=6)
        >>> [int(u.sum()) for u in t.used_neurons()] == list(t.used_widths)
        True
        """
        return [u.copy() for u in self._used]

    @cached_property
    def _used(self) -> tuple:
        widths, L = self.widths, self.depth
        links = [self._links(l) for l in range(L)]
        reached = [np.ones(widths[0], dtype=bool)]
        for l in range(L - 1):
            w = links[l]
            r = np.zeros(widths[l + 1], dtype=bool)
            _rows_reading(w.indptr, w.indices, reached[l], r)
            if self.bias_masks[l] is not None:
                r |= self.bias_masks[l]
            if self.spec.activations[l].phi0 != 0.0:
                r[:] = True
            reached.append(r)
        read = [np.ones(widths[L], dtype=bool)]
        for l in range(L - 1, 0, -1):
            w = links[l]
            c = np.zeros(widths[l], dtype=bool)
            _columns_read(w.indptr, w.indices, read[0], c)
            read.insert(0, c)
        used = [reached[0]] + [reached[l] & read[l - 1] for l in range(1, L)] + [read[-1]]
        for u in used:
            u.flags.writeable = False
        return tuple(used)

    def _links(self, l: int) -> sparse.csr_matrix:
        """Layer ``l``'s kept connections: a CSR matrix (outputs x inputs) whose stored
        entries are the pairs of neurons joined by a kept weight."""
        return self.weights[l].tocsr()

    def _used_counts(self, l: int, rows: NDArray[np.bool_], cols: NDArray[np.bool_]):
        """``(params, kept)`` of layer ``l`` between the neurons ``rows`` (its outputs) and
        ``cols`` (its inputs): the source's parameters there and the kept ones."""
        w = self._links(l)
        nr = int(rows.sum())
        params = nr * int(cols.sum()) + (nr if self.spec.bias[l] else 0)
        kept = int(_count_between(w.indptr, w.indices, rows, cols))
        if self.bias_masks[l] is not None:
            kept += int(np.count_nonzero(self.bias_masks[l] & rows))
        return params, kept

    @property
    def used_widths(self) -> tuple[int, ...]:
        """Neurons (CNN: channels) per source layer that take part in the pruned
        network's function (:meth:`used_neurons`), beside the source's :attr:`widths`."""
        return tuple(int(u.sum()) for u in self._used)

    @cached_property
    def _used_totals(self) -> tuple[int, int]:
        used = self._used
        counts = [self._used_counts(l, used[l + 1], used[l]) for l in range(self.depth)]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    @property
    def used_params(self) -> int:
        """Parameters of the source restricted to the used neurons (:meth:`used_neurons`):
        per layer, a weight (CNN: a kernel of ``k x k`` entries) between every used
        output and every used input, and a bias per used output where the source layer
        has biases. The source of that width and depth the ticket effectively needed."""
        return self._used_totals[0]

    @property
    def used_sparsity(self) -> float:
        """Fraction of :attr:`used_params` pruned away: ``1 - kept / used_params``, with
        ``kept`` the kept parameters between used neurons. :attr:`sparsity` is the same
        against the whole source (``spec.n_params``) and all of :attr:`kept`, which may
        hold a few parameters of neurons that do not take part (the depth-L+1
        construction solves every constant neuron's bias, and the later biases read only
        some of them).

        Examples
        --------
        >>> from slth.nets import random_target
        >>> from slth.tickets import pensia
        >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=6)
        >>> t.used_params, t.spec.n_params, round(t.used_sparsity, 3), round(t.sparsity, 3)
        (139, 264, 0.532, 0.754)
        """
        params, kept = self._used_totals
        return 1.0 - kept / params if params else 0.0

    def copies_read(self) -> list[dict]:
        """How many copies of each target neuron the next source layer reads.

        For constructions that represent each neuron of a hidden target layer by
        ``params["copies"]`` copies (the depth-L+1 construction: ``n`` copies, laid out
        as consecutive rows of source layer ``l + 1`` for target layer ``l``), one dict
        per hidden target layer: ``layer`` (target layer, 1-based), ``copies`` (copies
        per neuron in the source) and ``min``, ``median``, ``max`` over the layer's
        neurons of the copies with a kept outgoing weight. ``params["copies_read"]`` is
        the cap the construction was given; a few problems reach beyond it (see
        :func:`slth.tickets.burkholz`). An empty list for constructions without copies.

        Examples
        --------
        >>> from slth.nets import random_target
        >>> from slth.tickets import burkholz
        >>> t = burkholz(random_target([2, 3, 1], norm="max", seed=0), eps=0.1, delta=0.1,
        ...              seed=1, n=40, copies_read=8)
        >>> t.copies_read()
        [{'layer': 1, 'copies': 40, 'min': 3, 'median': 3.0, 'max': 5}]
        >>> t.widths, t.used_widths
        ((2, 402, 160, 1), (2, 200, 11, 1))
        """
        c = self.params.get("copies")
        if c is None:
            return []
        c, d = int(c), self.target.widths
        out = []
        for l in range(1, len(d) - 1):
            read = read_columns(self.weights[l + 1])[:c * d[l]].reshape(d[l], c).sum(axis=1)
            out.append({"layer": l, "copies": c, "min": int(read.min()),
                        "median": float(np.median(read)), "max": int(read.max())})
        return out

    def summary(self) -> dict:
        """Headline figures as a flat dict (for tables and JSON): source and used widths
        (:attr:`used_widths`), sparsity against the source and against the used neurons,
        and for constructions with copies the copies read per target layer
        (:meth:`copies_read`: min/median/max)."""
        per_weight = np.concatenate([np.ravel(e) for e in self.errors.values()]) \
            if self.errors else np.zeros(1)
        return {
            "construction": self.params.get("construction"),
            "target_widths": "-".join(map(str, self.target.widths)),
            "source_depth": self.depth,
            "n": self.params.get("n"), "formula_n": self.params.get("formula_n"),
            "formula": self.formula, **self._usage_summary(),
            # NaN marks problems not solved (copies of neurons that nothing reads)
            "max_weight_error": float(np.nanmax(per_weight)),
            "build_seconds": float(self.timings.get("total", sum(self.timings.values()))),
        }

    def _usage_summary(self) -> dict:
        out = {
            "source_widths": "-".join(map(str, self.widths)),
            "used_widths": "-".join(map(str, self.used_widths)),
            "source_params": self.spec.n_params, "used_params": self.used_params,
            "kept": self.kept, "sparsity": self.sparsity, "used_sparsity": self.used_sparsity,
        }
        reads = self.copies_read()
        if reads:
            out["copies_read"] = "; ".join(
                f"layer {r['layer']}: {r['min']}/{r['median']:g}/{r['max']} of {r['copies']}"
                for r in reads) + f" (min/median/max; cap {self.params.get('copies_read')})"
        return out

    # ------------------------------------------------------------ storage
    def save(self, path: str | os.PathLike) -> None:
        """Write the ticket to a ``.npz`` file with a small JSON header.

        The source itself is not stored: it is regenerated from the seed. Neither are the
        kept weights' values, which are source values (a ticket only prunes): only their
        positions, and :func:`load` redraws the values (:func:`kept_values`).
        """
        arrays: dict[str, np.ndarray] = {}
        t = self.target
        for l, (w, b) in enumerate(zip(t.weights, t.biases, strict=True)):
            arrays[f"target_w{l}"] = w.toarray() if sparse.issparse(w) else w
            if b is not None:
                arrays[f"target_b{l}"] = b
        for l, (w, b, m) in enumerate(zip(self.weights, self.biases, self.bias_masks,
                                          strict=True)):
            arrays[f"w{l}_indices"], arrays[f"w{l}_indptr"] = w.indices, w.indptr
            if b is not None:
                arrays[f"b{l}"], arrays[f"bm{l}"] = b, m
        for k, v in self.errors.items():
            arrays[f"err_{k}"] = v
        header = {
            "format": "slth-ticket-2",
            "target_activations": [activation_to_json(a) for a in t.activations],
            "target_bias": [b is not None for b in t.biases],
            "spec": self.spec.to_json(),
            "params": _jsonable(self.params), "timings": self.timings,
            "errors": list(self.errors),
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, int) and abs(obj) >= 2**53:
        return str(obj)
    return obj


#: Bytes of source rows that :func:`kept_values` draws at once (whole drawing blocks).
REDRAW_BYTES = 1 << 26


def kept_values(spec: SourceSpec, l: int, indices, indptr,
                threads: int | None = None) -> NDArray[np.float64]:
    """The source values of layer ``l`` at the kept positions (CSR ``indices``,
    ``indptr``), redrawn from the seed.

    Rows with a kept entry are drawn (:meth:`SourceSpec.draw_rows`) a few drawing blocks
    at a time, about :data:`REDRAW_BYTES` of rows, so a layer of billions of source
    parameters is never held whole.

    Examples
    --------
    >>> spec = SourceSpec((6, 4), (), (False,), "uniform", 3)
    >>> w = spec.layer(0)[0]
    >>> kept = sparse.csr_matrix(w * (np.abs(w) > 0.5))
    >>> bool(np.array_equal(kept_values(spec, 0, kept.indices, kept.indptr), kept.data))
    True
    """
    indices = np.asarray(indices)
    indptr = np.asarray(indptr, dtype=np.int64)
    out = np.empty(indices.size)
    counts = np.diff(indptr)
    rows = np.flatnonzero(counts)
    if not rows.size:
        return out
    rows_per_block = spec.block_rows(l)
    starts = np.flatnonzero(np.diff(rows // rows_per_block, prepend=-1))
    per = max(1, REDRAW_BYTES // (8 * spec.shape(l)[1] * rows_per_block))
    ends = np.append(starts[per::per], rows.size)
    for lo, hi in zip(starts[::per], ends, strict=True):
        r = rows[lo:hi]
        w = spec.draw_rows(l, r, threads)
        a, b = indptr[r[0]], indptr[r[-1] + 1]
        out[a:b] = w[np.repeat(np.arange(r.size), counts[r]), indices[a:b]]
    return out


def load(path: str | os.PathLike) -> Ticket:
    """Read a ticket written by :meth:`Ticket.save`."""
    with np.load(path, allow_pickle=False) as z:
        if "header" not in z:
            raise ValueError(f"path: {os.fspath(path)!r} is not a saved slth ticket")
        header = json.loads(bytes(z["header"]).decode())
        if header.get("format") not in ("slth-ticket-1", "slth-ticket-2"):
            raise ValueError(f"path: unknown ticket format {header.get('format')!r}")
        s = header["spec"]
        acts = tuple(_activation_from_json(a) for a in s["activations"])
        spec = SourceSpec(tuple(s["widths"]), acts, tuple(s["bias"]), s["dist"],
                          int(s["entropy"]), tuple(s["spawn_key"]), tuple(s["weight_scale"]),
                          tuple(s["bias_scale"]))
        spec = _restore_col_scale(spec, header["params"])
        tl = len(header["target_bias"])
        target = MLP([z[f"target_w{l}"] for l in range(tl)],
                     [z[f"target_b{l}"] if header["target_bias"][l] else None
                      for l in range(tl)],
                     [_activation_from_json(a) for a in header["target_activations"]])
        weights, biases, bmasks = [], [], []
        for l in range(spec.depth):
            indices, indptr = z[f"w{l}_indices"], z[f"w{l}_indptr"]
            # slth-ticket-1 stored the values; since then they are redrawn
            data = (z[f"w{l}_data"] if f"w{l}_data" in z.files
                    else kept_values(spec, l, indices, indptr))
            weights.append(sparse.csr_matrix((data, indices, indptr), shape=spec.shape(l)))
            biases.append(z[f"b{l}"] if spec.bias[l] else None)
            bmasks.append(z[f"bm{l}"] if spec.bias[l] else None)
        errors = {k: z[f"err_{k}"] for k in header["errors"]}
    params = upgrade_params(header["params"])
    if isinstance(params.get("seed"), str):
        params["seed"] = int(params["seed"])
    try:
        check_source_activations(target, spec.activations)
    except ValueError as exc:
        raise ValueError(f"path: {os.fspath(path)!r} holds a ticket whose {exc}") from exc
    return Ticket(target, spec, tuple(weights), tuple(biases), tuple(bmasks), errors, params,
                  header["timings"])


def upgrade_params(params: dict) -> dict:
    """A ticket file's ``params`` with the names of earlier versions replaced by today's
    (:data:`RENAMED_PARAMS`), in place.

    Examples
    --------
    >>> upgrade_params({"n": 3, "required_n": 27})
    {'n': 3, 'formula_n': 27}
    """
    for old, new in RENAMED_PARAMS.items():
        if old in params and new not in params:
            params[new] = params.pop(old)
    return params


def _restore_col_scale(spec: SourceSpec, params: dict) -> SourceSpec:
    # Constructions with per-column scales record how to rebuild them in params.
    cs = params.get("col_scale")
    if not cs:
        return spec
    cols = []
    for l in range(spec.depth):
        item = cs[l] if l < len(cs) else None
        if item is None:
            cols.append(None)
        else:
            split, first, rest = item
            arr = np.full(spec.widths[l], float(rest))
            arr[:int(split)] = float(first)
            cols.append(arr)
    return SourceSpec(spec.widths, spec.activations, spec.bias, spec.dist, spec.entropy,
                      spec.spawn_key, spec.weight_scale, spec.bias_scale, tuple(cols))


@kernel
def _row_sorted(r, c):  # pragma: no cover - compiled
    # entries in increasing (row, column) order, no position twice
    for i in range(1, r.shape[0]):
        if r[i] < r[i - 1] or (r[i] == r[i - 1] and c[i] <= c[i - 1]):
            return False
    return True


@parallel_kernel
def _merge_rows(c, v, seg, out_start, out_idx, out_val):  # pragma: no cover - compiled
    # row j of piece q is c[seg[q, j]:seg[q, j + 1]] (columns increasing); merged by
    # column into out_*[out_start[j]:], ties in piece order (as a stable sort would)
    k = seg.shape[0]
    for j in prange(seg.shape[1] - 1):
        pos = seg[:, j].copy()
        o = out_start[j]
        while True:
            best = -1
            col = 0
            for q in range(k):
                if pos[q] < seg[q, j + 1] and (best < 0 or c[pos[q]] < col):
                    best = q
                    col = c[pos[q]]
            if best < 0:
                break
            out_idx[o] = col
            out_val[o] = v[pos[best]]
            pos[best] += 1
            o += 1


class RowBatchCSR:
    """A CSR matrix assembled from batches of whole rows, in increasing row order.

    Each batch's entries are sorted once and written into one growing buffer of 4-byte
    column indices and 8-byte values, so assembling needs about 12 bytes per kept entry
    (COO pieces with 8-byte rows and columns need twice that, and more to sort and
    concatenate). With ``expected`` (entries) near the final count the buffer is
    allocated once and never copied; otherwise it grows by half its size when full.
    When each piece of a batch is already in (row, column) order, as the pieces of
    :func:`slth.tickets.search.kept_entries` are, the pieces are merged row by row in
    parallel, with no sort and no temporary arrays of the batch's size beyond one
    reused buffer. :meth:`tocsr` returns views of the buffer. Positions must be unique;
    explicit zeros are kept.

    Examples
    --------
    >>> b = RowBatchCSR((3, 4), expected=2)
    >>> b.add([np.array([0, 0, 1])], [np.array([3, 1, 0])], [np.array([1.0, 2.0, 3.0])])
    >>> b.add([np.array([2])], [np.array([2])], [np.array([4.0])])
    >>> b.tocsr().toarray().tolist()
    [[0.0, 2.0, 0.0, 1.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0]]
    """

    def __init__(self, shape: tuple[int, int], expected: int = 0):
        self.shape = (int(shape[0]), int(shape[1]))
        self.counts = np.zeros(self.shape[0], dtype=np.int64)
        # np.empty: pages beyond the entries written are never touched
        self.indices = np.empty(max(int(expected), 0), dtype=np.int32)
        self.data = np.empty(max(int(expected), 0))
        self.size = 0
        self.next_row = 0
        # a batch's columns and values, concatenated; reused (touching fresh memory
        # costs more than copying into memory touched before)
        self._cols = np.empty(0, dtype=np.int64)
        self._vals = np.empty(0)

    def _reserve(self, end: int) -> None:
        if end > self.data.size:
            capacity = max(end, self.data.size + self.data.size // 2)
            for name in ("indices", "data"):
                old = getattr(self, name)
                grown = np.empty(capacity, dtype=old.dtype)
                grown[:self.size] = old[:self.size]
                setattr(self, name, grown)

    def add(self, rows: Sequence[np.ndarray], cols: Sequence[np.ndarray],
            vals: Sequence[np.ndarray], threads: int | None = None) -> None:
        """Add the entries of rows not seen before (all of them above earlier batches);
        ``threads`` as in the constructions."""
        pieces = [(np.asarray(r), np.asarray(c), np.asarray(v))
                  for r, c, v in zip(rows, cols, vals, strict=True) if len(r)]
        if not pieces:
            return
        if min(int(r.min()) for r, _, _ in pieces) < self.next_row:
            raise ValueError("RowBatchCSR: batches must hold increasing, disjoint rows")
        if all(_row_sorted(r, c) for r, c, _ in pieces):
            self._merge(pieces, threads)
        else:
            self._sort(pieces)

    def _sort(self, pieces) -> None:
        r = np.concatenate([p[0] for p in pieces])
        c = np.concatenate([p[1] for p in pieces])
        v = np.concatenate([p[2] for p in pieces])
        order = np.argsort(r * self.shape[1] + c, kind="stable")
        self.counts += np.bincount(r, minlength=self.shape[0])
        start, end = self.size, self.size + r.size
        self._reserve(end)
        self.indices[start:end] = c[order]
        np.take(v, order, out=self.data[start:end])
        self.size = end
        self.next_row = int(r.max()) + 1

    def _merge(self, pieces, threads) -> None:
        lo = min(int(r[0]) for r, _, _ in pieces)
        hi = max(int(r[-1]) for r, _, _ in pieces) + 1
        total = sum(r.size for r, _, _ in pieces)
        if total > self._cols.size:
            self._cols = np.empty(total, dtype=np.int64)
            self._vals = np.empty(total)
        c, v = self._cols[:total], self._vals[:total]
        np.concatenate([p[1] for p in pieces], out=c, casting="same_kind")
        np.concatenate([p[2] for p in pieces], out=v, casting="same_kind")
        # seg[q, j]: where row lo + j starts in piece q (offset into c and v)
        seg = np.empty((len(pieces), hi - lo + 1), dtype=np.int64)
        offset = 0
        for q, (r, _, _) in enumerate(pieces):
            seg[q] = offset + np.searchsorted(r, np.arange(lo, hi + 1))
            offset += r.size
        per_row = (seg[:, 1:] - seg[:, :-1]).sum(axis=0)
        self.counts[lo:hi] += per_row
        out_start = self.size + np.cumsum(per_row) - per_row
        end = self.size + total
        self._reserve(end)
        with num_threads(threads):
            _merge_rows(c, v, seg, out_start, self.indices, self.data)
        self.size = end
        self.next_row = hi

    def tocsr(self) -> sparse.csr_matrix:
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(self.counts, out=indptr[1:])
        if indptr[-1] < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        out = sparse.csr_matrix((self.data[:self.size], self.indices[:self.size], indptr),
                                shape=self.shape, copy=False)
        out.has_sorted_indices = True
        return out


def gather_csr(shape: tuple[int, int], rows: Sequence[np.ndarray], cols: Sequence[np.ndarray],
               vals: Sequence[np.ndarray]) -> sparse.csr_matrix:
    """A CSR matrix from COO pieces (positions are unique); stored entries = kept positions."""
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    v = np.concatenate(vals) if vals else np.zeros(0)
    # COO -> CSR is a counting sort (explicit zeros are kept); then sort each row's columns
    out = sparse.coo_matrix((v, (r, c)), shape=shape).tocsr()
    out.sort_indices()
    return out


@kernel
def _rows_reading(indptr, indices, cols, out):  # pragma: no cover - compiled
    # out[r] |= row r has a stored entry in a column where cols is True
    for r in range(out.shape[0]):
        for k in range(indptr[r], indptr[r + 1]):
            if cols[indices[k]]:
                out[r] = True
                break


@kernel
def _columns_read(indptr, indices, rows, out):  # pragma: no cover - compiled
    # out[c] |= column c has a stored entry in a row where rows is True
    for r in range(indptr.shape[0] - 1):
        if rows[r]:
            for k in range(indptr[r], indptr[r + 1]):
                out[indices[k]] = True


@kernel
def _count_between(indptr, indices, rows, cols):  # pragma: no cover - compiled
    # stored entries in rows where rows is True and columns where cols is True
    total = 0
    for r in range(indptr.shape[0] - 1):
        if rows[r]:
            for k in range(indptr[r], indptr[r + 1]):
                if cols[indices[k]]:
                    total += 1
    return total


def read_columns(w) -> NDArray[np.bool_]:
    """Columns of a sparse layer with a stored entry: the neurons the layer reads.

    Examples
    --------
    >>> read_columns(sparse.csr_matrix(np.array([[0.0, 2.0, 0.0], [0.0, 1.0, 3.0]]))).tolist()
    [False, True, True]
    """
    w = w.tocsr()
    read = np.zeros(w.shape[1], dtype=bool)
    read[w.indices] = True          # no int64 copy of the indices (bincount makes one)
    return read
