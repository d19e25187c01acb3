"""CNN tickets: the source layout both CNN constructions share, and the unstructured one.

Target: a ReLU :class:`~slth.nets.CNN` without biases (and without a head; a global
pooling is copied to the source), whose output filters have l1 norm at most 1, on
inputs in ``[-radius, radius]^(c_0 x H x W)``; the error is measured in the max norm
over all output entries (da Cunha, Natale, Viennot, ICLR 2022).

Source layout (depth 2L): target layer ``l`` (kernels ``K_l`` of shape
``(c_l, c_{l-1}, k_l, k_l)``) is represented by

1. a 1 x 1 convolution from ``c_{l-1}`` to ``2 n c_{l-1}`` channels, followed by ReLU;
   block ``c`` (channels ``2 n c .. 2 n (c + 1) - 1``) keeps only its weight ``u_s`` to
   input channel ``c``, so channel ``s`` computes ``relu(u_s x_c)``, which is
   ``u_s relu(x_c)`` for ``u_s > 0`` and ``|u_s| relu(-x_c)`` for ``u_s < 0``;
2. a ``k_l x k_l`` convolution from ``2 n c_{l-1}`` to ``c_l`` channels (the target's
   padding), with kernels ``V_js``. Output channel ``j`` computes
   ``sum_c A_jc * relu(x_c) + B_jc * relu(-x_c)`` with ``A_jc = sum u_s V_js`` over the
   kept positive ``s`` of block ``c`` and ``B_jc = sum |u_s| V_js`` over the kept
   negative ones; ``K * x = K * relu(x) - K * relu(-x)``, so the construction makes
   ``A_jc ~ K_jc`` and ``-B_jc ~ K_jc``: subset sums of products ``u_s V_js``.

The ReLU commutes with the positive scalars ``u_s`` (and with zero padding), which is
why the 1 x 1 layer comes first. :func:`cnn_unstructured` solves one 1-D subset-sum
problem per (output channel, input channel, kernel position, sign) and masks single
weights; :func:`slth.tickets.cnn_structured` solves one multidimensional problem per
(output channel, input channel, sign) and keeps or removes whole kernels.

In target layers ``l >= 2`` the input ``x`` is a ReLU output (``x >= 0``), so
``relu(-x_c) = 0``: every channel with ``u_s < 0`` outputs zero on every input, and
``K * x = K * relu(x)`` needs the positive side only. :func:`cnn_unstructured` solves
and keeps only that side there (the source keeps its ``2 n`` channels per block, as in
the paper; the dead half is pruned whole, and the ticket records no ``_neg`` errors for
these layers). Keeping channels that change nothing in the function would only inflate
the kept count, the used and the compact widths.

Examples
--------
>>> from slth.nets import random_cnn_target
>>> t = cnn_unstructured(random_cnn_target([1, 2, 2], 3, seed=0), eps=0.2, delta=0.1,
...                      seed=1, n=8)
>>> t.widths
(1, 16, 2, 32, 2)
>>> all(np.array_equal(p * m, q) for p, m, q in
...     zip(t.source.parameters(), t.masks, t.network().parameters()))
True
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from slth import bounds, distributions
from slth._validate import (
    as_seed_sequence,
    check_int,
    check_memory,
    check_positive,
    resolve_max_bytes,
)
from slth.nets.activations import Activation
from slth.nets.activations import get as get_activation
from slth.nets.cnn import CNN
from slth.tickets.search import UnivariateLayer, progress_bar
from slth.tickets.ticket import (
    BLOCK_ENTRIES,
    Ticket,
    Timer,
    _jsonable,
    check_build_args,
    check_relu_without_biases,
    upgrade_params,
)

__all__ = ["ConvSourceSpec", "CNNTicket", "cnn_unstructured", "check_cnn_target", "load"]


@dataclass(frozen=True, eq=False)
class ConvSourceSpec:
    """A random CNN source, defined by its seed (the CNN analogue of :class:`SourceSpec`).

    Layer ``l`` has kernels ``(channels[l+1], channels[l], k, k)``, ``k = kernel_sizes[l]``,
    with i.i.d. entries from ``dist`` and no biases. Output channels are drawn in blocks of
    :meth:`block_rows` channels; block ``b`` of layer ``l`` uses the generator of
    ``SeedSequence(entropy, spawn_key=spawn_key + (l, b))``, so any block can be
    regenerated on its own.
    """

    channels: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    paddings: tuple[int, ...]
    activations: tuple[Activation, ...]
    dist: str
    entropy: int
    spawn_key: tuple[int, ...] = ()
    pool: str | None = None

    @property
    def depth(self) -> int:
        return len(self.channels) - 1

    @property
    def widths(self) -> tuple[int, ...]:
        """The channel counts (the CNN analogue of an MLP's widths)."""
        return self.channels

    def shape(self, l: int) -> tuple[int, int, int, int]:
        k = self.kernel_sizes[l]
        return (self.channels[l + 1], self.channels[l], k, k)

    def block_rows(self, l: int) -> int:
        """Output channels per drawing block of layer ``l``."""
        _, c, k, _ = self.shape(l)
        return max(1, BLOCK_ENTRIES // (c * k * k))

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(self.shape(l)) for l in range(self.depth)))

    @property
    def nbytes(self) -> int:
        return 8 * self.n_params

    def iter_blocks(self, l: int):
        """Yield ``(start, kernels)`` for every drawing block of layer ``l``."""
        rows, c, k, _ = self.shape(l)
        br = self.block_rows(l)
        for b in range(-(-rows // br)):
            lo, hi = b * br, min(rows, (b + 1) * br)
            rng = np.random.default_rng(
                np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, l, b)))
            yield lo, distributions.sample(self.dist, (hi - lo, c, k, k), rng)

    def layer(self, l: int) -> NDArray[np.float64]:
        """The dense kernels of layer ``l``."""
        return np.concatenate([w for _, w in self.iter_blocks(l)])

    def network(self, max_bytes: int | None = None) -> CNN:
        """The dense source CNN (refused when over ``max_bytes``)."""
        check_memory(self.nbytes, resolve_max_bytes(max_bytes), "source",
                     f"the dense source ({self.n_params:,} parameters)",
                     "work with the pruned network, or layer by layer with spec.layer(l)")
        return CNN([self.layer(l) for l in range(self.depth)], None, self.activations,
                   self.paddings, self.pool)


@dataclass(frozen=True, eq=False, repr=False)         # Ticket's repr: no array dumps
class CNNTicket(Ticket):
    """A pruned random CNN approximating a target CNN.

    As :class:`Ticket`, with ``target`` a :class:`~slth.nets.CNN`, ``spec`` a
    :class:`ConvSourceSpec`, ``weights`` the pruned kernels (dense arrays, exactly
    ``source * mask``) and ``kernel_masks`` the boolean masks (same shapes).
    """

    kernel_masks: tuple = field(default=())

    DEFAULT_NORM = "inf"

    @cached_property
    def _network(self) -> CNN:
        return CNN(list(self.weights), None, self.spec.activations, self.spec.paddings,
                   self.spec.pool)

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Forward pass of the pruned network (NCHW images)."""
        return self._network(x)

    def compact(self) -> CNN:
        """The pruned network with removed channels dropped: a smaller dense CNN."""
        return self._network.compact()

    @property
    def kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.kernel_masks))

    def _links(self, l: int) -> sparse.csr_matrix:
        # channels joined by a kernel with a kept entry
        return sparse.csr_matrix(self.kernel_masks[l].any(axis=(2, 3)))

    def _used_counts(self, l: int, rows: NDArray[np.bool_], cols: NDArray[np.bool_]):
        m = self.kernel_masks[l]
        kk = m.shape[2] * m.shape[3]
        return int(rows.sum()) * int(cols.sum()) * kk, int(m[rows][:, cols].sum())

    def mask_sparse(self) -> list:
        """The masks (dense boolean kernels; a CNN ticket keeps them dense)."""
        return list(self.kernel_masks)

    @property
    def masks(self) -> list[NDArray[np.bool_]]:
        """Boolean masks aligned with ``source.parameters()``."""
        return [m.copy() for m in self.kernel_masks]

    def structure(self) -> dict:
        """Structured sparsity: fractions of kernels and of hidden channels removed.

        A kernel (one ``k x k`` slice ``(output channel, input channel)`` of a layer) is
        removed when its mask is all False; a hidden channel (filter) is removed when its
        incoming kernels or its outgoing kernels are all removed. ``structured`` is True
        when every kernel is all-kept or all-removed.
        """
        kernels = kept_k = 0
        partial = False
        for m in self.kernel_masks:
            per = m.reshape(m.shape[0], m.shape[1], -1)
            anyk, allk = per.any(axis=2), per.all(axis=2)
            partial |= bool(np.any(anyk & ~allk))
            kernels += anyk.size
            kept_k += int(anyk.sum())
        hidden = alive = 0
        for l in range(len(self.kernel_masks) - 1):
            inc = self.kernel_masks[l].any(axis=(1, 2, 3))
            out = self.kernel_masks[l + 1].any(axis=(0, 2, 3))
            hidden += inc.size
            alive += int((inc & out).sum())
        return {"kernels_removed": 1.0 - kept_k / kernels,
                "filters_removed": 1.0 - alive / hidden if hidden else 0.0,
                "structured": not partial}

    def summary(self) -> dict:
        per_weight = np.concatenate([np.ravel(e) for e in self.errors.values()]) \
            if self.errors else np.zeros(1)
        s = self.structure()
        return {
            "construction": self.params.get("construction"),
            "target_channels": "-".join(map(str, self.target.channels)),
            "kernel_sizes": "-".join(map(str, self.target.kernel_sizes)),
            "source_depth": self.depth,
            "n": self.params.get("n"), "formula_n": self.params.get("formula_n"),
            "formula": self.formula, **self._usage_summary(),
            "kernels_removed": s["kernels_removed"],
            "filters_removed": s["filters_removed"], "structured": s["structured"],
            "max_weight_error": float(per_weight.max()),
            "build_seconds": float(self.timings.get("total", sum(self.timings.values()))),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the ticket to a ``.npz`` file: target kernels, bit-packed masks, errors and
        a JSON header; the source is regenerated from its seed by :func:`load`."""
        t = self.target
        arrays: dict[str, np.ndarray] = {f"target_k{l}": k for l, k in enumerate(t.kernels)}
        for l, m in enumerate(self.kernel_masks):
            arrays[f"mask{l}"] = np.packbits(m.ravel())
        for k, v in self.errors.items():
            arrays[f"err_{k}"] = v
        sp = self.spec
        header = {
            "format": CNN_FORMAT, "target_paddings": list(t.paddings), "pool": t.pool,
            "spec": {"channels": list(sp.channels), "kernel_sizes": list(sp.kernel_sizes),
                     "paddings": list(sp.paddings), "dist": sp.dist,
                     "entropy": str(sp.entropy), "spawn_key": list(sp.spawn_key),
                     "pool": sp.pool},
            "params": _jsonable(self.params), "timings": self.timings,
            "errors": list(self.errors),
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)


#: Format tag of saved CNN tickets.
CNN_FORMAT = "slth-cnn-ticket-1"


def load(path: str | os.PathLike) -> Ticket:
    """Read a ticket written by :meth:`Ticket.save` or :meth:`CNNTicket.save`.

    For a CNN ticket the source is regenerated from its seed and the pruned kernels are
    ``source * mask`` again.

    Examples
    --------
    >>> import os, tempfile
    >>> from slth.nets import random_cnn_target
    >>> t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
    ...                      seed=3, n=4)
    >>> path = os.path.join(tempfile.mkdtemp(), "t.npz")
    >>> t.save(path)
    >>> u = load(path)
    >>> all(np.array_equal(a, b) for a, b in zip(t.weights, u.weights))
    True
    """
    from slth.tickets.ticket import load as load_mlp

    with np.load(path, allow_pickle=False) as z:
        if "header" not in z:
            raise ValueError(f"path: {os.fspath(path)!r} is not a saved slth ticket")
        header = json.loads(bytes(z["header"]).decode())
        if header.get("format") != CNN_FORMAT:
            return load_mlp(path)
        s = header["spec"]
        relu = get_activation("relu")
        spec = ConvSourceSpec(tuple(s["channels"]), tuple(s["kernel_sizes"]),
                              tuple(s["paddings"]), (relu,) * (len(s["channels"]) - 2),
                              s["dist"], int(s["entropy"]), tuple(s["spawn_key"]), s["pool"])
        L = len(header["target_paddings"])
        target = CNN([z[f"target_k{l}"] for l in range(L)], None, "relu",
                     header["target_paddings"], header["pool"])
        masks, weights = [], []
        for l in range(spec.depth):
            shape = spec.shape(l)
            m = np.unpackbits(z[f"mask{l}"], count=int(np.prod(shape))).astype(bool)
            m = m.reshape(shape)
            masks.append(m)
            weights.append(spec.layer(l) * m)
        errors = {k: z[f"err_{k}"] for k in header["errors"]}
    params = upgrade_params(header["params"])
    if isinstance(params.get("seed"), str):
        params["seed"] = int(params["seed"])
    return CNNTicket(target, spec, tuple(weights), (None,) * spec.depth, (None,) * spec.depth,
                     errors, params, header["timings"], tuple(masks))


def check_cnn_target(target, construction: str, check_assumptions: bool):
    """Validate a CNN target; returns ``(target, violations)``."""
    if not isinstance(target, CNN):
        raise TypeError(f"target must be a slth.nets.CNN, got {type(target).__name__}; "
                        "build one with slth.nets.CNN or slth.nets.random_cnn_target")
    check_relu_without_biases(target, construction, "CNNs")
    if target.head is not None:
        raise ValueError(f"target.head is set: {construction} approximates the convolutions "
                         "(and a global pooling); pass the target without its linear head")
    violations = []
    for l, k in enumerate(target.kernels):
        s = float(np.abs(k).sum(axis=(1, 2, 3)).max())
        if s > 1.0 + 1e-9:
            violations.append(f"max filter l1 norm of kernels[{l}] = {s:.6g} > 1")
    if violations and check_assumptions:
        raise ValueError(f"target violates the assumption of {construction} (every output "
                         "filter has l1 norm <= 1): " + "; ".join(violations)
                         + " (pass check_assumptions=False to build anyway, or rescale)")
    return target, violations


def source_spec(target: CNN, n: int, dist: str, ss: np.random.SeedSequence) -> ConvSourceSpec:
    """The depth-2L source of both CNN constructions (see the module docstring)."""
    L = target.depth
    ks, pads = [], []
    for l in range(L):
        ks += [1, target.kernel_sizes[l]]
        pads += [0, target.paddings[l]]
    relu = get_activation("relu")
    return ConvSourceSpec(bounds.cnn_widths(target.channels, n), tuple(ks), tuple(pads),
                          (relu,) * (2 * L - 1), dist, int(ss.entropy), tuple(ss.spawn_key),
                          target.pool)


def univariate_weights(spec: ConvSourceSpec, l: int, m: int) -> NDArray[np.float64]:
    """``u[s]``: the weight of channel ``s`` of source layer ``l`` (1 x 1) to its input
    channel ``s // m``."""
    c_mid, c_in = spec.shape(l)[:2]
    u = np.empty(c_mid)
    for r0, w in spec.iter_blocks(l):
        rr = np.arange(r0, r0 + w.shape[0])
        u[rr] = w[rr - r0, rr // m, 0, 0]
    return u


def first_layer_mask(spec: ConvSourceSpec, l: int, m: int, used: NDArray[np.bool_]):
    """Mask of the 1 x 1 layer: channel ``s`` keeps its weight to ``s // m`` iff used."""
    mask = np.zeros(spec.shape(l), dtype=bool)
    s = np.flatnonzero(used)
    mask[s, s // m, 0, 0] = True
    return mask


def estimate_bytes(spec: ConvSourceSpec, extra: float = 0.0) -> float:
    """Dense pruned kernels and masks (9 bytes per source parameter) plus ``extra``."""
    return 9.0 * spec.n_params + extra


def cnn_unstructured(target: CNN, eps: float = 0.01, delta: float = 0.01, seed=None,
                     n: int | None = None, *, dist: str = "uniform", C: float = bounds.DEFAULT_C,
                     radius: float = 1.0, max_values: int = 20, check_assumptions: bool = True,
                     threads: int | None = None, max_bytes: int | None = None,
                     progress: bool | None = None) -> CNNTicket:
    """Prune a random depth-2L CNN to approximate ``target``, weight by weight.

    The construction of da Cunha, Natale, Viennot (2022), in the layout of the module
    docstring: every entry ``K_l[j, c, p, q]`` is approximated twice (sign split) by
    a subset sum of the products ``u_s V_l[j, s, p, q]`` over its half block, solved
    exactly by :func:`slth.rss.solve_many` through the shared search of
    :mod:`slth.tickets.search` (a prefix of ``max_values`` candidates, then a second
    attempt over the largest ones for entries above the per-entry accuracy of
    :func:`slth.bounds.cnn_weight_eps`). In layers ``l >= 2``, whose inputs are ReLU
    outputs, only the positive side is solved and kept (the channels with ``u_s < 0``
    are dead there; see the module docstring).

    Parameters
    ----------
    target : CNN
        ReLU CNN without biases or head; the theorem assumes filter l1 norms <= 1.
    eps, delta : float in (0, 1)
        Accuracy (max-norm error on ``[-radius, radius]`` inputs) and failure probability.
    seed : int, SeedSequence, Generator or None
        Seed of the random source.
    n : int, optional
        Channels per sign and input channel (blocks of ``2 n``). ``None``: the paper's
        width formula with the ``C`` in use (:func:`slth.bounds.cnn_unstructured_n`; see
        :data:`slth.bounds.FORMULAS`).
    dist : {"uniform", "normal"}
        Distribution of the source entries.
    C : float
        Constant of the width formula, which the paper does not give (default: this
        package's calibration, see :data:`slth.bounds.FORMULAS`).
    radius : float
        Max-norm radius of the inputs.
    max_values : int
        Candidates per subset-sum problem (exact search over at most this many).
    check_assumptions : bool
        Refuse targets whose filters have l1 norm > 1 (else record the violation).
    threads : int, optional
        Threads of the subset-sum engine.
    max_bytes : int, optional
        Memory cap.
    progress : bool, optional
        Progress bar (``None``: only for large builds).

    Returns
    -------
    CNNTicket

    Raises
    ------
    TypeError
        If ``target`` is not a CNN.
    ValueError
        Non-ReLU activation, biases, a head, a norm violation, eps/delta outside (0, 1),
        a build over the memory cap.

    Examples
    --------
    >>> from slth.nets import random_cnn_target
    >>> t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1,
    ...                      seed=0)
    >>> t.params["n"] == t.params["formula_n"], t.structure()["structured"]
    (True, False)
    """
    eps, delta, C, max_values, dist = check_build_args("cnn_unstructured", eps, delta, C,
                                                       max_values, dist)
    radius = check_positive(radius, "radius")
    target, violations = check_cnn_target(target, "cnn_unstructured", check_assumptions)
    ch, ksz = target.channels, target.kernel_sizes
    formula_n = bounds.cnn_unstructured_n(ch, ksz, eps, delta, C, radius)
    n = formula_n if n is None else check_int(n, "n", minimum=1)
    m = 2 * n
    ss = as_seed_sequence(seed)
    spec = source_spec(target, n, dist, ss)
    L = target.depth
    k_vals = min(max_values, m)
    block = max(spec.block_rows(2 * l + 1) * ksz[l] ** 2 * ch[l] for l in range(L))
    check_memory(estimate_bytes(spec, 8.0 * block * k_vals * 6), resolve_max_bytes(max_bytes),
                 "target", f"a cnn_unstructured build with n={n} for channels {ch}",
                 "use a smaller n")
    tol = bounds.cnn_weight_eps(ch, ksz, eps, radius)
    opts = {"threads": threads, "max_bytes": max_bytes}
    timer = Timer()
    weights, masks, errors, vpp = [], [], {}, []
    t_start = time.perf_counter()
    for l in range(L):
        c_in, c_out, k = ch[l], ch[l + 1], ksz[l]
        with timer("draw"):
            u = univariate_weights(spec, 2 * l, m)
        # later layers read ReLU outputs: their u < 0 channels are dead, not solved
        layer = UnivariateLayer(u, c_in, m, max_values, homogeneous=True, tol=tol,
                                positive_only=l > 0)
        vpp.append(layer.values_per_problem)
        K = target.kernels[l]
        mask2 = np.zeros(spec.shape(2 * l + 1), dtype=bool)
        w2 = np.zeros(spec.shape(2 * l + 1))
        errs = [np.empty(K.shape) for _ in layer.sides]
        nblocks = -(-c_out // spec.block_rows(2 * l + 1))
        with progress_bar(nblocks, progress, len(errs) * K.size, f"cnn layer {l + 1}") as bar:
            for r0, V in timer.timed(spec.iter_blocks(2 * l + 1), "draw"):
                R = V.shape[0]
                # rows (j, p, q), columns: intermediate channels
                rows_v = V.transpose(0, 2, 3, 1).reshape(R * k * k, m * c_in)
                rows_t = K[r0:r0 + R].transpose(0, 2, 3, 1).reshape(R * k * k, c_in)
                with timer("solve"):
                    rr, cc, _, es = layer.solve_rows(rows_v, rows_t, 0, opts)
                blk = np.zeros((R * k * k, m * c_in), dtype=bool)
                for r_, c_ in zip(rr, cc, strict=True):
                    blk[r_, c_] = True
                blk = blk.reshape(R, k, k, m * c_in).transpose(0, 3, 1, 2)
                mask2[r0:r0 + R] = blk
                w2[r0:r0 + R] = V * blk
                for e, part in zip(errs, es, strict=True):
                    e[r0:r0 + R] = part.reshape(R, k, k, c_in).transpose(0, 3, 1, 2)
                bar.update(1)
        with timer("assemble"):
            mask1 = first_layer_mask(spec, 2 * l, m, mask2.any(axis=(0, 2, 3)))
            w1 = spec.layer(2 * l) * mask1
        weights += [w1, w2]
        masks += [mask1, mask2]
        for side, e in zip(("pos", "neg"), errs, strict=False):
            errors[f"layer{l + 1}_{side}"] = e
    timer.times["total"] = time.perf_counter() - t_start
    params = {
        "construction": "cnn_unstructured", "eps": eps, "delta": delta, "n": n,
        "formula_n": formula_n, "dist": dist, "seed": int(ss.entropy),
        "spawn_key": list(ss.spawn_key), "C": C, "radius": radius, "norm": "inf",
        "max_values": max_values,
        "values_per_problem": vpp, "block": m, "weight_eps": tol,
        "assumption_violations": violations,
    }
    return CNNTicket(target, spec, tuple(weights), (None,) * (2 * L), (None,) * (2 * L),
                     errors, params, timer.times, tuple(masks))
