"""What a sweep can run: ticket constructions and the subset-sum lemmas, by name.

Every experiment is a function of one *config* (a flat dict of JSON values) and
nothing else: its random numbers come from ``config["seed"]``, so a task gives the
same result wherever and whenever it runs (any worker, any scheduler, any order).

* Ticket experiments (:data:`CONSTRUCTIONS`, one :class:`Construction` entry each):
  draw a random target of the given shape from ``SeedSequence(seed).spawn(3)[0]``,
  build the ticket from child 1 at width ``n`` (or ``round(width_factor * formula_n)``,
  ``formula_n`` the paper's width formula with the ``C`` in use, :data:`slth.bounds.FORMULAS`),
  and check it with :func:`slth.verify.check`, whose random inputs come from child 2.
* ``"rss"``: :func:`slth.rss.min_samples` ``(eps, dist, trials, seed)`` -- per trial, the
  exact smallest n covering [-1, 1] within eps.
* ``"mrss"``: :func:`slth.mrss.min_samples` ``(eps, d, trials=..., seed=seed)``.
* ``"imp"``, ``"essential_sparsity"``: tickets found by training, with PyTorch
  (:mod:`slth.experiments.weak`; torch is imported when a task runs).
* ``"bip"``, ``"inertial_manifold"``: BiP and its baselines; the inertial-manifold
  conditions at a small trained network's exact Hessian (:mod:`slth.experiments.weak_bip`).
* ``"gsm"``: Global Sparse Momentum SGD (:mod:`slth.experiments.weak_gsm`).
* ``"ticket_transfer"``: tickets across data sets (:mod:`slth.experiments.weak_transfer`).
* ``"slack"``: the smallest widths that suffice for a construction or a lemma, beside the
  formula's (:mod:`slth.experiments.slack`).
* ``"lab_subset_sum"``, ``"lab_teacher_student"``: search against construction
  (:mod:`slth.experiments.lab`; needs the ``lab`` extra when a task runs).
* ``"malach_neuron_pruning"``: one random depth-2 network pruned by weights and by whole
  neurons (:mod:`slth.experiments.neuron_pruning`).
* ``"lab_digits"``: a trained digits classifier, its depth-L+1 ticket and searched tickets
  in the same sources, test accuracy against width (:mod:`slth.experiments.lab_digits`;
  scikit-learn, and the ``lab`` extra for the searches, when a task runs).

A new construction is one more :class:`~slth.experiments.constructions.Construction` in
:data:`~slth.experiments.constructions.CONSTRUCTIONS`.

Examples
--------
>>> from slth.experiments.registry import EXPERIMENTS
>>> list(EXPERIMENTS)[:5]
['rss', 'mrss', 'pensia', 'orseau', 'burkholz']
>>> {'slack', 'lab_teacher_student', 'lab_digits', 'burkholz_cnn'} <= set(EXPERIMENTS)
True
>>> EXPERIMENTS["rss"].family
'lemma'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slth import distributions
from slth.experiments import lab_digits as _lab_digits
from slth.experiments.constructions import (
    CONSTRUCTIONS,
    REQUIRED,
    Construction,
    Param,
    _choice,
    _eps,
    _int,
    _optional,
    _positive,
    _seed,
    _widths,
    resolve_n,
    ticket_params,
)
from slth.experiments.lab import (
    SUBSET_SUM_PARAMS,
    TEACHER_STUDENT_PARAMS,
    check_teacher_student,
    run_subset_sum,
    run_teacher_student,
)

__all__ = ["Param", "Experiment", "Construction", "CONSTRUCTIONS", "EXPERIMENTS",
           "get_experiment", "run_config"]


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its fields and the function computing one task."""

    name: str
    family: str                      # "ticket", "lemma", "slack", "lab" or "comparison"
    params: tuple[Param, ...]
    run: Callable[[dict, int | None], dict]
    description: str = ""
    #: ``(config, where)`` -> None: checks across fields, raising ``ValueError``
    check: Callable[[dict, str], None] | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _run_ticket(c: Construction):
    def run(config: dict, threads: int | None = None) -> dict:
        from slth.verify import check

        t_target, t_source, t_inputs = np.random.SeedSequence(config["seed"]).spawn(3)
        t0 = time.perf_counter()
        target = c.make_target(config, t_target)
        formula_n = int(c.formula_n(target, config))
        n = resolve_n(formula_n, config)
        t1 = time.perf_counter()
        ticket = c.build(target, config, n, t_source, threads)
        t2 = time.perf_counter()
        if int(ticket.params["formula_n"]) != formula_n:
            raise RuntimeError(f"{c.name}: formula_n {ticket.params['formula_n']} of the "
                               f"construction differs from the registry's {formula_n}")
        rep = check(ticket, samples=config["samples"], starts=config["starts"], seed=t_inputs)
        t3 = time.perf_counter()
        return {
            "theorem": c.theorem, "empirical": rep.empirical, "certified": rep.certified,
            "theorem_eps": rep.eps, "ok": rep.ok, "meets_eps": rep.meets_eps,
            "at_formula_width": rep.at_formula_width, "n": int(n), "formula_n": formula_n,
            "width_ratio": n / formula_n, "formula": rep.formula,
            "widths": list(map(int, ticket.widths)),
            "used_widths": list(map(int, ticket.used_widths)),
            "formula_widths": list(map(int, rep.formula_widths)),
            "sparsity": float(ticket.sparsity), "used_sparsity": float(ticket.used_sparsity),
            "kept": int(ticket.kept), "source_params": int(ticket.spec.n_params),
            "used_params": int(ticket.used_params),
            "timings": {"target": t1 - t0, "build": t2 - t1,
                        "empirical": rep.seconds.get("empirical", float("nan")),
                        "certified": rep.seconds.get("certified", float("nan")),
                        "total": t3 - t0},
        }
    return run


# ---------------------------------------------------------------------- lemmas
def _lemma_summary(ns: np.ndarray, formula_n: int, formula: str) -> dict:
    q10, q50, q90 = np.quantile(ns, [0.1, 0.5, 0.9])
    return {"n_trials": [int(v) for v in ns], "median_n": float(q50), "q10_n": float(q10),
            "q90_n": float(q90), "mean_n": float(np.mean(ns)), "worst_n": int(ns.max()),
            "formula_n": int(formula_n), "formula": formula,
            "success_at_formula_n": float(np.mean(ns <= formula_n))}


def _run_rss(config: dict, threads: int | None = None) -> dict:
    from slth import bounds, rss

    t0 = time.perf_counter()
    ns = rss.min_samples(config["eps"], config["dist"], trials=config["trials"],
                         seed=config["seed"], max_n=config["max_n"], threads=threads,
                         progress=False)
    out = _lemma_summary(ns, bounds.rss_n(config["eps"], config["delta"], config["C"],
                                          dist=config["dist"]),
                         bounds.FORMULAS["rss"].label(config["C"], config["dist"]))
    out.update({"theorem": "RSS lemma (Lueker 1998)", "d": 1, "exact_trials": len(ns),
                "timings": {"total": time.perf_counter() - t0}})
    return out


def _run_mrss(config: dict, threads: int | None = None) -> dict:
    from slth import bounds, mrss

    t0 = time.perf_counter()
    res = mrss.min_samples(config["eps"], config["d"], dist=config["dist"],
                           trials=config["trials"], n_max=config["n_max"],
                           num_targets=config["num_targets"], seed=config["seed"],
                           exact_max_n=config["exact_max_n"], threads=threads)
    out = _lemma_summary(np.asarray(res.n), bounds.mrss_n(config["eps"], config["d"],
                                                          config["C"]),
                         bounds.FORMULAS["mrss"].label(config["C"]))
    out.update({"theorem": "MRSS lemma (Becchetti et al. 2022)", "d": config["d"],
                "exact_trials": int(np.sum(res.exact)),
                "exact": [bool(v) for v in res.exact],
                "timings": {"total": time.perf_counter() - t0}})
    return out


_LEMMA_COMMON = (
    Param("eps", _eps, REQUIRED, "coverage tolerance, in (0, 1)"),
    Param("delta", _eps, 0.1, "failure probability of the lemma, in (0, 1)"),
    Param("seed", _seed, 0, "root seed; trial t uses its t-th child"),
    Param("trials", _int(minimum=1), 100, "independent sample streams"),
)

EXPERIMENTS: dict[str, Experiment] = {
    "rss": Experiment("rss", "lemma", _LEMMA_COMMON + (
        Param("dist", _choice(distributions.NAMES), "uniform", "sample distribution"),
        Param("C", _optional(_positive), None, "constant of n = C log2(2/min(eps, delta)) "
              "(the papers give none; default: this package's calibration for the "
              "distribution, slth.bounds.RSS_C)"),
        Param("max_n", _int(minimum=1), 4096, "longest stream tried"),
    ), _run_rss, "exact samples needed to cover [-1, 1] within eps (slth.rss.min_samples)"),
    "mrss": Experiment("mrss", "lemma", _LEMMA_COMMON + (
        Param("d", _int(minimum=1, maximum=64), 2, "dimension"),
        Param("dist", _choice(("uniform", "normal", "nsn", "nsn_vector")), "uniform",
              "vector distribution"),
        Param("C", _positive, 3.0, "constant of slth.bounds.mrss_n (the paper gives none; "
              "where 3 comes from: slth.bounds.FORMULAS)"),
        Param("n_max", _int(minimum=1), 64, "largest n scanned"),
        Param("exact_max_n", _int(minimum=0), 32, "exact decisions up to this n"),
        Param("num_targets", _int(minimum=1), 64, "random targets per trial (d > 2)"),
    ), _run_mrss, "samples needed to cover [-1, 1]^d within eps (slth.mrss.min_samples)"),
}
for _c in CONSTRUCTIONS.values():
    EXPERIMENTS[_c.name] = Experiment(_c.name, "ticket", ticket_params(_c), _run_ticket(_c),
                                      _c.theorem)


def _run_slack(config: dict, threads: int | None = None) -> dict:
    from slth.experiments.slack import lemma_slack, ticket_slack

    if config["of"] in ("rss", "mrss"):
        row = lemma_slack(config["of"], config["eps"], config["delta"], d=config["d"],
                          dist=config["dist"] or "uniform", trials=config["trials"],
                          seed=config["seed"], C=config["C"], n_max=config["n_max"],
                          threads=threads)
    else:
        row = ticket_slack(config["of"], config["widths"], config["eps"], config["delta"],
                           seeds=config["trials"], activation=config["activation"],
                           kernel=config["kernel"], target_seed=config["seed"], C=config["C"],
                           n_max=config["n_max"], samples=config["samples"],
                           starts=config["starts"], threads=threads)
    out = row.as_dict()
    out.update({"theorem": CONSTRUCTIONS[config["of"]].theorem if config["of"] in CONSTRUCTIONS
                else {"rss": "RSS lemma (Lueker 1998)",
                      "mrss": "MRSS lemma (Becchetti et al. 2022)"}[config["of"]],
                "timings": {"total": row.seconds}})
    return out


EXPERIMENTS["slack"] = Experiment("slack", "slack", (
    Param("of", _choice(tuple(CONSTRUCTIONS) + ("rss", "mrss")), REQUIRED,
          "the construction or lemma whose sufficient widths are searched"),
    Param("eps", _eps, REQUIRED, "accuracy, in (0, 1)"),
    Param("delta", _eps, 0.1, "fraction of seeds (trials) that may fail, in (0, 1)"),
    Param("widths", _optional(lambda v, name: _widths(v, name)), None,
          "target widths (default: the construction's default shape)", vector=True),
    Param("activation", _optional(_choice(("relu", "leaky_relu", "tanh", "sigmoid",
                                           "softplus"))), None,
          "target activation (default: the construction's first)"),
    Param("kernel", _optional(_int(minimum=1, maximum=7)), None, "kernel side (CNNs)"),
    Param("trials", _int(minimum=1), 10, "source seeds per width (tickets) or sample "
          "streams (lemmas)"),
    Param("seed", _seed, 0, "seed of the target and root of the sources' seeds (lemmas: "
          "of the streams)"),
    Param("C", _optional(_positive), None, "constant of the formula (default: its own, "
          "see slth.bounds.FORMULAS)"),
    Param("n_max", _optional(_int(minimum=1)), None, "largest n tried"),
    Param("samples", _int(minimum=1), 256, "random test inputs of each check"),
    Param("starts", _int(minimum=0), 2, "local maximisations of each check"),
    Param("d", _int(minimum=1, maximum=64), 1, "dimension (mrss)"),
    Param("dist", _optional(_choice(("uniform", "normal", "nsn", "nsn_vector",
                                     "uniform_product"))), None,
          "sample distribution (lemmas; default uniform)"),
), _run_slack, "smallest widths certified / empirically within eps for a fraction 1 - delta "
   "of seeds, beside the formula's (slth.experiments.slack)")


def _run_neuron_pruning(config: dict, threads: int | None = None) -> dict:
    from slth.experiments.neuron_pruning import neuron_vs_weight

    out = neuron_vs_weight(config["d"], config["n"], config["samples"], config["seed"],
                           exact_max=config["exact_max"], time_limit=config["time_limit"])
    out.update({"theorem": "Malach et al. 2020, neuron- vs weight-subnetworks",
                "timings": {"total": out["seconds"]}})
    return out


EXPERIMENTS["malach_neuron_pruning"] = Experiment("malach_neuron_pruning", "comparison", (
    Param("d", _int(minimum=1, maximum=64), 8, "input dimension of the target neuron"),
    Param("n", _int(minimum=1), 64, "neurons per sign and input of the source (hidden "
          "width 2 n d)"),
    Param("samples", _int(minimum=1), 256, "inputs on the unit sphere"),
    Param("seed", _seed, 0, "root seed of target, source and inputs"),
    Param("exact_max", _int(minimum=0), 24, "largest hidden width solved exactly (MILP)"),
    Param("time_limit", _positive, 60.0, "seconds for the exact solver"),
), _run_neuron_pruning, "one random depth-2 network pruned by weights (malach) and by whole "
   "neurons (greedy, LP lower bound, exact MILP) against one linear neuron "
   "(slth.experiments.neuron_pruning)")


# search against construction (slth.lab, PyTorch imported when a task runs)
EXPERIMENTS["lab_subset_sum"] = Experiment(
    "lab_subset_sum", "lab", SUBSET_SUM_PARAMS, run_subset_sum,
    "GEM-MINER's relaxed subset sum, rounded, against the exact optimum and the covering "
    "radius (slth.lab.subset_sum_by_gradient)")
EXPERIMENTS["lab_teacher_student"] = Experiment(
    "lab_teacher_student", "lab", TEACHER_STUDENT_PARAMS, run_teacher_student,
    "edge-popup / GEM-MINER in a construction's own source, against its ticket "
    "(slth.experiments.lab)", check_teacher_student)
from slth.experiments import weak  # noqa: E402 - its params use this module's Param

EXPERIMENTS["imp"] = Experiment("imp", "weak", weak.IMP_PARAMS, weak.run_imp,
                                "iterative magnitude pruning with rewinding (slth.lab.imp)")
EXPERIMENTS["essential_sparsity"] = Experiment(
    "essential_sparsity", "weak", weak.ESSENTIAL_PARAMS, weak.run_essential,
    "one-shot magnitude pruning without retraining (slth.lab.essential)")
EXPERIMENTS["lab_digits"] = Experiment(
    "lab_digits", "lab", _lab_digits.PARAMS, _lab_digits.run,
    "a trained digits MLP: its depth-L+1 ticket and searched tickets in the same sources, "
    "test accuracy against width (slth.experiments.lab_digits)")
from slth.experiments import weak_bip  # noqa: E402

EXPERIMENTS["inertial_manifold"] = Experiment(
    "inertial_manifold", "weak", weak_bip.INERTIAL_PARAMS, weak_bip.run_inertial,
    "inertial-manifold conditions at a small trained network's exact Hessian "
    "(slth.lab.inertial)")
EXPERIMENTS["bip"] = Experiment(
    "bip", "weak", weak_bip.BIP_PARAMS, weak_bip.run_bip,
    "BiP against HYDRA, one-shot + fine-tuning and IMP (slth.lab.bip)")
from slth.experiments import weak_gsm  # noqa: E402 - its params use this module's Param

EXPERIMENTS["gsm"] = Experiment(
    "gsm", "weak", weak_gsm.GSM_PARAMS, weak_gsm.run_gsm,
    "Global Sparse Momentum SGD against one-shot pruning and IMP, and its ticket test "
    "(slth.lab.gsm)")
from slth.experiments import weak_transfer  # noqa: E402 - its params use this module's Param

EXPERIMENTS["ticket_transfer"] = Experiment(
    "ticket_transfer", "weak", weak_transfer.TRANSFER_PARAMS, weak_transfer.run_transfer,
    "IMP tickets (late resetting) of MNIST-5k 8x8 trained on digits, against digits' own "
    "and random tickets (slth.lab.transfer)")


def get_experiment(name) -> Experiment:
    """The experiment called ``name`` (``ValueError`` listing the known ones otherwise)."""
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(map(repr, sorted(EXPERIMENTS)))}"
                         f"; got {name!r}")
    return EXPERIMENTS[name]


def run_config(config: dict, threads: int | None = None) -> dict:
    """Compute one task from its canonical config (see :func:`slth.experiments.grid.canonical`).

    ``threads`` caps the numba/k-d tree threads of the task; results do not depend on it.
    """
    from slth._numba import num_threads

    exp = get_experiment(config["experiment"])
    with num_threads(threads):
        return exp.run(config, threads)
