"""Sweeps: grid expansion, the SQLite store, local runs, kill-and-resume, bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from slth import rss
from slth.cli import main
from slth.experiments import Store, Sweep, load_sweep, run, task_key, to_records
from slth.experiments.registry import resolve_n

DATA = Path(__file__).parent / "data"
SMALL = DATA / "small_sweep.toml"
# wall times and bookkeeping (the checkout's revision may move between two runs)
VOLATILE = {"timings", "finished", "sweep", "git_revision", "seconds_build", "seconds_total",
            "seconds_empirical", "seconds_certified", "seconds_target"}


def stable(rows):
    """Rows without wall times and bookkeeping, keyed by task key."""
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in rows}


def integrity(path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small sweep, uninterrupted, in this process (1 worker)."""
    path = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    summary = run(SMALL, path, workers=1, progress=False)
    assert summary.failed == 0
    with Store(path) as st:
        return path, st.rows()


# ------------------------------------------------------------------ grid
def test_grid_expands_cross_product_with_defaults():
    sweep = load_sweep(SMALL)
    tasks = sweep.tasks()
    # 2 constructions x 3 widths x 2 seeds + 2 eps x 2 seeds + 2 CNN widths x 2 seeds
    assert len(tasks) == 2 * 3 * 2 + 2 * 2 + 2 * 2
    assert len({t.key for t in tasks}) == len(tasks)
    pensia = [t.config for t in tasks if t.experiment == "pensia"]
    assert sorted({(c["width_factor"], c["seed"]) for c in pensia}) == [
        (f, s) for f in (0.25, 0.5, 1.0) for s in (0, 1)]
    assert all(c["widths"] == [3, 3, 2] and c["delta"] == 0.1 and c["n"] is None
               for c in pensia)
    # keys are a hash of the canonical config, independent of spelling and order
    c = pensia[0]
    assert task_key(dict(reversed(list(c.items())))) == task_keys_of(sweep)[0]


def task_keys_of(sweep):
    return [t.key for t in sweep.tasks()]


def test_grid_same_tasks_from_dict_file_and_spelling():
    a = Sweep([{"experiment": "rss", "eps": [0.1, 0.01], "seeds": 2, "trials": 3}])
    b = Sweep([{"experiment": ["rss"], "eps": [1e-1, 1e-2], "seed": [0, 1], "trials": 3}])
    assert task_keys_of(a) == task_keys_of(b)
    assert task_keys_of(Sweep.from_dict(a.to_dict())) == task_keys_of(a)
    # duplicated configs are one task
    assert len(Sweep([{"experiment": "rss", "eps": [0.1, 0.1]}])) == 1


def test_resolve_n_rounds_width_factor():
    assert resolve_n(25, {"n": None, "width_factor": 0.25}) == 6
    assert resolve_n(25, {"n": None, "width_factor": None}) == 25
    assert resolve_n(25, {"n": 3, "width_factor": None}) == 3
    assert resolve_n(3, {"n": None, "width_factor": 0.01}) == 1


@pytest.mark.parametrize("grid, match", [
    ({"experiment": "nonsense", "eps": 0.1}, r"experiment must be one of .*'pensia'.*nonsense"),
    ({"eps": 0.1}, r"missing field 'experiment'"),
    ({"experiment": "pensia"}, r"field 'eps' is required"),
    ({"experiment": "pensia", "eps": [0.1, 1.5]}, r"grid\[0\]\.eps\[1\] must lie in .*1\.5"),
    ({"experiment": "pensia", "eps": 0.1, "activation": "tanh"},
     r"activation must be one of 'relu'; got 'tanh'"),
    ({"experiment": "burkholz", "eps": 0.1, "widths": [4]}, r"widths must list at least"),
    ({"experiment": "pensia", "eps": 0.1, "widths": [4, 0, 2]}, r"widths\[1\] must be >= 1"),
    ({"experiment": "pensia", "eps": 0.1, "n": 4, "width_factor": 0.5}, r"either 'n' or"),
    ({"experiment": "rss", "eps": 0.1, "seed": [1], "seeds": 2}, r"either 'seed'"),
    ({"experiment": "rss", "eps": 0.1, "seeds": 0}, r"seeds must be a positive int"),
    ({"experiment": "rss", "eps": 0.1, "trails": 5}, r"unknown field 'trails' .*trials"),
    ({"experiment": "rss", "eps": "0.1"}, r"eps must be a real number, got '0.1'"),
    ({"experiment": "mrss", "eps": 0.1, "d": True}, r"d must be an integer, got True"),
])
def test_grid_errors_name_field_value_and_allowed(grid, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Sweep([grid])


@pytest.mark.parametrize("text, match", [
    ("[[grid]\nexperiment = 'rss'\n", r"not valid TOML"),
    ("name = 'x'\n", r"no \[\[grid\]\] table"),
    ("grids = 1\n[[grid]]\nexperiment = 'rss'\neps = 0.1\n", r"unknown top-level key 'grids'"),
    ("[[grid]]\nexperiment = 'cnn_nope'\neps = 0.1\n", r"experiment must be one of"),
])
def test_malformed_sweep_file_leaves_store_untouched(tmp_path, reference, text, match):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_sweep(bad)
    assert "bad.toml" in str(info.value)
    # a run with the bad file: no new store, and an existing one is left as it was
    fresh = tmp_path / "fresh.sqlite"
    with pytest.raises(ValueError, match=match):
        run(bad, fresh, workers=1, progress=False)
    assert not fresh.exists()
    existing = tmp_path / "existing.sqlite"
    existing.write_bytes(Path(reference[0]).read_bytes())
    before = existing.read_bytes()
    with pytest.raises(ValueError):
        run(bad, existing, workers=1, progress=False)
    assert existing.read_bytes() == before


# ----------------------------------------------------------------- store
def test_store_rejects_unwritable_folder_and_foreign_files(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match=r"cannot create the folder of .*file\.txt"):
        Store(blocker / "sub" / "s.sqlite")
    with pytest.raises(ValueError, match=r"is a folder"):
        Store(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    before = junk.read_bytes()
    with pytest.raises(ValueError, match=r"not a usable slth results file"):
        Store(junk)
    assert junk.read_bytes() == before
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match=r"not an slth results file \(tables: t\)"):
        Store(other)
    with pytest.raises(ValueError, match=r"does not exist"):
        Store(tmp_path / "missing.sqlite", readonly=True)


def test_store_is_wal_and_insert_is_idempotent(tmp_path):
    path = tmp_path / "s.sqlite"
    cfg = {"experiment": "rss", "eps": 0.1, "seed": 3}
    with Store(path) as st:
        assert st.add("k", cfg, {"median_n": 1.5, "timings": {"total": 0.25}})
        assert not st.add("k", cfg, {"median_n": 99.0})
        st.add_failure("k2", cfg, "ValueError: x", "tb")
        assert st.add("k2", cfg, {"median_n": 2.0})       # a success clears the failure
        assert st.failures() == []
        rows = st.rows()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*), SUM(seconds) FROM results").fetchone() == (2, 0.25)
    con.close()
    assert [r["median_n"] for r in rows] == [1.5, 2.0]
    assert rows[0]["seed"] == 3 and rows[0]["config"] == cfg


def test_table_and_csv_export_equal_the_rows(reference, tmp_path):
    path, rows = reference
    with Store(path) as st:
        table = st.table()
        n = st.export_csv(tmp_path / "out.csv")
    assert n == len(rows) == len(table)
    with open(tmp_path / "out.csv", newline="") as fh:
        parsed = list(csv.DictReader(fh))
    for rec, row, line in zip(table, rows, parsed, strict=True):
        assert rec["key"] == row["key"] == line["key"]
        for field in ("empirical", "certified", "eps", "sparsity", "median_n"):
            if field in row:
                assert rec[field] == row[field] == float(line[field])   # exact: repr
            else:
                assert np.isnan(rec[field]) and line[field] == "nan"
        if "widths" in row and row["experiment"] != "rss":
            assert line["widths"] == "-".join(map(str, row["widths"]))
        if "n_trials" in row:
            assert json.loads(line["n_trials"]) == row["n_trials"]
    # CLI export writes the same CSV
    out = tmp_path / "cli.csv"
    assert main(["sweep", "export", str(path), "--out", str(out)]) == 0
    assert out.read_text() == (tmp_path / "out.csv").read_text()


def test_to_records_types():
    t = to_records([{"a": 1, "ok": True, "widths": [4, 4, 2], "v": [1.5]},
                    {"a": 2, "ok": False, "widths": [3, 2], "v": [2.5]}])
    assert t.dtype["a"] == np.int64 and t.dtype["ok"] == np.bool_
    assert t["widths"].tolist() == ["4-4-2", "3-2"]
    assert [json.loads(v) for v in t["v"]] == [[1.5], [2.5]]


# ------------------------------------------------------------------- run
def test_rows_equal_direct_calls(reference):
    """Each stored result is what the public API gives for the documented seeds."""
    from slth.nets import random_target
    from slth.tickets import pensia
    from slth.verify import check

    _, rows = reference
    r = next(r for r in rows if r["experiment"] == "pensia" and r["width_factor"] == 0.5
             and r["seed"] == 1)
    s_target, s_source, s_inputs = np.random.SeedSequence(1).spawn(3)
    target = random_target([3, 3, 2], seed=s_target)
    ticket = pensia(target, eps=0.1, delta=0.1, seed=s_source, n=r["n"])
    rep = check(ticket, samples=128, starts=1, seed=s_inputs)
    assert r["n"] == int(np.floor(0.5 * r["formula_n"] + 0.5))   # half rounds up
    assert (r["empirical"], r["certified"], r["sparsity"]) == (
        rep.empirical, rep.certified, ticket.sparsity)
    assert r["widths"] == list(ticket.widths)
    assert r["used_widths"] == list(ticket.used_widths)
    assert (r["used_sparsity"], r["used_params"]) == (ticket.used_sparsity, ticket.used_params)
    for r in (r for r in rows if r["experiment"] == "rss"):
        expect = rss.min_samples(r["eps"], "uniform", trials=16, seed=r["seed"], progress=False)
        assert r["n_trials"] == expect.tolist()
        assert r["median_n"] == float(np.median(expect))
        assert r["formula_n"] == int(np.ceil(3 * np.log2(2 / min(r["eps"], 0.1)) - 1e-9))


def test_rerun_skips_finished_tasks(reference, tmp_path):
    path = tmp_path / "copy.sqlite"
    path.write_bytes(Path(reference[0]).read_bytes())
    summary = run(SMALL, path, workers=1, progress=False)
    assert (summary.skipped, summary.finished, summary.failed) == (20, 0, 0)
    with Store(path) as st:
        assert stable(st.rows()) == stable(reference[1])


def test_failing_task_is_recorded_and_retried(tmp_path):
    path = tmp_path / "f.sqlite"
    sweep = Sweep([{"experiment": "rss", "eps": 0.3, "trials": 2},
                   {"experiment": "rss", "eps": 0.001, "max_n": 3, "trials": 2}])
    s1 = run(sweep, path, workers=1, progress=False)
    assert (s1.finished, s1.failed) == (1, 1)
    assert "max_n" in s1.failures[0]["error"]
    s2 = run(sweep, path, workers=1, progress=False)
    assert (s2.skipped, s2.finished, s2.failed) == (1, 0, 1)
    with Store(path) as st:
        assert len(st) == 1
        [f] = st.failures()
        assert f["config"]["eps"] == 0.001 and "ValueError" in f["error"]


KILL_SWEEP = textwrap.dedent("""
    name = "kill"
    [[grid]]
    experiment = "pensia"
    widths = [3, 3, 2]
    eps = 0.1
    width_factor = [0.2, 0.4]
    samples = 64
    starts = 1
    seeds = 3

    [[grid]]
    experiment = "rss"
    eps = [0.01, 0.005]
    trials = 100
    seeds = 6

    [[grid]]
    experiment = "cnn_structured"
    n = 20
    samples = 32
    eps = 0.1
    seeds = 2
""")


def test_kill_and_resume_equals_uninterrupted_run(tmp_path):
    """SIGKILL a two-worker sweep mid-run, resume it: same rows as one uninterrupted run.

    Only the runner is killed; its workers must exit by themselves."""
    spec = tmp_path / "kill.toml"
    spec.write_text(KILL_SWEEP)
    total = len(load_sweep(spec))
    db = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from slth.cli import main; sys.exit(main())",
         "sweep", "run", str(db), str(spec), "--workers", "2", "--no-progress"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, deadline = 0, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    con = sqlite3.connect(db, timeout=5)
                    seen = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    seen = 0                  # tables not created yet
                if seen >= 3:
                    break
            time.sleep(0.02)
    finally:
        proc.kill()                          # SIGKILL to the runner only
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # its pool workers notice and exit (no orphans left computing or idling)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("pool workers outlived their killed parent by 20 s")
    assert integrity(db) == "ok"
    with Store(db) as st:
        killed_rows = len(st)
    assert 3 <= killed_rows < total
    summary = run(spec, db, workers=2, progress=False)
    assert summary.skipped >= killed_rows and summary.failed == 0
    assert summary.skipped + summary.finished == total
    ref = tmp_path / "ref.sqlite"
    run(spec, ref, workers=1, progress=False)
    with Store(db) as a, Store(ref) as b:
        rows_a, rows_b = a.rows(), b.rows()
    assert len(rows_a) == len(rows_b) == total
    assert stable(rows_a) == stable(rows_b)


# ------------------------------------------------------------------- CLI
def test_cli_errors_are_one_line(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    with pytest.raises(SystemExit) as info:
        main(["sweep", "run", str(db), "--experiment", "cnn_nothing", "--eps", "0.1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "experiment must be one of" in err and "cnn_nothing" in err
    assert not db.exists()
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SystemExit):
        main(["sweep", "run", str(tmp_path / "f.txt" / "x.sqlite"), "--experiment", "rss",
              "--eps", "0.1"])
    assert "cannot create the folder" in capsys.readouterr().err


def test_cli_run_from_flags_and_status(tmp_path, capsys):
    db = tmp_path / "c.sqlite"
    assert main(["sweep", "run", str(db), "--experiment", "rss", "--eps", "0.1", "0.05",
                 "--set", "trials=3", "--seeds", "2", "--workers", "1", "--no-progress",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["tasks"], out["finished"]) == (4, 4)
    assert main(["sweep", "status", str(db), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["experiments"][0]["finished"] == 4
    with Store(db) as st:
        assert sorted((r["eps"], r["seed"]) for r in st.rows()) == [
            (0.05, 0), (0.05, 1), (0.1, 0), (0.1, 1)]
    assert main(["sweep", "export", str(db), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    with Store(db) as st:
        assert [r["n_trials"] for r in exported] == [r["n_trials"] for r in st.rows()]


def test_bad_scheduler_or_workers_touch_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    sweep = Sweep([{"experiment": "rss", "eps": 0.1, "trials": 2}])
    with pytest.raises(TypeError, match=r"scheduler must be an address string.*42"):
        run(sweep, path, scheduler=42, progress=False)
    with pytest.raises(ValueError, match=r"workers must be >= 1, got 0"):
        run(sweep, path, workers=0, progress=False)
    assert not path.exists()


def test_threads_do_not_change_results(tmp_path):
    sweep = Sweep([{"experiment": "pensia", "widths": [2, 2, 1], "eps": 0.1, "n": 3,
                    "samples": 32, "starts": 1},
                   {"experiment": "mrss", "d": 2, "eps": 0.3, "trials": 3}])
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    run(sweep, tmp_path / "a.sqlite", workers=1, threads=1, progress=False)
    run(sweep, tmp_path / "b.sqlite", workers=1, threads=most, progress=False)
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        assert len(a) == 2 and stable(a.rows()) == stable(b.rows())
    with pytest.raises(ValueError, match=r"threads must be <= "):
        run(sweep, tmp_path / "c.sqlite", workers=1, threads=10**6, progress=False)
    assert not (tmp_path / "c.sqlite").exists()
