"""``slth verify``: empirical and certified error of a saved ticket, next to the theorem's eps."""

from __future__ import annotations

from slth._output import dumps, format_table


def register(sub) -> None:
    """Add ``verify``."""
    p = sub.add_parser("verify", help="check a saved ticket against its target",
                       description="Lower bound (sampling + local maximisation) and certified "
                                   "upper bound on the sup error over the input ball.")
    p.add_argument("path", help="ticket file written by `slth ticket build`")
    p.add_argument("--radius", type=float, default=None,
                   help="radius of the input ball (default: the ticket's)")
    p.add_argument("--norm", choices=("l2", "inf"), default=None,
                   help="norm of the input ball (default: the ticket's; CNN tickets: inf)")
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--starts", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)


def _verify(args) -> int:
    from slth.tickets import load
    from slth.verify import check

    report = check(load(args.path), radius=args.radius, samples=args.samples, seed=args.seed,
                   norm=args.norm, starts=args.starts)
    s = report.summary()
    s.update({f"seconds_{k}": v for k, v in report.seconds.items()})
    if args.json:
        print(dumps({**s, "source_widths": list(report.widths),
                     "used_widths": list(report.used_widths), "layers": list(report.layers)}))
    else:
        notes = {k: s.pop(k) for k in ("domain_note", "activation_note") if k in s}
        print(format_table([{"field": k, "value": v} for k, v in s.items()]))
        for note in notes.values():
            print(f"note: {note}")
    # exit status 1 when the check fails, so scripts can rely on it
    return 0 if report.ok else 1
