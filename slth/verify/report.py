"""The report of a check: the empirical and certified errors next to the theorem's eps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from slth import bounds
from slth.nets.activations import same_activation
from slth.tickets.ticket import Ticket

__all__ = ["Report", "activation_note", "make_report", "mlp_formula_widths", "tolerance_note"]


@dataclass(frozen=True)
class Report:
    """Result of :func:`slth.verify.check`.

    Attributes
    ----------
    empirical : float
        Lower bound on the sup error (largest error found).
    certified : float
        Upper bound on the sup error.
    eps : float
        The theorem's accuracy.
    ok : bool
        ``empirical <= certified``, and, when ``n >= formula_n``, ``certified <= eps`` and
        the target meets the theorem's assumptions.
    meets_eps : bool
        ``certified <= eps`` (the ticket is certified eps-close whatever its width).
    at_formula_width : bool
        ``n >= formula_n``.
    formula_n : int
        The ``n`` of the paper's width formula in :mod:`slth.bounds`, evaluated with the
        constant ``C`` in use (which the papers do not give: see :attr:`formula`).
    formula_widths : tuple
        The source widths at ``formula_n``.
    formula : str
        Which formula and which ``C``, and where that ``C`` comes from
        (:meth:`slth.bounds.WidthFormula.label`).
    widths, used_widths : tuple of int
        The source's widths, and those of its neurons that take part in the pruned
        network's function (:meth:`slth.tickets.Ticket.used_neurons`).
    radius, norm
        The input ball checked.
    domain_note : str
        Empty when the ball checked is the ticket's own (:attr:`Ticket.domain`, the one
        eps and the construction's accuracy targets are for); otherwise which ball was
        checked and which one the ticket was built for.
    activation_note : str
        Empty when the certificate rests on proved activation constants; otherwise names
        the custom activations (:func:`slth.nets.activations.custom`) whose declared
        constants it rests on (tested on grids, not proved).
    choices : tuple of str
        This package's choices in use where the construction departs from its paper
        (``Ticket.params["choices"]``, e.g. the depth-L+1 linear-regime scale).
    above_tolerance : str
        Empty, or how many of the construction's subset-sum problems ended above their
        tolerance (:func:`tolerance_note`).
    certificates : dict
        Every certificate computed, by name (CNN tickets:
        :func:`slth.verify.cnn.cnn_certificates`), or the reason it was skipped (a
        string); ``certified`` is the smallest. Empty when there is one certificate.
    """

    empirical: float
    certified: float
    eps: float
    ok: bool
    meets_eps: bool
    at_formula_width: bool
    n: int
    formula_n: int
    widths: tuple
    formula_widths: tuple
    formula: str
    radius: float
    norm: str
    construction: str
    worst_input: NDArray[np.float64] = field(repr=False)
    assumption_violations: tuple = ()
    layers: tuple = field(default=(), repr=False)
    seconds: dict = field(default_factory=dict)
    used_widths: tuple = ()
    domain_note: str = ""
    activation_note: str = ""
    choices: tuple = ()
    certificates: dict = field(default_factory=dict)
    above_tolerance: str = ""

    def summary(self) -> dict:
        """Flat dict of the headline figures; ``choices``, ``domain_note`` and
        ``activation_note`` only when they are not empty."""
        out = {
            "construction": self.construction, "empirical": self.empirical,
            "certified": self.certified, "eps": self.eps, "ok": self.ok,
            "meets_eps": self.meets_eps, "at_formula_width": self.at_formula_width,
            "n": self.n, "formula_n": self.formula_n,
            "source_widths": "-".join(map(str, self.widths)),
            "used_widths": "-".join(map(str, self.used_widths)),
            "formula_widths": "-".join(map(str, self.formula_widths)),
            "formula": self.formula,
            "radius": self.radius, "norm": self.norm,
            "assumption_violations": "; ".join(self.assumption_violations) or "none",
        }
        if self.choices:
            out["choices"] = "; ".join(self.choices)
        if self.certificates:
            out["certificates"] = "; ".join(
                f"{k}: {v}" if isinstance(v, str) else f"{k}: {v:.6g}"
                for k, v in self.certificates.items())
        for key in ("domain_note", "activation_note", "above_tolerance"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def __str__(self) -> str:
        return "\n".join(f"{k:>22}: {v}" for k, v in self.summary().items())


def mlp_formula_widths(ticket: Ticket) -> tuple:
    """The source widths of an MLP ticket's construction (pensia, orseau, malach or burkholz) at
    ``formula_n``: the paper's width formula in :mod:`slth.bounds`, with the ``C`` in use."""
    p = ticket.params
    w = ticket.target.widths
    if p["construction"] in ("pensia", "malach"):
        return bounds.pensia_widths(w, int(p["formula_n"]))
    if p["construction"] == "orseau":
        return bounds.orseau_widths(w, int(p["formula_n"]))
    if p["construction"] == "fischer_burkholz":
        return bounds.fischer_burkholz_widths(w, int(p["formula_n"]))
    return bounds.burkholz_widths(w, int(p["formula_n"]), bool(p["homogeneous"]),
                                  int(p.get("coarse_formula", 0)), p.get("dist", "uniform"))


def activation_note(ticket: Ticket) -> str:
    """Which declared (not proved) activation constants a ticket's certificate rests on:
    ``""`` when its activations are all built-in.

    Examples
    --------
    >>> from slth.nets import MLP, activations, random_target
    >>> from slth.tickets import burkholz
    >>> sine = activations.custom(np.sin, lipschitz=1.0, derivative=np.cos,
    ...                           remainder=(1 / 6, 3), name="sine")
    >>> base = random_target([2, 3, 1], norm="max", seed=0)
    >>> t = burkholz(MLP(base.weights, base.biases, sine), eps=0.1, delta=0.1, seed=0, n=3)
    >>> activation_note(t)  # doctest: +ELLIPSIS
    "the certificate rests on the declared constants of the custom activation 'sine' ..."
    """
    found: list = []
    for a in (*ticket.spec.activations, *ticket.target.activations):
        if not a.proved and not any(same_activation(a, b) for b in found):
            found.append(a)
    if not found:
        return ""
    parts = []
    for a in found:
        facts = [f"Lipschitz {a.lipschitz:g}", f"phi(0) = {a.phi0:g}", f"phi'(0) = {a.dphi0:g}"]
        if a.remainder is not None:
            facts.append(f"tangent remainder K = {a.remainder[0]:g}, p = {a.remainder[1]:g}")
        if a.monotone:
            facts.append("monotone")
        parts.append(f"{a.name!r} ({', '.join(facts)})")
    return (f"the certificate rests on the declared constants of the custom "
            f"activation{'s' if len(parts) > 1 else ''} {'; '.join(parts)}: tested on grids "
            f"(slth.nets.activations.check_constants), not proved")


def make_report(ticket: Ticket, emp: float, cert: float, worst, layers, formula_widths,
                radius: float, norm: str, seconds: dict, domain_note: str = "",
                certificates: dict | None = None) -> Report:
    """The :class:`Report` of a check: ``ok`` needs ``empirical <= certified`` and, when
    ``n >= formula_n``, ``certified <= eps`` and no violated assumption. ``domain_note``
    from :func:`slth.verify.domain.resolve_domain`; ``certificates``: every bound
    computed (``cert`` is their smallest)."""
    p = ticket.params
    eps = float(p["eps"])
    violations = tuple(p.get("assumption_violations", ()))
    at_formula = ticket.at_formula_width
    meets = cert <= eps
    ok = emp <= cert and (not at_formula or (meets and not violations))
    return Report(emp, cert, eps, bool(ok), bool(meets), bool(at_formula), int(p["n"]),
                  int(p["formula_n"]), tuple(ticket.widths), tuple(formula_widths),
                  ticket.formula, radius, norm, str(p["construction"]), worst, violations,
                  tuple(layers), seconds, tuple(ticket.used_widths), domain_note,
                  activation_note(ticket), tuple(p.get("choices", ())),
                  dict(certificates or {}), tolerance_note(p))


def tolerance_note(params: dict) -> str:
    """How many of the construction's subset-sum problems ended above their tolerance
    (``params["above_tolerance"]`` of :func:`slth.tickets.cnn_structured`); empty when
    none did or the construction does not count them.

    Examples
    --------
    >>> tolerance_note({"above_tolerance": 3, "problems": 144, "worst_excess": 2.5})
    '3 of 144 subset-sum problems ended above their tolerance (worst 2.5x)'
    >>> tolerance_note({"above_tolerance": 0, "problems": 144})
    ''
    """
    above = int(params.get("above_tolerance", 0) or 0)
    if not above:
        return ""
    return (f"{above} of {params['problems']} subset-sum problems ended above their "
            f"tolerance (worst {float(params.get('worst_excess', float('nan'))):.3g}x)")
