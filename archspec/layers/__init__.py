"""archspec's Keras 3 layers that Keras lacks; importing this package registers them all
(``keras.saving.register_keras_serializable(package="archspec")``) so saved models reload.

Keras 3.15 already has adaptive pooling to a fixed output grid
(``keras.layers.AdaptiveAveragePooling2D`` / ``AdaptiveMaxPooling2D``, with ``output_size``),
so archspec does not duplicate it. The TF-free analyzer rules of these layers are in
:mod:`archspec.ops.rules.custom`.
"""

from archspec.layers.fixed_filter import FixedFilter2D
from archspec.layers.full_conv import FullConv2D
from archspec.layers.locally_connected import LocallyConnected2D
from archspec.layers.lrn import LocalResponseNormalization
from archspec.layers.shortcut import ZeroPadShortcut
from archspec.layers.stochastic_pooling import StochasticPooling2D
from archspec.layers.tiled_conv import TiledConv2D
from archspec.layers import applications, math, recurrent, tables

__all__ = [
    "FixedFilter2D",
    "FullConv2D",
    "LocalResponseNormalization",
    "LocallyConnected2D",
    "StochasticPooling2D",
    "TiledConv2D",
    "ZeroPadShortcut",
]
# the layers of the family modules (each lists its own in __all__), importable from here too
for _family in (applications, math, recurrent, tables):
    globals().update({_name: getattr(_family, _name) for _name in _family.__all__})
    __all__ += _family.__all__
