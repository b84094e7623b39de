"""Element-wise and reduction ops under keras.ops' names (abs, square, sqrt, ..., mean/sum/max over axes, L2 normalisation, cosine similarity): archspec's Keras layers for them (registered for saving on import)."""

from __future__ import annotations

__all__: list = []
