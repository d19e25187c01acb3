"""The entry points that dispatch on a ticket's construction: :func:`check` and
:func:`certified_error`.

The certificates (:mod:`slth.verify.mlp`, :mod:`slth.verify.cnn`) are registered here by
construction name, in :data:`CERTIFICATES`: this module imports them, the search and the
report, and none of them imports it.
"""

from __future__ import annotations

import time

from slth._validate import check_int
from slth.tickets.ticket import Ticket
from slth.verify.burkholz_cnn import certify_burkholz_cnn, check_burkholz_cnn
from slth.verify.cnn import certify_cnn, check_cnn
from slth.verify.domain import resolve_domain
from slth.verify.fold import shared_folds
from slth.verify.mlp import (
    ABS_SLACK,
    REL_SLACK,
    certify_burkholz,
    certify_fischer_burkholz,
    certify_orseau,
    certify_pensia,
)
from slth.verify.report import Report, make_report, mlp_formula_widths
from slth.verify.search import empirical_error

__all__ = ["CERTIFICATES", "certified_error", "check"]

#: The certificate of each construction: ``(ticket, radius, norm) -> (bound, layers)``,
#: the bound before the rounding slack.
CERTIFICATES = {"pensia": certify_pensia, "orseau": certify_orseau, "burkholz": certify_burkholz,
                "fischer_burkholz": certify_fischer_burkholz,
                "cnn_unstructured": certify_cnn, "cnn_structured": certify_cnn,
                # malach keeps one pair per weight in pensia's layout: the same certificate
                "malach": certify_pensia,
                "burkholz_cnn": certify_burkholz_cnn, "burkholz_cnn_2l": certify_burkholz_cnn}


def certified_error(ticket: Ticket, radius: float | None = None, norm: str | None = None):
    """Rigorous upper bound on ``sup ||target(x) - ticket(x)||_2`` over the ball.

    The ball is the ticket's own (:attr:`~slth.tickets.Ticket.domain`) unless ``radius``
    or ``norm`` say otherwise.

    The bound is recomputed from the pruned network: for every target weight the
    effective weight the ticket realises (a sum of kept source weights or products of
    them), its error against the target, the exactly known constants of the bias
    neurons, and for smooth activations the tangent remainder of the first layer.
    Errors are propagated layer by layer: per coordinate (interval bounds of the target's
    activations, absolute values of the kept weights, the activation's Lipschitz
    constant) and, for the depth-2L construction, also in the l2 norm with spectral
    norms; the smaller bound is reported. CNN tickets get
    :func:`~slth.verify.cnn.cnn_certified_error` (``norm`` must then be ``"inf"``). The
    certificate is chosen by the ticket's construction in :data:`CERTIFICATES`; a relative
    :data:`~slth.verify.mlp.REL_SLACK` and an absolute :data:`~slth.verify.mlp.ABS_SLACK`
    are added for rounding.

    Returns
    -------
    (float, list of dict)
        The bound and per-layer details.

    Raises
    ------
    ValueError
        If the ticket's masks do not have the layout of its construction.
    """
    radius, norm, _ = resolve_domain(ticket, radius, norm)
    construction = ticket.params.get("construction")
    if construction not in CERTIFICATES:
        raise ValueError(f"ticket.params['construction'] must be one of {tuple(CERTIFICATES)}, "
                         f"got {construction!r}")
    bound, layers = CERTIFICATES[construction](ticket, radius, norm)
    return float(bound) * (1 + REL_SLACK) + ABS_SLACK, layers


def check(ticket: Ticket, radius: float | None = None, samples: int = 2048, seed=0, *,
          norm: str | None = None, starts: int = 4, maxiter: int = 50) -> Report:
    """Empirical and certified error of a ticket on the ball, next to the theorem's eps.

    Parameters
    ----------
    ticket : Ticket
    radius : float, optional
        Radius of the input ball (default: the ticket's, :attr:`Ticket.domain`).
    samples : int
        Random inputs (half inside the ball, half on its boundary).
    seed : int, Generator or None
        Seed of the random inputs.
    norm : {"l2", "inf"}, optional
        Norm of the input ball (default: the ticket's; the output error is always
        measured in l2 for MLP tickets; CNN tickets: ``"inf"`` only, see
        :func:`~slth.verify.cnn.check_cnn`).
    starts, maxiter : int
        Local maximisations from the worst samples, and their iteration cap.

    Returns
    -------
    Report
        On another ball than the ticket's, ``report.domain_note`` says so (the theorem's
        eps is for the ticket's ball).
    """
    if not isinstance(ticket, Ticket):
        raise TypeError(f"ticket must be a slth.tickets.Ticket, got {type(ticket).__name__}")
    if ticket.params.get("construction") in ("burkholz_cnn", "burkholz_cnn_2l"):
        if norm is not None and norm != "inf":
            raise ValueError(f"norm must be 'inf' (or None) for CNN tickets (max-norm inputs "
                             f"and errors), got {norm!r}")
        return check_burkholz_cnn(ticket, radius, samples, seed)
    if str(ticket.params.get("construction", "")).startswith("cnn_"):
        if norm is not None and norm != "inf":
            raise ValueError(f"norm must be 'inf' (or None) for CNN tickets (max-norm inputs "
                             f"and errors), got {norm!r}")
        return check_cnn(ticket, radius, samples, seed)
    radius, norm, note = resolve_domain(ticket, radius, norm)
    samples = check_int(samples, "samples", minimum=1)
    starts = check_int(starts, "starts", minimum=0)
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    t0 = time.perf_counter()
    with shared_folds():           # the search and the certificate fold the same layers
        emp, worst = empirical_error(ticket, radius, samples, seed, norm=norm,
                                     starts=starts, maxiter=maxiter)
        t1 = time.perf_counter()
        cert, layers = certified_error(ticket, radius, norm)
    t2 = time.perf_counter()
    return make_report(ticket, emp, cert, worst, layers, mlp_formula_widths(ticket), radius,
                       norm, {"empirical": t1 - t0, "certified": t2 - t1}, note)

