"""Checking searched tickets: :func:`slth.verify.check`, and why a certificate may not apply.

A searched ticket (:func:`slth.lab.to_ticket`) lives on a construction's source, and the
construction's certificate (:data:`slth.verify.dispatch.CERTIFICATES`) bounds the error of
any mask on that source that has the construction's structure:

* ``pensia``, ``malach`` (:func:`slth.verify.mlp.certify_pensia`): every odd source layer
  (1, 3, ...) univariate -- each hidden neuron keeps at most its one weight to the input
  of its block; the other layers may keep anything;
* ``burkholz`` (:func:`slth.verify.mlp.certify_burkholz`): the first layer univariate
  (the bias neurons keep no input weight, the univariate neurons no bias), and the
  constant neurons of the later layers read no copy (they must not depend on the input);
* ``fischer_burkholz`` (:func:`slth.verify.mlp.certify_fischer_burkholz`): as ``pensia``,
  each hidden layer's last block of neurons keeping biases and no input weight (the
  univariate neurons no bias), the other layers no bias;
* ``cnn_unstructured``, ``cnn_structured`` (:func:`slth.verify.cnn.cnn_certified_error`):
  every 1 x 1 layer univariate.

:func:`certificate_gap` says whether a ticket's masks have that structure (and if not,
why), :func:`layout_support` gives the positions a search may keep so that they do, and
:func:`check` reports the empirical error always and the certified one where it applies.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
from numpy.typing import NDArray

from slth import bounds
from slth._validate import check_int
from slth.nets.cnn import CNN
from slth.tickets.ticket import Ticket
from slth.verify import certified_error, check_cnn, empirical_error
from slth.verify import check as verify_check
from slth.verify.cnn import cnn_empirical_error
from slth.verify.domain import resolve_domain
from slth.verify.report import Report, make_report, mlp_formula_widths

__all__ = ["certificate_gap", "check", "layout_support"]


def certificate_gap(ticket: Ticket) -> str:
    """Why the construction's certificate does not apply to ``ticket``'s masks: ``""``
    when it applies.

    The certificate itself is the judge: its structural checks raise a ``ValueError``
    naming the layer whose masks break the construction's layout, and that message is
    the reason returned.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import pensia
    >>> from slth.lab import to_ticket, to_torch
    >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4)
    >>> certificate_gap(t)
    ''
    >>> dense = to_ticket(to_torch(t.spec), t, searcher="none")   # every weight kept
    >>> certificate_gap(dense)  # doctest: +ELLIPSIS
    'ticket: layer 1 does not have the univariate layout of the construction ...'
    """
    try:
        certified_error(ticket)
    except ValueError as exc:
        return str(exc)
    return ""


def _univariate(shape, m: int, rows: int) -> NDArray[np.bool_]:
    # neuron (channel) s < rows may keep its weight to input s // m only
    out = np.zeros(shape, dtype=bool)
    s = np.arange(min(rows, shape[0]))
    if len(shape) == 4:
        out[s, s // m, 0, 0] = True
    else:
        out[s, s // m] = True
    return out


def _burkholz_support(ticket: Ticket) -> list:
    spec, p, d = ticket.spec, ticket.params, ticket.target.widths
    m, c, L = int(p["block"]), int(p["copies"]), len(d) - 1
    n_uni = m * d[0]
    out = []
    for l in range(spec.depth):
        rows, cols = spec.shape(l)
        w = np.ones((rows, cols), dtype=bool)
        b = None if not spec.bias[l] else np.ones(rows, dtype=bool)
        if l == 0:
            w = _univariate((rows, cols), m, n_uni)
            if b is not None:
                b[:n_uni] = False          # univariate neurons: no bias
        elif l == 1:
            ncopy = c * d[1] if L > 1 else d[1]
            w[ncopy:, :n_uni] = False      # constant neurons read no univariate neuron
        elif l < spec.depth - 1:
            w[c * d[l]:, :c * d[l - 1]] = False   # constant neurons read no copy
        out += [w] if b is None else [w, b]
    return out


def layout_support(ticket: Ticket) -> list[NDArray[np.bool_]]:
    """Where a mask on ``ticket``'s source may keep parameters so that the
    construction's certificate applies (see the module docstring): boolean arrays
    aligned with the source's ``parameters()``.

    Pass it as a searcher's ``support`` to search only among masks the certificate
    covers.

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import pensia
    >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4)
    >>> s = layout_support(t)
    >>> [int(a.sum()) for a in s], all(np.all(a <= b) for a, b in zip(t.masks, s))
    ([16, 48, 24, 24], True)
    """
    construction = ticket.params.get("construction")
    spec = ticket.spec
    m = int(ticket.params.get("block", 0))
    if construction in ("cnn_unstructured", "cnn_structured"):
        return [_univariate(spec.shape(l), m, spec.shape(l)[0]) if l % 2 == 0
                else np.ones(spec.shape(l), dtype=bool) for l in range(spec.depth)]
    if construction in ("pensia", "malach"):
        out = []
        for l in range(spec.depth):
            shape = spec.shape(l)
            out.append(_univariate(shape, m, shape[0]) if l % 2 == 0
                       else np.ones(shape, dtype=bool))
            if spec.bias[l]:
                out.append(np.ones(shape[0], dtype=bool))
        return out
    if construction == "burkholz":
        return _burkholz_support(ticket)
    if construction == "fischer_burkholz":
        # hidden layers: univariate blocks without biases, then the bias block (biases
        # only); output layers: any weight, no bias
        out = []
        for l in range(spec.depth):
            shape = spec.shape(l)
            if l % 2 == 0:
                n_uni = m * shape[1]
                out += [_univariate(shape, m, n_uni), np.arange(shape[0]) >= n_uni]
            else:
                out += [np.ones(shape, dtype=bool), np.zeros(shape[0], dtype=bool)]
        return out
    raise ValueError(f"ticket.params['construction'] must be one of 'pensia', 'malach', "
                     f"'burkholz', 'fischer_burkholz', 'cnn_unstructured', 'cnn_structured', "
                     f"got {construction!r}")


def check(ticket: Ticket, radius: float | None = None, samples: int | None = None, seed=0, *,
          norm: str | None = None) -> Report:
    """:func:`slth.verify.check`, or, when the construction's certificate does not apply
    to the ticket's masks, the empirical error alone.

    Parameters as :func:`slth.verify.check`; ``samples`` defaults to that of
    :func:`slth.verify.check` (2048) for MLP tickets and of :func:`slth.verify.check_cnn`
    (512) for CNN tickets, which are checked on max-norm inputs (``norm`` ``"inf"`` or
    None).

    Returns
    -------
    Report
        Where the certificate does not apply: ``certified`` is ``inf`` and ``choices``
        ends with ``"no certificate: <reason>"`` (:func:`certificate_gap`).

    Examples
    --------
    >>> from slth.nets import random_target
    >>> from slth.tickets import pensia
    >>> from slth.lab import to_ticket, to_torch
    >>> t = pensia(random_target([2, 3, 1], seed=0), eps=0.1, delta=0.1, seed=1, n=4)
    >>> r = check(to_ticket(to_torch(t.spec), t, searcher="none"), samples=64)
    >>> r.certified, r.choices[-1][:40]
    (inf, 'no certificate: ticket: layer 1 does not')
    """
    cnn = isinstance(ticket.target, CNN)
    if cnn and norm not in (None, "inf"):
        raise ValueError(f"norm must be 'inf' (or None) for CNN tickets (max-norm inputs "
                         f"and errors), got {norm!r}")
    samples = (512 if cnn else 2048) if samples is None else samples
    gap = certificate_gap(ticket)
    if not gap:
        if cnn:
            return check_cnn(ticket, radius, samples, seed)
        return verify_check(ticket, radius, samples, seed, norm=norm)
    t0 = time.perf_counter()
    if cnn:
        radius, norm, note = resolve_domain(ticket, radius, "inf", norms=("inf",))
        emp, worst = cnn_empirical_error(ticket, radius, check_int(samples, "samples",
                                                                   minimum=1), seed)
        formula = bounds.cnn_widths(ticket.target.channels, int(ticket.params["formula_n"]))
    else:
        radius, norm, note = resolve_domain(ticket, radius, norm)
        emp, worst = empirical_error(ticket, radius, samples, seed, norm=norm)
        formula = mlp_formula_widths(ticket)
    report = make_report(ticket, emp, math.inf, worst, [], formula, radius, norm,
                         {"empirical": time.perf_counter() - t0}, note)
    return dataclasses.replace(report, choices=(*report.choices, f"no certificate: {gap}"))
