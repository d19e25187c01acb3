"""``slth slack``: the smallest widths that suffice, beside the papers' width formulas."""

from __future__ import annotations

import sys

from slth._output import dumps, format_table

#: Table columns of ``slth slack`` and of the slack table of ``slth verify-bounds``.
SLACK_COLUMNS = {"of": "construction", "target": "target", "eps": "eps", "seeds": "seeds",
                 "formula_n": "formula n", "certified_n": "certified n",
                 "certified_ci": "95% CI at it", "empirical_n": "empirical n",
                 "lower_n": "lower bound", "ratio": "formula / certified",
                 "implied_C": "C*", "nested": "nested"}


def register(sub) -> None:
    """Add ``slack``."""
    p = sub.add_parser(
        "slack", help="smallest widths within eps, beside the width formulas",
        description="For each construction (or lemma) and eps: the smallest n at which the "
                    "ticket is certified within eps, and empirically within eps, for a "
                    "fraction 1 - delta of the source seeds (doubling, then bisection), beside "
                    "the n of the paper's width formula with the constant in use, their ratio "
                    "and the implied constant C*. The tasks are a sweep: results go to "
                    "OUT/slack.sqlite, and a re-run reuses the finished ones.")
    p.add_argument("--of", nargs="+", default=["pensia", "burkholz", "cnn_unstructured"],
                   help="constructions or lemmas (rss, mrss); default: pensia burkholz "
                        "cnn_unstructured")
    p.add_argument("--eps", nargs="+", type=float, default=[0.1, 0.03])
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--trials", type=int, default=10,
                   help="source seeds per width (lemmas: sample streams); default 10")
    p.add_argument("--widths", help="target widths, e.g. 4,4,2 (default: each one's own)")
    p.add_argument("--activation", nargs="+", help="target activations (default: each one's "
                                                    "first)")
    p.add_argument("--kernel", type=int, help="kernel side of CNN targets")
    p.add_argument("--d", type=int, default=1, help="dimension of the mrss lemma")
    p.add_argument("--seed", type=int, default=0, help="seed of the target (and the sources)")
    p.add_argument("--n-max", type=int, help="largest n tried")
    p.add_argument("--out", default="slth-output", metavar="DIR",
                   help="folder of slack.sqlite and the figure (default: slth-output)")
    p.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_slack)


def print_slack(lines: list[dict], out=None) -> None:
    """The slack table and, under it, one legend line per formula shown."""
    out = sys.stdout if out is None else out
    print(format_table([{label: r[key] for key, label in SLACK_COLUMNS.items()}
                        for r in lines]), file=out)
    print("certified n / empirical n: smallest n found with the certified (empirical) error "
          "within eps for a fraction 1 - delta of the seeds; formula n: the width formula "
          "below, with its C; C*: the C at which that formula gives the certified n; "
          "nested: whether a wider source contains the narrower one (the lemmas' streams "
          "do; the constructions draw a new source per width, so their search can land on "
          "an n that passes while a larger one fails).",
          file=out)
    for label in sorted({r["formula"] for r in lines}):
        print(f"  formula n: {label}", file=out)


def _slack(args) -> int:
    from slth.experiments import plots
    from slth.experiments.grid import Sweep
    from slth.experiments.run import run
    from slth.experiments.slack import slack_table
    from slth.experiments.store import Store

    grid = {"experiment": "slack", "of": list(args.of), "eps": list(args.eps),
            "delta": args.delta, "trials": args.trials, "seed": args.seed, "d": args.d}
    if args.widths:
        grid["widths"] = [int(w) for w in args.widths.split(",")]
    for key, value in (("kernel", args.kernel), ("n_max", args.n_max)):
        if value is not None:
            grid[key] = value
    if args.activation:
        grid["activation"] = list(args.activation)
    sweep = Sweep([grid], name="slack")
    folder = plots.prepare_out(args.out)
    db = folder / "slack.sqlite"
    summary = run(sweep, db, workers=args.workers,
                  progress=False if args.no_progress else None)
    with Store(db) as st:
        rows = st.rows(keys={t.key for t in sweep.tasks()})
    lines = slack_table(rows)
    figures = plots.plot_store(db, kind="slack", out=folder) if rows else []
    if args.json:
        print(dumps({"rows": lines, "store": str(db), "figures": figures,
                     "failures": summary.failures}))
    else:
        print_slack(lines)
        print(f"Results: {db}")
        print(f"Figure: {', '.join(figures)}")
    for f in summary.failures:
        print(f"task failed: {f['config']['of']}: {f['error']}", file=sys.stderr)
    return 1 if summary.failures else 0
