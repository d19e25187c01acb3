"""How much wider than necessary are the width formulas? The smallest widths that suffice.

For a construction, a target and eps, :func:`ticket_slack` finds the smallest ``n`` at
which the ticket is (a) certified within eps (:func:`slth.verify.check`'s upper bound) and
(b) empirically within eps (its lower bound), each for a fraction of at least
``1 - delta`` of the source seeds, by doubling ``n`` and then bisecting
(:func:`smallest_passing`). Beside them it reports the formula's ``n``
(:data:`slth.bounds.FORMULAS`, with the constant in use), the ratio of the two and the
implied constant ``C*``: the ``C`` at which the formula gives the sufficient ``n``.
:func:`lemma_slack` does the same for the random subset-sum lemmas (1-D and
multidimensional), where the counting bound gives a lower bound on every ``n``.

The target is fixed (drawn from ``target_seed``); seed ``s`` draws the source from
``SeedSequence(target_seed, spawn_key=(1, s))`` and the test inputs from ``(2, s)``, so the
evaluations at one ``n`` do not depend on how many seeds there are. The constructions'
sources are drawn anew for every ``n`` (a wider source does not contain a narrower one:
:class:`slth.tickets.ticket.SourceSpec` draws blocks of rows whose shapes depend on
``n``), so success need not grow with ``n`` seed by seed: the bisection finds an ``n``
that passes while ``n - 1`` fails, the smallest when success is monotone in ``n``. The
lemmas' samples are nested (the first ``n`` values of one stream per trial), and their
sufficient ``n`` is exact for the trials drawn.

Examples
--------
>>> row = ticket_slack("pensia", [2, 2, 1], eps=0.2, seeds=2, samples=64, starts=1)
>>> row.certified_n <= row.formula_n, row.nested
(True, False)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from slth._validate import check_int, check_open_unit

__all__ = ["SlackRow", "smallest_passing", "ticket_setup", "width_passes", "ticket_slack",
           "lemma_slack", "required_passes", "slack_table"]


@dataclass(frozen=True)
class SlackRow:
    """The sufficient widths of one construction (or lemma), target and eps.

    Attributes
    ----------
    of, target : str
        The construction or lemma, and a label of its target (shape and activation).
    eps, delta : float
    seeds : int
        Source seeds (lemmas: trials) per evaluated ``n``.
    formula_n : int
        The formula's ``n`` with the constant ``C`` in use.
    formula : str
        The formula's label (paper, ``C`` and where ``C`` comes from).
    certified_n, empirical_n : int or None
        Smallest ``n`` found whose certified (empirical) error is within eps for at least
        ``required_passes(seeds, delta)`` seeds; ``None`` when ``n_max`` does not suffice.
    certified_ci, empirical_ci : tuple of float
        Clopper-Pearson 95% interval of the success probability at that ``n``.
    lower_n : int or None
        A counting lower bound on every sufficient ``n``, where one exists (lemmas).
    implied_C, implied_C_empirical : float or None
        The ``C`` at which the formula gives ``certified_n`` (``empirical_n``).
    ratio : float or None
        ``formula_n / certified_n``.
    nested : bool
        Whether a wider source contains the narrower one (same seed).
    n_max : int
        Largest ``n`` tried.
    evaluations : dict
        ``n -> [certified passes, empirical passes]`` of every evaluated ``n``.
    seconds : float
    """

    of: str
    target: str
    eps: float
    delta: float
    seeds: int
    formula_n: int
    formula: str
    certified_n: int | None
    certified_ci: tuple
    empirical_n: int | None
    empirical_ci: tuple
    lower_n: int | None
    implied_C: float | None
    implied_C_empirical: float | None
    ratio: float | None
    nested: bool
    n_max: int
    evaluations: dict = field(repr=False, default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain dict (JSON values; ``evaluations`` keyed by str)."""
        out = asdict(self)
        out["evaluations"] = {str(k): list(v) for k, v in self.evaluations.items()}
        out["certified_ci"], out["empirical_ci"] = list(self.certified_ci), list(self.empirical_ci)
        return out


def required_passes(seeds: int, delta: float) -> int:
    """Seeds that must pass for a fraction of at least ``1 - delta``: ``ceil((1 - delta) s)``.

    Examples
    --------
    >>> required_passes(10, 0.1), required_passes(5, 0.1), required_passes(20, 0.05)
    (9, 5, 19)
    """
    return math.ceil((1.0 - delta) * seeds - 1e-9)


def smallest_passing(ok: Callable[[int], bool], n_max: int, start: int = 1) -> int | None:
    """Smallest ``n`` in ``[start, n_max]`` with ``ok(n)``, by doubling then bisection.

    ``ok`` is evaluated at ``start, 2 start, 4 start, ...`` (and ``n_max``) until it holds,
    then the interval after the last failure is bisected. The result passes and ``n - 1``
    fails (or ``n == start``); it is the smallest passing ``n`` whenever ``ok`` is monotone.
    ``None`` when ``ok(n_max)`` fails too. Evaluations are the caller's to cache.

    Examples
    --------
    >>> seen = []
    >>> smallest_passing(lambda n: seen.append(n) or n >= 13, 100), seen
    (13, [1, 2, 4, 8, 16, 12, 14, 13])
    >>> smallest_passing(lambda n: False, 10) is None
    True
    """
    n_max = check_int(n_max, "n_max", minimum=1)
    lo, n = start - 1, start
    while True:
        n = min(n, n_max)
        if ok(n):
            hi = n
            break
        if n >= n_max:
            return None
        lo, n = n, 2 * n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _interval(passes: int, trials: int) -> tuple[float, float]:
    from slth.mrss import clopper_pearson

    lo, hi = clopper_pearson(passes, trials)
    return float(lo), float(hi)


def _implied(formula, n: int | None, args: tuple) -> float | None:
    return None if n is None else float(formula.implied_C(n, *args))


def _formula_args(experiment: str, target, config: dict) -> tuple:
    """Arguments of ``FORMULAS[experiment].term`` for a construction's target."""
    if "kernel" in config:                     # the CNN constructions
        return (target.channels, config["kernel"], config["eps"], config["delta"])
    return (target.widths, config["eps"], config["delta"])


def ticket_setup(experiment: str, widths=None, eps: float = 0.1, delta: float = 0.1, *,
                 activation: str | None = None, kernel: int | None = None,
                 target_seed: int = 0, C: float | None = None):
    """The construction, the task config and the target of a slack search, validated.

    Examples
    --------
    >>> construction, config, target = ticket_setup("pensia", [3, 2, 1])
    >>> construction.name, config["activation"], target.widths
    ('pensia', 'relu', (3, 2, 1))
    """
    from slth import bounds
    from slth.experiments.constructions import CONSTRUCTIONS, ticket_params

    if experiment not in CONSTRUCTIONS:
        raise ValueError(f"experiment must be a ticket construction, one of "
                         f"{sorted(CONSTRUCTIONS)}; got {experiment!r}")
    eps, delta = check_open_unit(eps, "eps"), check_open_unit(delta, "delta")
    target_seed = check_int(target_seed, "target_seed", minimum=0)
    given = {"widths": widths, "activation": activation, "kernel": kernel, "eps": eps,
             "delta": delta, "C": bounds.FORMULAS[experiment].C if C is None else C}
    construction = CONSTRUCTIONS[experiment]
    config = {p.name: (p.convert(given[p.name], p.name) if given.get(p.name) is not None
                       else p.default) for p in ticket_params(construction)}
    return construction, config, construction.make_target(config,
                                                          np.random.SeedSequence(target_seed))


def width_passes(construction, config: dict, target, n: int, seeds: int, *,
                 target_seed: int = 0, samples: int = 256, starts: int = 2,
                 threads: int | None = None) -> list[int]:
    """``[certified, empirical]``: how many of ``seeds`` sources of width ``n`` give a
    ticket certified (empirically) within ``config["eps"]``. Seed ``s`` draws the source
    from ``SeedSequence(target_seed, spawn_key=(1, s))`` and the test inputs from
    ``(2, s)``."""
    from slth.verify import check

    passes = [0, 0]
    for s in range(seeds):
        source = np.random.SeedSequence(target_seed, spawn_key=(1, s))
        ticket = construction.build(target, config, n, source, threads)
        report = check(ticket, samples=samples, starts=starts,
                       seed=np.random.SeedSequence(target_seed, spawn_key=(2, s)))
        # the ticket's eps: config["eps"], times the output scale of a scaled source
        # (slth.tickets.fischer_burkholz with dist="he")
        passes[0] += report.certified <= report.eps
        passes[1] += report.empirical <= report.eps
    return passes


def ticket_slack(experiment: str, widths=None, eps: float = 0.1, delta: float = 0.1, *,
                 seeds: int = 10, activation: str | None = None, kernel: int | None = None,
                 target_seed: int = 0, C: float | None = None, n_max: int | None = None,
                 samples: int = 256, starts: int = 2, threads: int | None = None,
                 progress: bool = False) -> SlackRow:
    """Smallest widths at which a construction's tickets are within eps (see module doc).

    Parameters
    ----------
    experiment : str
        A ticket construction of :data:`slth.experiments.registry.CONSTRUCTIONS`.
    widths : list of int, optional
        Target shape (default: the construction's default shape).
    eps, delta : float in (0, 1)
        Accuracy, and the fraction of seeds that may fail.
    seeds : int
        Source seeds per evaluated ``n``.
    activation, kernel : optional
        Target activation (default the construction's first) and kernel side (CNNs).
    target_seed : int
        Seed of the target (and root of the sources' seeds).
    C : float, optional
        Constant of the formula (default :data:`slth.bounds.FORMULAS`'s).
    n_max : int, optional
        Largest ``n`` tried (default ``4 * formula_n``, at most 2048).
    samples, starts : int
        Random inputs and local maximisations of each check.
    threads : int, optional
        Threads of each build.
    progress : bool
        A tqdm bar over the evaluated widths.

    Returns
    -------
    SlackRow
    """
    from tqdm import tqdm

    from slth import bounds

    construction, config, target = ticket_setup(
        experiment, widths, eps, delta, activation=activation, kernel=kernel,
        target_seed=target_seed, C=C)
    seeds = check_int(seeds, "seeds", minimum=1)
    formula = bounds.FORMULAS[experiment]
    args = _formula_args(experiment, target, config)
    formula_n = formula.n(*args, C=config["C"])
    n_max = (min(4 * formula_n, 2048) if n_max is None
             else check_int(n_max, "n_max", minimum=1))
    need = required_passes(seeds, delta)
    evaluations: dict[int, list[int]] = {}
    bar = tqdm(desc=f"slack {experiment}", unit="width", disable=not progress, leave=False)
    t0 = time.perf_counter()

    def evaluate(n: int) -> list[int]:
        if n not in evaluations:
            evaluations[n] = width_passes(construction, config, target, n, seeds,
                                          target_seed=target_seed, samples=samples,
                                          starts=starts, threads=threads)
            bar.update(1)
        return evaluations[n]

    with bar:
        certified_n = smallest_passing(lambda n: evaluate(n)[0] >= need, n_max)
        empirical_n = smallest_passing(lambda n: evaluate(n)[1] >= need,
                                       n_max if certified_n is None else certified_n)
    label = f"{'-'.join(map(str, config['widths']))}"
    if "kernel" in config:
        label += f" conv{config['kernel']}x{config['kernel']}"
    return SlackRow(
        experiment, f"{label} {config['activation']}", eps, delta, seeds, formula_n,
        formula.label(config["C"]), certified_n,
        _interval(evaluations[certified_n][0], seeds) if certified_n else (math.nan,) * 2,
        empirical_n,
        _interval(evaluations[empirical_n][1], seeds) if empirical_n else (math.nan,) * 2,
        None, _implied(formula, certified_n, args), _implied(formula, empirical_n, args),
        formula_n / certified_n if certified_n else None, False, n_max,
        dict(sorted(evaluations.items())), time.perf_counter() - t0)


def lemma_slack(experiment: str, eps: float, delta: float = 0.1, *, d: int = 1,
                dist: str = "uniform", trials: int = 200, seed: int = 0,
                C: float | None = None, n_max: int | None = None, threads: int | None = None
                ) -> SlackRow:
    """Smallest ``n`` covering [-1, 1]^d within eps with probability at least ``1 - delta``.

    ``"rss"``: the exact per-trial smallest covering ``n`` of :func:`slth.rss.min_samples`
    (``d = 1``); ``"mrss"``: :func:`slth.mrss.min_samples` (exact up to its
    ``exact_max_n``, estimated over random targets beyond). The sufficient ``n`` is the
    smallest with at least ``required_passes(trials, delta)`` trials covered; the trials'
    samples are nested in ``n``, and coverage is decided exactly for them, so the row's
    certified and empirical ``n`` are that one figure. ``lower_n`` is the counting bound
    :func:`slth.bounds.counting_lower_n`. ``n_max`` defaults to 4096 (rss) and 64 (mrss).

    Examples
    --------
    >>> row = lemma_slack("rss", 0.01, trials=50)
    >>> row.lower_n <= row.certified_n <= row.formula_n, row.nested
    (True, True)
    """
    from slth import bounds, mrss, rss

    eps, delta = check_open_unit(eps, "eps"), check_open_unit(delta, "delta")
    trials = check_int(trials, "trials", minimum=1)
    if experiment not in ("rss", "mrss"):
        raise ValueError(f"experiment must be 'rss' or 'mrss', got {experiment!r}")
    if n_max is None:
        n_max = 4096 if experiment == "rss" else 64
    n_max = check_int(n_max, "n_max", minimum=1)
    t0 = time.perf_counter()
    if experiment == "rss":
        d = 1
        formula, args = bounds.FORMULAS["rss"], (eps, delta)
        C = bounds.RSS_C[dist] if C is None else C
        ns = rss.min_samples(eps, dist, trials=trials, seed=seed, max_n=n_max,
                             threads=threads, progress=False)
    else:
        formula, args = bounds.FORMULAS["mrss"], (eps, d)
        C = formula.C if C is None else C
        ns = np.asarray(mrss.min_samples(eps, d, dist=dist, trials=trials, n_max=n_max,
                                         seed=seed, threads=threads).n)
    ns = np.asarray(ns)
    need = required_passes(trials, delta)
    found = int(np.sort(ns)[need - 1])
    sufficient = found if found <= n_max else None
    ci = (_interval(int(np.sum(ns <= sufficient)), trials) if sufficient
          else (math.nan, math.nan))
    formula_n = formula.n(*args, C=C)
    return SlackRow(
        experiment, f"[-1,1]^{d} {dist}" if d > 1 else f"[-1,1] {dist}", eps, delta, trials,
        formula_n, formula.label(C, dist), sufficient, ci, sufficient, ci,
        bounds.counting_lower_n(eps, d), _implied(formula, sufficient, args),
        _implied(formula, sufficient, args),
        formula_n / sufficient if sufficient else None, True, n_max,
        {}, time.perf_counter() - t0)


def slack_table(rows) -> list[dict]:
    """One line per slack result (store rows or :meth:`SlackRow.as_dict` dicts), in the
    order of the registry, then target and decreasing eps; widths not reached print as
    ``"> n_max"``.

    Examples
    --------
    >>> row = lemma_slack("rss", 0.1, trials=20)
    >>> line = slack_table([row.as_dict()])[0]
    >>> line["lower_n"] <= line["certified_n"] <= line["formula_n"]
    True
    """
    from slth.experiments.constructions import CONSTRUCTIONS

    order = {name: i for i, name in enumerate(("rss", "mrss", *CONSTRUCTIONS))}

    def shown(n, n_max):
        return f"> {n_max}" if n is None else n

    out = []
    for r in sorted(rows, key=lambda r: (order.get(r["of"], 99), r["target"], -r["eps"])):
        ci = r["certified_ci"]
        out.append({
            "of": r["of"], "target": r["target"], "eps": r["eps"], "delta": r["delta"],
            "seeds": r["seeds"], "formula_n": r["formula_n"],
            "certified_n": shown(r["certified_n"], r["n_max"]),
            "certified_ci": "-" if r["certified_n"] is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]",
            "empirical_n": shown(r["empirical_n"], r["n_max"]),
            "lower_n": "-" if r["lower_n"] is None else r["lower_n"],
            "ratio": "-" if r["ratio"] is None else round(r["ratio"], 2),
            "implied_C": "-" if r["implied_C"] is None else round(r["implied_C"], 3),
            "nested": r["nested"], "formula": r["formula"],
        })
    return out
