"""Target and source networks: :class:`MLP`, activations, initialisers and loaders.

Examples
--------
>>> from slth.nets import random_target
>>> random_target([3, 4, 2], seed=0).widths
(3, 4, 2)
"""

from slth.nets import activations
from slth.nets.activations import Activation
from slth.nets.cnn import CNN, random_cnn_target
from slth.nets.mlp import (
    MLP,
    from_arrays,
    from_sklearn,
    random_mlp,
    random_target,
    scale_to_unit,
)

__all__ = ["MLP", "Activation", "activations", "from_arrays", "from_sklearn", "random_mlp",
           "random_target", "scale_to_unit", "CNN", "random_cnn_target"]
