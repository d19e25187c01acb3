"""Constructions of strong lottery tickets; each returns a :class:`Ticket`.

* :func:`pensia` -- depth 2L, ReLU (Pensia et al. 2020);
* :func:`orseau` -- depth 2L, ReLU, hyperbolic sources, one block per target weight (Orseau
  et al. 2020);
* :func:`burkholz` -- depth L+1, with biases, for ReLU, leaky ReLU, tanh, sigmoid, softplus
  and custom smooth activations (Burkholz 2022).
* :func:`fischer_burkholz` -- depth 2L, ReLU, with biases (Fischer & Burkholz 2021); a
  fitted scikit-learn ReLU MLP as target: :func:`fischer_burkholz_sklearn`.
* :func:`cnn_unstructured`, :func:`cnn_structured` -- CNNs, weight by weight (da Cunha et al.
  2022) or whole kernels and channels (da Cunha et al. 2023).
"""

from slth.tickets.burkholz import burkholz
from slth.tickets.cnn import CNNTicket, cnn_unstructured, load  # load: MLP and CNN tickets
from slth.tickets.cnn_structured import cnn_structured
from slth.tickets.fischer_burkholz import fischer_burkholz, fischer_burkholz_sklearn
from slth.tickets.orseau import orseau
from slth.tickets.pensia import pensia
from slth.tickets.ticket import SourceSpec, Ticket

__all__ = ["Ticket", "SourceSpec", "pensia", "orseau", "burkholz", "load", "CNNTicket",
           "cnn_unstructured", "cnn_structured", "fischer_burkholz", "fischer_burkholz_sklearn"]
