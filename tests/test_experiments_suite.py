"""``slth verify-bounds --quick``: tables equal the database, figures written, bad folders."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections import defaultdict

import numpy as np
import pytest

from slth.cli import main
from slth.experiments.registry import CONSTRUCTIONS
from slth.experiments.store import Store
from slth.experiments.suite import theorem_summary, ticket_table
from slth.mrss import success_at


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("vb") / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["verify-bounds", "--quick", "--out", str(out), "--json", "--workers", "1",
                     "--no-progress"])
    return code, json.loads(buf.getvalue()), out


def test_quick_suite_covers_every_construction_and_lemma(quick):
    code, res, out = quick
    assert code == 0 and res["failures"] == []
    seen = {t["experiment"] for t in res["tickets"]}
    assert seen == set(CONSTRUCTIONS)
    assert {t["target"].split()[-1] for t in res["tickets"] if t["experiment"] == "burkholz"} \
        == {"relu", "tanh"}
    # the structured CNN formula (placeholder C) gives thousands of channels: only smaller
    # widths run
    assert {t["at_formula_width"] for t in res["tickets"]
            if t["experiment"] == "cnn_structured"} == {False}
    assert {x["experiment"] for x in res["lemmas"]} == {"rss", "mrss"}
    for rows in (res["tickets"], res["lemmas"]):
        assert any(r["at_formula_width"] for r in rows) and any(not r["at_formula_width"]
                                                             for r in rows)
    names = {p.name for p in out.iterdir()}
    assert {"verify-bounds-quick.sqlite", "verify-bounds-quick.json",
            "quick_overparameterization.png", "quick_samples_needed.png",
            "quick_success_heatmap_rss.png", "quick_success_heatmap_mrss.png",
            "quick_slack.png", "quick_widths.png"} <= names
    assert json.loads((out / "verify-bounds-quick.json").read_text())["tickets"] == res["tickets"]


def test_slack_lines_equal_database_and_their_summary(quick):
    """The slack table of verify-bounds is its store's slack rows, and the summary's ranges
    are those of the rows with a calibrated formula (placeholders said apart)."""
    from slth.experiments.suite import slack_summary

    _, res, out = quick
    with Store(out / "verify-bounds-quick.sqlite") as st:
        rows = st.rows("slack")
    assert {(r["of"], r["eps"]) for r in rows} == {(x["of"], x["eps"]) for x in res["slack"]}
    assert {x["of"] for x in res["slack"]} == {"pensia", "burkholz", "rss"}
    for x in res["slack"]:
        r = next(r for r in rows if (r["of"], r["eps"]) == (x["of"], x["eps"]))
        assert x["formula_n"] == r["formula_n"] and x["certified_n"] == r["certified_n"]
    assert res["summary"][-1] == slack_summary(res["slack"])
    ratios = [x["ratio"] for x in res["slack"] if x["of"] in ("pensia", "burkholz")]
    assert f"give {min(ratios):.3g} to {max(ratios):.3g} times" in res["summary"][-1]
    placeholder = {**res["slack"][-1], "of": "cnn_structured", "target": "1-2-2 conv2x2 relu",
                   "ratio": 21.5, "implied_C": 0.14}
    text = slack_summary([placeholder])
    assert "placeholder formula gives 21.5 times" in text and "calibrated" not in text
    missing = {**placeholder, "ratio": None, "certified_n": "> 1024"}
    assert "Not certified up to n_max: cnn_structured" in slack_summary([placeholder, missing])
    assert slack_summary([missing]).startswith("Slack: no construction was certified")


def test_ticket_lines_equal_database(quick):
    _, res, out = quick
    con = sqlite3.connect(out / "verify-bounds-quick.sqlite")
    worst = defaultdict(lambda: [0.0, 0.0])
    for exp, config, n, emp, cert in con.execute(
            "SELECT experiment, config, n, empirical, certified FROM results"):
        if exp in CONSTRUCTIONS:
            c = json.loads(config)
            shape = "-".join(map(str, c["widths"]))
            if "kernel" in c:
                shape += f" conv{c['kernel']}x{c['kernel']}"
            if c.get("residual"):
                shape += " residual"
            key = (exp, f"{shape} {c['activation']}", n)
            worst[key][0] = max(worst[key][0], emp)
            worst[key][1] = max(worst[key][1], cert)
    con.close()
    assert len(worst) == len(res["tickets"])
    for t in res["tickets"]:
        emp, cert = worst[(t["experiment"], t["target"], t["n"])]
        assert (t["empirical"], t["certified"]) == (emp, cert)
        expect = ("certified" if cert <= t["eps"] else "above eps" if emp > t["eps"] else "open")
        assert t["verdict"].startswith(expect)
        assert t["at_formula_width"] == (t["n"] >= t["formula_n"])


def test_lemma_lines_equal_database(quick):
    _, res, out = quick
    con = sqlite3.connect(out / "verify-bounds-quick.sqlite")
    trials = {}
    for exp, config, result in con.execute(
            "SELECT experiment, config, result FROM results WHERE experiment IN "
            "('rss', 'mrss')"):
        c = json.loads(config)
        trials[(exp, c.get("d", 1), c["dist"], c["eps"])] = json.loads(result)["n_trials"]
    con.close()
    for x in res["lemmas"]:
        ns = np.array(trials[(x["experiment"], x["d"], x["dist"], x["eps"])])
        assert x["success"] == np.mean(ns <= x["used_n"])
        assert x["trials"] == ns.size


def test_verdict_rules():
    base = {"experiment": "pensia", "theorem": "T", "widths": [2, 8, 1],
            "config": {"widths": [2, 1], "activation": "relu"}, "formula_widths": [2, 8, 1],
            "eps": 0.1, "n": 2, "formula_n": 2, "at_formula_width": True}
    def verdict(*pairs):
        rows = [{**base, "seed": i, "empirical": e, "certified": c}
                for i, (e, c) in enumerate(pairs)]
        return ticket_table(rows)[0]["verdict"]
    assert verdict((0.01, 0.05), (0.02, 0.09)) == "certified"
    assert verdict((0.01, 0.05), (0.05, 0.2)) == "open"
    assert verdict((0.01, 0.05), (0.15, 0.2)) == "above eps (1/2)"
    assert verdict((0.15, 0.3), (0.15, 0.2)) == "above eps (2/2)"
    assert verdict((0.3, 0.2)) == "INCONSISTENT"
    assert success_at([1, 2, 65], 100, n_max=64) == (2, 3)


def test_ticket_lines_show_source_and_used_widths(quick):
    _, res, out = quick
    con = sqlite3.connect(out / "verify-bounds-quick.sqlite")
    used = defaultdict(list)
    for exp, n, result in con.execute("SELECT experiment, n, result FROM results"):
        if exp in CONSTRUCTIONS:
            r = json.loads(result)
            used[(exp, n, "-".join(map(str, r["widths"])))].append(r["used_widths"])
    con.close()
    for t in res["tickets"]:
        source = [int(w) for w in t["source_width"].split("-")]
        widths = used[(t["experiment"], t["n"], t["source_width"])]
        assert t["used_width"] == "-".join(map(str, np.max(widths, axis=0)))
        assert all(u <= s for u, s in zip(map(int, t["used_width"].split("-")), source,
                                          strict=True))
    # rows stored before tickets reported their used widths
    row = {"experiment": "pensia", "theorem": "T", "widths": [2, 8, 1], "seed": 0,
           "config": {"widths": [2, 1], "activation": "relu"}, "formula_widths": [2, 8, 1],
           "eps": 0.1, "n": 2, "formula_n": 2, "at_formula_width": True, "empirical": 0.0,
           "certified": 0.0}
    line = ticket_table([row])[0]
    assert (line["source_width"], line["used_width"]) == ("2-8-1", "-")


def test_bad_output_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["verify-bounds", "--quick", "--out", str(blocker), "--workers", "1"])
    assert info.value.code == 2
    assert "out:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify-bounds", "--quick", "--out", str(blocker / "sub"), "--workers", "1"])
    assert "cannot create the folder" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_summary_names_every_theorem_run(quick):
    _, res, _ = quick
    summary = " ".join(res["summary"])
    theorems = {t["theorem"] for t in res["tickets"]}
    assert len(theorems) == len(CONSTRUCTIONS)
    for theorem in theorems:
        assert f"{theorem}:" in summary
    # a theorem built only below its formula's width: its best row is named
    rows = [{"theorem": "S", "at_formula_width": False, "verdict": "open", "n": n,
             "certified": c, "eps": 0.1, "target": "1-2-2"} for n, c in ((50, 0.4), (400, 0.2))]
    text = theorem_summary(rows)
    assert "S: not built at the formula's width" in text
    assert "none certified up to n = 400" in text and "0.2 at n = 400" in text
    rows[0]["verdict"], rows[0]["certified"] = "certified", 0.05
    assert "certified from n = 50" in theorem_summary(rows)
