"""``slth sweep``: run a grid of experiments into an SQLite file, show its status, export it."""

from __future__ import annotations

import argparse
import json
import sys

from slth._output import dumps, format_table


def _widths(text: str) -> list[int]:
    try:
        return [int(v) for v in text.replace("-", ",").split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--widths takes comma-separated layer widths such as 4,4,2; got {text!r}") from exc


def _setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE (a TOML value, e.g. "
                                         f"delta=0.05 or trials=[50,100]); got {text!r}")
    from slth.experiments.grid import toml_module

    tomllib = toml_module()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value                      # a bare word: a string
    return key.strip(), parsed


def register(sub) -> None:
    """Add ``sweep run``, ``sweep status``, ``sweep export``, ``sweep search-widths`` and
    ``sweep list``."""
    parser = sub.add_parser("sweep", help="grids of experiments stored in SQLite",
                            description="Run a sweep (a TOML file, or one grid given by flags) "
                                        "into an SQLite results file; re-running skips "
                                        "finished tasks.")
    ssub = parser.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)

    p = ssub.add_parser("run", help="run the unfinished tasks of a sweep",
                        description="Run a sweep. Either a sweep file, or one grid from the "
                                    "flags (every flag taking several values is an axis).")
    p.add_argument("store", help="results file (SQLite, created if missing)")
    p.add_argument("sweep", nargs="?", help="sweep file (TOML); omit to use the grid flags")
    g = p.add_argument_group("one grid from flags")
    g.add_argument("--experiment", nargs="+", metavar="NAME",
                   help="pensia, burkholz, rss, mrss, ... (see `slth sweep list`)")
    g.add_argument("--widths", nargs="+", type=_widths, metavar="W",
                   help="target widths, e.g. 4,4,2 (several: an axis)")
    g.add_argument("--activation", nargs="+")
    g.add_argument("--eps", nargs="+", type=float)
    g.add_argument("--n", nargs="+", type=int)
    g.add_argument("--width-factor", nargs="+", type=float, dest="width_factor")
    g.add_argument("--seeds", type=int, help="seeds 0..SEEDS-1")
    g.add_argument("--seed", nargs="+", type=int)
    g.add_argument("--set", action="append", type=_setting, default=[], metavar="KEY=VALUE",
                   help="any other field, as a TOML value (repeatable)")
    p.add_argument("--name", help="sweep name (default: the file name, or 'cli')")
    p.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    p.add_argument("--threads", type=int, default=1,
                   help="numba threads per task with --workers 1 (default 1; pool and dask "
                        "workers always use one)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on dask.distributed: a scheduler address, or 'local' for a "
                        "LocalCluster of --workers processes")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run)

    p = ssub.add_parser("status", help="finished and failed tasks of a results file")
    p.add_argument("store")
    p.add_argument("sweep", nargs="?", help="sweep file: also count its pending tasks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_status)

    p = ssub.add_parser("export", help="write the results as CSV (or JSON)")
    p.add_argument("store")
    p.add_argument("--out", "-o", help="CSV file (default: standard output)")
    p.add_argument("--experiment", nargs="+", help="only these experiments")
    p.add_argument("--json", action="store_true", help="JSON rows instead of CSV")
    p.set_defaults(func=_export)

    p = ssub.add_parser("search-widths",
                        help="smallest searched width within eps, beside the construction's "
                             "and the formula's (lab_teacher_student rows)",
                        description="Per target, searcher and density: the smallest width at "
                                    "which search reaches an empirical sup error <= eps "
                                    "(median over seeds), the smallest width at which the "
                                    "constructed ticket is certified within eps, and the "
                                    "formula's n (slth.experiments.lab.smallest_widths).")
    p.add_argument("store")
    p.add_argument("--eps", nargs="+", type=float, default=None,
                   help="accuracies (default: 0.1 0.03 0.01)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_search_widths)

    p = ssub.add_parser("list", help="the experiments a sweep can run, and their fields")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)


def _grid_from_flags(args) -> dict | None:
    grid: dict = {}
    for name in ("experiment", "activation", "eps", "n", "width_factor", "seed", "seeds"):
        value = getattr(args, name)
        if value is not None:
            grid[name] = value
    if args.widths is not None:
        grid["widths"] = args.widths
    for key, value in args.set:
        if key in grid:
            raise ValueError(f"--set {key}=...: {key!r} is already given by a flag")
        grid[key] = value
    return grid or None


def _load(args):
    from slth.experiments import Sweep, load_sweep

    grid = _grid_from_flags(args) if hasattr(args, "experiment") else None
    if args.sweep and grid:
        raise ValueError("give either a sweep file or grid flags (--experiment, --eps, ...), "
                         "not both")
    if args.sweep:
        sweep = load_sweep(args.sweep)
        if getattr(args, "name", None):
            sweep = Sweep(sweep.grids, name=args.name, defaults=sweep.defaults)
        return sweep
    if grid is None:
        return None
    return Sweep([grid], name=getattr(args, "name", None) or "cli")


def _run(args) -> int:
    from slth.experiments import run

    sweep = _load(args)
    if sweep is None:
        raise ValueError("nothing to run: give a sweep file or at least --experiment")
    try:
        summary = run(sweep, args.store, workers=args.workers, scheduler=args.scheduler,
                      progress=False if args.no_progress else None, threads=args.threads)
    except RuntimeError as exc:              # a worker died; finished rows are kept
        print(f"slth sweep: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(dumps({**summary.as_dict(), "failures": summary.failures}))
    else:
        print(format_table([{"field": k, "value": v} for k, v in summary.as_dict().items()]))
        for f in summary.failures[:10]:
            print(f"failed {f['key']}: {f['error']}", file=sys.stderr)
    return 0 if summary.failed == 0 else 1


def _status(args) -> int:
    from slth.experiments import Store, load_sweep

    with Store(args.store, readonly=True) as st:
        rows = st.summary()
        payload: dict = {"store": args.store, "experiments": rows,
                         "sweeps": [{k: s[k] for k in ("name", "tasks")} for s in st.sweeps()]}
        if args.sweep:
            tasks = load_sweep(args.sweep).tasks()
            done = st.keys()
            payload["sweep_file"] = {"tasks": len(tasks),
                                     "finished": sum(t.key in done for t in tasks)}
            payload["sweep_file"]["pending"] = len(tasks) - payload["sweep_file"]["finished"]
    if args.json:
        print(dumps(payload))
        return 0
    print(format_table(rows, ["experiment", "finished", "failed", "task_seconds", "versions",
                              "revisions"]))
    if "sweep_file" in payload:
        sf = payload["sweep_file"]
        print(f"\n{args.sweep}: {sf['finished']} of {sf['tasks']} tasks finished, "
              f"{sf['pending']} pending")
    return 0


def _search_widths(args) -> int:
    from slth.experiments import Store
    from slth.experiments.lab import EPS_LEVELS, format_widths_table, smallest_widths

    with Store(args.store, readonly=True) as st:
        rows = st.rows("lab_teacher_student")
    if not rows:
        raise ValueError(f"store: {args.store!r} holds no lab_teacher_student rows")
    table = smallest_widths(rows, EPS_LEVELS if args.eps is None else args.eps)
    print(dumps(table) if args.json else format_widths_table(table))
    return 0


def _export(args) -> int:
    from slth.experiments import Store, write_csv

    with Store(args.store, readonly=True) as st:
        if args.json:
            rows = st.rows(args.experiment)
            text = dumps(rows)
            if args.out:
                with open(args.out, "w", encoding="utf-8") as fh:
                    fh.write(text)
            else:
                print(text)
            return 0
        table = st.table(args.experiment)
    write_csv(table, args.out if args.out else sys.stdout)
    if args.out:
        print(f"wrote {len(table)} rows to {args.out}", file=sys.stderr)
    return 0


def _list(args) -> int:
    from slth.experiments.registry import EXPERIMENTS, REQUIRED

    out = []
    for exp in EXPERIMENTS.values():
        for p in exp.params:
            out.append({"experiment": exp.name, "field": p.name,
                        "default": "(no default)" if p.default is REQUIRED else
                        json.dumps(p.default), "meaning": p.help})
    if args.json:
        print(dumps(out))
    else:
        print(format_table(out))
    return 0
