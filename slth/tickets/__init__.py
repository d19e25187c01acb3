"""Constructions of strong lottery tickets; each returns a :class:`Ticket`.

* :func:`pensia` -- depth 2L, ReLU (Pensia et al. 2020);
* :func:`orseau` -- depth 2L, ReLU, hyperbolic sources, one block per target weight (Orseau
  et al. 2020);
* :func:`burkholz` -- depth L+1, with biases, for ReLU, leaky ReLU, tanh, sigmoid, softplus
  and custom smooth activations (Burkholz 2022); :func:`burkholz_source`, its source alone.
* :func:`fischer_burkholz` -- depth 2L, ReLU, with biases (Fischer & Burkholz 2021); a
  fitted scikit-learn ReLU MLP as target: :func:`fischer_burkholz_sklearn`.
* :func:`malach` -- depth 2L, ReLU, one neuron pair per target weight (Malach et al. 2020):
  the polynomial baseline.
* :func:`cnn_unstructured`, :func:`cnn_structured` -- CNNs, weight by weight (da Cunha et al.
  2022) or whole kernels and channels (da Cunha et al. 2023).
* :func:`burkholz_cnn`, :func:`burkholz_cnn_2l` -- CNNs and residual networks with biases and
  general activations, depth L+1 or 2L (Burkholz, ICML 2022).
"""

from slth.tickets.burkholz import burkholz, burkholz_source
from slth.tickets.burkholz_cnn import burkholz_cnn, burkholz_cnn_2l
from slth.tickets.cnn import CNNTicket, cnn_unstructured, load  # load: MLP and CNN tickets
from slth.tickets.cnn_structured import cnn_structured
from slth.tickets.fischer_burkholz import fischer_burkholz, fischer_burkholz_sklearn
from slth.tickets.malach import malach
from slth.tickets.orseau import orseau
from slth.tickets.pensia import pensia
from slth.tickets.ticket import SourceSpec, Ticket

__all__ = ["Ticket", "SourceSpec", "pensia", "orseau", "burkholz", "burkholz_source", "load",
           "CNNTicket", "cnn_unstructured", "cnn_structured", "fischer_burkholz",
           "fischer_burkholz_sklearn", "malach", "burkholz_cnn", "burkholz_cnn_2l"]
