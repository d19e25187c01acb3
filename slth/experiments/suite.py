"""The bound-verification suite behind ``slth verify-bounds``.

A small fixed sweep covering every construction of
:data:`~slth.experiments.registry.CONSTRUCTIONS` (depth 2L with uniform and hyperbolic
sources, depth L+1 with ReLU and tanh, CNN unstructured and structured; ReLU unless said)
and the random-subset-sum lemmas (1-D for uniform and NSN samples, and hyperbolic ones in
the full run; multidimensional for d = 1, 2, 3), at the width of each paper's formula and
at smaller widths. Results go to ``OUT/verify-bounds.sqlite`` (re-running resumes),
figures to ``OUT/``.

The papers state their widths up to constants they do not give; :mod:`slth.bounds`
evaluates each formula with a named constant ``C`` (:data:`slth.bounds.FORMULAS`): this
package's calibration or a placeholder. Every row names its formula (``formula``, the
label, and ``C_origin``). The calibrated constants were fitted so that these rows pass,
so the rows at a formula's width test the calibration, not the papers; the RSS lemma
rows measure coverage with the estimator that fitted :data:`slth.bounds.RSS_C`
(:func:`slth.rss.min_samples`), so they re-check that fit.

Verdicts, per row (all seeds of a configuration together):

* tickets: ``certified`` -- every seed's certified error (a rigorous upper bound on the
  sup error) is at most eps; ``above eps (k/N)`` -- for k of the N seeds the empirical
  error (a lower bound) exceeds eps, so those tickets are provably not eps-close; ``open``
  -- neither; ``INCONSISTENT`` -- a lower bound above an upper bound (a bug). The
  theorems promise eps-closeness with probability 1 - delta per draw at widths they state
  up to a constant, so at the formula's width a few seeds above eps are a finding about
  the constant ``C``, not a refutation; below it, nothing is promised with that ``C``.
* lemmas: at width n, the fraction of trials whose first n samples cover the target
  set within eps, with a 95% Clopper-Pearson interval, against the lemma's 1 - delta:
  ``holds`` (interval above 1 - delta), ``fails`` (below), ``open`` (straddles).

The run agrees with the constants in use when every row at its formula's width is
``certified`` / ``holds``. A row that is not is a finding about a constant ``C`` (or the
construction), not an error of the run: :attr:`SuiteResult.ok` reports it, and
``slth verify-bounds --strict`` turns it into a non-zero exit status.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slth import bounds
from slth.experiments.constructions import formula_widths
from slth.experiments.grid import Sweep
from slth.experiments.registry import CONSTRUCTIONS, EXPERIMENTS, resolve_n
from slth.experiments.slack import slack_table
from slth.experiments.store import Store

__all__ = ["suite_sweep", "slack_grids", "verify_bounds", "ticket_table", "lemma_table",
           "theorem_summary", "formula_legend", "summary_lines", "slack_summary",
           "SuiteResult", "LEMMA_FACTORS"]

#: Widths of the lemma rows, as fractions of the lemma's n, per lemma.
LEMMA_FACTORS = {"rss": (0.5, 1.0), "mrss": (0.1, 1.0)}
#: eps values of the widths figure of ``slth verify-bounds`` (formulas only, nothing built).
WIDTHS_EPS = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 1e-4)
#: Extra activations per construction (besides its first, ReLU).
EXTRA_ACTIVATIONS = {"burkholz": ("tanh",)}


def suite_sweep(quick: bool = False) -> Sweep:
    """The fixed sweep of ``slth verify-bounds`` (``quick``: fewer seeds and trials).

    Examples
    --------
    >>> s = suite_sweep(quick=True)
    >>> sorted({t.experiment for t in s.tasks()})  # doctest: +NORMALIZE_WHITESPACE
    ['burkholz', 'burkholz_cnn', 'burkholz_cnn_2l', 'cnn_structured', 'cnn_unstructured',
     'fischer_burkholz', 'malach', 'mrss', 'orseau', 'pensia', 'rss', 'slack']
    """
    seeds = 1 if quick else 5
    grids = []
    for c in CONSTRUCTIONS.values():
        acts = [c.activations[0], *EXTRA_ACTIVATIONS.get(c.name, ())]
        grids.append({"experiment": c.name, "widths": list(c.default_shape),
                      "activation": acts, "eps": 0.1, "delta": 0.1, **c.suite,
                      "seeds": seeds, "samples": 256 if quick else 512, "starts": 2})
    grids.append({"experiment": "rss",
                  "dist": ["uniform", "nsn"] if quick else ["uniform", "nsn", "hyperbolic"],
                  "eps": [0.1, 0.01] if quick else [0.1, 0.03, 0.01, 0.003, 0.001],
                  "delta": 0.1, "trials": 50 if quick else 200, "seed": 0})
    grids.append({"experiment": "mrss", "d": [1, 2] if quick else [1, 2, 3],
                  "eps": [0.2, 0.1] if quick else [0.2, 0.1, 0.05], "delta": 0.1,
                  "trials": 8 if quick else 40, "seed": 0})
    return Sweep(grids + slack_grids(quick),
                 name="verify-bounds-quick" if quick else "verify-bounds")


def slack_grids(quick: bool = False) -> list[dict]:
    """The slack rows of ``slth verify-bounds`` (:mod:`slth.experiments.slack`): the
    smallest widths within eps for a fraction 0.9 of 5 seeds (``quick``: 2), per
    construction and eps, beside the formulas' widths; the lemmas over 200 (40) trials.
    The structured CNN searches up to n = 1024 (its formula's n is 13,217); malach up to
    n = 2048 (its formula's n is 122,560, polynomial in 1/eps), in the full run only."""
    if quick:
        return [{"experiment": "slack", "of": ["pensia", "burkholz"], "eps": 0.1,
                 "trials": 2, "samples": 128, "starts": 1},
                {"experiment": "slack", "of": "rss", "eps": 0.1, "trials": 50}]
    return [{"experiment": "slack", "of": ["pensia", "cnn_unstructured"], "eps": [0.1, 0.03],
             "trials": 5},
            {"experiment": "slack", "of": "burkholz", "activation": ["relu", "tanh"],
             "eps": [0.1, 0.03], "trials": 5},
            # eps 0.1 only (each eps costs about 20 s here); bench_slack runs the others
            {"experiment": "slack", "of": ["orseau", "fischer_burkholz"], "eps": 0.1,
             "trials": 5},
            {"experiment": "slack", "of": "cnn_structured", "kernel": 2, "eps": 0.1,
             "trials": 5, "n_max": 1024},
            # malach (2-2-1, about 10 s): certified near n = 144 of the formula's 122,560
            {"experiment": "slack", "of": "malach", "eps": 0.1, "trials": 5},
            # the 2L CNN construction only, 3 seeds (the L+1 check takes seconds per
            # width; benchmarks/bench_slack.py has both, with 20 seeds)
            {"experiment": "slack", "of": "burkholz_cnn_2l", "kernel": 3, "eps": 0.1,
             "trials": 3},
            {"experiment": "slack", "of": "rss", "eps": [0.1, 0.03, 0.01], "trials": 200},
            {"experiment": "slack", "of": "mrss", "d": 2, "eps": [0.2, 0.1], "trials": 40}]


# -------------------------------------------------------------------- tables
def _target_label(config: dict) -> str:
    shape = "-".join(map(str, config["widths"]))
    if "kernel" in config:
        shape += f" conv{config['kernel']}x{config['kernel']}"
    return f"{shape} {config['activation']}"


def _ticket_verdict(emp: np.ndarray, cert: np.ndarray, eps: float) -> str:
    if np.any(emp > cert):
        return "INCONSISTENT"
    if np.all(cert <= eps):
        return "certified"
    above = int(np.sum(emp > eps))
    if above:
        return f"above eps ({above}/{emp.size})"
    return "open"


def ticket_table(rows: list[dict]) -> list[dict]:
    """One line per (construction, target, activation, eps, width): worst case over seeds.

    ``formula_width`` are the source widths of the paper's formula, ``source_width``
    those of the source built, ``used_width`` those of its neurons that take part in the
    pruned network (:attr:`slth.tickets.Ticket.used_widths`; the largest over seeds, per
    layer; ``-`` for rows stored before tickets reported them).

    Examples
    --------
    >>> r = {"experiment": "pensia", "theorem": "T", "widths": [2, 8, 1],
    ...      "config": {"widths": [2, 1], "activation": "relu", "width_factor": 1.0},
    ...      "formula_widths": [2, 8, 1], "eps": 0.1, "n": 2, "formula_n": 2,
    ...      "empirical": 0.01, "certified": 0.05, "at_formula_width": True, "seed": 0}
    >>> [(t["verdict"], t["seeds"]) for t in ticket_table([r, {**r, "seed": 1}])]
    [('certified', 2)]
    """
    groups: dict = defaultdict(list)
    for r in rows:
        if EXPERIMENTS[r["experiment"]].family != "ticket":
            continue
        c = r["config"]
        groups[(r["experiment"], _target_label(c), r["eps"], r["n"])].append(r)
    out = []
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    for (exp, target, eps, n), rs in sorted(
            groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], -kv[0][2], kv[0][3])):
        emp = np.array([r["empirical"] for r in rs])
        cert = np.array([r["certified"] for r in rs])
        r0 = rs[0]
        out.append({
            "theorem": r0["theorem"], "experiment": exp,
            "target": target,
            "formula_width": "-".join(map(str, r0["formula_widths"])),
            "source_width": "-".join(map(str, r0["widths"])),
            "used_width": _used_width(rs),
            "n": n, "formula_n": r0["formula_n"], "seeds": len(rs),
            "empirical": float(emp.max()), "certified": float(cert.max()), "eps": eps,
            "verdict": _ticket_verdict(emp, cert, eps),
            "at_formula_width": bool(r0["at_formula_width"]),
            **_formula(exp, r0),
        })
    return out


def _used_width(rows: list[dict]) -> str:
    used = [r.get("used_widths") for r in rows]
    if any(u is None for u in used):
        return "-"
    return "-".join(map(str, np.max(np.array(used), axis=0).tolist()))


def lemma_table(rows: list[dict], factors: dict | None = None,
                confidence: float = 0.95) -> list[dict]:
    """Lines of the lemma rows: success rate at fractions of the lemma's n, with CI."""
    from slth.mrss import clopper_pearson, success_at

    factors = LEMMA_FACTORS if factors is None else factors
    out = []
    for r in sorted((r for r in rows if EXPERIMENTS[r["experiment"]].family == "lemma"),
                    key=lambda r: (r["experiment"], r.get("d", 1), r["dist"], -r["eps"])):
        formula_n = int(r["formula_n"])
        n_max = r.get("n_max", r.get("max_n"))
        target = 1.0 - r["delta"]
        widths = sorted({resolve_n(formula_n, {"width_factor": f})
                         for f in factors.get(r["experiment"], (1.0,))})
        sufficient = _sufficient_n(r["n_trials"], n_max, target, confidence)
        for n in widths:
            wins, trials = success_at(r["n_trials"], n, n_max)
            lo, hi = clopper_pearson(wins, trials, confidence)
            lo, hi = float(lo), float(hi)
            verdict = "holds" if lo >= target else ("fails" if hi < target else "open")
            out.append({
                "theorem": r["theorem"], "experiment": r["experiment"],
                "target": (f"[-1,1] {r['dist']}" if r["experiment"] == "rss"
                           else f"[-1,1]^{r['d']} {r['dist']}"),
                "d": r.get("d", 1), "dist": r["dist"], "eps": r["eps"],
                "formula_n": formula_n, "used_n": n, "trials": trials,
                "success": wins / trials, "ci_low": lo, "ci_high": hi,
                "one_minus_delta": target, "verdict": verdict,
                "at_formula_width": n >= formula_n,
                "median_n": r["median_n"], "q90_n": r["q90_n"], "sufficient_n": sufficient,
                **_formula(r["experiment"], r),
            })
    return out


def _formula(experiment: str, row: dict) -> dict:
    """The label of a row's width formula with the row's ``C``, and where that ``C`` comes
    from (:data:`slth.bounds.FORMULAS`)."""
    f = bounds.FORMULAS[experiment]
    return {"formula": f.label(row.get("C"), row.get("dist")),
            "C_origin": f.origin_of(row.get("C"), row.get("dist"))}


def formula_legend(table: list[dict], width: int = 100) -> list[str]:
    """Lines naming the width formula of each construction or lemma of ``table`` (lines of
    :func:`ticket_table` or :func:`lemma_table`) once, with how its ``C`` was chosen.

    Examples
    --------
    >>> row = {"experiment": "mrss", **_formula("mrss", {})}
    >>> for line in formula_legend([row, row], width=80):
    ...     print(line)
      Becchetti et al. 2022's width formula with C = 3 (a placeholder, not fitted).
        C: not given by the paper; the network formulas' constant, not fitted to
        this lemma.
    """
    seen: dict = {}
    for t in table:
        seen.setdefault((t["experiment"], t["formula"]), t["C_origin"])
    lines = []
    for (exp, label), origin in seen.items():
        how = ("set in the run's configuration" if origin == "given"
               else bounds.FORMULAS[exp].fitted)
        lines += textwrap.wrap(f"{label}. C: {how}.", width, initial_indent="  ",
                               subsequent_indent="    ", break_long_words=False,
                               break_on_hyphens=False)
    return lines


_TICKET_ORIGIN = {
    "calibrated": "At the width of each paper's formula with this package's calibrated C "
                  "(fitted so that these rows pass): {good} of {total} ticket rows certified "
                  "within eps. This tests the calibration, not the papers, which give no "
                  "constants.",
    "placeholder": "At the width of the formula with a placeholder C (fitted to nothing): "
                   "{good} of {total} ticket rows certified within eps.",
    "paper": "At the width of the paper's formula with the paper's own constant: {good} of "
             "{total} ticket rows certified within eps.",
    "given": "At the width of the formula with a C set in the run's configuration: {good} "
             "of {total} ticket rows certified within eps.",
}
_LEMMA_ORIGIN = {
    "calibrated": "with this package's calibrated C",
    "placeholder": "with a placeholder C (fitted to nothing)",
    "paper": "with the paper's own constant",
    "given": "with a C set in the run's configuration",
}


def summary_lines(tickets: list[dict], lemmas: list[dict],
                  slack: list[dict] | None = None) -> list[str]:
    """What the rows at a formula's width tested, in words, with their counts (one
    paragraph per entry), and the range of the slack rows (:func:`slack_summary`).

    Examples
    --------
    >>> t = {"at_formula_width": True, "verdict": "certified", "C_origin": "calibrated",
    ...      "theorem": "Pensia et al. 2020", "n": 27, "certified": 0.01, "eps": 0.1,
    ...      "target": "4-4-2 relu"}
    >>> x = {"at_formula_width": True, "verdict": "holds", "experiment": "rss",
    ...      "C_origin": "calibrated"}
    >>> for line in summary_lines([t, {**t, "at_formula_width": False, "n": 14}], [x]):
    ...     print(line)
    At the width of each paper's formula with this package's calibrated C (fitted so that these rows pass): 1 of 1 ticket rows certified within eps. This tests the calibration, not the papers, which give no constants.
    Lemma rows at the formula's n: 1 of 1 hold (95% confidence). RSS: 1 of 1, with this package's calibrated C; RSS_C was fitted with the same estimator (slth.rss.min_samples), so these rows re-check the fit.
    Theorems run: Pensia et al. 2020: 1 of 1 rows at the formula's width certified; below it, certified from n = 14 (4-4-2 relu, eps 0.1).
    """  # noqa: E501
    out = []
    at_t = [t for t in tickets if t["at_formula_width"]]
    for origin, text in _TICKET_ORIGIN.items():
        rows = [t for t in at_t if t["C_origin"] == origin]
        if rows:
            good = sum(t["verdict"] == "certified" for t in rows)
            out.append(text.format(good=good, total=len(rows)))
    if not at_t:
        out.append("No ticket row was built at its formula's width.")
    at_l = [x for x in lemmas if x["at_formula_width"]]
    if at_l:
        good = sum(x["verdict"] == "holds" for x in at_l)
        parts = [f"Lemma rows at the formula's n: {good} of {len(at_l)} hold (95% confidence)."]
        groups: dict = defaultdict(list)
        for x in at_l:
            groups[(x["experiment"], x["C_origin"])].append(x)
        for (exp, origin), rows in groups.items():
            good = sum(x["verdict"] == "holds" for x in rows)
            part = f"{exp.upper()}: {good} of {len(rows)}, {_LEMMA_ORIGIN[origin]}"
            if exp == "rss" and origin == "calibrated":
                part += ("; RSS_C was fitted with the same estimator (slth.rss.min_samples), "
                         "so these rows re-check the fit")
            parts.append(part + ".")
        out.append(" ".join(parts))
    if tickets:
        out.append(theorem_summary(tickets))
    if slack:
        out.append(slack_summary(slack))
    return out


def theorem_summary(tickets: list[dict]) -> str:
    """Every theorem whose tickets the run built, in one paragraph, certified or not.

    Per theorem: its rows at the formula's width (certified / in all), and below that width
    the smallest ``n`` whose row is certified in every seed (or the best certified error
    found when none is), so that a theorem run only at practical widths (the structured
    CNN, whose formula is a placeholder far beyond them) is named as well.

    Examples
    --------
    >>> t = {"theorem": "A", "at_formula_width": True, "verdict": "certified", "n": 9,
    ...      "certified": 0.01, "eps": 0.1, "target": "4-4-2 relu"}
    >>> s = {"theorem": "B", "at_formula_width": False, "verdict": "open", "n": 50,
    ...      "certified": 0.3, "eps": 0.1, "target": "1-2-2 conv2x2 relu"}
    >>> print(theorem_summary([t, s, {**s, "n": 400, "certified": 0.05,
    ...                                "verdict": "certified"}]))
    Theorems run: A: 1 of 1 rows at the formula's width certified; B: not built at the formula's width; below it, certified from n = 400 (1-2-2 conv2x2 relu, eps 0.1).
    """  # noqa: E501
    by_theorem: dict = defaultdict(list)
    for t in tickets:
        by_theorem[t["theorem"]].append(t)
    parts = []
    for theorem, rows in by_theorem.items():
        at = [t for t in rows if t["at_formula_width"]]
        below = [t for t in rows if not t["at_formula_width"]]
        bits = []
        if at:
            good = sum(t["verdict"] == "certified" for t in at)
            bits.append(f"{good} of {len(at)} rows at the formula's width certified")
        else:
            bits.append("not built at the formula's width")
        if below:
            bits.append("below it, " + _smallest_certified(below))
        parts.append(f"{theorem}: " + "; ".join(bits))
    return "Theorems run: " + "; ".join(parts) + "."


def _smallest_certified(rows: list[dict]) -> str:
    groups: dict = defaultdict(list)
    for t in rows:
        groups[(t["target"], t["eps"])].append(t)
    out = []
    for (target, eps), rs in groups.items():
        ok = sorted(t["n"] for t in rs if t["verdict"] == "certified")
        if ok:
            out.append(f"certified from n = {ok[0]} ({target}, eps {eps:g})")
        else:
            best = min(rs, key=lambda t: t["certified"])
            out.append(f"none certified up to n = {max(t['n'] for t in rs)} ({target}, eps "
                       f"{eps:g}; smallest certified error {best['certified']:.3g} at n = "
                       f"{best['n']})")
    return ", ".join(out)


def slack_summary(slack: list[dict]) -> str:
    """The slack rows in one paragraph: the range of ``formula n / certified n`` and of the
    implied constant ``C*`` over the constructions whose formula has a calibrated ``C``;
    the others (placeholders; a formula that stands in for an untranscribed one named with
    its parameters) and the rows not certified up to ``n_max`` said apart.

    Examples
    --------
    >>> rows = [{"of": "pensia", "ratio": 1.9, "implied_C": 1.6, "certified_n": 14,
    ...          "seeds": 5, "delta": 0.1, "target": "4-4-2 relu", "eps": 0.1},
    ...         {"of": "burkholz", "ratio": 2.5, "implied_C": 1.2, "certified_n": 10,
    ...          "seeds": 5, "delta": 0.1, "target": "4-4-2 tanh", "eps": 0.1}]
    >>> print(slack_summary(rows))  # doctest: +NORMALIZE_WHITESPACE
    Slack: at the smallest widths found certified within eps for a fraction 0.9 of 5 seeds,
    the formulas with this package's calibrated C = 3 give 1.9 to 2.5 times that n; C* = 1.2
    to 1.6 would give it.
    """
    rows = [r for r in slack if r["of"] not in ("rss", "mrss")]
    found = [r for r in rows if r["ratio"] not in (None, "-")]
    if not found:
        return "Slack: no construction was certified within eps up to its n_max."
    calibrated = [r for r in found if bounds.FORMULAS[r["of"]].origin == "calibrated"]
    text = (f"Slack: at the smallest widths found certified within eps for a fraction "
            f"{1 - found[0]['delta']:g} of {found[0]['seeds']} seeds,")
    if calibrated:
        ratios = [float(r["ratio"]) for r in calibrated]
        cs = [float(r["implied_C"]) for r in calibrated]
        text += (f" the formulas with this package's calibrated C = {bounds.DEFAULT_C:g} give "
                 f"{min(ratios):.3g} to {max(ratios):.3g} times that n; C* = {min(cs):.2g} to "
                 f"{max(cs):.2g} would give it.")
    for r in found:
        if r not in calibrated:
            text += (f" {r['of']} {r['target']} eps {r['eps']:g}: its placeholder formula "
                     f"gives {float(r['ratio']):.3g} times (C* = {float(r['implied_C']):.2g}).")
            if bounds.FORMULAS[r["of"]].stands_in is not None:
                text += f" Its formula: {r.get('formula') or bounds.FORMULAS[r['of']].label()}."
    missing = [r for r in rows if r["ratio"] in (None, "-")]
    if missing:
        text += " Not certified up to n_max: " + "; ".join(
            f"{r['of']} {r['target']} eps {r['eps']:g} ({r['certified_n']})"
            for r in missing) + "."
    return text


def _sufficient_n(n_trials, n_max, target: float, confidence: float) -> int | None:
    """Smallest n whose success rate has a Clopper-Pearson lower bound >= target."""
    from slth.mrss import clopper_pearson, success_at

    top = int(max(n_trials)) if n_max is None else min(int(max(n_trials)), int(n_max))
    for n in range(1, top + 1):
        wins, trials = success_at(n_trials, n, n_max)
        if float(clopper_pearson(wins, trials, confidence)[0]) >= target:
            return n
    return None


# --------------------------------------------------------------------- suite
@dataclass
class SuiteResult:
    """What :func:`verify_bounds` found."""

    tickets: list[dict]
    lemmas: list[dict]
    store: str
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failures: list = field(default_factory=list)
    reused: int = 0
    slack: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every row at its formula's width certified / holds, no inconsistency, no failed
        task."""
        good_t = all(t["verdict"] == "certified" for t in self.tickets
                     if t["at_formula_width"])
        good_l = all(x["verdict"] == "holds" for x in self.lemmas if x["at_formula_width"])
        consistent = all(t["verdict"] != "INCONSISTENT" for t in self.tickets)
        return good_t and good_l and consistent and not self.failures

    def summary(self) -> list[str]:
        """What the rows at a formula's width tested, in words (:func:`summary_lines`)."""
        return summary_lines(self.tickets, self.lemmas, self.slack)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "summary": self.summary(), "seconds": self.seconds,
                "reused_tasks": self.reused, "store": self.store,
                "figures": self.figures, "tickets": self.tickets, "lemmas": self.lemmas,
                "slack": self.slack, "failures": self.failures}


def verify_bounds(out: str | os.PathLike = "slth-output", *, quick: bool = False,
                  workers: int | None = None, scheduler=None, progress: bool | None = None,
                  fresh: bool = False, formats: tuple[str, ...] = ("png",)) -> SuiteResult:
    """Run the bound-verification suite; write the SQLite file and the figures to ``out``.

    Parameters
    ----------
    out : path
        Output folder (created); holds ``verify-bounds.sqlite``, ``verify-bounds.json``
        and the figures.
    quick : bool
        Fewer seeds, trials and eps values (a smoke run); its files are named
        ``verify-bounds-quick.*`` and ``quick_*``.
    workers, scheduler, progress
        As in :func:`slth.experiments.run`.
    fresh : bool
        Delete the results file first (otherwise finished tasks are reused).
    formats : tuple of str
        Figure formats (``png``, ``pdf``, ``svg``).

    Returns
    -------
    SuiteResult
    """
    from slth.experiments import plots
    from slth.experiments.run import run

    t0 = time.perf_counter()
    sweep = suite_sweep(quick)
    folder = plots.prepare_out(out)
    for fmt in formats:
        plots.check_format(fmt)
    db = folder / f"{sweep.name}.sqlite"
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    summary = run(sweep, db, workers=workers, scheduler=scheduler, progress=progress)
    with Store(db) as st:
        rows = st.rows(keys={t.key for t in sweep.tasks()})
    tickets, lemmas = ticket_table(rows), lemma_table(rows)
    prefix = "quick_" if quick else ""
    figures = plots.suite_figures(rows, folder, formats, prefix=prefix)
    # the constructions' width formulas side by side for the suite's MLP target shape
    figures += plots._save(plots.construction_widths(formula_widths(WIDTHS_EPS))[0], folder,
                           f"{prefix}widths", formats)
    result = SuiteResult(tickets, lemmas, os.fspath(db), figures, 0.0, summary.failures,
                         summary.skipped,
                         slack_table([r for r in rows if r["experiment"] == "slack"]))
    result.seconds = time.perf_counter() - t0
    with open(folder / f"{sweep.name}.json", "w", encoding="utf-8") as fh:
        json.dump(result.as_dict(), fh, indent=2, default=str)
    return result
