"""Certified errors of MLP tickets: a rigorous upper bound per construction family.

Each certificate recomputes, from the pruned network itself, the effective weight that
represents each target weight (through the folded layers of :mod:`slth.verify.fold`),
and propagates their errors through the layers with the target's interval and norm
bounds (:func:`slth.nets.norms.target_bounds`), Lipschitz constants and spectral norms
(:func:`slth.nets.norms.opnorm`):

* :func:`certify_pensia`: depth 2L, ReLU (:func:`slth.tickets.pensia`);
* :func:`certify_orseau`: depth 2L, ReLU, one block per target weight
  (:func:`slth.tickets.orseau`);
* :func:`certify_fischer_burkholz`: depth 2L, ReLU, with bias blocks
  (:func:`slth.tickets.fischer_burkholz`);
* :func:`certify_burkholz`: depth L+1, ReLU-like and smooth activations
  (:func:`slth.tickets.burkholz`).

Both return the bound before the rounding slack (:data:`REL_SLACK`, :data:`ABS_SLACK`)
that :func:`slth.verify.certified_error` adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from slth.nets.mlp import MLP
from slth.nets.norms import dual_norms, opnorm, target_bounds
from slth.tickets.ticket import Ticket, read_columns
from slth.verify.fold import check_univariate, column_subset, folded_layer, zero_input_response

__all__ = ["REL_SLACK", "ABS_SLACK", "certify_pensia", "certify_orseau", "certify_burkholz",
           "certify_fischer_burkholz"]

#: Relative and absolute slack added to certified bounds for floating-point rounding.
REL_SLACK, ABS_SLACK = 1e-9, 1e-12


def certify_pensia(ticket: Ticket, radius: float, norm: str):
    """Certified error of a depth-2L ticket before the slack, and per-layer details:
    per coordinate and in the l2 norm, the smaller of the two per layer."""
    return _certify_pairs(ticket, radius, norm, with_bias_block=False)


def certify_fischer_burkholz(ticket: Ticket, radius: float, norm: str):
    """Certified error of a depth-2L ticket with bias blocks (Fischer & Burkholz) before
    the slack, and per-layer details.

    As :func:`certify_pensia`, with each layer's bias error ``|b_hat - b|`` added: the
    bias ``b_hat`` the ticket realises is the output layer's response to the kept bias
    neurons (no input weight, output ``relu(c)``) plus its own kept biases. Checks the
    layout first: the univariate neurons keep no bias (it would shift ``relu(u x)``).
    """
    return _certify_pairs(ticket, radius, norm, with_bias_block=True)


def _certify_pairs(ticket: Ticket, radius: float, norm: str, with_bias_block: bool):
    t = ticket.target.dense()
    P, A = target_bounds(t, radius, norm)
    # input blocks per layer pair: one size for pensia, one per pair for orseau
    blocks = ticket.params.get("input_blocks") or [int(ticket.params["block"])] * t.depth
    layers = []
    delta = D = None
    for l in range(t.depth):
        w = t.weights[l]
        U = ticket.weights[2 * l]
        m = int(blocks[l])
        n_uni = m * w.shape[1] if with_bias_block else U.shape[0]
        check_univariate(U, m, n_uni, f"layer {2 * l + 1}")
        bmask = ticket.bias_masks[2 * l]
        if bmask is not None and np.any(bmask[:n_uni]):
            raise ValueError(f"ticket: layer {2 * l + 1} keeps the bias of a univariate neuron")
        F = folded_layer(ticket, 2 * l)
        Ahat = F[:, :w.shape[1]]
        eA, eB = Ahat - w, -F[:, w.shape[1]:] - w
        # the realised bias: the bias neurons' constants through the next layer, and its
        # own kept biases (zero for a ticket without bias neurons)
        bhat = zero_input_response(ticket, 2 * l).copy()
        if ticket.biases[2 * l + 1] is not None:
            bhat += ticket.biases[2 * l + 1]
        eb = np.abs(bhat - (0.0 if t.biases[l] is None else t.biases[l]))
        if l == 0:
            # g(x) - W x - b = eA relu(x) - eB relu(-x) + eb; (relu(x), relu(-x)) has the
            # norm of x
            c = np.maximum(np.abs(eA), np.abs(eB))
            delta = radius * dual_norms(c, norm) + eb
            D = opnorm(np.hstack([eA, eB])) * A[0] + float(np.linalg.norm(eb))
        else:
            # inputs are ReLU outputs (>= 0): g(a) = Ahat a + bhat exactly
            c = np.abs(eA)
            delta = np.minimum(c @ P[l], np.linalg.norm(c, axis=1) * A[l]) \
                + np.abs(Ahat) @ delta + eb
            D = opnorm(eA) * A[l] + opnorm(Ahat) * D + float(np.linalg.norm(eb))
        D = min(D, float(np.linalg.norm(delta)))
        layers.append({"layer": l + 1, "max_weight_error": float(c.max(initial=0.0)),
                       "max_bias_error": float(eb.max(initial=0.0)), "bound": D})
    return D, layers


def certify_orseau(ticket: Ticket, radius: float, norm: str):
    """Certified error of a hyperbolic depth-2L ticket (one block per target weight)
    before the slack, and per-layer details.

    The ticket folds like a depth-2L ticket whose input blocks hold ``d_out`` per-weight
    blocks each, and gets :func:`certify_pensia`'s bound (which recomputes the effective
    weights from the kept entries, whatever the blocks). Checked first: output ``i`` keeps
    only neurons of its own blocks (the construction's layout).

    Raises
    ------
    ValueError
        If an output layer keeps a neuron of another output's block.
    """
    m = int(ticket.params["block"])
    widths = ticket.target.widths
    for l in range(ticket.target.depth):
        V = ticket.weights[2 * l + 1].tocsr()
        rows = np.repeat(np.arange(V.shape[0]), np.diff(V.indptr))
        if np.any((V.indices // m) % widths[l + 1] != rows):
            raise ValueError(f"ticket: layer {2 * l + 2} keeps a weight outside its output's "
                             "per-weight blocks (not the layout of the orseau construction)")
    return certify_pensia(ticket, radius, norm)


@dataclass(frozen=True)
class _Rows:
    """The rows of a burkholz ticket's later source layers: ``copies`` copies of each
    neuron of the target's hidden layer, then its bias neurons (constant ``tau``)."""

    ticket: Ticket
    target: MLP                 # dense
    copies: int
    tau: float

    def targets(self, l: int, r: NDArray[np.int64]):
        """Target weights, biases and constant flags of rows ``r`` of source layer ``l + 2``."""
        t, c, d = self.target, self.copies, self.target.widths
        if l == t.depth - 1:
            j, const = r, np.zeros(r.size, bool)
        else:
            j, const = np.minimum(r // c, d[l + 1]), r >= c * d[l + 1]
        wrow = np.zeros((r.size, d[l]))
        wrow[~const] = t.weights[l][j[~const]]
        brow = np.full(r.size, self.tau)
        b = t.biases[l]
        brow[~const] = 0.0 if b is None else b[j[~const]]
        return wrow, brow, const

    def reads(self, l: int) -> NDArray[np.bool_]:
        """Copies of target layer ``l``'s neurons that the next source layer reads."""
        L, d = self.target.depth, self.target.widths
        if l == L - 1:
            return np.ones(d[L], dtype=bool)
        return read_columns(self.ticket.weights[l + 2])[: self.copies * d[l + 1]]


class _Bounds(NamedTuple):
    """The error bounds of one layer's read copies that the next layer propagates."""

    D: float                    # l2 norm of the errors of all read copies
    delta: NDArray[np.float64]  # per read copy (absolute values)
    used: NDArray[np.bool_]     # the read copies among the layer's copies
    const_out: NDArray[np.float64]  # outputs of the layer's constant neurons


class _Linear(NamedTuple):
    """The first layer's errors as ``ell . y + k(x)``: ``||y|| <= rho``, ``ell`` without
    its outliers of spectral norm ``ell_norm``, ``|k_r| <= kappa_r`` (outliers included)."""

    rho: float
    ell_norm: float
    kappa: NDArray[np.float64]


def certify_burkholz(ticket: Ticket, radius: float, norm: str):
    """Certified error of a depth-L+1 ticket before the slack, and per-layer details.

    Two bounds travel through the layers: ``delta`` per copy (absolute values) and
    ``D``, the l2 norm of the errors of all copies the next layer reads (spectral norms,
    so that errors of different copies may cancel). Copies nobody reads do not reach the
    output and are left out: only the read copies and the constant neurons (checked not
    to depend on the input) are bounded: first those of source layer 2 (the univariate
    layer and the next), then layer after layer.
    """
    t = ticket.target.dense()
    P, A = target_bounds(t, radius, norm)
    prm = ticket.params
    m, c, tau = int(prm["block"]), int(prm["copies"]), float(prm["tau"])
    n_uni = m * t.widths[0]
    check_univariate(ticket.weights[0], m, n_uni, "layer 1")
    if np.any(ticket.bias_masks[0][:n_uni]):
        raise ValueError("ticket: layer 1 keeps the bias of a univariate neuron")
    rows = _Rows(ticket, t, c, tau)
    bounds, linear, record = _first_layer(rows, radius, norm, A)
    layers = [record]
    for l in range(1, t.depth):
        bounds, record = _later_layer(rows, l, P, A, bounds, linear if l == 1 else None)
        layers.append(record)
    return bounds.D, layers


def _first_layer_errors(rows: _Rows, r: NDArray[np.int64], wrow: NDArray[np.float64],
                        radius: float, norm: str, A0: float):
    """The linear part ``ell`` of the errors of rows ``r`` of source layer 2 (against the
    target weights ``wrow``), its per-coordinate factor ``cmat``, the remainder ``lin``
    and ``rho`` (``||y|| <= rho``)."""
    ticket, d = rows.ticket, rows.target.widths
    act = ticket.spec.activations[0]
    if act.homogeneous:
        a = act.slope_neg
        # error of a copy = ell . (phi(x), phi(-x)) + const; ||(phi(x), phi(-x))|| <= rho,
        # with ell = [V U+ - w / (1 + a), -(V U- - w / (1 + a))]
        wa = wrow / (1 + a)
        F = folded_layer(ticket, 0, r)
        ell = np.empty(F.shape)
        np.subtract(F[:, :d[0]], wa, out=ell[:, :d[0]])
        np.add(F[:, d[0]:], wa, out=ell[:, d[0]:])
        del wa, F
        eA, eB = np.abs(ell[:, :d[0]]), np.abs(ell[:, d[0]:])
        cmat = np.maximum(eA, eB, out=eA) if a == 0.0 else np.maximum(eA + a * eB,
                                                                      a * eA + eB)
        del eA, eB
        lin = np.zeros(r.size)
        rho = np.sqrt(1.0 + a * a) * A0
    else:
        K, p = act.remainder
        U1 = ticket.weights[0]
        Vr = ticket.weights[1].tocsr()[r]
        ell = np.asarray((Vr @ U1).toarray()) * act.dphi0 - wrow  # linear part of the error
        cmat = np.abs(ell)
        Up = U1.copy()
        Up.data = K * np.abs(Up.data) ** p
        C = np.asarray((abs(Vr) @ Up).toarray())
        lin = radius**p * (C.max(axis=1) if (norm == "l2" and p >= 2) else C.sum(axis=1))
        rho = A0
    return ell, cmat, lin, rho


def _split_outliers(ell_u: NDArray[np.float64]):
    """Split the entries of ``ell_u`` above four times their root mean square off, in
    place (``ell_u`` keeps the others). Returns the spectral norm bounds of ``ell_u``
    before and after, the outliers (sparse), their rows and their values."""
    cut = 4.0 * np.sqrt(np.vdot(ell_u, ell_u) / ell_u.size) if ell_u.size else 0.0
    full_norm = opnorm(ell_u)
    out_r, out_c = np.nonzero(np.abs(ell_u) > cut)
    out_v = ell_u[out_r, out_c]
    outliers = sparse.csr_matrix((out_v, (out_r, out_c)), shape=ell_u.shape)
    ell_u[out_r, out_c] = 0.0
    ell_norm = opnorm(ell_u)
    return full_norm, ell_norm, outliers, out_r, out_v


def _first_layer(rows: _Rows, radius: float, norm: str, A: list):
    """Bounds of the errors of source layer 2 (the univariate layer and the next): its
    read copies' ``_Bounds``, their ``_Linear`` form and the layer's record."""
    ticket, d, c, L = rows.ticket, rows.target.widths, rows.copies, rows.target.depth
    act = ticket.spec.activations[0]
    ncopy = c * d[1] if L > 1 else d[1]
    r = np.concatenate([np.flatnonzero(rows.reads(0)),
                        np.arange(ncopy, ticket.weights[1].shape[0])])
    wrow, brow, const = rows.targets(0, r)
    # bias neurons' constants, and the univariate neurons at x = 0 (offset term)
    pre_const = zero_input_response(ticket, 0)[r]
    ell, cmat, lin, rho = _first_layer_errors(rows, r, wrow, radius, norm, A[0])
    delta = radius * dual_norms(cmat, norm) + lin + np.abs(pre_const - brow)
    if np.any(delta[const] > np.abs(pre_const - brow)[const] * (1 + 1e-12) + 1e-300):
        raise ValueError("ticket: a constant neuron of layer 2 depends on the input")
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
    n_read = int(np.count_nonzero(copies))      # the read copies come first in ``r``
    full_norm, ell_norm, outliers, out_r, out_v = _split_outliers(ell[:n_read])
    kappa0 = (lin + np.abs(pre_const - brow))[copies]
    kappa = kappa0 + rho * np.sqrt(np.bincount(out_r, out_v**2, minlength=n_read))
    delta_u = delta[copies]
    D = min(float(np.linalg.norm(delta_u)), rho * ell_norm + float(np.linalg.norm(kappa)),
            rho * min(full_norm, ell_norm + opnorm(outliers)) + float(np.linalg.norm(kappa0)))
    record = {"layer": 1, "max_weight_error": float(cmat.max(initial=0.0)), "bound": D}
    bounds = _Bounds(D, delta_u, rows.reads(0), act(pre_const[const]))
    return bounds, _Linear(rho, ell_norm, kappa), record


def _later_layer(rows: _Rows, l: int, P: list, A: list, prev: _Bounds,
                 linear: _Linear | None):
    """Bounds of the errors of source layer ``l + 2`` (target layer ``l + 1``) from those
    of the layer before (``prev``; ``linear``: the first layer's linear form, or None)."""
    ticket, d, c = rows.ticket, rows.target.widths, rows.copies
    act = ticket.spec.activations[0]
    V = ticket.weights[l + 1].tocsr()
    ncopy = c * d[l]
    used_next = rows.reads(l)
    nnext = used_next.size
    r = np.concatenate([np.flatnonzero(used_next), np.arange(nnext, V.shape[0])])
    wrow, brow, const = rows.targets(l, r)
    V = V[r]
    Vc, Vk = V[:, :ncopy], V[:, ncopy:]
    agg = sparse.csr_matrix((np.ones(ncopy), np.arange(ncopy) // c, np.arange(ncopy + 1)),
                            shape=(ncopy, d[l]))
    W_eff = np.asarray((Vc @ agg).toarray())
    e_signed = W_eff - wrow
    e = np.abs(e_signed)
    pre_const = np.asarray(Vk @ prev.const_out).ravel()
    eb = np.abs(pre_const - brow)
    if np.any(np.diff(Vc.tocsr().indptr)[const] > 0):
        raise ValueError(f"ticket: a constant neuron of layer {l + 2} depends on the input")
    Vu = column_subset(Vc, np.flatnonzero(prev.used))
    absVu = abs(Vu)
    row_norm = np.sqrt(np.asarray(absVu.power(2).sum(axis=1)).ravel())
    # per row: absolute values, or Cauchy-Schwarz against the l2 bound
    prop = np.minimum(absVu @ prev.delta, row_norm * prev.D)
    if linear is not None:
        prop = np.minimum(prop, linear.rho * linear.ell_norm * row_norm
                          + absVu @ linear.kappa)
    del absVu
    direct = np.minimum(e @ P[l], np.linalg.norm(e, axis=1) * A[l])
    delta = direct + act.lipschitz * prop + eb
    sel = ~const
    # the direct errors of all read copies are E a (a: the target's activations), E
    # signed: errors of either sign in a row may cancel, and ||E|| <= || |E| ||
    direct_l2 = min(float(np.linalg.norm(direct[sel])), opnorm(e_signed[sel]) * A[l])
    D = min(float(np.linalg.norm(delta[sel])),
            act.lipschitz * opnorm(Vu[sel]) * prev.D + direct_l2
            + float(np.linalg.norm(eb[sel])))
    record = {"layer": l + 1, "max_weight_error": float(e[sel].max(initial=0.0)), "bound": D}
    return _Bounds(D, delta[sel], used_next, act(pre_const[const])), record
