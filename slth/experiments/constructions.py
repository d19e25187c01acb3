"""The ticket constructions a sweep can run, and the fields of experiment configs.

:data:`CONSTRUCTIONS` holds one :class:`Construction` per construction (its theorem, its
builder, its random target, its formula's ``n``); :class:`Param` and the converters
validate the fields of a config. :mod:`slth.experiments.registry` makes experiments of
them, and :mod:`slth.experiments.slack` searches their sufficient widths.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slth._validate import check_choice, check_int, check_open_unit, check_positive

__all__ = ["REQUIRED", "Param", "Construction", "CONSTRUCTIONS", "ticket_params", "resolve_n",
           "formula_widths"]

REQUIRED = object()


# ------------------------------------------------------------------ parameters
def _widths(value, name: str) -> list[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a list of layer widths such as [4, 4, 2], "
                        f"got {value!r}")
    w = [check_int(v, f"{name}[{i}]", minimum=1) for i, v in enumerate(value)]
    if len(w) < 2:
        raise ValueError(f"{name} must list at least an input and an output width, got {w!r}")
    return w


def _float(check: Callable | None = None):
    def conv(value, name):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
        return check(v, name) if check else v
    return conv


def _int(minimum: int | None = None, maximum: int | None = None):
    return lambda value, name: check_int(value, name, minimum, maximum)


def _choice(choices):
    def conv(value, name):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a string, one of {', '.join(map(repr, choices))}; "
                            f"got {value!r}")
        return check_choice(value, name, choices)
    return conv


def _optional(conv):
    return lambda value, name: None if value is None else conv(value, name)


_seed = _int(minimum=0, maximum=2**63 - 1)
_eps = _float(check_open_unit)
_positive = _float(check_positive)


@dataclass(frozen=True)
class Param:
    """One configuration field: its converter/validator, default and documentation.

    ``convert(value, name)`` returns the canonical value or raises ``ValueError`` /
    ``TypeError`` naming ``name``. A field whose default is :data:`REQUIRED` must be given.
    ``vector=True`` marks fields whose single value is itself a list (layer widths).
    """

    name: str
    convert: Callable[[Any, str], Any]
    default: Any = REQUIRED
    help: str = ""
    vector: bool = False


# --------------------------------------------------------------- constructions
def _mlp_target(norm: str, bias: bool):
    def make(config: dict, seed: np.random.SeedSequence):
        from slth.nets import random_target

        return random_target(config["widths"], activation=config["activation"], norm=norm,
                             bias=bias, seed=seed)
    return make


def _cnn_target(config: dict, seed: np.random.SeedSequence):
    from slth.nets import random_cnn_target

    k = config["kernel"]
    return random_cnn_target(config["widths"], k, padding="same" if k % 2 else k // 2,
                             activation=config["activation"], seed=seed)


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def _burkholz_cnn_target(config: dict, seed: np.random.SeedSequence):
    """A CNN target with biases uniform in [-1, 1] (the assumption's bound) and, with
    ``residual``, an identity skip around every layer ``l >= 1`` that keeps its channel
    count (residual blocks of one convolution)."""
    from slth.nets import random_cnn_target

    k, ch = config["kernel"], config["widths"]
    skips = ([(l, l) for l in range(1, len(ch) - 1) if ch[l] == ch[l + 1]]
             if config.get("residual") else None)
    if config.get("residual") and not skips:
        raise ValueError(f"residual: widths {ch} have no layer l >= 1 with as many output "
                         "as input channels, so no identity skip fits")
    return random_cnn_target(ch, k, padding="same" if k % 2 else k // 2 - 1 if k > 1 else 0,
                             activation=config["activation"], bias=1.0, skips=skips,
                             seed=seed)


def _burkholz_cnn_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.burkholz_cnn_n(target.channels, config["kernel"], config["eps"],
                                 config["delta"], config["C"])


def _cnn_unstructured_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.cnn_unstructured_n(target.channels, config["kernel"], config["eps"],
                                     config["delta"], config["C"])


def _cnn_structured_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.cnn_structured_channels(target.channels, config["kernel"], config["eps"],
                                          config["delta"], config["C"])


def _pensia_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.pensia_n(target.widths, config["eps"], config["delta"], config["C"])


def _malach_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.malach_n(target.widths, config["eps"], config["delta"], config["C"])


def _orseau_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.orseau_n(target.widths, config["eps"], config["delta"], config["C"])


def _burkholz_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.burkholz_n(target.widths, config["eps"], config["delta"], config["C"])


def _fischer_burkholz_formula_n(target, config) -> int:
    from slth import bounds

    return bounds.fischer_burkholz_n(target.widths, config["eps"], config["delta"],
                                     config["C"])


def _dense_params(widths, bias) -> int:
    return int(sum(widths[l + 1] * (widths[l] + int(b)) for l, b in enumerate(bias)))


def _pensia_source_params(target, config, n: int) -> int:
    from slth import bounds

    w = bounds.pensia_widths(target.widths, n)
    return _dense_params(w, [False] * (len(w) - 1))


def _orseau_source_params(target, config, n: int) -> int:
    from slth import bounds

    w = bounds.orseau_widths(target.widths, n)
    return _dense_params(w, [False] * (len(w) - 1))


def _burkholz_source_params(target, config, n: int) -> int:
    import inspect

    from slth import bounds
    from slth.tickets.burkholz import burkholz, coarse_count

    act = target.activations[0]
    blk = bounds.burkholz_block(n, config["dist"])
    # the builder's own rule for its extra bias neurons, with its default max_values
    max_values = inspect.signature(burkholz).parameters["max_values"].default
    coarse = coarse_count(act, blk, target.widths[0], max_values)
    w = bounds.burkholz_widths(target.widths, n, act.homogeneous, coarse=coarse,
                               dist=config["dist"])
    return _dense_params(w, [True] + [False] * (len(w) - 2))


def _cnn_source_params(target, config, n: int) -> int:
    from slth import bounds

    c, k = bounds.cnn_widths(target.channels, n), config["kernel"]
    # per target layer a 1 x 1 convolution then a k x k one (slth.tickets.cnn)
    return int(sum(c[l + 1] * c[l] * (1 if l % 2 == 0 else k * k) for l in range(len(c) - 1)))


def _fischer_burkholz_source_params(target, config, n: int) -> int:
    from slth import bounds

    # every source layer has biases (slth.tickets.fischer_burkholz)
    w = bounds.fischer_burkholz_widths(target.widths, n)
    return _dense_params(w, [True] * (len(w) - 1))


def _burkholz_cnn_source_params(scheme: str):
    def count(target, config, n: int) -> int:
        import inspect

        from slth.tickets.burkholz_cnn import burkholz_cnn, source_params

        # the builder's own default, which sets its coarse bias channels
        max_values = inspect.signature(burkholz_cnn).parameters["max_values"].default
        return source_params(target, n, scheme, config["dist"], max_values)
    return count


_BURKHOLZ_CNN_ACTS = ("relu", "leaky_relu", "tanh", "sigmoid")


@dataclass(frozen=True)
class Construction:
    """A ticket construction as a sweep sees it.

    Attributes
    ----------
    name : str
        Experiment name (``experiment = "..."`` in a sweep file).
    theorem : str
        Short citation, shown in tables and legends.
    builder : str
        ``"module:function"`` of the construction, imported when a task runs; called as
        ``builder(target, eps=, delta=, seed=, n=, C=, dist=, threads=)``.
    make_target : callable
        ``(config, SeedSequence) -> target``: the random target of the config's shape.
    formula_n : callable
        ``(target, config) -> int``: the ``n`` of the paper's width formula with the
        config's ``C`` (what ``n=None`` builds; :data:`slth.bounds.FORMULAS`).
    activations : tuple of str
        Target activations the construction supports.
    default_shape : list of int
        Default ``widths``.
    dists : tuple of str
        Source distributions the construction offers (passed as ``dist=`` when more
        than one).
    extra : tuple of Param
        Further fields (e.g. the kernel size of a CNN target).
    suite : dict
        Widths of the construction in ``slth verify-bounds``: ``{"width_factor": [...]}``
        or ``{"n": [...]}``.
    default_C : float
        Default constant ``C`` of the width formula (:data:`slth.bounds.FORMULAS` says
        whether it is the paper's or this package's calibration).
    source_params : callable or None
        ``(target, config, n) -> int``: parameters (weights and biases) of the source the
        construction draws at width ``n``, computed without drawing it; None when not
        offered.
    """

    name: str
    theorem: str
    builder: str
    make_target: Callable
    formula_n: Callable
    activations: tuple[str, ...] = ("relu",)
    default_shape: tuple[int, ...] = (4, 4, 2)
    dists: tuple[str, ...] = ("uniform", "normal")
    extra: tuple[Param, ...] = field(default=())
    suite: dict = field(default_factory=lambda: {"width_factor": [0.25, 0.5, 1.0]})
    default_C: float = 3.0
    source_params: Callable | None = None

    def build(self, target, config: dict, n: int, seed, threads: int | None):
        module, func = self.builder.split(":")
        fn = getattr(importlib.import_module(module), func)
        opts = {"dist": config["dist"]} if len(self.dists) > 1 else {}
        return fn(target, eps=config["eps"], delta=config["delta"], seed=seed, n=n,
                  C=config["C"], threads=threads, **opts)


#: The ticket constructions a sweep can run; adding one is adding an entry here.
CONSTRUCTIONS: dict[str, Construction] = {
    c.name: c for c in (
        Construction("pensia", "Pensia et al. 2020, depth 2L", "slth.tickets:pensia",
                     _mlp_target("spectral", False), _pensia_formula_n,
                     source_params=_pensia_source_params),
        # hyperbolic sources (gamma from slth.bounds.orseau_gamma), the builder's default
        Construction("orseau", "Orseau et al. 2020, depth 2L, hyperbolic",
                     "slth.tickets:orseau", _mlp_target("spectral", False), _orseau_formula_n,
                     dists=("hyperbolic",), suite={"width_factor": [0.5, 1.0]},
                     default_C=1.25, source_params=_orseau_source_params),
        Construction("burkholz", "Burkholz 2022, depth L+1", "slth.tickets:burkholz",
                     _mlp_target("max", True), _burkholz_formula_n,
                     activations=("relu", "leaky_relu", "tanh", "sigmoid", "softplus"),
                     source_params=_burkholz_source_params),
        Construction("fischer_burkholz", "Fischer & Burkholz 2021, depth 2L with biases",
                     "slth.tickets:fischer_burkholz", _mlp_target("spectral", True),
                     _fischer_burkholz_formula_n, dists=("uniform", "normal", "he"),
                     source_params=_fischer_burkholz_source_params),
        # the formula is polynomial in 1/eps (122,560 neurons per sign for a 2-2-1 target
        # at eps = 0.1): the suite's rows are a 2-2-1 target at 1/1000, 1/100 and all of it
        Construction("malach", "Malach et al. 2020, depth 2L, one pair per weight",
                     "slth.tickets:malach", _mlp_target("spectral", False), _malach_formula_n,
                     default_shape=(2, 2, 1), dists=("uniform",),
                     suite={"width_factor": [0.001, 0.01, 1.0]}, default_C=4.0,
                     source_params=_pensia_source_params),
        Construction("cnn_unstructured", "da Cunha et al. 2022, CNN depth 2L",
                     "slth.tickets:cnn_unstructured", _cnn_target,
                     _cnn_unstructured_formula_n,
                     default_shape=(1, 2, 2),
                     extra=(Param("kernel", _int(minimum=1, maximum=7), 3,
                                  "kernel side of the target CNN"),),
                     source_params=_cnn_source_params),
        # the structured formula (slth.bounds.cnn_structured_channels, a placeholder for
        # the paper's) gives thousands of channels even for 2 x 2 kernels: the suite runs
        # fixed smaller widths
        Construction("cnn_structured", "da Cunha et al. 2023, CNN structured",
                     "slth.tickets:cnn_structured", _cnn_target, _cnn_structured_formula_n,
                     default_shape=(1, 2, 2), dists=("normal",),
                     extra=(Param("kernel", _int(minimum=1, maximum=7), 2,
                                  "kernel side of the target CNN"),),
                     suite={"n": [50, 150, 400]}, source_params=_cnn_source_params),
        # the suite's rows stay at the formula's width: the L+1 check is the costlier (a
        # second per row), the 2L rows run with and without residual blocks
        Construction("burkholz_cnn", "Burkholz 2022 (ICML), CNN depth L+1",
                     "slth.tickets:burkholz_cnn", _burkholz_cnn_target,
                     _burkholz_cnn_formula_n, activations=_BURKHOLZ_CNN_ACTS,
                     default_shape=(1, 2, 2),
                     extra=(Param("kernel", _int(minimum=1, maximum=7), 3,
                                  "kernel side of the target CNN"),),
                     suite={"width_factor": [1.0]},
                     source_params=_burkholz_cnn_source_params("L+1")),
        Construction("burkholz_cnn_2l", "Burkholz 2022 (ICML), CNN / ResNet depth 2L",
                     "slth.tickets:burkholz_cnn_2l", _burkholz_cnn_target,
                     _burkholz_cnn_formula_n, activations=_BURKHOLZ_CNN_ACTS,
                     default_shape=(1, 2, 2),
                     extra=(Param("kernel", _int(minimum=1, maximum=7), 3,
                                  "kernel side of the target CNN"),
                            Param("residual", _flag, False, "identity skips around the "
                                  "layers l >= 1 that keep their channel count")),
                     suite={"width_factor": [1.0], "residual": [False, True]},
                     source_params=_burkholz_cnn_source_params("2L")),
    )
}


def ticket_params(c: Construction) -> tuple[Param, ...]:
    return (
        Param("widths", _widths, list(c.default_shape), "target layer widths", vector=True),
        Param("activation", _choice(c.activations), c.activations[0], "target activation"),
        Param("eps", _eps, REQUIRED, "theorem accuracy, in (0, 1)"),
        Param("delta", _eps, 0.1, "failure probability, in (0, 1)"),
        Param("n", _optional(_int(minimum=1)), None, "source width parameter (overrides "
              "width_factor)"),
        Param("width_factor", _optional(_positive), None,
              "n = max(1, round(width_factor * formula_n)), formula_n from the paper's "
              "width formula with C; default 1 (the formula's width)"),
        Param("seed", _seed, 0, "seed of target, source and test inputs"),
        Param("C", _positive, c.default_C, "constant C of the width formula (where its "
              "default comes from: slth.bounds.FORMULAS)"),
        Param("dist", _choice(c.dists), "uniform", "distribution of the source entries"),
        Param("samples", _int(minimum=1), 1024, "random test inputs of slth.verify.check"),
        Param("starts", _int(minimum=0), 4, "local maximisations of slth.verify.check"),
        *c.extra,
    )


def resolve_n(formula_n: int, config: dict) -> int:
    """The ``n`` a ticket task builds at: ``config["n"]`` or the width factor times the
    formula's ``n``.

    Examples
    --------
    >>> resolve_n(27, {"n": None, "width_factor": 0.5})
    14
    >>> resolve_n(27, {"n": 5, "width_factor": None})
    5
    """
    if config.get("n") is not None:
        return int(config["n"])
    factor = 1.0 if config.get("width_factor") is None else float(config["width_factor"])
    return max(1, int(math.floor(factor * formula_n + 0.5)))


def formula_widths(eps, widths=(4, 4, 2), *, constructions=None, delta: float = 0.1,
                   seed: int = 0) -> list[dict]:
    """The width formulas of the constructions side by side, for one target, against eps.

    One random target of shape ``widths`` per family (an MLP for the MLP constructions,
    a CNN with these channels and the construction's default kernel for the CNN ones),
    drawn as a sweep draws it (``SeedSequence(seed).spawn(3)[0]``, ReLU); per
    construction and eps, the formula's ``n`` with the construction's default ``C``
    (:data:`slth.bounds.FORMULAS` says where it comes from) and the number of source
    parameters that width means. ``n`` counts different things in different
    constructions (``FORMULAS[name].quantity``); the parameter count compares them.

    Parameters
    ----------
    eps : float or sequence of float
        Accuracies, each in (0, 1).
    widths : sequence of int
        Target layer widths (channels for the CNN constructions).
    constructions : sequence of str, optional
        Names in :data:`CONSTRUCTIONS` (default: all).
    delta : float
        Failure probability, in (0, 1).
    seed : int
        Seed of the targets.

    Returns
    -------
    list of dict
        ``construction``, ``theorem``, ``target`` (its widths, ``"4-4-2"``), ``eps``,
        ``formula_n``, ``quantity``,
        ``source_params`` (None where the construction does not offer it), ``C``,
        ``label`` (the formula's name with its constant).

    Examples
    --------
    >>> rows = formula_widths([0.1, 0.01], constructions=["pensia"])
    >>> [(r["eps"], r["formula_n"], r["source_params"]) for r in rows]
    [(0.1, 27, 3024), (0.01, 32, 3584)]
    """
    from slth import bounds

    eps_values = [_eps(e, "eps") for e in np.atleast_1d(np.asarray(eps, dtype=object))]
    names = list(CONSTRUCTIONS) if constructions is None else list(constructions)
    for name in names:
        check_choice(name, "constructions", tuple(CONSTRUCTIONS))
    shape = _widths(widths, "widths")
    delta = _eps(delta, "delta")
    rows = []
    for name in names:
        c = CONSTRUCTIONS[name]
        config = {p.name: p.default for p in ticket_params(c)}
        config.update(widths=shape, delta=delta, seed=_seed(seed, "seed"))
        target = c.make_target(config, np.random.SeedSequence(config["seed"]).spawn(3)[0])
        formula = bounds.FORMULAS.get(name)
        for e in eps_values:
            config["eps"] = e
            n = int(c.formula_n(target, config))
            rows.append({
                "construction": name, "theorem": c.theorem,
                "target": "-".join(map(str, shape)), "eps": e, "formula_n": n,
                "quantity": formula.quantity if formula else "",
                "source_params": (None if c.source_params is None
                                  else int(c.source_params(target, config, n))),
                "C": config["C"],
                "label": formula.label(config["C"]) if formula else c.theorem})
    return rows
