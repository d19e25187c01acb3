"""The report of a check: the empirical and certified errors next to the theorem's eps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from slth import bounds
from slth.tickets.ticket import Ticket

__all__ = ["Report", "make_report", "mlp_formula_widths"]


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

    def summary(self) -> dict:
        """Flat dict of the headline figures."""
        return {
            "construction": self.construction, "empirical": self.empirical,
            "certified": self.certified, "eps": self.eps, "ok": self.ok,
            "meets_eps": self.meets_eps, "at_formula_width": self.at_formula_width,
            "n": self.n, "formula_n": self.formula_n,
            "source_widths": "-".join(map(str, self.widths)),
            "formula_widths": "-".join(map(str, self.formula_widths)),
            "formula": self.formula,
            "radius": self.radius, "norm": self.norm,
            "assumption_violations": "; ".join(self.assumption_violations) or "none",
        }

    def __str__(self) -> str:
        return "\n".join(f"{k:>22}: {v}" for k, v in self.summary().items())


def mlp_formula_widths(ticket: Ticket) -> tuple:
    """The source widths of an MLP ticket's construction (pensia or burkholz) at
    ``formula_n``: the paper's width formula in :mod:`slth.bounds`, with the ``C`` in use."""
    p = ticket.params
    w = ticket.target.widths
    if p["construction"] == "pensia":
        return bounds.pensia_widths(w, int(p["formula_n"]))
    return bounds.burkholz_widths(w, int(p["formula_n"]), bool(p["homogeneous"]),
                                  int(p.get("coarse_formula", 0)), p.get("dist", "uniform"))


def make_report(ticket: Ticket, emp: float, cert: float, worst, layers, formula_widths,
                radius: float, norm: str, seconds: dict) -> Report:
    """The :class:`Report` of a check: ``ok`` needs ``empirical <= certified`` and, when
    ``n >= formula_n``, ``certified <= eps`` and no violated assumption."""
    p = ticket.params
    eps = float(p["eps"])
    violations = tuple(p.get("assumption_violations", ()))
    at_formula = ticket.at_formula_width
    meets = cert <= eps
    ok = emp <= cert and (not at_formula or (meets and not violations))
    return Report(emp, cert, eps, bool(ok), bool(meets), bool(at_formula), int(p["n"]),
                  int(p["formula_n"]), tuple(ticket.widths), tuple(formula_widths),
                  ticket.formula, radius, norm, str(p["construction"]), worst, violations,
                  tuple(layers), seconds)
