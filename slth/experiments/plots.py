"""Figures of sweep results (matplotlib, object-oriented API: no pyplot state, any backend).

* :func:`overparameterization` -- ticket error (median and 10-90% band over seeds) vs
  width factor ``n / formula_n``, with the theorem's eps and the width of the paper's
  formula (with the ``C`` in use, named in the panel's title) marked;
* :func:`samples_needed` -- samples needed (median and 10-90% band over trials) vs
  ``log2(1/eps)`` for the RSS and MRSS lemmas, one curve per (lemma, d, distribution),
  the counting bound ``d log2(1/eps)`` as reference and the fitted slope in the legend;
* :func:`success_heatmap` -- success probability over (n, eps), with the 95%
  Clopper-Pearson lower bound beside it (and the intervals written in small grids);
* :func:`slack` -- the formulas' widths against the widths that suffice, vs ``1/eps``;
* :func:`imp_curves` -- test accuracy of IMP tickets against density (log axis), beside
  the random-reinit and random-prune baselines (``"imp"`` rows);
* :func:`essential` -- accuracy after one-shot magnitude pruning against sparsity, the
  essential sparsity and the knee marked, N:M patterns as points, the IoU of the
  one-shot and IMP masks, and the essential sparsity along training checkpoints when
  measured (``"essential_sparsity"`` rows);
* :func:`neuron_pruning` -- one random network pruned by weights and by whole neurons
  (Malach et al. 2020's negative result), error vs hidden width, one panel per ``d``.
* :func:`bip_curves` -- test accuracy against density of BiP, HYDRA, one-shot pruning
  plus fine-tuning and IMP, and their wall times (``"bip"`` rows);
* :func:`inertial_manifold` -- the exact Hessian's spectrum and its gaps against twice the
  sampled Lipschitz constant of the remainder, the predicted dimension beside the
  weights kept at the essential sparsity (``"inertial_manifold"`` rows);
* :func:`construction_widths` -- the width formulas of all constructions side by side for
  one target, vs ``1/eps`` (rows of
  :func:`slth.experiments.constructions.formula_widths`, not of a store);
* :func:`lab_subset_sum` -- relaxed (GEM-MINER) against exact subset sum: error and time
  vs n;
* :func:`lab_teacher_student` -- searched against constructed tickets: sup error vs
  source width, per searcher and density, with eps and the formula's n;
* :func:`digits_accuracy` -- test accuracy of the digits target's depth-L+1 ticket and of
  searched tickets in the same sources, vs width (``"lab_digits"`` rows).

Each function takes store rows (:meth:`slth.experiments.Store.rows`) and returns
``(figure, data)``, ``data`` holding exactly the numbers drawn.

Examples
--------
>>> rows = [{"experiment": "rss", "eps": e, "dist": "uniform", "d": 1, "delta": 0.1,
...          "n_trials": [int(3 * k + 2), int(3 * k + 3)], "max_n": 4096}
...         for k, e in enumerate([0.5, 0.25, 0.125])]
>>> fig, data = samples_needed(rows)
>>> data["rss uniform"]["median"].tolist()
[2.5, 5.5, 8.5]
>>> round(data["rss uniform"]["slope"], 6)
3.0
"""

from __future__ import annotations

import math
import os
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

__all__ = ["overparameterization", "samples_needed", "success_heatmap", "slack",
           "construction_widths", "plot_store", "suite_figures", "lab_subset_sum",
           "lab_teacher_student", "imp_curves", "essential", "neuron_pruning",
           "digits_accuracy", "bip_curves", "inertial_manifold", "gsm_curves",
           "transfer_curves", "KINDS", "FORMATS"]

#: Figure kinds of :func:`plot_store` (``slth plot --kind``).
KINDS = ("overparameterization", "samples-needed", "heatmap", "slack", "lab-subset-sum",
         "lab-teacher-student", "imp", "essential-sparsity", "neuron-pruning",
         "digits-accuracy", "bip", "inertial-manifold", "gsm", "ticket-transfer")
#: File formats.
FORMATS = ("png", "pdf", "svg")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {fmt!r}")
    return fmt


def _quantiles(values) -> tuple[float, float, float]:
    q10, q50, q90 = np.quantile(np.asarray(values, dtype=float), [0.1, 0.5, 0.9])
    return float(q10), float(q50), float(q90)


def _ticket_rows(rows):
    from slth.experiments.registry import EXPERIMENTS

    return [r for r in rows if r["experiment"] in EXPERIMENTS
            and EXPERIMENTS[r["experiment"]].family == "ticket"]


def _panels(count: int, most_columns: int, size: tuple, fig: Figure | None):
    """A figure (``fig`` or a new one) with ``count`` panels in rows of at most
    ``most_columns``, each of ``size`` inches; the unused cells hidden."""
    ncols = min(most_columns, count)
    nrows = -(-count // ncols)
    fig = fig or Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def _lemma_rows(rows):
    return [r for r in rows if r["experiment"] in ("rss", "mrss")]


# -------------------------------------------------------- overparameterization
def overparameterization(rows: list[dict], *, fig: Figure | None = None,
                         certified: bool = True) -> tuple[Figure, dict]:
    """Ticket error vs width factor ``n / formula_n`` (log-log), one panel per construction.

    In a panel, one colour per setting (target widths, activation, eps). Solid: empirical
    error (a lower bound on the sup error); dashed: certified error (an upper bound).
    Lines are medians over seeds, bands span the 10% to 90% quantiles. The dotted
    horizontal line is eps, the vertical line the width of the paper's formula with the
    ``C`` in use (factor 1), which the panel's title names (the papers give no ``C``).
    """
    panels: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    formula = {}
    for r in _ticket_rows(rows):
        c = r["config"]
        shape = "-".join(map(str, c["widths"]))
        if "kernel" in c:
            shape += f" conv{c['kernel']}x{c['kernel']}"
        if c.get("residual"):
            shape += " residual"
        label = f"{r['experiment']} {shape} {c['activation']} eps={r['eps']:g}"
        panels[r["experiment"]][label][r["n"] / r["formula_n"]].append(r)
        formula[label] = (r["formula_n"], r["eps"], "kernel" in c, r["formula"])
    if not panels:
        raise ValueError("rows: no ticket rows (pensia, burkholz, ...) to plot")
    from slth.experiments.registry import EXPERIMENTS

    names = [e for e in EXPERIMENTS if e in panels]
    fig, axes = _panels(len(names), 2, (6.5, 4.6), fig)
    data = {}
    for ax, name in zip(axes, names, strict=False):
        groups = panels[name]
        xs_all = set()
        for i, (label, by_x) in enumerate(sorted(groups.items())):
            color = f"C{i % 10}"
            xs = np.array(sorted(by_x))
            xs_all.update(xs.tolist())
            entry = {"x": xs, "n": np.array([by_x[x][0]["n"] for x in xs]),
                     "formula_n": formula[label][0], "eps": formula[label][1],
                     "formula": formula[label][3]}
            for kind, style in (("empirical", "-"), ("certified", "--")):
                if kind == "certified" and not certified:
                    continue
                q = np.array([_quantiles([r[kind] for r in by_x[x]]) for x in xs])
                entry[kind] = {"q10": q[:, 0], "median": q[:, 1], "q90": q[:, 2]}
                ax.plot(xs, q[:, 1], style, marker="o", color=color, ms=4,
                        label=f"{label} (formula n={formula[label][0]}), {kind}")
                ax.fill_between(xs, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
            data[label] = entry
        for eps in sorted({formula[lb][1] for lb in groups}):
            ax.axhline(eps, color="0.3", ls=":", lw=1.2, label=f"theorem eps = {eps:g}")
        ax.axvline(1.0, color="k", lw=1.0, alpha=0.6, label="formula width (n = formula n)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = _spread(sorted(xs_all | {1.0}))
        ax.set_xticks(ticks, [f"{t:.2g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        cnn = any(formula[lb][2] for lb in groups)
        ax.set_xlabel("width factor n / formula n")
        ax.set_ylabel("sup error, max norm, inputs in [-1, 1]" if cnn
                      else "sup error ||f(x) - g(x)||_2, unit l2 ball")
        labels = sorted({formula[lb][3] for lb in groups})
        ax.set_title("\n".join([EXPERIMENTS[name].description,
                                *(textwrap.fill(lb, 90) for lb in labels)]), fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Overparameterization: ticket error vs source width (median over seeds, "
                 "band 10-90%; solid empirical, dashed certified)", fontsize=11)
    return fig, data


def _spread(values: list[float], min_ratio: float = 1.25) -> list[float]:
    """Tick positions at least ``min_ratio`` apart on a log axis (1.0 always kept)."""
    out: list[float] = []
    for v in sorted(values, reverse=True):
        if not out or out[-1] / v >= min_ratio:
            out.append(v)
    return sorted(out)


# ------------------------------------------------------------ samples needed
def _lemma_label(r) -> str:
    if r["experiment"] == "rss":
        return f"rss {r['dist']}"
    return f"mrss d={r['d']} {r['dist']}"


def samples_needed(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Samples needed to cover within eps vs ``log2(1/eps)``, RSS and MRSS.

    One curve per (lemma, d, distribution): the median over trials of the exact minimal n
    (the heuristic's upper bound beyond the exact range for MRSS), band 10-90%. Dotted:
    the counting bound ``d log2(1/eps)`` (2^n subset sums must eps-cover the cube), the
    growth rate the theorems match up to constants and log factors. The legend gives the
    least-squares slope of the median against ``log2(1/eps)``; dashed, the 1-D lemma's
    width formula ``C log2(2/min(eps, delta))`` recorded with the RSS rows, with the ``C``
    in use named in the legend (the papers give none).
    """
    groups: dict = defaultdict(list)
    for r in _lemma_rows(rows):
        groups[_lemma_label(r)].append(r)
    if not groups:
        raise ValueError("rows: no rss/mrss rows to plot")
    fig = fig or Figure(figsize=(9.0, 6.5), layout="constrained")
    ax = fig.add_subplot()
    data = {}
    ds = set()
    for i, (label, rs) in enumerate(sorted(groups.items())):
        rs = sorted(rs, key=lambda r: -r["eps"])
        x = np.array([math.log2(1.0 / r["eps"]) for r in rs])
        q = np.array([_quantiles(r["n_trials"]) for r in rs])
        slope = float(np.polyfit(x, q[:, 1], 1)[0]) if len(set(x)) > 1 else float("nan")
        color = f"C{i % 10}"
        ax.plot(x, q[:, 1], "-o", color=color, ms=4, label=f"{label}: slope {slope:.2f}")
        ax.fill_between(x, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
        d = int(rs[0].get("d", 1))
        ds.add(d)
        data[label] = {"x": x, "eps": np.array([r["eps"] for r in rs]), "median": q[:, 1],
                       "q10": q[:, 0], "q90": q[:, 2], "slope": slope, "d": d}
    with_formula = [r for r in _lemma_rows(rows)
                    if r["experiment"] == "rss" and "formula_n" in r]
    # one dashed line per formula: its constant depends on the sample distribution
    by_formula: dict = defaultdict(set)
    dists: dict = defaultdict(set)
    for r in with_formula:
        by_formula[r["formula"]].add((r["eps"], r["formula_n"]))
        dists[r["formula"]].add(r["dist"])
    for j, (label, points) in enumerate(sorted(by_formula.items())):
        lemma = sorted(points, reverse=True)
        x = np.array([math.log2(1.0 / e) for e, _ in lemma])
        formula_n = np.array([n for _, n in lemma], dtype=float)
        ax.plot(x, formula_n, "--x", color=str(0.15 + 0.25 * j), lw=1.2,
                label=textwrap.fill(f"RSS formula n = C log2(2/min(eps, delta)) "
                                    f"({', '.join(sorted(dists[label]))}): {label}", 75))
        key = ("rss formula n" if len(by_formula) == 1
               else f"rss formula n {' '.join(sorted(dists[label]))}")
        data[key] = {"x": x, "formula_n": formula_n, "formula": [label]}
    xmin = min(v["x"].min() for v in data.values())
    xmax = max(v["x"].max() for v in data.values())
    xr = np.linspace(xmin, xmax, 50)
    for d in sorted(ds):
        ax.plot(xr, d * xr, ":", color="0.35", lw=1.2,
                label=f"counting bound {d}·log2(1/eps) (slope {d})" if d > 1 else
                "counting bound log2(1/eps) (slope 1)")
    ax.set_xlabel("log2(1/eps)")
    ax.set_ylabel("samples n needed to cover within eps")
    ax.set_title("Random subset sum: samples needed vs accuracy\n"
                 "(median over trials, band 10-90%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return fig, data


# -------------------------------------------------------------------- heatmap
def success_heatmap(rows: list[dict], *, experiment: str | None = None,
                    confidence: float = 0.95, n_max: int | None = None,
                    fig: Figure | None = None) -> tuple[Figure, dict]:
    """Success probability over (n, eps): estimate, and the Clopper-Pearson lower bound.

    Per (lemma, d, distribution) two panels: the fraction of trials covered within eps
    by their first n samples, and the lower end of its two-sided ``confidence`` interval.
    When the grid is small, each cell of the first panel is annotated with the interval.
    """
    from slth.mrss import clopper_pearson, success_at

    groups: dict = defaultdict(list)
    for r in _lemma_rows(rows):
        if experiment is None or r["experiment"] == experiment:
            groups[_lemma_label(r)].append(r)
    if not groups:
        raise ValueError(f"rows: no {experiment or 'rss/mrss'} rows to plot")
    fig = fig or Figure(figsize=(11.0, 3.2 * len(groups)), layout="constrained")
    axes = fig.subplots(len(groups), 2, squeeze=False)
    data = {}
    for row_axes, (label, rs) in zip(axes, sorted(groups.items()), strict=True):
        rs = sorted(rs, key=lambda r: -r["eps"])
        cap = [r.get("n_max", r.get("max_n")) for r in rs]
        finite = [min(max(r["n_trials"]), c or 10**9) for r, c in zip(rs, cap, strict=True)]
        top = n_max or max(finite)
        ns = np.arange(1, top + 1)
        p = np.empty((len(rs), ns.size))
        lo, hi = np.empty_like(p), np.empty_like(p)
        for i, (r, c) in enumerate(zip(rs, cap, strict=True)):
            for j, n in enumerate(ns):
                wins, trials = success_at(r["n_trials"], int(n), c)
                p[i, j] = wins / trials
                lo[i, j], hi[i, j] = (float(v) for v in clopper_pearson(wins, trials,
                                                                        confidence))
        eps = np.array([r["eps"] for r in rs])
        data[label] = {"n": ns, "eps": eps, "p": p, "low": lo, "high": hi,
                       "trials": np.array([len(r["n_trials"]) for r in rs])}
        for ax, values, title in ((row_axes[0], p, "success probability"),
                                  (row_axes[1], lo, f"{confidence:.0%} Clopper-Pearson "
                                                    "lower bound")):
            im = ax.imshow(values, aspect="auto", origin="upper", cmap="viridis", vmin=0,
                           vmax=1, extent=(ns[0] - 0.5, ns[-1] + 0.5, len(rs) - 0.5, -0.5),
                           interpolation="nearest")
            ax.set_yticks(range(len(rs)), [f"{e:g}" for e in eps])
            ax.set_xlabel("n (samples)")
            ax.set_ylabel("eps")
            ax.set_title(f"{label}: {title} ({data[label]['trials'].max()} trials)",
                         fontsize=9)
            fig.colorbar(im, ax=ax, label="probability")
        if ns.size * len(rs) <= 48:
            row_axes[0].set_title(f"{label}: success probability, cells: "
                                  f"{confidence:.0%} interval ({data[label]['trials'].max()} "
                                  "trials)", fontsize=9)
            for i in range(len(rs)):
                for j, n in enumerate(ns):
                    row_axes[0].text(n, i, f"{lo[i, j]:.2f}\n{hi[i, j]:.2f}", ha="center",
                                     va="center", fontsize=5,
                                     color="w" if p[i, j] < 0.6 else "k")
    return fig, data


# ----------------------------------------------------------------------- files
def _save(fig: Figure, folder: Path, stem: str, formats) -> list[str]:
    paths = []
    for fmt in formats:
        path = folder / f"{stem}.{check_format(fmt)}"
        fig.savefig(path, dpi=130)
        paths.append(os.fspath(path))
    return paths


# ---------------------------------------------------------------------- slack
def _slack_rows(rows):
    return [r for r in rows if r["experiment"] == "slack"]


def slack(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """How much wider than necessary: widths against ``1/eps`` (log-log), one panel per
    construction or lemma.

    Per target: the formula's ``n`` (with the constant in use; solid), the smallest ``n``
    certified within eps (dashed, filled markers) and empirically within eps (dotted,
    open markers) for a fraction ``1 - delta`` of seeds, and the counting lower bound
    where one exists (grey). A search that found no sufficient ``n`` up to its ``n_max``
    is drawn at ``n_max`` with an upward triangle.
    """
    groups: dict = defaultdict(lambda: defaultdict(list))
    for r in _slack_rows(rows):
        groups[r["of"]][r["target"]].append(r)
    if not groups:
        raise ValueError("rows: no slack rows to plot")
    from slth.experiments.registry import EXPERIMENTS

    names = [e for e in EXPERIMENTS if e in groups]
    fig, axes = _panels(len(names), 3, (5.0, 4.2), fig)
    data = {}
    for ax, name in zip(axes, names, strict=False):
        for i, (target, rs) in enumerate(sorted(groups[name].items())):
            rs = sorted(rs, key=lambda r: -r["eps"])
            color = f"C{i % 10}"
            x = np.array([1.0 / r["eps"] for r in rs])
            entry = {"x": x, "formula_n": np.array([r["formula_n"] for r in rs]),
                     "formula": rs[0]["formula"]}
            ax.plot(x, entry["formula_n"], "-", color=color, marker="s", ms=4,
                    label=f"{target}: formula n")
            lemma = rs[0]["nested"]             # exact per trial: one sufficient n
            kinds = ((("certified", "--", color, "covered within eps"),) if lemma else
                     (("certified", "--", color, "certified within eps"),
                      ("empirical", ":", "none", "empirically within eps")))
            for kind, style, face, what in kinds:
                found = np.array([np.nan if r[f"{kind}_n"] is None else r[f"{kind}_n"]
                                  for r in rs], dtype=float)
                entry[f"{kind}_n"] = found
                ax.plot(x, found, style, color=color, marker="o", ms=5, mfc=face,
                        label=f"{target}: {what}")
                missing = np.isnan(found)
                if missing.any():
                    ax.plot(x[missing], [r["n_max"] for r, m in zip(rs, missing, strict=True)
                                         if m], "^", color=color, ms=7)
            lower = np.array([np.nan if r["lower_n"] is None else r["lower_n"] for r in rs],
                             dtype=float)
            entry["lower_n"] = lower
            if np.isfinite(lower).any():
                ax.plot(x, lower, "-", color="0.55", lw=1.0, label=f"{target}: counting bound")
            data[f"{name} {target}"] = entry
        ax.set_xscale("log")
        ax.set_yscale("log")
        eps_shown = sorted({r["eps"] for rs in groups[name].values() for r in rs})
        ax.set_xticks([1.0 / e for e in eps_shown], [f"{e:g}" for e in eps_shown])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        lo, hi = ax.get_ylim()
        # minor labels only where the axis spans less than a decade (else they crowd)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}") if hi < 10 * lo
                                     else NullFormatter())
        ax.set_xlabel("eps (log scale, decreasing)")
        ax.set_ylabel("n (log scale)")
        formulas = sorted({r["formula"] for rs in groups[name].values() for r in rs})
        ax.set_title(f"{name}\n" + "\n".join(textwrap.fill(f, 70) for f in formulas),
                     fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Sufficient widths (a fraction 1 - delta of seeds within eps) against the "
                 "width formulas")
    return fig, data


# ------------------------------------------------------------- neuron pruning
def _neuron_rows(rows):
    return [r for r in rows if r["experiment"] == "malach_neuron_pruning"]


def neuron_pruning(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Pruning weights against pruning whole neurons of the same random network, one panel
    per input dimension ``d`` (:mod:`slth.experiments.neuron_pruning`): against the hidden
    width ``N`` (log-log), the weight-pruned ticket's certified error (an upper bound) and
    its largest error on the inputs, and for neuron subsets the greedy subset's error
    (achieved), the exact optimum on the inputs and the LP relaxation's bound (both lower
    bounds on every neuron subset's sup error). Medians over seeds.

    Examples
    --------
    >>> rows = [{"experiment": "malach_neuron_pruning", "d": 8, "hidden": h,
    ...          "weight_certified": 1 / h, "weight_sample": 0.5 / h, "greedy": 0.3,
    ...          "lp_bound": 0.0, "exact": None} for h in (16, 256)]
    >>> fig, data = neuron_pruning(rows)
    >>> data[8]["greedy"].tolist(), data[8]["exact"].tolist()
    ([0.3, 0.3], [nan, nan])
    """
    groups: dict = defaultdict(lambda: defaultdict(list))
    for r in _neuron_rows(rows):
        groups[int(r["d"])][int(r["hidden"])].append(r)
    if not groups:
        raise ValueError("rows: no malach_neuron_pruning rows to plot")
    ds = sorted(groups)
    fig, axes = _panels(len(ds), 3, (5.0, 4.2), fig)
    curves = (("weight_certified", "weights: certified", "C0", "-", "o"),
              ("weight_sample", "weights: on the inputs", "C0", ":", "o"),
              ("greedy", "neurons: greedy subset", "C3", "-", "s"),
              ("exact", "neurons: exact optimum (lower bound)", "C1", "--", "D"),
              ("lp_bound", "neurons: LP bound (lower bound)", "C2", "--", "v"))
    data = {}
    for ax, d in zip(axes, ds, strict=False):
        hidden = np.array(sorted(groups[d]), dtype=float)
        entry = {"hidden": hidden}
        for key, label, color, style, marker in curves:
            y = np.array([np.median([np.nan if r.get(key) is None else r[key]
                                     for r in groups[d][h]]) for h in sorted(groups[d])])
            entry[key] = y
            shown = np.isfinite(y) & (y > 0)
            if shown.any():
                ax.plot(hidden[shown], y[shown], style, color=color, marker=marker, ms=4,
                        label=label)
        data[d] = entry
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden neurons N of the random network (log scale)")
        ax.set_ylabel("error: sup on the ball, or max on the inputs (log scale)")
        ax.set_title(f"target: one linear neuron, d = {d}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Malach et al. 2020: pruning weights vs pruning whole neurons")
    return fig, data


# ------------------------------------------------------- widths side by side
def construction_widths(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """The constructions' width formulas side by side against ``1/eps`` (log-log).

    Left: the formula's ``n`` (what it counts differs between constructions: the legend
    says it); right: the source parameters that ``n`` means, the comparable size. Rows
    come from :func:`slth.experiments.constructions.formula_widths`; each line is
    labelled with its formula and constant (:data:`slth.bounds.FORMULAS`).

    Examples
    --------
    >>> from slth.experiments.constructions import formula_widths
    >>> fig, data = construction_widths(formula_widths([0.1, 0.01], constructions=["pensia"]))
    >>> data["pensia"]["source_params"].tolist()
    [3024.0, 3584.0]
    """
    by_name: dict = defaultdict(list)
    for r in rows:
        by_name[r["construction"]].append(r)
    if not by_name:
        raise ValueError("rows: no construction widths to plot")
    if fig is None:
        fig = Figure(figsize=(13.0, 8.5), layout="constrained")
    ax_n, ax_p = fig.subplots(1, 2)
    data = {}
    handles = []
    for i, (name, rs) in enumerate(by_name.items()):
        rs = sorted(rs, key=lambda r: -r["eps"])
        x = np.array([1.0 / r["eps"] for r in rs])
        entry = {"x": x, "formula_n": np.array([r["formula_n"] for r in rs], dtype=float),
                 "source_params": np.array([np.nan if r["source_params"] is None
                                            else r["source_params"] for r in rs],
                                           dtype=float),
                 "label": rs[0]["label"]}
        style = dict(color=f"C{i % 10}", marker="os^vDP*Xh<>"[i % 11], ms=4)
        (line,) = ax_n.plot(x, entry["formula_n"], "-", **style)
        if np.isfinite(entry["source_params"]).any():
            ax_p.plot(x, entry["source_params"], "-", **style)
        # one legend for both panels: the construction, what its n counts, its formula
        line.set_label(textwrap.fill(f"{rs[0]['theorem']}: n counts {rs[0]['quantity']}; "
                                     f"{rs[0]['label']}", 150))
        handles.append(line)
        data[name] = entry
    eps_shown = sorted({r["eps"] for r in rows})
    ticks = eps_shown if len(eps_shown) <= 8 else eps_shown[::max(1, len(eps_shown) // 6)]
    for ax, what in ((ax_n, "formula's n"), (ax_p, "source parameters")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1.0 / e for e in ticks], [f"{e:.2g}" for e in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("eps (log scale, decreasing)")
        ax.set_ylabel(f"{what} (log scale)")
        ax.grid(True, which="both", alpha=0.3)
    ax_n.set_title("The formula's n (each counts its own unit)", fontsize=9)
    ax_p.set_title("Source size at that n", fontsize=9)
    fig.legend(handles=handles, loc="outside lower center", fontsize=7, ncols=1)
    target = rows[0].get("target", "")
    fig.suptitle("Width formulas of the constructions" + (f", target {target}" if target
                                                           else "") +
                 " (constants: this package's calibrations or placeholders, see labels)")
    return fig, data


# ------------------------------------------------------------ trained tickets
def _rows_of(rows, experiment):
    return [r for r in rows if r["experiment"] == experiment]


def _weak_label(r) -> str:
    c = r["config"]
    data = c["dataset"] + (f" {c['size']}x{c['size']}" if c["dataset"] == "mnist5k" else "")
    return f"{data} {'-'.join(map(str, c['hidden']))} seed {c['seed']}"


def imp_curves(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Test accuracy against density (log axis, falling to the right) for IMP and its
    baselines, one panel per (data set, hidden widths, seed).

    Examples
    --------
    >>> row = {"experiment": "imp", "config": {"dataset": "digits", "size": 28,
    ...        "hidden": [8], "seed": 0}, "density": [1.0, 0.8], "accuracy": [0.9, 0.91],
    ...        "reinit_accuracy": [None, 0.85], "random_prune_accuracy": [None, 0.8]}
    >>> fig, data = imp_curves([row])
    >>> data["digits 8 seed 0"]["reinit"]
    [[0.8, 0.85]]
    """
    rows = _rows_of(rows, "imp")
    if not rows:
        raise ValueError("rows: no 'imp' rows to plot")
    fig, axes = _panels(len(rows), 2, (5.5, 4.0), fig)
    data = {}
    for ax, r in zip(axes, rows, strict=False):
        label = _weak_label(r)
        curves = {}
        for key, name, style in (("accuracy", "IMP (rewound)", "o-"),
                                 ("reinit_accuracy", "reinit", "s--"),
                                 ("random_prune_accuracy", "random prune", "^:")):
            pts = [[d, a] for d, a in zip(r["density"], r[key], strict=True) if a is not None]
            curves["imp" if key == "accuracy" else name.replace(" ", "_")] = pts
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, style, ms=3, label=name)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("density of the prunable weights")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"IMP, {label}", fontsize=9)
        ax.legend(fontsize=7)
        data[label] = curves
    return fig, data


def essential(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """One-shot pruning without retraining: accuracy against sparsity with the essential
    sparsity (dotted) and the knee (dashed) marked and the N:M patterns as points (left);
    IoU of the one-shot and IMP masks at IMP's densities (middle); when a row has
    training checkpoints (``checkpoints`` in its config), the essential sparsity, the knee
    and the test accuracy at each checkpoint epoch (right). One row of panels per
    (data set, hidden widths, seed).

    Examples
    --------
    >>> row = {"experiment": "essential_sparsity", "config": {"dataset": "digits",
    ...        "size": 28, "hidden": [8], "seed": 0}, "sparsities": [0.0, 0.5, 0.9],
    ...        "accuracy": [0.9, 0.9, 0.5], "dense_accuracy": 0.9, "drop": 0.01,
    ...        "essential_sparsity": 0.5, "knee": 0.5, "nm": {}, "imp_density": [],
    ...        "imp_iou": [], "checkpoint_epoch": [1, 5], "checkpoint_accuracy": [0.5, 0.9],
    ...        "checkpoint_essential_sparsity": [0.0, 0.5], "checkpoint_knee": [0.5, 0.5]}
    >>> fig, data = essential([row])
    >>> data["digits 8 seed 0"]["checkpoints"]
    [[1, 0.5, 0.0, 0.5], [5, 0.9, 0.5, 0.5]]
    """
    rows = _rows_of(rows, "essential_sparsity")
    if not rows:
        raise ValueError("rows: no 'essential_sparsity' rows to plot")
    with_ckpt = any(r.get("checkpoint_epoch") for r in rows)
    cols = 3 if with_ckpt else 2
    fig = fig or Figure(figsize=(5.5 * cols, 4.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), cols, squeeze=False)
    data = {}
    for panels, r in zip(axes, rows, strict=True):
        ax, ax_iou = panels[0], panels[1]
        label = _weak_label(r)
        ax.plot(r["sparsities"], r["accuracy"], "o-", ms=3, label="one-shot, global magnitude")
        ax.axhline(r["dense_accuracy"] - r["drop"], color="grey", lw=0.8, ls=":")
        ax.axvline(r["essential_sparsity"], color="C2", ls=":",
                   label=f"essential sparsity {r['essential_sparsity']:.3f}")
        ax.axvline(r["knee"], color="C3", ls="--", label=f"knee {r['knee']:.3f}")
        for i, (pattern, acc) in enumerate(sorted(r["nm"].items())):
            if not pattern.endswith("global"):
                n, m = map(int, pattern.split(":"))
                ax.plot([1 - n / m], [acc], "D", color=f"C{4 + i % 5}", label=pattern)
        ax.set_xlabel("sparsity of the prunable weights")
        ax.set_ylabel("test accuracy (no retraining)")
        ax.set_title(f"Essential sparsity, {label}", fontsize=9)
        ax.legend(fontsize=7)
        ax_iou.plot(r["imp_density"], r["imp_iou"], "o-", ms=3)
        ax_iou.set_xscale("log")
        ax_iou.invert_xaxis()
        ax_iou.set_xlabel("density (IMP level)")
        ax_iou.set_ylabel("IoU(one-shot mask, IMP mask)")
        ax_iou.set_title("Overlap of one-shot and IMP masks", fontsize=9)
        data[label] = {"sparsity": list(r["sparsities"]), "accuracy": list(r["accuracy"]),
                       "essential_sparsity": r["essential_sparsity"], "knee": r["knee"],
                       "nm": dict(r["nm"]), "iou": list(zip(r["imp_density"], r["imp_iou"],
                                                            strict=True))}
        if with_ckpt:
            ax_ck = panels[2]
            epochs = r.get("checkpoint_epoch") or []
            if epochs:
                ax_ck.plot(epochs, r["checkpoint_essential_sparsity"], "o-", ms=3,
                           color="C2", label="essential sparsity")
                ax_ck.plot(epochs, r["checkpoint_knee"], "s--", ms=3, color="C3",
                           label="knee")
                ax_ck.plot(epochs, r["checkpoint_accuracy"], "^:", ms=3, color="C0",
                           label="test accuracy (dense)")
                ax_ck.set_xscale("log")
                ax_ck.legend(fontsize=7)
            ax_ck.set_xlabel("training epoch (checkpoint)")
            ax_ck.set_ylabel("sparsity / accuracy")
            ax_ck.set_title("Along training checkpoints", fontsize=9)
            data[label]["checkpoints"] = [
                [e, a, s_, k] for e, a, s_, k in zip(
                    epochs, r["checkpoint_accuracy"], r["checkpoint_essential_sparsity"],
                    r["checkpoint_knee"], strict=True)] if epochs else []
    return fig, data


def gsm_curves(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """GSM against its baselines: test accuracy against compression (left: GSM pruned
    without fine-tuning, one-shot magnitude pruning fine-tuned, IMP; the ticket test's
    retrained masks dashed) and the per-layer densities GSM and magnitude pruning find
    (right). One row of panels per (data set, hidden widths, seed).

    Examples
    --------
    >>> row = {"experiment": "gsm", "config": {"dataset": "digits", "size": 28,
    ...        "hidden": [8], "seed": 0}, "compressions": [10.0], "gsm_accuracy": [0.8],
    ...        "one_shot_accuracy": [0.7], "imp_accuracy": [], "ticket_gsm": [0.75],
    ...        "ticket_magnitude": [0.7], "ticket_random": [0.3], "dense_accuracy": 0.9,
    ...        "layer_density_gsm": [[0.1]], "layer_density_magnitude": [[0.1]]}
    >>> fig, data = gsm_curves([row])
    >>> data["digits 8 seed 0"]["one_shot"]
    [[10.0, 0.7]]
    """
    rows = _rows_of(rows, "gsm")
    if not rows:
        raise ValueError("rows: no 'gsm' rows to plot")
    fig = fig or Figure(figsize=(11, 4.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    data = {}
    for (ax, ax_l), r in zip(axes, rows, strict=True):
        label = _weak_label(r)
        comps = r["compressions"]
        curves = {}
        for key, name, style in (("gsm_accuracy", "GSM, pruned, no fine-tuning", "o-"),
                                 ("one_shot_accuracy", "one-shot + fine-tuning", "s-"),
                                 ("imp_accuracy", "IMP (first level at or below)", "^-"),
                                 ("ticket_gsm", "ticket: GSM mask on init", "o--"),
                                 ("ticket_magnitude", "ticket: magnitude mask on init",
                                  "s--"),
                                 ("ticket_random", "ticket: random mask on init", "x:")):
            pts = [[c, a] for c, a in zip(comps, r[key], strict=False)]
            curves[key.removesuffix("_accuracy")] = pts
            if pts:
                ax.plot(*zip(*pts, strict=True), style, ms=4, label=name)
        ax.axhline(r["dense_accuracy"], color="grey", lw=0.8, ls=":", label="dense")
        ax.set_xscale("log")
        shown = sorted({float(c) for c in comps})
        if shown:
            ax.set_xticks(shown, [f"{c:g}x" for c in shown])
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("compression (prunable weights / kept)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"GSM, {label}", fontsize=9)
        ax.legend(fontsize=7)
        for i, (c, g, m) in enumerate(zip(comps, r["layer_density_gsm"],
                                          r["layer_density_magnitude"], strict=True)):
            layers = range(1, len(g) + 1)
            ax_l.plot(layers, g, "o-", color=f"C{i}", label=f"GSM {c:g}x")
            ax_l.plot(layers, m, "s--", color=f"C{i}", label=f"magnitude {c:g}x")
        ax_l.set_yscale("log")
        ax_l.set_xticks(list(layers))
        ax_l.set_xlabel("prunable layer")
        ax_l.set_ylabel("kept fraction")
        ax_l.set_title("Per-layer densities", fontsize=9)
        ax_l.legend(fontsize=7)
        data[label] = curves
    return fig, data


# ---------------------------------------------------------------------- digits
def _digits_rows(rows):
    return [r for r in rows if r["experiment"] == "lab_digits"]


def digits_accuracy(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Test accuracy against width (log x) on the digits task, one panel per target.

    One line per searcher and density asked (median over seeds, the min-max band shaded;
    keys ``"<searcher> <density>"`` in ``data``), the depth-L+1 construction among them
    (``"construction"``), the target's accuracy as a horizontal
    line and the formula's ``n`` as a vertical one. ``data`` holds per panel and searcher
    ``n``, ``median``, ``min``, ``max`` and the density (median), and the target's accuracy.

    Examples
    --------
    >>> rows = [{"experiment": "lab_digits", "searcher": s, "n": n, "formula_n": 8,
    ...          "accuracy": a, "density": 0.05, "target_accuracy": 0.95,
    ...          "target_widths": [64, 16, 10], "formula": "f", "seed": 0}
    ...         for s, n, a in [("construction", 2, 0.3), ("construction", 8, 0.95),
    ...                         ("edge_popup", 2, 0.2), ("edge_popup", 8, 0.6)]]
    >>> fig, data = digits_accuracy(rows)
    >>> data["64-16-10"]["edge_popup 0.05"]["median"].tolist(), data["64-16-10"]["target"]
    ([0.2, 0.6], 0.95)
    """
    from slth.experiments.lab_digits import SEARCHERS

    groups: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in _digits_rows(rows):
        # a searcher's runs at different densities are different lines
        # (the result's "density" is the one found; the config's, the one asked for)
        asked = r.get("config", r)["density"]
        line = (r["searcher"], None if r["searcher"] == "construction" else asked)
        groups["-".join(map(str, r["target_widths"]))][line][r["n"]].append(r)
    if not groups:
        raise ValueError("rows: no lab_digits rows to plot")
    fig, axes = _panels(len(groups), 2, (8.0, 4.4), fig)
    data = {}
    labels = {"construction": "construction (burkholz)", "edge_popup": "edge-popup",
              "gem_miner": "GEM-MINER"}
    for ax, (target, by_searcher) in zip(axes, sorted(groups.items()), strict=False):
        entry: dict = {}
        first = next(iter(next(iter(by_searcher.values())).values()))[0]
        lines = sorted(by_searcher, key=lambda k: (SEARCHERS.index(k[0]), k[1] or 0.0))
        for i, line in enumerate(lines):
            searcher, density = line
            by_n = by_searcher[line]
            ns = np.array(sorted(by_n))
            acc = [np.array([r["accuracy"] for r in by_n[n]]) for n in ns]
            e = {"n": ns, "median": np.array([np.median(a) for a in acc]),
                 "min": np.array([a.min() for a in acc]), "max": np.array([a.max() for a in acc]),
                 "density": np.array([np.median([r["density"] for r in by_n[n]]) for n in ns])}
            color = f"C{i}"
            name = searcher if density is None else f"{searcher} {density:g}"
            label = labels[searcher] + ("" if density is None else f", density {density:g}")
            ax.plot(ns, e["median"], "-o", color=color, ms=5, label=label)
            if any(len(a) > 1 for a in acc):
                ax.fill_between(ns, e["min"], e["max"], color=color, alpha=0.2, lw=0)
            entry[name] = e
        entry["target"] = float(first["target_accuracy"])
        entry["formula_n"] = int(first["formula_n"])
        ax.axhline(entry["target"], color="k", lw=1.0, ls="--",
                   label=f"target (sklearn MLP), {entry['target']:.3f}")
        ax.axvline(entry["formula_n"], color="0.5", lw=1.0, ls=":",
                   label=f"formula n = {entry['formula_n']}")
        ax.axhline(0.1, color="0.7", lw=0.8, ls="-.", label="chance (10 classes)")
        ax.set_xscale("log")
        shown = sorted({int(n) for by_n in by_searcher.values() for n in by_n}
                       | {entry["formula_n"]})
        ax.set_xticks(shown, [str(n) for n in shown])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("n, copies per target neuron (log scale)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"digits, target {target}\n" + textwrap.fill(first.get("formula", ""), 70),
                     fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        data[target] = entry
    fig.suptitle("Digits: the constructed ticket and searched tickets in the same sources",
                 fontsize=10)
    return fig, data


def bip_curves(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Test accuracy against density (log axis, falling to the right) of BiP, HYDRA,
    one-shot pruning plus fine-tuning and IMP, the dense accuracy dotted (left); wall
    seconds of each method at each density (right; IMP's include all its earlier levels).

    Examples
    --------
    >>> row = {"experiment": "bip", "config": {"dataset": "digits", "size": 8,
    ...        "hidden": [8], "seed": 0}, "densities": [0.2, 0.05], "dense_accuracy": 0.9,
    ...        "bip_accuracy": [0.9, 0.8], "bip_seconds": [1.0, 1.0],
    ...        "hydra_accuracy": [0.85, 0.7], "hydra_seconds": [1.0, 1.0],
    ...        "one_shot_finetune_accuracy": [0.8, 0.5],
    ...        "one_shot_finetune_seconds": [0.5, 0.5]}
    >>> fig, data = bip_curves([row])
    >>> data["digits 8 seed 0"]["hydra"]
    [[0.2, 0.85], [0.05, 0.7]]
    """
    rows = _rows_of(rows, "bip")
    if not rows:
        raise ValueError("rows: no 'bip' rows to plot")
    fig = fig or Figure(figsize=(11, 4.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    data = {}
    for (ax, ax_t), r in zip(axes, rows, strict=True):
        label = _weak_label(r)
        curves = {}
        for key, name, style in (("bip", "BiP", "o-"), ("hydra", "HYDRA", "s--"),
                                 ("one_shot_finetune", "one-shot + fine-tune", "^:"),
                                 ("imp", "IMP", "D-.")):
            if f"{key}_accuracy" not in r:
                continue
            dens = r["imp_density"] if key == "imp" else r["densities"]
            curves[key] = [[d, a] for d, a in zip(dens, r[f"{key}_accuracy"], strict=True)]
            ax.plot(dens, r[f"{key}_accuracy"], style, ms=4, label=name)
            ax_t.plot(dens, r[f"{key}_seconds"], style, ms=4, label=name)
        ax.axhline(r["dense_accuracy"], color="grey", lw=0.8, ls=":", label="dense")
        for a in (ax, ax_t):
            a.set_xscale("log")
            a.invert_xaxis()
            a.set_xlabel("density of the prunable weights")
            a.legend(fontsize=7)
        ax_t.set_yscale("log")
        ax.set_ylabel("test accuracy")
        ax_t.set_ylabel("wall seconds")
        ax.set_title(f"BiP and baselines, {label}", fontsize=9)
        ax_t.set_title("Wall time", fontsize=9)
        data[label] = curves
    return fig, data


def _transfer_label(r) -> str:
    c = r["config"]
    src = f"MNIST-5k 8x8 ({r.get('source_size', c['source_limit'])} images)"
    return f"{src} -> digits, {c['optimizer']}, {'-'.join(map(str, c['hidden']))} seed {c['seed']}"


def transfer_curves(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """Test accuracy on the target against density: transferred tickets, the target's
    own IMP tickets and random tickets; one panel per config.

    Examples
    --------
    >>> row = {"experiment": "ticket_transfer", "config": {"source_limit": 500,
    ...        "optimizer": "sgd", "hidden": [8], "seed": 0}, "density": [1.0, 0.8],
    ...        "transfer": [0.9, 0.88], "own": [0.91, 0.9], "random": [0.9, 0.8]}
    >>> fig, data = transfer_curves([row])
    >>> data["MNIST-5k 8x8 (500 images) -> digits, sgd, 8 seed 0"]["random"]
    [[1.0, 0.9], [0.8, 0.8]]
    """
    rows = _rows_of(rows, "ticket_transfer")
    if not rows:
        raise ValueError("rows: no 'ticket_transfer' rows to plot")
    fig, axes = _panels(len(rows), 2, (5.5, 4.0), fig)
    data = {}
    for ax, r in zip(axes, rows, strict=False):
        label = _transfer_label(r)
        curves = {}
        for key, name, style in (("transfer", "transferred ticket (new head)", "o-"),
                                 ("own", "target's own IMP ticket", "s--"),
                                 ("random", "random ticket", "x:")):
            curves[key] = [[d, a] for d, a in zip(r["density"], r[key], strict=True)]
            ax.plot(r["density"], r[key], style, ms=4, label=name)
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("density of the prunable weights")
        ax.set_ylabel("test accuracy on digits")
        ax.set_title(label, fontsize=8)
        ax.legend(fontsize=7)
        data[label] = curves
    return fig, data


def inertial_manifold(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """The exact Hessian's eigenvalues in ascending order, the predicted dimension ``N``
    and the weights kept at the essential sparsity marked (left); the gaps
    ``lambda_{N+1} - lambda_N`` against ``2 Lip`` of the remainder (right). One row of
    panels per (data set, hidden widths, seed).

    Examples
    --------
    >>> row = {"experiment": "inertial_manifold", "config": {"dataset": "digits",
    ...        "size": 8, "hidden": [4], "seed": 0}, "eigenvalues": [-0.1, 0.2, 2.0],
    ...        "lip": 0.5, "predicted_dimension": 2, "essential_kept": 1,
    ...        "negative_fraction": 1 / 3}
    >>> fig, data = inertial_manifold([row])
    >>> data["digits 4 seed 0"]["gaps"]
    [0.30000000000000004, 1.8]
    """
    rows = _rows_of(rows, "inertial_manifold")
    if not rows:
        raise ValueError("rows: no 'inertial_manifold' rows to plot")
    fig = fig or Figure(figsize=(11, 4.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    data = {}
    for (ax, ax_gap), r in zip(axes, rows, strict=True):
        label = _weak_label(r)
        eig = np.asarray(r["eigenvalues"], dtype=float)
        idx = np.arange(1, eig.size + 1)
        ax.plot(idx, eig, ".", ms=2, label="Hessian eigenvalues")
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_yscale("symlog", linthresh=1e-3)
        n = r["predicted_dimension"]
        if n is not None:
            ax.axvline(n, color="C3", ls="--", label=f"predicted N = {n}")
        ax.axvline(r["essential_kept"], color="C2", ls=":",
                   label=f"kept at essential sparsity: {r['essential_kept']}")
        ax.set_xlabel("index (ascending)")
        ax.set_ylabel("eigenvalue")
        ax.set_title(f"Hessian spectrum, {label}, negative fraction "
                     f"{r['negative_fraction']:.3f}", fontsize=9)
        ax.legend(fontsize=7)
        gaps = np.diff(eig)
        ax_gap.plot(idx[:-1], gaps, ".", ms=2, label="gap lambda_{N+1} - lambda_N")
        ax_gap.axhline(2 * r["lip"], color="C3", ls="--", label=f"2 Lip = {2 * r['lip']:.3g}")
        ax_gap.set_yscale("log")
        ax_gap.set_xlabel("N")
        ax_gap.set_ylabel("gap")
        ax_gap.set_title("Spectral gap condition (Lip sampled: a lower bound)", fontsize=9)
        ax_gap.legend(fontsize=7)
        data[label] = {"eigenvalues": eig.tolist(), "gaps": gaps.tolist(), "two_lip": 2 * r["lip"],
                       "predicted_dimension": n, "essential_kept": r["essential_kept"]}
    return fig, data


def suite_figures(rows: list[dict], folder, formats=("png",), prefix: str = "") -> list[str]:
    """Write every figure the rows allow (file names start with ``prefix``); returns them."""
    folder = Path(folder)
    written = []
    if _ticket_rows(rows):
        written += _save(overparameterization(rows)[0], folder,
                         f"{prefix}overparameterization", formats)
    if _slack_rows(rows):
        written += _save(slack(rows)[0], folder, f"{prefix}slack", formats)
    if _neuron_rows(rows):
        written += _save(neuron_pruning(rows)[0], folder, f"{prefix}neuron_pruning", formats)
    if _digits_rows(rows):
        written += _save(digits_accuracy(rows)[0], folder, f"{prefix}digits_accuracy", formats)
    for exp, fn in (("lab_subset_sum", lab_subset_sum),
                    ("lab_teacher_student", lab_teacher_student)):
        if _lab_rows(rows, exp):
            written += _save(fn(rows)[0], folder, f"{prefix}{exp}", formats)
    if _rows_of(rows, "imp"):
        written += _save(imp_curves(rows)[0], folder, f"{prefix}imp", formats)
    if _rows_of(rows, "essential_sparsity"):
        written += _save(essential(rows)[0], folder, f"{prefix}essential_sparsity", formats)
    if _rows_of(rows, "bip"):
        written += _save(bip_curves(rows)[0], folder, f"{prefix}bip", formats)
    if _rows_of(rows, "inertial_manifold"):
        written += _save(inertial_manifold(rows)[0], folder, f"{prefix}inertial_manifold",
                         formats)
    if _rows_of(rows, "gsm"):
        written += _save(gsm_curves(rows)[0], folder, f"{prefix}gsm", formats)
    if _rows_of(rows, "ticket_transfer"):
        written += _save(transfer_curves(rows)[0], folder, f"{prefix}ticket_transfer",
                         formats)
    if _lemma_rows(rows):
        written += _save(samples_needed(rows)[0], folder, f"{prefix}samples_needed", formats)
        for exp in ("rss", "mrss"):
            if any(r["experiment"] == exp for r in rows):
                written += _save(success_heatmap(rows, experiment=exp)[0], folder,
                                 f"{prefix}success_heatmap_{exp}", formats)
    return written


def prepare_out(out) -> Path:
    """The output folder ``out``, created if missing; ValueError when it cannot be used."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out: {os.fspath(out)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out: cannot create the folder {os.fspath(out)!r}: "
                         f"{exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK):
        raise ValueError(f"out: the folder {os.fspath(out)!r} is not writable")
    return path


def plot_store(store, kind: str = "all", out: str | os.PathLike = ".",
               formats=("png",), experiment: str | None = None) -> list[str]:
    """Figures of a results file: ``kind`` one of :data:`KINDS` or ``"all"``.

    Raises
    ------
    ValueError
        Unknown kind or format, a store without rows for that kind, an unusable folder.
    """
    from slth.experiments.store import Store

    if kind not in (*KINDS, "all"):
        raise ValueError(f"kind must be one of {', '.join(map(repr, (*KINDS, 'all')))}; "
                         f"got {kind!r}")
    for fmt in formats:
        check_format(fmt)
    folder = prepare_out(out)
    if isinstance(store, Store):
        rows = store.rows(experiment)
    else:
        with Store(store, readonly=True) as st:
            rows = st.rows(experiment)
    if kind == "all":
        written = suite_figures(rows, folder, formats)
        if not written:
            raise ValueError("store: no rows to plot")
        return written
    if kind == "overparameterization":
        return _save(overparameterization(rows)[0], folder, "overparameterization", formats)
    if kind == "samples-needed":
        return _save(samples_needed(rows)[0], folder, "samples_needed", formats)
    if kind == "slack":
        return _save(slack(rows)[0], folder, "slack", formats)
    if kind == "neuron-pruning":
        return _save(neuron_pruning(rows)[0], folder, "neuron_pruning", formats)
    if kind == "lab-subset-sum":
        return _save(lab_subset_sum(rows)[0], folder, "lab_subset_sum", formats)
    if kind == "lab-teacher-student":
        return _save(lab_teacher_student(rows)[0], folder, "lab_teacher_student", formats)
    if kind == "imp":
        return _save(imp_curves(rows)[0], folder, "imp", formats)
    if kind == "essential-sparsity":
        return _save(essential(rows)[0], folder, "essential_sparsity", formats)
    if kind == "gsm":
        return _save(gsm_curves(rows)[0], folder, "gsm", formats)
    if kind == "ticket-transfer":
        return _save(transfer_curves(rows)[0], folder, "ticket_transfer", formats)
    if kind == "digits-accuracy":
        return _save(digits_accuracy(rows)[0], folder, "digits_accuracy", formats)
    if kind == "bip":
        return _save(bip_curves(rows)[0], folder, "bip", formats)
    if kind == "inertial-manifold":
        return _save(inertial_manifold(rows)[0], folder, "inertial_manifold", formats)
    return _save(success_heatmap(rows, experiment=experiment)[0], folder,
                 f"success_heatmap{'_' + experiment if experiment else ''}", formats)


# ------------------------------------------------------------------------ lab
def _lab_rows(rows, experiment):
    return [r for r in rows if r["experiment"] == experiment]


def lab_subset_sum(rows: list[dict], *, fig: Figure | None = None) -> tuple[Figure, dict]:
    """GEM-MINER's relaxed subset sum against the exact one (``"lab_subset_sum"`` rows).

    Left: the error ``|z - sum of the subset|`` against ``n`` (log scale), median over all
    targets and value sets with a 10-90% band, for the rounded relaxation and the exact
    optimum, and the covering radius of the value sets (median; the exact optimum's
    worst case over [-1, 1]; not computed above ``COVERING_MAX_N``). Right: seconds per
    target of each solver (the covering radius is one computation per value set).
    """
    groups: dict = defaultdict(list)
    for r in _lab_rows(rows, "lab_subset_sum"):
        groups[r["config"]["dist"]].append(r)
    if not groups:
        raise ValueError("rows: no lab_subset_sum rows to plot")
    fig = fig or Figure(figsize=(11.0, 4.4), layout="constrained")
    ax_err, ax_time = fig.subplots(1, 2)
    data = {}
    for i, (dist, rs) in enumerate(sorted(groups.items())):
        by_n = defaultdict(list)
        for r in rs:
            by_n[r["n"]].append(r)
        ns = np.array(sorted(by_n))
        entry: dict = {"n": ns}
        for j, (kind, style) in enumerate((("relaxed", "-"), ("exact", "--"))):
            q = np.array([_quantiles(np.concatenate([np.ravel(r[f"{kind}_errors"])
                                                     for r in by_n[n]])) for n in ns])
            color = f"C{(2 * i + j) % 10}"
            what = ("rounded relaxation (GEM-MINER)" if kind == "relaxed"
                    else "exact optimum (rss.solve_many)")
            ax_err.plot(ns, q[:, 1], style, marker="o", ms=4, color=color,
                        label=f"{dist}: {what}")
            ax_err.fill_between(ns, q[:, 0], q[:, 2], color=color, alpha=0.15, lw=0)
            secs = np.array([np.median([r["seconds_per_target"][kind] for r in by_n[n]])
                             for n in ns])
            ax_time.plot(ns, secs, style, marker="o", ms=4, color=color,
                         label=f"{dist}: {what}")
            entry[kind] = {"q10": q[:, 0], "median": q[:, 1], "q90": q[:, 2],
                           "seconds_per_target": secs}
        cov = np.array([np.median([c for r in by_n[n] for c in r["covering"]
                                   if c is not None] or [np.nan]) for n in ns])
        shown = np.isfinite(cov)
        if shown.any():
            ax_err.plot(ns[shown], cov[shown], ":", marker="s", ms=4, color="0.2",
                        label=f"{dist}: covering radius (worst target in [-1, 1])")
        entry["covering"] = cov
        data[dist] = entry
    ax_err.set_yscale("log")
    ax_err.set_xlabel("n (values)")
    ax_err.set_ylabel("|z - subset sum|, targets z uniform on [-1, 1]")
    ax_err.set_title("Error: median, band 10-90% over targets and value sets", fontsize=9)
    ax_time.set_yscale("log")
    ax_time.set_xlabel("n (values)")
    ax_time.set_ylabel("seconds per target")
    ax_time.set_title("Time (median over value sets)", fontsize=9)
    for ax in (ax_err, ax_time):
        ax.set_xticks(sorted({int(n) for v in data.values() for n in v["n"]}))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Subset sum by gradient (relaxed, rounded) against the exact optimum")
    return fig, data


def lab_teacher_student(rows: list[dict], *, fig: Figure | None = None,
                        eps_levels=None) -> tuple[Figure, dict]:
    """Searched against constructed tickets (``"lab_teacher_student"`` rows): empirical sup
    error against the source width ``n`` (log-log), one panel per target.

    One colour per density, solid with dots for edge-popup and dashed with triangles for
    GEM-MINER (median over seeds, band 10-90%); black, the constructed ticket on the same
    sources (solid: empirical, dashed: certified); grey, the zero network (what a search
    that learnt nothing gives); dotted lines at the accuracies ``eps_levels``
    (:data:`slth.experiments.lab.EPS_LEVELS`), the vertical line at the formula's ``n``.
    """
    from slth.experiments.lab import EPS_LEVELS, _density_label, _target_label

    eps_levels = EPS_LEVELS if eps_levels is None else tuple(eps_levels)
    panels: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in _lab_rows(rows, "lab_teacher_student"):
        c = r["config"]
        panels[_target_label(c)][(r["searcher"], _density_label(c))][r["n"]].append(r)
    if not panels:
        raise ValueError("rows: no lab_teacher_student rows to plot")
    fig, axes = _panels(len(panels), 2, (6.5, 4.8), fig)
    data = {}
    for ax, (target, curves) in zip(axes, sorted(panels.items()), strict=False):
        densities = sorted({d for _, d in curves}, key=lambda d: (d == "constructed", d))
        every: dict = defaultdict(list)
        for by_n in curves.values():
            for n, rs in by_n.items():
                every[n].extend(rs)
        ns = np.array(sorted(every))
        entry: dict = {"n": ns, "formula_n": sorted({r["formula_n"] for rs in every.values()
                                                      for r in rs})}
        for (searcher, density), by_n in sorted(curves.items()):
            xs = np.array(sorted(by_n))
            q = np.array([_quantiles([r["empirical"] for r in by_n[x]]) for x in xs])
            color = f"C{densities.index(density) % 10}"
            ep = searcher == "edge_popup"
            ax.plot(xs, q[:, 1], "-" if ep else "--", marker="o" if ep else "^",
                    ms=4 if ep else 5, color=color, label=f"{searcher}, density {density}")
            ax.fill_between(xs, q[:, 0], q[:, 2], color=color, alpha=0.12, lw=0)
            entry[(searcher, density)] = {"n": xs, "q10": q[:, 0], "median": q[:, 1],
                                          "q90": q[:, 2]}
        # the constructed ticket and the zero network: one value per (n, seed)
        for kind, style, label in (("constructed_empirical", "-", "constructed, empirical"),
                                   ("constructed_certified", "--", "constructed, certified"),
                                   ("zero_sup", ":", "zero network")):
            med = np.array([np.median(list({r["config"]["seed"]: r[kind]
                                            for r in every[n]}.values())) for n in ns])
            ax.plot(ns, med, style, color="k" if kind != "zero_sup" else "0.5", lw=1.6,
                    marker="s" if kind != "zero_sup" else None, ms=4, label=label)
            entry[kind] = med
        for e in eps_levels:
            ax.axhline(e, color="0.3", ls=":", lw=1.0)
            ax.annotate(f"eps = {e:g}", (ns[0], e), fontsize=7, color="0.3",
                        xytext=(2, 2), textcoords="offset points")
        for fn in entry["formula_n"]:
            ax.axvline(fn, color="k", lw=1.0, alpha=0.6)
            ax.annotate(f"formula n = {fn}", (fn, ax.get_ylim()[1]), fontsize=7,
                        rotation=90, ha="right", va="top")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ns, [str(int(n)) for n in ns])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("source width parameter n")
        ax.set_ylabel("empirical sup error ||f(x) - g(x)||_2 on the theorem's domain")
        ax.set_title(target, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower left")
        data[target] = entry
    fig.suptitle("Search (edge-popup, GEM-MINER) against construction\nin the theorem's own "
                 "source (median over seeds, band 10-90%)", fontsize=10)
    return fig, data
