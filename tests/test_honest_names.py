"""Files written under the earlier names (``required_n``, ``theorem_width``, ...) still load,
with today's names: ticket files and results files.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from slth import bounds, verify
from slth.cli import main
from slth.experiments import Store, Sweep, run
from slth.experiments.store import _SCHEMA, FORMAT
from slth.experiments.suite import ticket_table
from slth.tickets import load


def run_cli(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    return code, buf.getvalue()


# ------------------------------------------------- files of earlier versions
def as_written_before(path: Path) -> None:
    """Rewrite a ticket file with the ``params`` names of earlier versions."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays["header"]).decode())
    p = header["params"]
    for new, old in (("formula_n", "required_n"), ("coarse_formula", "coarse_required")):
        if new in p:
            p[old] = p.pop(new)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


@pytest.mark.parametrize("name", ["pensia", "burkholz", "cnn_unstructured"])
def test_ticket_files_of_earlier_versions_load(name, tmp_path):
    from slth.nets import random_cnn_target, random_target
    from slth.tickets import burkholz, cnn_unstructured, pensia

    if name == "cnn_unstructured":
        t = cnn_unstructured(random_cnn_target([1, 2], 3, seed=0), eps=0.2, delta=0.1, seed=3)
    elif name == "burkholz":
        t = burkholz(random_target([3, 4, 2], activation="softplus", norm="max", bias=True,
                                   seed=0), eps=0.1, delta=0.1, seed=1, n=6, progress=False)
    else:
        t = pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1, n=5)
    t.save(tmp_path / "new.npz")
    path = tmp_path / "old.npz"
    t.save(path)
    as_written_before(path)
    with np.load(path) as z:
        old = json.loads(bytes(z["header"]).decode())["params"]
    assert "required_n" in old and "formula_n" not in old
    if name == "burkholz":
        assert old["coarse_required"] == t.params["coarse_formula"] > 0
    u = load(path)
    assert "required_n" not in u.params and "coarse_required" not in u.params
    assert u.params == load(tmp_path / "new.npz").params
    assert u.params["formula_n"] == t.params["formula_n"]
    assert u.at_formula_width == t.at_formula_width and u.formula == t.formula
    a, b = verify.check(t, samples=16, seed=0), verify.check(u, samples=16, seed=0)
    assert (a.empirical, a.certified, a.formula_n, a.formula_widths) == \
        (b.empirical, b.certified, b.formula_n, b.formula_widths)


OLD_NAMES = {"formula_n": "required_n", "formula_widths": "required_widths",
             "at_formula_width": "theorem_width", "success_at_formula_n": "success_at_required"}


def test_results_files_of_earlier_versions_read_plot_and_export(tmp_path):
    """A results file as earlier versions wrote it (old column and result names, no
    formula label): rows, tables, ``slth plot`` and ``slth sweep export`` use today's names."""
    new = tmp_path / "new.sqlite"
    sweep = Sweep([{"experiment": "pensia", "widths": [2, 2, 1], "eps": 0.1,
                    "width_factor": [0.5, 1.0], "samples": 32, "starts": 1},
                   {"experiment": "rss", "eps": [0.2, 0.1], "trials": 10}], name="old")
    assert run(sweep, new, workers=1, progress=False).failed == 0
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    schema = _SCHEMA.replace("formula_n", "required_n").replace("formula_widths",
                                                                "required_widths")
    con.executescript(schema)
    con.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
    src = sqlite3.connect(new)
    for row in src.execute("SELECT * FROM results"):
        row = list(row)
        result = json.loads(row[5])
        result.pop("formula", None)
        row[5] = json.dumps({OLD_NAMES.get(k, k): v for k, v in result.items()})
        con.execute(f"INSERT INTO results VALUES ({', '.join('?' * len(row))})", row)
    con.commit()
    src.close()
    columns = [r[1] for r in con.execute("PRAGMA table_info(results)")]
    assert "required_n" in columns and "formula_n" not in columns
    assert all("required_n" in json.loads(r) for (r,) in con.execute("SELECT result FROM "
                                                                        "results"))
    con.close()

    with Store(old, readonly=True) as st_old, Store(new, readonly=True) as st_new:
        rows_old, rows_new = st_old.rows(), st_new.rows()
    drop = ("version", "git_revision", "finished", "timings")
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_old] == \
        [{k: v for k, v in r.items() if k not in drop} for r in rows_new]
    for r in rows_old:
        assert not set(OLD_NAMES.values()) & set(r)
        assert r["formula"] == bounds.FORMULAS[r["experiment"]].label()
    assert ticket_table(rows_old) == ticket_table(rows_new)

    code, out = run_cli(["plot", str(old), "--out", str(tmp_path / "figs"), "--json"])
    assert code == 0 and len(json.loads(out)["files"]) == 3
    code, out = run_cli(["sweep", "export", str(old)])
    assert code == 0
    header = next(csv.reader(io.StringIO(out)))
    assert {"formula_n", "formula_widths", "at_formula_width", "formula",
            "success_at_formula_n"} <= set(header)
    assert not {"required_n", "required_widths", "theorem_width"} & set(header)
