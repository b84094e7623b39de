"""Element-wise and reduction ops under keras.ops' names (abs, square, sqrt, ..., mean/sum/max over axes, L2 normalisation, cosine similarity): analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.math``), each one full OpDef.
"""

from __future__ import annotations

OPS: list = []
LAYER_OPS: list = []
