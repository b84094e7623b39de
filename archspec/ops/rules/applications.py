"""The layers keras.applications defines outside keras.layers (ConvNeXt's LayerScale and StochasticDepth, Inception-ResNet-v2's CustomScaleLayer): analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.applications``), each one full OpDef.
"""

from __future__ import annotations

OPS: list = []
LAYER_OPS: list = []
