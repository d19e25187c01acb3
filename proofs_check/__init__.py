"""Machine-checked lemmas behind the SLTH constructions of :mod:`slth`.

Every fact the constructions and the certified bounds rely on is a check: a
function that takes the claim under examination as a parameter (the library's
version by default) and returns a :class:`Check` saying what was established and
how -- symbolically (sympy), numerically (with a tolerance) or by sampling (with a
confidence level).

``python -m proofs_check`` (or ``slth proofs``) runs them all, prints one line per
check and exits with status 1 when any fails.

Examples
--------
>>> import proofs_check
>>> [c.name for c in proofs_check.list_checks()][:3]
['product_uniform_density', 'nsn_density', 'uniform_component_uniform']
>>> result = proofs_check.run(["sign_split"])[0]
>>> result.status, result.method.split()[0]
('PASS', 'symbolic')
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from proofs_check._core import REGISTRY, Check, Entry, clopper_pearson, register
from proofs_check.activations import SMOOTH, sign_split, sign_split_error, smooth_activation
from proofs_check.bounds_checks import (
    burkholz_width,
    pensia_weight_eps_suffices,
    pensia_width,
    rss_width,
)
from proofs_check.densities import (
    COMPONENTS,
    nsn_density,
    product_uniform_density,
    samplers,
    uniform_component,
)
from proofs_check.lueker import counting_lower_bound, lueker_coverage
from proofs_check.propagation import (
    certified_bound,
    coordinate_bound,
    propagation_coordinatewise,
    propagation_numeric,
    propagation_symbolic,
    remainder_sum,
    verify_certified,
)

__all__ = [
    # framework
    "Check", "Entry", "REGISTRY", "run", "list_checks", "clopper_pearson",
    # densities
    "product_uniform_density", "nsn_density", "uniform_component", "samplers",
    # activations
    "sign_split", "sign_split_error", "smooth_activation",
    # error propagation
    "certified_bound", "coordinate_bound", "propagation_symbolic", "propagation_numeric",
    "propagation_coordinatewise", "remainder_sum", "verify_certified",
    # width formulas
    "rss_width", "pensia_width", "pensia_weight_eps_suffices", "burkholz_width",
    # random subset sum
    "lueker_coverage", "counting_lower_bound",
]

# --------------------------------------------------------------- the registry
register("product_uniform_density", product_uniform_density)
register("nsn_density", nsn_density)
for _name in COMPONENTS:
    register(f"uniform_component_{_name}", uniform_component, dist=_name)
register("samplers", samplers)
register("sign_split", sign_split)
register("sign_split_error", sign_split_error)
for _name in SMOOTH:
    register(f"smooth_activation_{_name}", smooth_activation, activation=_name)
register("propagation_symbolic", propagation_symbolic)
register("propagation_numeric", propagation_numeric)
register("propagation_coordinatewise", propagation_coordinatewise)
register("remainder_sum", remainder_sum)
register("verify_certified", verify_certified)
register("rss_width", rss_width)
register("pensia_width", pensia_width)
register("burkholz_width", burkholz_width)
register("pensia_weight_eps_unit_ball", pensia_weight_eps_suffices, radii=(1.0,))
register("pensia_weight_eps_small_radius", pensia_weight_eps_suffices, radii=(0.1,))
register("counting_lower_bound", counting_lower_bound)
register("lueker_uniform_eps0.001", lueker_coverage, dist="uniform", eps=0.001, delta=0.01,
         trials=1000)
register("lueker_nsn_eps0.001", lueker_coverage, dist="nsn", eps=0.001, delta=0.01, trials=1000)
register("lueker_uniform_eps0.1", lueker_coverage, dist="uniform", eps=0.1, delta=0.1,
         trials=6000)
register("lueker_uniform_product_eps0.01", lueker_coverage, dist="uniform_product", eps=0.01,
         delta=0.01, trials=1000)
register("lueker_hyperbolic_eps0.01", lueker_coverage, dist="hyperbolic", eps=0.01,
         delta=0.01, trials=1000)


def list_checks(pattern: str | Iterable[str] | None = None) -> list[Entry]:
    """Registered checks whose name matches ``pattern`` (shell-style, or a list of names).

    Raises
    ------
    ValueError
        If nothing matches.
    """
    if pattern is None:
        return list(REGISTRY)
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    chosen = [e for e in REGISTRY if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"checks: no check matches {patterns!r}; known: "
                         f"{', '.join(e.name for e in REGISTRY)}")
    return chosen


def run(pattern: str | Iterable[str] | None = None, *, progress=None) -> list[Check]:
    """Run the registered checks (all, or those matching ``pattern``), in order.

    Parameters
    ----------
    pattern : str or iterable of str, optional
        Shell-style name patterns (``"lueker_*"``); default all.
    progress : callable, optional
        Called with each :class:`Check` as soon as it finishes.

    Returns
    -------
    list of Check
    """
    out = []
    for entry in list_checks(pattern):
        result = entry()
        if progress is not None:
            progress(result)
        out.append(result)
    return out
