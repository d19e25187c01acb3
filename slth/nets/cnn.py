"""Convolutional networks: forward pass (im2col + matmul), random targets, compaction.

A :class:`CNN` is a frozen container of numpy arrays computing, on images in
NCHW layout (``x`` of shape ``(batch, channels, height, width)``),

    f(x) = head( pool( K_L * phi_{L-1}( ... phi_1(K_1 * x + b_1) ... ) + b_L ) )

where ``K * x`` is the cross-correlation of deep-learning convolutions (no kernel
flip; ``scipy.signal.correlate`` per channel pair) with stride 1 and symmetric
zero padding, kernels are ``(c_out, c_in, k, k)`` (square, PyTorch's OIHW layout),
the last convolution is linear, ``pool`` is an optional global pooling over the
spatial positions (``"avg"`` or ``"max"``) and ``head`` an optional linear map
``(n_out, c_L)`` after it.

The convolution is an im2col matrix product: the windows of the padded input
(a strided view) are copied into a ``(batch, c_in k k, H' W')`` array and multiplied
by the kernel matrix ``(c_out, c_in k k)``; batches are processed in chunks whose
temporary arrays stay under :data:`IM2COL_BYTES`.

Examples
--------
>>> import numpy as np
>>> from slth.nets import CNN
>>> k = np.zeros((1, 1, 3, 3)); k[0, 0, 1, 1] = 2.0          # a centred scaling kernel
>>> net = CNN([k], padding="same")
>>> x = np.arange(9.0).reshape(1, 1, 3, 3)
>>> bool(np.array_equal(net(x), 2 * x)), net.channels, net.kernel_sizes
(True, (1, 1), (3,))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from slth._validate import (
    SeedLike,
    as_float_array,
    as_seed_sequence,
    check_choice,
    check_int,
    check_positive,
)
from slth.nets.activations import Activation
from slth.nets.activations import get as get_activation

__all__ = ["CNN", "conv2d", "random_cnn_target", "IM2COL_BYTES", "ACTIVATION_BYTES", "POOLS"]

#: Bytes of the im2col temporary per chunk of the batch.
IM2COL_BYTES = 64 * 2**20

#: Bytes of the activations of one chunk of the batch in a forward pass.
ACTIVATION_BYTES = 128 * 2**20

#: Global poolings accepted by :class:`CNN`.
POOLS = ("avg", "max")


def _padding_of(p, k: int, name: str) -> int:
    if isinstance(p, str):
        p = check_choice(p, name, ("valid", "same"))
        if p == "valid":
            return 0
        if k % 2 == 0:
            raise ValueError(f"{name}='same' needs an odd kernel size, got kernel size {k}; "
                             "pass an integer padding instead")
        return (k - 1) // 2
    return check_int(p, name, minimum=0)


def conv2d(x: NDArray[np.float64], kernel: NDArray[np.float64], padding: int = 0,
           bias: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Cross-correlation of a batch of images with a bank of kernels (stride 1).

    Parameters
    ----------
    x : ndarray, shape (batch, c_in, H, W)
        Float64 images (validated by the caller; see :meth:`CNN.__call__`).
    kernel : ndarray, shape (c_out, c_in, k, k)
    padding : int
        Zeros added on every side of each image.
    bias : ndarray, shape (c_out,), optional

    Returns
    -------
    ndarray, shape (batch, c_out, H + 2 padding - k + 1, W + 2 padding - k + 1)

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)))[0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    B, C, H, W = x.shape
    c_out, _, k, _ = kernel.shape
    Ho, Wo = H + 2 * padding - k + 1, W + 2 * padding - k + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"x: images of size {H}x{W} with padding {padding} are smaller than "
                         f"the {k}x{k} kernel")
    kmat = kernel.reshape(c_out, C * k * k)
    out = np.empty((B, c_out, Ho * Wo))
    if k == 1 and padding == 0:
        np.matmul(kmat, x.reshape(B, C, H * W), out=out)
    else:
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) \
            if padding else x
        per_image = 8 * C * k * k * Ho * Wo
        chunk = max(1, IM2COL_BYTES // max(per_image, 1))
        # one image over the budget: input channels in groups, partial products summed
        cg = C if per_image <= IM2COL_BYTES else max(1, IM2COL_BYTES // (8 * k * k * Ho * Wo))
        for s in range(0, B, chunk):
            for c0 in range(0, C, cg):
                c1 = min(C, c0 + cg)
                win = sliding_window_view(xp[s:s + chunk, c0:c1], (k, k), axis=(2, 3))
                cols = np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(
                    -1, (c1 - c0) * k * k, Ho * Wo)
                part = np.matmul(kmat[:, c0 * k * k:c1 * k * k], cols)
                if c0 == 0:
                    out[s:s + chunk] = part
                else:
                    out[s:s + chunk] += part
    if bias is not None:
        out += bias[None, :, None]
    return out.reshape(B, c_out, Ho, Wo)


def _check_skips(skips, ks) -> tuple:
    """Validated skip connections ``((i, j), ...)``, sorted (see :class:`CNN`)."""
    if skips is None:
        return ()
    if isinstance(skips, (str, bytes, np.ndarray)) or not isinstance(skips, Sequence):
        raise TypeError(f"skips must be a sequence of (i, j) pairs, got {skips!r}")
    L = len(ks)
    out = []
    for n, pair in enumerate(skips):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"skips[{n}] must be a pair (i, j), got {pair!r}")
        i = check_int(pair[0], f"skips[{n}][0]", minimum=0, maximum=L - 1)
        j = check_int(pair[1], f"skips[{n}][1]", minimum=i, maximum=L - 1)
        c_in, c_out = ks[i].shape[1], ks[j].shape[0]
        if c_in != c_out:
            raise ValueError(f"skips[{n}] = ({i}, {j}) adds the {c_in} input channels of "
                             f"layer {i} to the {c_out} output channels of layer {j}; "
                             "an identity skip needs as many")
        out.append((i, j))
    if len(set(out)) != len(out):
        raise ValueError(f"skips must not repeat a pair, got {list(skips)!r}")
    return tuple(sorted(out))


def _as_kernel(k, name: str) -> NDArray[np.float64]:
    k = as_float_array(k, name, ndim=4)
    if k.shape[2] != k.shape[3]:
        raise ValueError(f"{name} must be a square kernel (c_out, c_in, k, k), got shape "
                         f"{k.shape}: non-square kernels are not supported")
    if min(k.shape) < 1:
        raise ValueError(f"{name} must have no empty dimension, got shape {k.shape}")
    return k


@dataclass(frozen=True, eq=False)
class CNN:
    """A convolutional network (NCHW, stride 1, square kernels, zero padding).

    Parameters
    ----------
    kernels : sequence of 4-D arrays
        ``kernels[l]`` has shape ``(c_{l+1}, c_l, k_l, k_l)``.
    biases : sequence of 1-D arrays or None, or None
        One per layer (``None``: no bias in that layer).
    activation : str, Activation or sequence of them
        One activation for all hidden layers, or one per hidden layer (the last
        convolution is linear).
    padding : "valid", "same", int, or a sequence of them (one per layer)
        Symmetric zero padding; ``"same"`` keeps the image size (odd kernels).
    pool : {None, "avg", "max"}
        Global pooling over positions after the last convolution.
    head : 2-D array, optional
        Linear map ``(n_out, c_L)`` after the pooling (requires ``pool``).
    skips : sequence of (i, j) pairs, optional
        Identity skip connections (residual blocks): the input of layer ``i`` (the
        images for ``i = 0``, else the activation of layer ``i - 1``) is added to the
        output of convolution ``j >= i``, before its activation. Needs
        ``c_i == c_{j+1}`` and, at run time, images of the same size there.

    Raises
    ------
    ValueError
        Kernels that are not 4-D or not square, channel counts that do not chain,
        biases of the wrong length, unknown padding or pooling, non-finite entries,
        skips that do not fit the layers.

    Examples
    --------
    A residual block ``relu(x + K2 * relu(K1 * x))``:

    >>> k = np.zeros((1, 1, 1, 1)); k[0, 0, 0, 0] = -2.0
    >>> net = CNN([k, k], activation="relu", skips=[(0, 1)])
    >>> net(np.full((1, 1, 1, 1), -1.0))[0, 0, 0, 0]      # -1 + (-2) relu(2)
    np.float64(-5.0)
    """

    kernels: tuple
    biases: tuple
    activations: tuple
    paddings: tuple
    pool: str | None
    head: NDArray[np.float64] | None
    skips: tuple = ()

    def __init__(self, kernels, biases=None, activation: str | Activation | Sequence = "relu",
                 padding="valid", pool: str | None = None, head: ArrayLike | None = None,
                 skips: Sequence | None = None):
        if isinstance(kernels, np.ndarray):
            raise TypeError("kernels must be a sequence of 4-D arrays, one per layer, "
                            f"got a single array of shape {kernels.shape}")
        ks = tuple(_as_kernel(k, f"kernels[{i}]") for i, k in enumerate(kernels))
        if not ks:
            raise ValueError("kernels must hold at least one layer, got an empty sequence")
        L = len(ks)
        for i in range(1, L):
            if ks[i].shape[1] != ks[i - 1].shape[0]:
                raise ValueError(
                    f"kernels[{i}] has shape {ks[i].shape}: its {ks[i].shape[1]} input channels "
                    f"must match the {ks[i - 1].shape[0]} output channels of kernels[{i - 1}]")
        biases = (None,) * L if biases is None else tuple(biases)
        if len(biases) != L:
            raise ValueError(f"biases must have one entry per layer ({L}), got {len(biases)}")
        bs = []
        for i, b in enumerate(biases):
            if b is not None:
                b = as_float_array(b, f"biases[{i}]", ndim=1)
                if b.shape[0] != ks[i].shape[0]:
                    raise ValueError(f"biases[{i}] has length {b.shape[0]}, must equal the "
                                     f"{ks[i].shape[0]} output channels of kernels[{i}]")
            bs.append(b)
        if isinstance(activation, (str, Activation)) or callable(activation):
            acts = (get_activation(activation),) * (L - 1)
        else:
            acts = tuple(get_activation(a) for a in activation)
            if len(acts) != L - 1:
                raise ValueError(f"activation: need one per hidden layer ({L - 1}), "
                                 f"got {len(acts)}")
        if isinstance(padding, (str, numbers.Integral)):
            padding = (padding,) * L
        padding = tuple(padding)
        if len(padding) != L:
            raise ValueError(f"padding must have one entry per layer ({L}), got {len(padding)}")
        pads = tuple(_padding_of(p, ks[i].shape[2], f"padding[{i}]")
                     for i, p in enumerate(padding))
        if pool is not None:
            pool = check_choice(pool, "pool", POOLS)
        if head is not None:
            if pool is None:
                raise ValueError("head needs a global pooling: pass pool='avg' or 'max'")
            head = as_float_array(head, "head", ndim=2)
            if head.shape[1] != ks[-1].shape[0]:
                raise ValueError(f"head has shape {head.shape}: its {head.shape[1]} columns "
                                 f"must match the {ks[-1].shape[0]} output channels")
        object.__setattr__(self, "kernels", ks)
        object.__setattr__(self, "biases", tuple(bs))
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "paddings", pads)
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "skips", _check_skips(skips, ks))

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        """Number of convolutional layers."""
        return len(self.kernels)

    @property
    def channels(self) -> tuple[int, ...]:
        """``(c_0, c_1, ..., c_L)``."""
        return (self.kernels[0].shape[1], *(k.shape[0] for k in self.kernels))

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        """Kernel size ``k_l`` of every layer."""
        return tuple(k.shape[2] for k in self.kernels)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Spatial size of the last convolution's output for inputs of ``size`` (H, W)."""
        h, w = size
        for k, p in zip(self.kernel_sizes, self.paddings, strict=True):
            h, w = h + 2 * p - k + 1, w + 2 * p - k + 1
        return h, w

    def parameters(self) -> list[NDArray[np.float64]]:
        """Flat list ``[K_1, b_1, K_2, ...]`` (absent biases skipped), then the head."""
        out = []
        for k, b in zip(self.kernels, self.biases, strict=True):
            out.append(k)
            if b is not None:
                out.append(b)
        if self.head is not None:
            out.append(self.head)
        return out

    @property
    def n_params(self) -> int:
        """Number of parameters (all entries, including zeros)."""
        return int(sum(p.size for p in self.parameters()))

    @property
    def nnz(self) -> int:
        """Number of non-zero parameters."""
        return int(sum(np.count_nonzero(p) for p in self.parameters()))

    def replace(self, kernels=None, biases=None) -> CNN:
        """A copy with other kernels (and biases), same activations, padding, pooling, head."""
        return CNN(self.kernels if kernels is None else kernels,
                   self.biases if biases is None else biases, self.activations,
                   self.paddings, self.pool, self.head, skips=self.skips)

    # ---------------------------------------------------------------- forward
    def check_input(self, x) -> NDArray[np.float64]:
        """Validate images: ``(batch, c_0, H, W)`` (or one image ``(c_0, H, W)``)."""
        x = as_float_array(x, "x")
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f"x must be a batch of images (batch, channels, height, width) "
                             f"or one image (channels, height, width), got shape {x.shape}")
        if x.shape[1] != self.channels[0]:
            raise ValueError(f"x must have {self.channels[0]} channels (axis 1, NCHW), "
                             f"got shape {x.shape}")
        h, w = self.output_size(x.shape[2:])
        if h < 1 or w < 1:
            raise ValueError(f"x: images of size {x.shape[2]}x{x.shape[3]} are too small for "
                             f"kernel sizes {self.kernel_sizes} with padding {self.paddings}")
        return x

    def features(self, x: ArrayLike) -> NDArray[np.float64]:
        """Output of the last convolution, ``(batch, c_L, H', W')`` (before pooling).

        The batch is processed in chunks whose activations stay under
        :data:`ACTIVATION_BYTES` (wide pruned sources have many channels).
        """
        x = self.check_input(x)
        per_image = 8 * max(c * h * w for c, (h, w) in zip(
            self.channels, self._sizes(x.shape[2:]), strict=True))
        chunk = max(1, ACTIVATION_BYTES // per_image)
        if chunk >= x.shape[0]:
            return self._features(x)
        return np.concatenate([self._features(x[s:s + chunk])
                               for s in range(0, x.shape[0], chunk)])

    def _sizes(self, size) -> list[tuple[int, int]]:
        h, w = size
        out = [(h, w)]
        for k, p in zip(self.kernel_sizes, self.paddings, strict=True):
            h, w = h + 2 * p - k + 1, w + 2 * p - k + 1
            out.append((h, w))
        return out

    def _features(self, h: NDArray[np.float64]) -> NDArray[np.float64]:
        inputs = {}                 # inputs of the layers that start a skip connection
        starts = {i for i, _ in self.skips}
        for l in range(self.depth):
            if l in starts:
                inputs[l] = h
            h = conv2d(h, self.kernels[l], self.paddings[l], self.biases[l])
            for i, j in self.skips:
                if j == l:
                    if inputs[i].shape != h.shape:
                        raise ValueError(
                            f"skips: ({i}, {j}) adds images of shape {inputs[i].shape[1:]} "
                            f"to the output of layer {j} of shape {h.shape[1:]}; the layers "
                            "between must keep the image size (padding='same')")
                    h = h + inputs[i]
            if l < self.depth - 1:
                h = self.activations[l](h)
        return h

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Forward pass: ``(batch, c_L, H', W')``, or ``(batch, c_L)`` with a pooling,
        or ``(batch, n_out)`` with a head."""
        h = self.features(x)
        if self.pool == "avg":
            h = h.mean(axis=(2, 3))
        elif self.pool == "max":
            h = h.max(axis=(2, 3))
        if self.head is not None:
            h = h @ self.head.T
        return h

    # ------------------------------------------------------------- compaction
    def compact(self) -> CNN:
        """An equivalent, smaller dense CNN: hidden channels that cannot contribute are dropped.

        A hidden channel is dropped when its outgoing kernels in the next layer are all
        zero, or when its incoming kernels and bias are all zero and its activation maps
        0 to 0 (then it outputs 0 everywhere). The result computes the same function
        (up to the rounding of sums that no longer contain zero terms).

        Examples
        --------
        >>> k1 = np.ones((3, 1, 1, 1)); k1[1] = 0.0
        >>> net = CNN([k1, np.ones((1, 3, 1, 1))])
        >>> net.compact().channels
        (1, 2, 1)
        """
        ks = list(self.kernels)
        bs = list(self.biases)
        # channels that a skip connection reads or writes keep their index
        fixed = {i - 1 for i, _ in self.skips} | {j for _, j in self.skips}
        for l in range(self.depth - 1):
            if l in fixed:
                continue
            act = self.activations[l]
            dead_in = ~np.any(ks[l] != 0, axis=(1, 2, 3))
            if bs[l] is not None:
                dead_in &= bs[l] == 0
            if act.phi0 != 0.0:
                dead_in[:] = False
            dead_out = ~np.any(ks[l + 1] != 0, axis=(0, 2, 3))
            keep = ~(dead_in | dead_out)
            if not keep.any():
                keep[0] = True          # keep one (zero) channel so that shapes stay valid
            ks[l] = ks[l][keep]
            if bs[l] is not None:
                bs[l] = bs[l][keep]
            ks[l + 1] = ks[l + 1][:, keep]
        return CNN([np.ascontiguousarray(k) for k in ks], bs, self.activations, self.paddings,
                   self.pool, self.head, skips=self.skips)


def random_cnn_target(channels: Sequence[int], kernel_size: int | Sequence[int] = 3, *,
                      padding="same", bound: float = 1.0, pool: str | None = None,
                      activation: str | Activation = "relu", seed: SeedLike = None,
                      bias: float = 0.0, skips: Sequence | None = None) -> CNN:
    """A random target CNN whose filters have l1 norm ``bound``.

    Entries are drawn N(0, 1); every output filter ``K_l[j]`` (all its input channels and
    positions) is rescaled to ``sum |K_l[j]| = bound``, the assumption of the CNN
    theorems (da Cunha et al.): each layer is then non-expansive in the max norm.
    With ``bias > 0`` every layer gets biases uniform in ``[-bias, bias]`` (drawn after
    the kernels from their own stream: the kernels do not change); ``skips`` are
    identity skip connections (see :class:`CNN`).

    Examples
    --------
    >>> t = random_cnn_target([1, 2, 2], 3, seed=0)
    >>> t.channels, [float(np.abs(k).sum(axis=(1, 2, 3)).max().round(12)) for k in t.kernels]
    ((1, 2, 2), [1.0, 1.0])
    """
    try:
        channels = tuple(channels)
    except TypeError as exc:
        raise TypeError(f"channels must be a sequence of ints, got {channels!r}") from exc
    if len(channels) < 2:
        raise ValueError(f"channels must list at least input and output channels, "
                         f"got {channels!r}")
    channels = tuple(check_int(c, f"channels[{i}]", minimum=1) for i, c in enumerate(channels))
    L = len(channels) - 1
    sizes = (kernel_size,) * L if isinstance(kernel_size, numbers.Integral) \
        else tuple(kernel_size)
    if len(sizes) != L:
        raise ValueError(f"kernel_size must be an int or one per layer ({L}), got {sizes!r}")
    sizes = tuple(check_int(k, f"kernel_size[{i}]", minimum=1) for i, k in enumerate(sizes))
    bound = check_positive(bound, "bound")
    if isinstance(bias, bool) or not isinstance(bias, numbers.Real) or not bias >= 0.0 \
            or not np.isfinite(bias):
        raise ValueError(f"bias must be a finite number >= 0, got {bias!r}")
    ss = as_seed_sequence(seed)
    children = ss.spawn(L)
    ks = []
    for l, child in enumerate(children):
        k = np.random.default_rng(child).standard_normal(
            (channels[l + 1], channels[l], sizes[l], sizes[l]))
        k *= bound / np.abs(k).sum(axis=(1, 2, 3), keepdims=True)
        ks.append(k)
    bs = None
    if bias > 0.0:
        rng = np.random.default_rng(ss.spawn(1)[0])
        bs = [rng.uniform(-bias, bias, channels[l + 1]) for l in range(L)]
    return CNN(ks, bs, activation, padding, pool, skips=skips)
