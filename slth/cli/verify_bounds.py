"""``slth verify-bounds``: the fixed bound-verification suite, as tables, figures and SQLite."""

from __future__ import annotations

import sys
import textwrap

from slth._output import dumps, format_table

TICKET_COLUMNS = {"theorem": "theorem", "target": "target",
                  "formula_width": "formula width", "source_width": "source width",
                  "used_width": "used width",
                  "seeds": "seeds", "empirical": "empirical error",
                  "certified": "certified error", "eps": "eps", "verdict": "verdict"}
LEMMA_COLUMNS = {"theorem": "lemma", "target": "target", "eps": "eps",
                 "formula_n": "formula n", "used_n": "used n", "trials": "trials",
                 "success": "success rate", "ci": "95% CI", "one_minus_delta": "1 - delta",
                 "verdict": "verdict", "sufficient_n": "n enough (95%)"}


def register(sub) -> None:
    """Add ``verify-bounds``."""
    p = sub.add_parser(
        "verify-bounds", help="run the bound-verification suite (tables, figures, SQLite)",
        description="Every construction in slth.experiments.CONSTRUCTIONS (MLPs at depth "
                    "2L and L+1, with and without biases, the polynomial baseline, CNNs and "
                    "residual CNNs) and the random-subset-sum lemmas, at the width of each "
                    "paper's formula and at smaller ones: empirical (lower bound) and "
                    "certified (upper bound) errors next to eps, success rates with "
                    "Clopper-Pearson intervals. The papers give their widths up to "
                    "constants; the formulas are evaluated with the constants C of "
                    "slth.bounds.FORMULAS (this package's calibration or placeholders), "
                    "which every table names. Re-running reuses the finished tasks in OUT.")
    p.add_argument("--out", default="slth-output", metavar="DIR",
                   help="output folder (default: slth-output)")
    p.add_argument("--quick", action="store_true", help="fewer seeds and trials (smoke run)")
    p.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on dask.distributed (an address, or 'local')")
    p.add_argument("--format", nargs="+", default=["png"], choices=("png", "pdf", "svg"),
                   dest="formats", help="figure formats (default: png)")
    p.add_argument("--fresh", action="store_true", help="recompute every task")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 unless every row at its formula's width is "
                        "certified / holds")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_verify_bounds)


def _legend(rows, heading: str) -> None:
    from slth.experiments.suite import formula_legend

    if rows:
        print(heading)
        print("\n".join(formula_legend(rows)))


def _pick(rows, columns):
    return [{label: r[key] for key, label in columns.items()} for r in rows]


def _verify_bounds(args) -> int:
    from slth.experiments.suite import slack_summary, summary_lines, verify_bounds

    try:
        res = verify_bounds(args.out, quick=args.quick, workers=args.workers,
                            scheduler=args.scheduler, fresh=args.fresh,
                            formats=tuple(args.formats),
                            progress=False if args.no_progress else None)
    except RuntimeError as exc:              # a worker died; finished rows are kept
        print(f"slth verify-bounds: error: {exc}", file=sys.stderr)
        return 1
    inconsistent = [t for t in res.tickets if t["verdict"] == "INCONSISTENT"]
    if args.json:
        print(dumps(res.as_dict()))
    else:
        lemmas = [{**x, "ci": f"[{x['ci_low']:.3f}, {x['ci_high']:.3f}]",
                   "sufficient_n": "-" if x["sufficient_n"] is None else x["sufficient_n"]}
                  for x in res.lemmas]
        print("Tickets: sup error over the input domain, worst case over seeds (empirical = "
              "lower bound, certified = upper bound; MLPs: l2 error on the unit l2 ball, "
              "CNNs: max-norm error on [-1, 1] images)")
        print(format_table(_pick(res.tickets, TICKET_COLUMNS)))
        _legend(res.tickets, "formula width: the source widths of each paper's width formula, "
                             "evaluated with a constant C that the paper does not give:")
        print("\nSubset-sum lemmas: fraction of trials covered within eps by n samples; "
              "n enough = smallest n whose 95% lower bound reaches 1 - delta")
        print(format_table(_pick(lemmas, LEMMA_COLUMNS)))
        _legend(res.lemmas, "formula n: the n of each lemma's width formula, evaluated with a "
                            "constant C that the papers do not give:")
        if res.slack:
            from slth.cli.slack import print_slack

            print("\nSlack: how much wider than necessary the formulas are (slth slack)")
            print_slack(res.slack)
        print()
        for paragraph in summary_lines(res.tickets, res.lemmas):
            print(textwrap.fill(paragraph, 100, break_long_words=False,
                                break_on_hyphens=False))
        at_t = [t for t in res.tickets if t["at_formula_width"]]
        at_l = [x for x in res.lemmas if x["at_formula_width"]]
        for t in at_t:
            if t["verdict"] != "certified":
                print(f"  {t['theorem']}, {t['target']}: {t['verdict']} (empirical "
                      f"{t['empirical']:.4g}, certified {t['certified']:.4g}, eps {t['eps']:g})")
        for x in at_l:
            if x["verdict"] != "holds":
                print(f"  {x['theorem']}, {x['target']}, eps {x['eps']:g}, n {x['used_n']}: "
                      f"{x['verdict']} (success {x['success']:.3f}, 95% CI "
                      f"[{x['ci_low']:.3f}, {x['ci_high']:.3f}] vs {x['one_minus_delta']:g})")
        if res.slack:
            print(textwrap.fill(slack_summary(res.slack), 100, break_long_words=False,
                                break_on_hyphens=False))
        if res.reused:
            print(f"Reused {res.reused} finished task(s) from {res.store} (--fresh recomputes).")
        print(f"Results: {res.store}")
        print(f"Figures: {', '.join(res.figures)}")
        print(f"Time: {res.seconds:.1f} s")
    for f in res.failures:
        print(f"task failed: {f['config']['experiment']}: {f['error']}", file=sys.stderr)
    if res.failures or inconsistent:
        return 1
    return 1 if args.strict and not res.ok else 0
