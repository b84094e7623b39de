"""Convolution with a connection table (which input maps feed which output maps), as in LeCun et al. 1989 and LeNet-5's C3: analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.tables``), each one full OpDef.
"""

from __future__ import annotations

OPS: list = []
LAYER_OPS: list = []
