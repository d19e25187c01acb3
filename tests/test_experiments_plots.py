"""Figures of a small sweep: files, labels, and plotted numbers equal to the database's."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

import numpy as np
import pytest
from matplotlib.figure import Figure

from slth import bounds, rss
from slth.cli import main
from slth.experiments import Store, Sweep, plots, run

SWEEP = Sweep([
    {"experiment": "pensia", "widths": [2, 2, 1], "eps": 0.1, "width_factor": [0.3, 1.0],
     "seeds": 3, "samples": 64, "starts": 1},
    {"experiment": "rss", "dist": "uniform", "eps": [0.2, 0.05], "trials": 12, "seed": 4},
    {"experiment": "mrss", "d": 2, "eps": [0.3, 0.2], "trials": 4, "seed": 0},
], name="plots")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("plots") / "p.sqlite"
    assert run(SWEEP, path, workers=1, progress=False).failed == 0
    return path


@pytest.fixture(scope="module")
def rows(db):
    with Store(db) as st:
        return st.rows()


def sql(db, query):
    con = sqlite3.connect(db)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_overparameterization_points_equal_database(db, rows):
    fig, data = plots.overparameterization(rows)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    # independent: the typed columns, straight from SQL
    by_ratio = defaultdict(lambda: defaultdict(list))
    for n, req, emp, cert in sql(db, "SELECT n, formula_n, empirical, certified FROM results "
                                     "WHERE experiment = 'pensia'"):
        by_ratio[n / req]["empirical"].append(emp)
        by_ratio[n / req]["certified"].append(cert)
    xs = sorted(by_ratio)
    [label] = data
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    for kind in ("empirical", "certified"):
        line = lines[f"{label} (formula n={data[label]['formula_n']}), {kind}"]
        assert np.array_equal(line.get_xdata(), xs)
        # np.median here, np.quantile(0.5) in the plot: two formulas, compared with a tolerance
        np.testing.assert_allclose(line.get_ydata(), [np.median(by_ratio[x][kind]) for x in xs],
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(data[label][kind]["q90"],
                                   [np.quantile(by_ratio[x][kind], 0.9) for x in xs],
                                   rtol=1e-12, atol=0)
    # eps and the formula's width are marked, and the formula named in the title
    assert any(ln.get_label().startswith("theorem eps") and ln.get_ydata()[0] == 0.1
               for ln in ax.get_lines())
    assert any(ln.get_label().startswith("formula width") and ln.get_xdata()[0] == 1.0
               for ln in ax.get_lines())
    assert data[label]["formula"] == bounds.FORMULAS["pensia"].label()
    assert data[label]["formula"] in ax.get_title()
    assert ax.get_legend() is not None


def test_samples_needed_points_and_slope_equal_database(db, rows):
    fig, data = plots.samples_needed(rows)
    ax = fig.axes[0]
    assert "log2(1/eps)" in ax.get_xlabel() and ax.get_ylabel()
    got = sql(db, "SELECT eps, result FROM results WHERE experiment = 'rss' ORDER BY eps DESC")
    x = np.log2([1 / e for e, _ in got])
    med = [np.median(json.loads(r)["n_trials"]) for _, r in got]
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("rss uniform"))
    assert np.allclose(line.get_xdata(), x, rtol=0, atol=1e-12)
    assert np.array_equal(line.get_ydata(), med)
    slope = (med[1] - med[0]) / (x[1] - x[0])              # two points: the line through them
    assert data["rss uniform"]["slope"] == pytest.approx(slope, rel=1e-9, abs=1e-9)
    assert f"slope {slope:.2f}" in line.get_label()
    lemma = next(ln for ln in ax.get_lines() if ln.get_label().startswith("RSS formula n"))
    assert bounds.FORMULAS["rss"].label() in lemma.get_label().replace("\n", " ")
    assert list(lemma.get_ydata()) == [np.ceil(3 * np.log2(2 / min(e, 0.1)) - 1e-9)
                                       for e, _ in got]
    assert "mrss d=2 uniform" in data
    assert any("counting bound 2" in ln.get_label() for ln in ax.get_lines())


def test_heatmap_equals_exact_covering_radius(rows):
    """A cell is the fraction of trials whose first n samples cover [-1, 1] within eps."""
    fig, data = plots.success_heatmap(rows, experiment="rss")
    d = data["rss uniform"]
    assert list(d["eps"]) == [0.2, 0.05]
    for i, eps in enumerate(d["eps"]):
        for n in (3, 6, 9):
            covered = [rss.covering_radius(rss.trial_stream("uniform", 4, t, n)) <= eps
                       for t in range(12)]
            assert d["p"][i, n - 1] == np.mean(covered)
            lo, hi = d["low"][i, n - 1], d["high"][i, n - 1]
            assert lo <= d["p"][i, n - 1] <= hi
    ax = fig.axes[0]
    assert ax.get_xlabel() == "n (samples)" and ax.get_ylabel() == "eps"
    assert np.array_equal(ax.get_images()[0].get_array(), d["p"])


def test_plot_cli_writes_every_format(db, tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["plot", str(db), "--out", str(out), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    stems = {"overparameterization", "samples_needed", "success_heatmap_rss",
             "success_heatmap_mrss"}
    assert {f"{s}.png" for s in stems} == {p.name for p in out.iterdir()}
    assert sorted(files) == sorted(str(out / f"{s}.png") for s in stems)
    assert (out / "samples_needed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(db), "--kind", "samples-needed", "--out", str(out), "--format",
                 "pdf", "svg"]) == 0
    assert (out / "samples_needed.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (out / "samples_needed.svg").read_bytes()[:500]


def test_plot_errors(db, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["plot", str(db), "--kind", "violin"])
    assert info.value.code == 2
    rss_only = tmp_path / "r.sqlite"
    run(Sweep([{"experiment": "rss", "eps": 0.2, "trials": 2}]), rss_only, workers=1,
        progress=False)
    with pytest.raises(ValueError, match="no ticket rows"):
        plots.plot_store(rss_only, "overparameterization", tmp_path)
    with pytest.raises(ValueError, match=r"format must be one of .*'jpg'"):
        plots.plot_store(rss_only, "samples-needed", tmp_path, formats=("jpg",))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=r"out: .* exists and is not a folder"):
        plots.plot_store(rss_only, "samples-needed", blocker)
    with pytest.raises(ValueError, match="does not exist"):
        plots.plot_store(tmp_path / "nope.sqlite", "all", tmp_path)
    with Store(rss_only, readonly=True) as st:
        assert isinstance(plots.samples_needed(st.rows())[0], Figure)
