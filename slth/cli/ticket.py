"""``slth ticket``: build a strong lottery ticket for a target network, save it, inspect it."""

from __future__ import annotations

import argparse

import numpy as np

from slth._output import dumps, format_table


def _widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.replace("x", ",").replace("-", ",").split(",") if w]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--widths must be integers separated by commas, e.g. 784,300,10; got {text!r}"
        ) from exc


def load_target(path: str, activation: str):
    """A target from an ``.npz`` holding ``W0, W1, ...`` (``(d_out, d_in)``) and ``b0, ...``."""
    from slth.nets import MLP

    with np.load(path, allow_pickle=False) as z:
        names = set(z.files)
        L = sum(1 for k in names if k.startswith("W") and k[1:].isdigit())
        if L == 0:
            raise ValueError(f"--target: {path!r} holds no weight arrays W0, W1, ...; "
                             f"found {sorted(names)}")
        ws = [z[f"W{l}"] for l in range(L)]
        bs = [z[f"b{l}"] if f"b{l}" in names else None for l in range(L)]
        if "activation" in names:
            activation = str(z["activation"])
    return MLP(ws, bs, activation)


def register(sub) -> None:
    """Add ``ticket build`` and ``ticket info``."""
    parser = sub.add_parser("ticket", help="build and inspect strong lottery tickets",
                            description="Prune a random source network to approximate a "
                                        "target (depth 2L: pensia, orseau; depth L+1: "
                                        "burkholz; depth 2L with biases: fischer_burkholz; "
                                        "one neuron pair per weight: malach).")
    tsub = parser.add_subparsers(dest="ticket_command", metavar="ACTION", required=True)

    p = tsub.add_parser("build", help="build a ticket and save it as .npz")
    p.add_argument("--construction", default="burkholz",
                   choices=("pensia", "orseau", "burkholz", "fischer_burkholz", "malach",
                            "cnn_unstructured", "cnn_structured"))
    p.add_argument("--dist", default=None, choices=("uniform", "normal", "he"),
                   help="source distribution (default: the construction's; 'he', scaled "
                        "He: fischer_burkholz only)")
    p.add_argument("--kernel-size", type=int, default=3,
                   help="CNN constructions: kernel size of the random target (--widths are "
                        "its channels)")
    tgt = p.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--widths", type=_widths, help="random target with these widths")
    tgt.add_argument("--target", help=".npz with W0, W1, ... (d_out x d_in) and b0, b1, ...")
    p.add_argument("--activation", default="relu", help="target activation (default: relu)")
    p.add_argument("--bias", action="store_true", help="random target with biases")
    p.add_argument("--target-seed", type=int, default=0)
    p.add_argument("--eps", type=float, default=0.01)
    p.add_argument("--delta", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0, help="seed of the random source")
    p.add_argument("--n", type=int, default=None,
                   help="width parameter (default: the n of the paper's width formula with "
                        "the C in use)")
    p.add_argument("--C", type=float, default=None,
                   help="constant C of the width formula, which the papers do not give "
                        "(default: this package's, see slth.bounds.FORMULAS)")
    p.add_argument("--max-values", type=int, default=None,
                   help="values per subset-sum problem (default: the construction's)")
    p.add_argument("--copies-read", type=int, default=None,
                   help="burkholz: copies of each neuron the later layers read; weights "
                        "they cannot solve within tol reach a few more (default: max "
                        "values + 8)")
    p.add_argument("--no-refine", action="store_true",
                   help="burkholz: skip the finer windows that aim each layer's errors at "
                        "its share of eps in the certified bound (faster, larger bound)")
    p.add_argument("--first-layer", choices=("auto", "fine", "tree"), default=None,
                   help="burkholz: first-layer search, fine windows or a k-tree (faster "
                        "for large targets, about twice the kept entries); default auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-check", action="store_true",
                   help="build even if the target violates the theorem's norm assumption")
    p.add_argument("--out", required=True, help="output file (.npz)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_build)

    p = tsub.add_parser("info", help="summary of a saved ticket")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_info)


def _build(args) -> int:
    from slth import bounds, tickets
    from slth.nets import random_target

    for flag, given in (("--copies-read", args.copies_read is not None),
                        ("--no-refine", args.no_refine),
                        ("--first-layer", args.first_layer is not None)):
        if given and args.construction != "burkholz":
            raise ValueError(f"{flag} applies to burkholz only, got --construction "
                             f"{args.construction}")
    if args.construction == "malach" and args.max_values is not None:
        raise ValueError("--max-values applies to subset-sum constructions, not malach (one "
                         "neuron pair per weight)")
    if args.dist == "he" and args.construction != "fischer_burkholz":
        raise ValueError(f"--dist he applies to fischer_burkholz only, got --construction "
                         f"{args.construction}")
    if args.construction.startswith("cnn_"):
        return _build_cnn(args)
    if args.target:
        target = load_target(args.target, args.activation)
    else:
        norm = ("spectral" if args.construction in ("pensia", "orseau", "fischer_burkholz",
                                                    "malach")
                else "max")
        target = random_target(args.widths, activation=args.activation, norm=norm,
                               bias=args.bias, seed=args.target_seed)
    build = getattr(tickets, args.construction)
    kw = {name: value for name, value in (("max_values", args.max_values),
                                          ("copies_read", args.copies_read),
                                          ("first_layer", args.first_layer),
                                          ("dist", args.dist))
          if value is not None}
    if args.no_refine:
        kw["refine"] = False
    ticket = build(target, eps=args.eps, delta=args.delta, seed=args.seed, n=args.n,
                   C=bounds.FORMULAS[args.construction].C if args.C is None else args.C,
                   threads=args.threads,
                   check_assumptions=not args.no_check,
                   progress=False if args.no_progress else None, **kw)
    ticket.save(args.out)
    _print(ticket, args.json, extra={"saved": args.out})
    return 0


def _build_cnn(args) -> int:
    from slth import bounds, tickets
    from slth.nets import random_cnn_target

    if args.target:
        raise ValueError("--target: CNN constructions build random targets only (--widths "
                         "gives the channels, --kernel-size the kernel size)")
    target = random_cnn_target(args.widths, args.kernel_size, seed=args.target_seed,
                               padding="same" if args.kernel_size % 2 else "valid")
    kw = ({"max_values": args.max_values}
          if args.construction == "cnn_unstructured" and args.max_values is not None else {})
    ticket = getattr(tickets, args.construction)(
        target, eps=args.eps, delta=args.delta, seed=args.seed, n=args.n,
        C=bounds.DEFAULT_C if args.C is None else args.C, threads=args.threads,
        check_assumptions=not args.no_check, progress=False if args.no_progress else None,
        **kw)
    ticket.save(args.out)
    _print(ticket, args.json, extra={"saved": args.out})
    return 0


def _print(ticket, as_json: bool, extra: dict | None = None) -> None:
    s = ticket.summary()
    s.update({f"seconds_{k}": v for k, v in ticket.timings.items()})
    s.update(extra or {})
    if as_json:
        print(dumps({**s, "params": ticket.params,
                     "source_widths": list(ticket.widths),
                     "used_widths": list(ticket.used_widths),
                     "copies_read": ticket.copies_read()}))
    else:
        print(format_table([{"field": k, "value": v} for k, v in s.items()]))


def _info(args) -> int:
    from slth.tickets import load

    _print(load(args.path), args.json)
    return 0
