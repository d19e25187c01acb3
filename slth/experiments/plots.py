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
* :func:`digits_accuracy` -- test accuracy of the digits target's depth-L+1 ticket and of
  searched tickets in the same sources, vs width (experiment ``"lab_digits"``).

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

__all__ = ["overparameterization", "samples_needed", "success_heatmap", "slack", "plot_store",
           "suite_figures", "digits_accuracy", "KINDS", "FORMATS"]

#: Figure kinds of :func:`plot_store` (``slth plot --kind``).
KINDS = ("overparameterization", "samples-needed", "heatmap", "slack", "digits-accuracy")
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
        ax.set_title("\n".join([EXPERIMENTS[name].description, *labels]), fontsize=8)
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
    fig = fig or Figure(figsize=(7.0, 5.0), layout="constrained")
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
    lemma = sorted({(r["eps"], r["formula_n"]) for r in with_formula}, reverse=True)
    if lemma:
        x = np.array([math.log2(1.0 / e) for e, _ in lemma])
        formula_n = np.array([n for _, n in lemma], dtype=float)
        labels = sorted({r["formula"] for r in with_formula})
        ax.plot(x, formula_n, "--x", color="0.15", lw=1.2,
                label="RSS formula n = C log2(2/min(eps, delta)): " + "; ".join(labels))
        data["rss formula n"] = {"x": x, "formula_n": formula_n, "formula": labels}
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


def suite_figures(rows: list[dict], folder, formats=("png",), prefix: str = "") -> list[str]:
    """Write every figure the rows allow (file names start with ``prefix``); returns them."""
    folder = Path(folder)
    written = []
    if _ticket_rows(rows):
        written += _save(overparameterization(rows)[0], folder,
                         f"{prefix}overparameterization", formats)
    if _slack_rows(rows):
        written += _save(slack(rows)[0], folder, f"{prefix}slack", formats)
    if _digits_rows(rows):
        written += _save(digits_accuracy(rows)[0], folder, f"{prefix}digits_accuracy", formats)
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
    if kind == "digits-accuracy":
        return _save(digits_accuracy(rows)[0], folder, "digits_accuracy", formats)
    return _save(success_heatmap(rows, experiment=experiment)[0], folder,
                 f"success_heatmap{'_' + experiment if experiment else ''}", formats)
