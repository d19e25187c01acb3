"""``slth plot``: figures of a sweep's results file."""

from __future__ import annotations

from slth._output import dumps


def register(sub) -> None:
    """Add ``plot``."""
    from slth.experiments.plots import FORMATS, KINDS

    p = sub.add_parser("plot", help="figures of a sweep results file",
                       description="Overparameterization curves (ticket error vs width), "
                                   "samples needed vs log2(1/eps) (RSS/MRSS), success-probability "
                                   "heatmaps with Clopper-Pearson bounds, slack, and search "
                                   "against construction (lab-subset-sum: error and time vs "
                                   "n; lab-teacher-student: sup error vs width; digits-accuracy: "
                                   "test accuracy vs width on the digits task).")
    p.add_argument("store", help="results file written by `slth sweep run`")
    p.add_argument("--kind", default="all", choices=(*KINDS, "all"),
                   help="which figure (default: every one the results allow)")
    p.add_argument("--experiment", help="only rows of this experiment (e.g. rss, mrss)")
    p.add_argument("--out", default=".", metavar="DIR", help="output folder (default: .)")
    p.add_argument("--format", nargs="+", default=["png"], choices=FORMATS, dest="formats")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=_plot)


def _plot(args) -> int:
    from slth.experiments.plots import plot_store

    files = plot_store(args.store, args.kind, args.out, tuple(args.formats), args.experiment)
    print(dumps({"files": files}) if args.json else "\n".join(files))
    return 0
