"""Sequence layers: recurrent (LSTM, GRU, SimpleRNN), their wrappers (Bidirectional, TimeDistributed) and attention (MultiHeadAttention): analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.recurrent``), each one full OpDef.
"""

from __future__ import annotations

OPS: list = []
LAYER_OPS: list = []
