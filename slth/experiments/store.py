"""Results of sweeps in one SQLite file (WAL mode): one row per finished task.

The key of a row is the task key (:func:`slth.experiments.grid.task_key`), a hash of
the task's canonical config. Each finished task is written in its own transaction
with ``INSERT OR IGNORE``, so a sweep killed at any moment (SIGKILL included) keeps
every row it committed, and a restarted sweep skips them and duplicates none.

Tables: ``results`` (finished tasks), ``failures`` (tasks that raised; retried on the
next run), ``sweeps`` (the declarations run against this file), ``meta`` (format).

Files written by earlier versions stay readable: :meth:`Store.rows` gives their result
fields today's names (:data:`RENAMED_FIELDS`; their SQL columns keep the names they
were created with) and adds the width formula's label where they lack it.

Examples
--------
>>> import tempfile, os
>>> with tempfile.TemporaryDirectory() as d:
...     with Store(os.path.join(d, "s.sqlite")) as s:
...         first = s.add("k1", {"experiment": "rss", "seed": 0, "eps": 0.1},
...                       {"median_n": 7.0, "timings": {"total": 0.1}})
...         again = s.add("k1", {"experiment": "rss", "seed": 0, "eps": 0.1}, {"median_n": 9.0})
...         (first, again, len(s), s.rows()[0]["median_n"])
(True, False, 1, 7.0)
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

import slth
from slth import bounds

__all__ = ["Store", "FORMAT", "RENAMED_FIELDS", "to_records", "write_csv", "git_revision"]

#: Format tag kept in the ``meta`` table.
FORMAT = "slth-sweep-store-1"

#: Result fields that also get a column of their own (queryable with SQL).
COLUMNS = (
    ("empirical", "REAL"), ("certified", "REAL"), ("theorem_eps", "REAL"), ("ok", "INTEGER"),
    ("n", "INTEGER"), ("formula_n", "INTEGER"), ("widths", "TEXT"),
    ("formula_widths", "TEXT"), ("sparsity", "REAL"), ("seconds", "REAL"),
)

#: Result fields renamed since earlier versions wrote results files: old -> new.
RENAMED_FIELDS = {"required_n": "formula_n", "required_widths": "formula_widths",
                  "theorem_width": "at_formula_width",
                  "success_at_required": "success_at_formula_n"}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (name TEXT PRIMARY KEY, spec TEXT NOT NULL,
                                   tasks INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    seed INTEGER,
    eps REAL,
    config TEXT NOT NULL,
    result TEXT NOT NULL,
    {", ".join(f"{c} {t}" for c, t in COLUMNS)},
    version TEXT NOT NULL,
    git_revision TEXT NOT NULL,
    sweep TEXT,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY, experiment TEXT NOT NULL, config TEXT NOT NULL,
    error TEXT NOT NULL, traceback TEXT NOT NULL, sweep TEXT, finished REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_experiment ON results (experiment);
"""


@functools.lru_cache(maxsize=1)
def git_revision() -> str:
    """``git describe --always --dirty`` of the package's checkout, or ``""`` outside git."""
    root = Path(slth.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty",
                              "--abbrev=40"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _column_value(name: str, value):
    if value is None:
        return None
    if name in ("widths", "formula_widths"):
        return "-".join(map(str, value))
    if name == "ok":
        return int(bool(value))
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


def _json(obj) -> str:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"cannot store {type(o).__name__} in a result")
    return json.dumps(obj, sort_keys=True, default=default, allow_nan=True)


class Store:
    """An SQLite results file (created if missing).

    Parameters
    ----------
    path : str or PathLike
        The database file; its folder is created if needed.
    readonly : bool
        Open an existing file for reading only.
    timeout : float
        Seconds to wait for a lock held by another process.

    Raises
    ------
    ValueError
        The folder cannot be created or written, or the file is not an slth store.
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False,
                 timeout: float = 60.0):
        self.path = Path(path)
        where = os.fspath(path)
        if self.path.is_dir():
            raise ValueError(f"store: {where!r} is a folder; give a file name such as "
                             f"{os.path.join(where, 'sweep.sqlite')!r}")
        if readonly:
            if not self.path.is_file():
                raise ValueError(f"store: {where!r} does not exist")
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"store: cannot create the folder of {where!r}: "
                                 f"{exc.strerror or exc}") from exc
            if not os.access(self.path.parent, os.W_OK):
                raise ValueError(f"store: the folder of {where!r} is not writable")
        try:
            if readonly:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._con = sqlite3.connect(uri, uri=True, timeout=timeout,
                                            isolation_level=None)
            else:
                self._con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._setup(readonly)
        except ValueError:
            self._con.close()
            raise
        except sqlite3.DatabaseError as exc:
            if hasattr(self, "_con"):
                self._con.close()
            raise ValueError(f"store: {where!r} is not a usable slth results file "
                             f"(sqlite: {exc})") from exc

    def _setup(self, readonly: bool) -> None:
        con = self._con
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise ValueError(f"store: {os.fspath(self.path)!r} is an SQLite file but not an "
                             f"slth results file (tables: {', '.join(sorted(tables))})")
        if "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if row is None or row[0] != FORMAT:
                raise ValueError(f"store: {os.fspath(self.path)!r} has format "
                                 f"{row[0] if row else None!r}, expected {FORMAT!r}")
        if readonly:
            return
        if con.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise ValueError(f"store: cannot switch {os.fspath(self.path)!r} to WAL mode")
        # WAL + NORMAL: a committed row survives the process being killed (SIGKILL); only an
        # OS crash or power loss can drop the last commits, never corrupt the file, and a
        # dropped row is recomputed (identically) by the next run.
        con.execute("PRAGMA synchronous=NORMAL")
        if "meta" not in tables:
            with self._transaction():
                for stmt in _SCHEMA.strip().split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
                con.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                            (repr(time.time()),))

    # -------------------------------------------------------------- plumbing
    def _transaction(self):
        con = self._con

        class _Tx:
            def __enter__(self_inner):
                con.execute("BEGIN IMMEDIATE")

            def __exit__(self_inner, kind, exc, tb):
                con.execute("COMMIT" if kind is None else "ROLLBACK")
                return False
        return _Tx()

    def close(self) -> None:
        """Close the connection (the file stays consistent whenever this is skipped)."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- writing
    def add_sweep(self, name: str, spec: dict, tasks: int) -> None:
        """Record (or update) a sweep declaration."""
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?)",
                              (name, _json(spec), int(tasks), time.time()))

    def add(self, key: str, config: dict, result: dict, *, sweep: str | None = None,
            version: str | None = None, revision: str | None = None) -> bool:
        """Write one finished task in its own transaction; ``False`` if the key was there."""
        cols = [_column_value(c, result.get(c)) for c, _ in COLUMNS[:-1]]
        seconds = result.get("timings", {}).get("total")
        row = (key, config["experiment"], config.get("seed"), config.get("eps"),
               _json(config), _json(result), *cols, seconds,
               slth.__version__ if version is None else version,
               git_revision() if revision is None else revision, sweep, time.time())
        marks = ", ".join("?" * len(row))
        with self._transaction():
            cur = self._con.execute(f"INSERT OR IGNORE INTO results VALUES ({marks})", row)
            self._con.execute("DELETE FROM failures WHERE key = ?", (key,))
        return cur.rowcount == 1

    def add_failure(self, key: str, config: dict, error: str, traceback: str, *,
                    sweep: str | None = None) -> None:
        """Record a task that raised (it is retried by the next run)."""
        with self._transaction():
            self._con.execute("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (key, config["experiment"], _json(config), error, traceback,
                               sweep, time.time()))

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def keys(self) -> set[str]:
        """Keys of the finished tasks."""
        return {r[0] for r in self._con.execute("SELECT key FROM results")}

    def failures(self) -> list[dict]:
        """Tasks that raised, with their error messages."""
        cur = self._con.execute("SELECT key, experiment, config, error, traceback, sweep "
                                "FROM failures ORDER BY finished")
        return [{"key": k, "experiment": e, "config": json.loads(c), "error": err,
                 "traceback": tb, "sweep": s} for k, e, c, err, tb, s in cur]

    def sweeps(self) -> list[dict]:
        """The sweep declarations run against this file."""
        cur = self._con.execute("SELECT name, spec, tasks, created FROM sweeps ORDER BY created")
        return [{"name": n, "spec": json.loads(s), "tasks": t, "created": c}
                for n, s, t, c in cur]

    def rows(self, experiment: str | Sequence[str] | None = None,
             keys: Iterable[str] | None = None) -> list[dict]:
        """Finished tasks as flat dicts: config fields, result fields, bookkeeping.

        Rows come in the order of their keys; a field that is in both the config and
        the result (``n``) takes the result's value, the config's stays in ``config``.
        Fields of rows written by earlier versions carry today's names
        (:data:`RENAMED_FIELDS`), and rows with a ``formula_n`` but no ``formula`` get the
        label of their width formula with their config's ``C``.
        """
        sql = ("SELECT key, config, result, version, git_revision, sweep, finished "
               "FROM results")
        args: list = []
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            sql += f" WHERE experiment IN ({', '.join('?' * len(names))})"
            args += names
        sql += " ORDER BY key"
        wanted = None if keys is None else set(keys)
        out = []
        for key, config, result, version, rev, sweep, finished in self._con.execute(sql, args):
            if wanted is not None and key not in wanted:
                continue
            c = json.loads(config)
            r = _upgraded(json.loads(result), c)
            out.append({"key": key, **c, **r, "config": c, "version": version,
                        "git_revision": rev, "sweep": sweep, "finished": finished})
        return out

    def summary(self) -> list[dict]:
        """Per experiment: finished rows, failures, versions and revisions seen."""
        out = {}
        for exp, count, versions, revs, secs in self._con.execute(
                "SELECT experiment, COUNT(*), GROUP_CONCAT(DISTINCT version), "
                "GROUP_CONCAT(DISTINCT git_revision), SUM(seconds) FROM results "
                "GROUP BY experiment ORDER BY experiment"):
            out[exp] = {"experiment": exp, "finished": count, "failed": 0,
                        "task_seconds": secs or 0.0, "versions": versions,
                        "revisions": revs or ""}
        for exp, count in self._con.execute(
                "SELECT experiment, COUNT(*) FROM failures GROUP BY experiment"):
            out.setdefault(exp, {"experiment": exp, "finished": 0, "task_seconds": 0.0,
                                 "versions": "", "revisions": ""})["failed"] = count
        return list(out.values())

    def table(self, experiment: str | Sequence[str] | None = None) -> np.ndarray:
        """Finished tasks as a numpy structured array (see :func:`to_records`)."""
        return to_records(self.rows(experiment))

    def export_csv(self, path: str | os.PathLike,
                   experiment: str | Sequence[str] | None = None) -> int:
        """Write the finished tasks to a CSV file; returns the number of rows."""
        table = self.table(experiment)
        write_csv(table, path)
        return len(table)


def _upgraded(result: dict, config: dict) -> dict:
    """A stored result with the field names of earlier versions replaced by today's, and
    the label of its width formula (``formula``) where an earlier version did not store
    it."""
    for old, new in RENAMED_FIELDS.items():
        if old in result and new not in result:
            result[new] = result.pop(old)
    formula = bounds.FORMULAS.get(config.get("experiment"))
    if "formula_n" in result and "formula" not in result and formula is not None:
        result["formula"] = formula.label(config.get("C"), config.get("dist"))
    return result


# ----------------------------------------------------------------- tables
_SKIP = ("config", "timings")


def _flat(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in _SKIP:
            continue
        if isinstance(v, (list, dict)):
            v = json.dumps(v, sort_keys=True) if not (
                k.endswith("widths") and all(isinstance(x, int) for x in v)) \
                else "-".join(map(str, v))
        out[k] = v
    for k, v in row.get("timings", {}).items():
        out[f"seconds_{k}"] = v
    return out


def to_records(rows: Sequence[dict]) -> np.ndarray:
    """Flat rows as a numpy structured array, one field per column (pandas-free).

    Numbers become ``float64`` (missing: NaN) or ``int64`` (when an integer column
    has no gap), booleans ``bool`` (no gap) and everything else (text, lists as JSON,
    widths as ``"4-4-2"``) unicode strings (missing: ``""``).

    Examples
    --------
    >>> t = to_records([{"a": 1, "b": 0.5, "c": "x"}, {"a": 2, "c": "yz"}])
    >>> t["a"].tolist(), float(t["b"][1]), t["c"].tolist()
    ([1, 2], nan, ['x', 'yz'])
    """
    flat = [_flat(r) for r in rows]
    columns: list[str] = []
    for r in flat:
        for k in r:
            if k not in columns:
                columns.append(k)
    dtypes, data = [], []
    for c in columns:
        vals = [r.get(c) for r in flat]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, bool) for v in present) and len(present) == len(vals):
            dt, col = np.bool_, vals
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) \
                and len(present) == len(vals):
            dt, col = np.int64, vals
        elif present and all(isinstance(v, (int, float)) for v in present):
            dt, col = np.float64, [math.nan if v is None else float(v) for v in vals]
        else:
            col = ["" if v is None else str(v) for v in vals]
            dt = f"U{max(1, *(len(v) for v in col))}" if col else "U1"
        dtypes.append((c, dt))
        data.append(col)
    out = np.empty(len(flat), dtype=dtypes)
    for (c, _), col in zip(dtypes, data, strict=True):
        out[c] = col
    return out


def write_csv(table: np.ndarray, path) -> None:
    """Write a structured array as CSV (floats with full precision, ``repr``).

    ``path`` is a file name or an open text file.
    """
    names = table.dtype.names or ()
    if hasattr(path, "write"):
        _write_rows(csv.writer(path), names, table)
        return
    try:
        fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise ValueError(f"out: cannot write {os.fspath(path)!r}: {exc.strerror or exc}") \
            from exc
    with fh:
        _write_rows(csv.writer(fh), names, table)


def _write_rows(w, names, table) -> None:
    w.writerow(names)
    for rec in table:
        w.writerow([repr(float(v)) if isinstance(v, np.floating) else
                    (v.item() if isinstance(v, np.generic) else v) for v in rec])
