"""slth networks and ticket sources as PyTorch modules with frozen weights and masks, and
searched masks back to slth tickets.

:func:`to_torch` turns an :class:`~slth.nets.MLP`, a :class:`~slth.nets.CNN`, a source spec
(:class:`~slth.tickets.SourceSpec`, :class:`~slth.tickets.ConvSourceSpec`: the same seed gives
the same source, drawn layer by layer) or a ticket (its source, with its masks) into a
:class:`MaskedMLP` or :class:`MaskedCNN`: every parameter is frozen
(``requires_grad=False``) and carries one 0/1 mask, registered by
``torch.prune.custom_from_mask`` (a buffer ``<name>_mask`` beside the parameter
``<name>_orig``; the forward pass uses ``<name>_orig * <name>_mask``). :func:`to_ticket`
turns a module's masks back into a ticket of the same type as the construction's, on the
same source: its pruned parameters are the source's (redrawn from the seed, in float64)
times the masks, exactly.

Examples
--------
>>> import numpy as np
>>> from slth.nets import random_target
>>> from slth.lab import to_torch
>>> net = random_target([3, 5, 2], seed=0)
>>> m = to_torch(net)
>>> x = np.random.default_rng(0).uniform(-1, 1, (4, 3))
>>> bool(np.allclose(m(torch.from_numpy(x)).numpy(), net(x), rtol=0, atol=1e-12))
True
>>> [tuple(k.shape) for k in m.masks()]
[(5, 3), (2, 5)]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from slth.lab._torch import nn, prune, torch
from slth.nets.activations import Activation
from slth.nets.cnn import CNN
from slth.nets.mlp import MLP
from slth.tickets.cnn import CNNTicket, ConvSourceSpec
from slth.tickets.ticket import SourceSpec, Ticket, gather_csr

__all__ = ["MaskedMLP", "MaskedCNN", "to_torch", "to_ticket", "torch_dtype"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def torch_dtype(dtype) -> torch.dtype:
    """``torch.float64`` or ``torch.float32`` (also given by name).

    Examples
    --------
    >>> torch_dtype("float32")
    torch.float32
    """
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype in _DTYPES.values():
        return dtype
    raise ValueError(f"dtype must be torch.float64 or torch.float32 (or their names), "
                     f"got {dtype!r}")


class _Act(nn.Module):
    """An slth activation as a torch module (the same function, in torch operations)."""

    def __init__(self, a: Activation):
        super().__init__()
        self.activation = a
        if a.name in ("relu", "leaky_relu") and a.slope_neg is not None:
            slope = float(a.slope_neg)
            # np.where(x >= 0, x, slope x), as slth computes it
            self.fn = torch.relu if slope == 0.0 else (
                lambda x: torch.where(x >= 0, x, slope * x))
        elif a.name == "tanh":
            self.fn = torch.tanh
        elif a.name == "sigmoid":
            self.fn = torch.sigmoid
        elif a.name == "softplus":
            self.fn = lambda x: torch.logaddexp(torch.zeros_like(x), x)
        else:
            raise ValueError(f"activation {a.name!r} has no torch counterpart in slth.lab; "
                             "allowed: relu, leaky_relu, tanh, sigmoid, softplus")

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.activation.name


class _Masked(nn.Module):
    """What both masked networks share: the masked parameters, frozen, in slth's order."""

    def _mask_all(self, masks) -> None:
        names = self.masked_names()
        if masks is None:
            masks = [None] * len(names)
        if len(masks) != len(names):
            raise ValueError(f"masks must hold one mask per parameter ({len(names)}), "
                             f"got {len(masks)}")
        for (mod, attr), m in zip(self._slots(), masks, strict=True):
            p = getattr(mod, attr)
            p.requires_grad_(False)
            m = torch.ones_like(p) if m is None else self._as_mask(m, p, f"{mod}.{attr}")
            prune.custom_from_mask(mod, attr, m)

    @staticmethod
    def _as_mask(m, p, what: str):
        m = np.asarray(m.toarray() if sparse.issparse(m) else m)
        if m.shape != tuple(p.shape):
            raise ValueError(f"masks: the mask of {what} has shape {m.shape}, the parameter "
                             f"{tuple(p.shape)}")
        if not np.all((m == 0) | (m == 1)):
            raise ValueError(f"masks: the mask of {what} must hold 0/1 (or booleans) only")
        return torch.as_tensor(m.astype(np.float64), dtype=p.dtype)

    def _slots(self) -> list:
        """``(submodule, "weight" or "bias")`` of every masked parameter, in slth's order."""
        out = []
        for mod in self._layers():
            out.append((mod, "weight"))
            if mod.bias is not None or hasattr(mod, "bias_orig"):
                out.append((mod, "bias"))
        return out

    def masked_names(self) -> list[str]:
        """Dotted names of the masked parameters, aligned with the slth network's
        ``parameters()``; their masks are the buffers ``<name>_mask``."""
        index = {id(m): n for n, m in self.named_modules()}
        return [f"{index[id(mod)]}.{attr}" for mod, attr in self._slots()]

    def mask_buffers(self) -> list:
        """The mask buffers (torch tensors, the parameters' dtype), in slth's order."""
        return [getattr(mod, attr + "_mask") for mod, attr in self._slots()]

    def source_tensors(self) -> list:
        """The unmasked parameters (``<name>_orig``), in slth's order."""
        return [getattr(mod, attr + "_orig") for mod, attr in self._slots()]

    def masks(self) -> list[NDArray[np.bool_]]:
        """The masks as boolean arrays, aligned with the slth network's ``parameters()``."""
        return [m.detach().cpu().numpy() != 0 for m in self.mask_buffers()]

    def set_masks(self, masks) -> None:
        """Overwrite the masks (0/1 arrays aligned with :meth:`masked_names`)."""
        bufs = self.mask_buffers()
        if len(masks) != len(bufs):
            raise ValueError(f"masks must hold one mask per parameter ({len(bufs)}), "
                             f"got {len(masks)}")
        with torch.no_grad():
            for b, m, name in zip(bufs, masks, self.masked_names(), strict=True):
                b.copy_(self._as_mask(m, b, name))

    @property
    def density(self) -> float:
        """Fraction of parameters kept."""
        bufs = self.mask_buffers()
        return float(sum(float(b.sum()) for b in bufs) / sum(b.numel() for b in bufs))


class MaskedMLP(_Masked):
    """An slth MLP as a torch module: ``nn.Linear`` layers, frozen, masked; the same
    function as :class:`slth.nets.MLP` with ``weights[l] * masks``."""

    def __init__(self, weights, biases, activations, masks=None, dtype=torch.float64):
        super().__init__()
        dtype = torch_dtype(dtype)
        self.layers = nn.ModuleList()
        for w, b in zip(weights, biases, strict=True):
            w = w.toarray() if sparse.issparse(w) else np.asarray(w, dtype=np.float64)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=dtype)
            self.layers.append(_load(lin, w, b))
        self.acts = nn.ModuleList(_Act(a) for a in activations)
        self._mask_all(masks)

    def _layers(self):
        return list(self.layers)

    def forward(self, x):
        for l, lin in enumerate(self.layers):
            x = lin(x)
            if l < len(self.acts):
                x = self.acts[l](x)
        return x


def _load(layer, weight, bias):
    """``layer`` with the source's weight (and bias) copied in (cast to its dtype)."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.array(weight, dtype=np.float64)))
        if bias is not None:
            layer.bias.copy_(torch.from_numpy(np.array(bias, dtype=np.float64)))
    return layer


class MaskedCNN(_Masked):
    """An slth CNN as a torch module: ``nn.Conv2d`` layers (stride 1, the same zero
    padding), the global pooling and the linear head, frozen, masked."""

    def __init__(self, kernels, biases, activations, paddings, pool=None, head=None,
                 masks=None, dtype=torch.float64):
        super().__init__()
        dtype = torch_dtype(dtype)
        self.convs = nn.ModuleList()
        for k, b, p in zip(kernels, biases, paddings, strict=True):
            k = np.asarray(k, dtype=np.float64)
            conv = nn.Conv2d(k.shape[1], k.shape[0], k.shape[2], padding=int(p),
                             bias=b is not None, dtype=dtype)
            self.convs.append(_load(conv, k, b))
        self.acts = nn.ModuleList(_Act(a) for a in activations)
        self.pool = pool
        self.head = None
        if head is not None:
            head = np.asarray(head, dtype=np.float64)
            self.head = nn.Linear(head.shape[1], head.shape[0], bias=False, dtype=dtype)
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(np.array(head)))
        self._mask_all(masks)

    def _layers(self):
        return list(self.convs) + ([self.head] if self.head is not None else [])

    def forward(self, x):
        for l, conv in enumerate(self.convs):
            x = conv(x)
            if l < len(self.acts):
                x = self.acts[l](x)
        if self.pool == "avg":
            x = x.mean(dim=(2, 3))
        elif self.pool == "max":
            x = x.amax(dim=(2, 3))
        return x if self.head is None else self.head(x)


def to_torch(net, masks=None, dtype=torch.float64) -> MaskedMLP | MaskedCNN:
    """A torch module computing ``net`` with frozen weights and one mask per parameter.

    Parameters
    ----------
    net : MLP, CNN, SourceSpec, ConvSourceSpec or Ticket
        A network; a source spec (the source it draws from its seed, layer by layer with
        ``spec.layer(l)``); or a ticket (its source, with the ticket's masks).
    masks : sequence of arrays, optional
        0/1 masks aligned with the network's ``parameters()`` (default: all ones; a
        ticket's own masks for a ticket).
    dtype : torch.float64 (default) or torch.float32

    Returns
    -------
    MaskedMLP or MaskedCNN

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import pensia
    >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4)
    >>> m = to_torch(t)
    >>> all(np.array_equal(a, b) for a, b in zip(m.masks(), t.masks))
    True
    """
    if isinstance(net, Ticket):
        return to_torch(net.spec, net.masks if masks is None else masks, dtype)
    if isinstance(net, SourceSpec):
        ws, bs = zip(*(net.layer(l) for l in range(net.depth)), strict=True)
        return MaskedMLP(ws, bs, net.activations, masks, dtype)
    if isinstance(net, ConvSourceSpec):
        ks = [net.layer(l) for l in range(net.depth)]
        return MaskedCNN(ks, [None] * net.depth, net.activations, net.paddings, net.pool,
                         None, masks, dtype)
    if isinstance(net, MLP):
        return MaskedMLP(net.weights, net.biases, net.activations, masks, dtype)
    if isinstance(net, CNN):
        return MaskedCNN(net.kernels, net.biases, net.activations, net.paddings, net.pool,
                         net.head, masks, dtype)
    raise TypeError(f"net must be an slth MLP, CNN, SourceSpec, ConvSourceSpec or Ticket, "
                    f"got {type(net).__name__}")


def _source_arrays(ticket: Ticket) -> list[NDArray[np.float64]]:
    """The ticket's source parameters (dense, float64), redrawn from its seed."""
    spec = ticket.spec
    if isinstance(spec, ConvSourceSpec):
        return [spec.layer(l) for l in range(spec.depth)]
    out = []
    for l in range(spec.depth):
        w, b = spec.layer(l)
        out += [w] if b is None else [w, b]
    return out


def _check_unchanged(module: _Masked, source: list) -> None:
    """Refuse a module whose weights are not the source's (fine-tuned, or another source)."""
    tensors = module.source_tensors()
    if len(tensors) != len(source):
        raise ValueError(f"module has {len(tensors)} masked parameters, the ticket's source "
                         f"{len(source)}: not this ticket's source")
    for name, t, s in zip(module.masked_names(), tensors, source, strict=True):
        if tuple(t.shape) != s.shape or not torch.equal(
                t.detach(), torch.from_numpy(np.array(s)).to(t.dtype)):
            raise ValueError(f"module: {name} differs from the ticket's source (fine-tuned "
                             "weights, or another source): a ticket only prunes its source")


def to_ticket(module: _Masked, ticket: Ticket, *, searcher: str, masks=None,
              timings: dict | None = None) -> Ticket:
    """The ticket whose masks are ``module``'s (or ``masks``) on ``ticket``'s source.

    Parameters
    ----------
    module : MaskedMLP or MaskedCNN
        Holds ``ticket``'s source (as :func:`to_torch` ``(ticket)`` or ``(ticket.spec)``
        made it: checked, weights unchanged) and the masks to keep.
    ticket : Ticket
        A construction's ticket: its target, source spec (the same seed) and ``params``.
    searcher : str
        Who found the masks (``"edge_popup"``, ``"gem_miner"``, ...): recorded in
        ``params["searcher"]`` and in ``params["choices"]``, which
        :func:`slth.verify.check` reports. ``params["construction"]`` stays the
        construction whose source layout, width formula and certificate apply.
    masks : sequence of arrays, optional
        Masks to use instead of the module's.
    timings : dict, optional
        Recorded as the ticket's timings.

    Returns
    -------
    Ticket or CNNTicket
        Of ``ticket``'s type; pruned parameters are the source's (float64, redrawn from the
        seed) times the masks, exactly; ``errors`` is empty (no subset sums were solved).

    Raises
    ------
    ValueError
        If the module's weights differ from the source's (a fine-tuned network is not a
        ticket), or the masks do not fit.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import pensia
    >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4)
    >>> u = to_ticket(to_torch(t), t, searcher="copy")
    >>> all((a != b).nnz == 0 for a, b in zip(u.weights, t.weights)), u.params["searcher"]
    (True, 'copy')
    """
    if not isinstance(module, _Masked):
        raise TypeError(f"module must be a MaskedMLP or MaskedCNN, got {type(module).__name__}")
    if not isinstance(ticket, Ticket):
        raise TypeError(f"ticket must be a slth.tickets.Ticket, got {type(ticket).__name__}")
    if not isinstance(searcher, str) or not searcher:
        raise ValueError(f"searcher must name who found the masks, got {searcher!r}")
    source = _source_arrays(ticket)
    _check_unchanged(module, source)
    if masks is not None:
        module.set_masks(masks)
    ms = module.masks()
    params = dict(ticket.params)
    params["searcher"] = searcher
    params["choices"] = (*tuple(ticket.params.get("choices", ())),
                         f"masks found by {searcher} (slth.lab), not by the construction's "
                         "subset sums")
    timings = dict(timings or {})
    if isinstance(ticket, CNNTicket):
        weights = tuple(np.where(m, s, 0.0) for s, m in zip(source, ms, strict=True))
        return CNNTicket(ticket.target, ticket.spec, weights, (None,) * len(ms),
                         (None,) * len(ms), {}, params, timings, tuple(ms))
    weights, biases, bmasks = [], [], []
    k = 0
    for l in range(ticket.spec.depth):
        w, m = source[k], ms[k]
        r, c = np.nonzero(m)
        weights.append(gather_csr(w.shape, [r], [c], [w[r, c]]))
        k += 1
        if ticket.spec.bias[l]:
            biases.append(np.where(ms[k], source[k], 0.0))
            bmasks.append(ms[k])
            k += 1
        else:
            biases.append(None)
            bmasks.append(None)
    return Ticket(ticket.target, ticket.spec, tuple(weights), tuple(biases), tuple(bmasks), {},
                  params, timings)
