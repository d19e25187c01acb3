"""How close is a ticket to its target? Lower bound, certified upper bound, the theorem's eps.

For an input domain -- the ball ``{x : ||x|| <= radius}`` in the l2 norm (the
theorems' setting) or the max norm; by default the ticket's own (``Ticket.domain``), and a
report checked on another says so -- :func:`check` reports

* ``empirical``: a lower bound on ``sup_x ||target(x) - ticket(x)||_2``, the largest
  error found at random inputs (inside the ball and on its boundary) and after local
  maximisation (``scipy.optimize.minimize``, L-BFGS-B with exact gradients) started
  from the worst of them (see :func:`empirical_error`);
* ``certified``: a rigorous upper bound on the same supremum, obtained by recomputing,
  from the pruned network itself, the effective weights each target weight is
  represented by, and propagating their errors through the layers with interval
  bounds, Lipschitz constants and spectral norms (see :func:`certified_error`);
* ``eps``: the accuracy the theorem promises (with probability 1 - delta, at a width its
  paper states up to a constant; :mod:`slth.bounds` evaluates that formula with a named
  ``C``, and the report says which: ``formula``).

CNN tickets are checked in the max norm (:func:`check_cnn`).

Submodules, one concern each:

* :mod:`slth.verify.domain`: the input ball, its random points and its parametrisation;
* :mod:`slth.verify.fold`: folded networks (the ticket's function with fewer
  operations), shared by the search and the certificates;
* :mod:`slth.verify.search`: the empirical error (a lower bound);
* :mod:`slth.verify.mlp`: the certificates of MLP tickets (upper bounds);
* :mod:`slth.verify.cnn`: the empirical and certified errors of CNN tickets;
* :mod:`slth.verify.cnn_lp`: their LP certificate, one linear program per output-pixel
  class;
* :mod:`slth.verify.report`: the :class:`Report`;
* :mod:`slth.verify.dispatch`: :func:`check` and :func:`certified_error`, which dispatch on
  the ticket's construction.

The operator-norm and activation bounds the certificates rely on are in
:mod:`slth.nets.norms`.

Examples
--------
>>> from slth.nets import random_target
>>> from slth.tickets import pensia
>>> t = pensia(random_target([3, 4, 2], seed=0), eps=0.1, delta=0.1, seed=1)
>>> r = check(t, samples=256, seed=0)
>>> bool(r.empirical <= r.certified <= r.eps), r.ok
(True, True)
"""

from slth.verify.cnn import check_cnn, cnn_certified_error, cnn_empirical_error
from slth.verify.dispatch import certified_error, check
from slth.verify.domain import sample_ball
from slth.verify.fold import SmoothFold, folded_network, smooth_folded_network
from slth.verify.report import Report
from slth.verify.search import empirical_error

__all__ = ["Report", "SmoothFold", "check", "certified_error", "empirical_error",
           "folded_network", "sample_ball", "smooth_folded_network",
           "cnn_certified_error", "cnn_empirical_error", "check_cnn"]
