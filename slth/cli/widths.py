"""``slth widths``: the constructions' width formulas side by side for one target."""

from __future__ import annotations

from slth._output import dumps, format_table


def register(sub) -> None:
    """Add ``widths``."""
    p = sub.add_parser(
        "widths", help="the constructions' width formulas side by side, against eps",
        description="For one target shape and each eps: the n of every construction's width "
                    "formula with its default constant (this package's calibration or a "
                    "placeholder: the legend names it) and the source parameters that n "
                    "means. Nothing is drawn but the targets.")
    p.add_argument("--widths", default="4,4,2",
                   help="target widths (channels for CNN constructions); default 4,4,2")
    p.add_argument("--eps", nargs="+", type=float, default=[0.1, 0.03, 0.01, 0.003, 0.001])
    p.add_argument("--delta", type=float, default=0.1)
    p.add_argument("--of", nargs="+", help="constructions (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the targets")
    p.add_argument("--plot", metavar="FILE", help="also write the figure (png, pdf, svg)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_widths)


def _widths(args) -> int:
    from slth.experiments.constructions import formula_widths

    widths = [int(w) for w in args.widths.split(",")]
    rows = formula_widths(args.eps, widths, constructions=args.of, delta=args.delta,
                          seed=args.seed)
    if args.plot:
        from slth.experiments.plots import construction_widths

        construction_widths(rows)[0].savefig(args.plot, dpi=120)
    if args.json:
        print(dumps({"rows": rows, "figure": args.plot}))
        return 0
    print(format_table([{"construction": r["construction"], "eps": r["eps"],
                         "formula n": r["formula_n"], "counts": r["quantity"],
                         "source params": r["source_params"]} for r in rows]))
    for label in dict.fromkeys(r["label"] for r in rows):
        print(f"  formula: {label}")
    if args.plot:
        print(f"figure: {args.plot}")
    return 0
