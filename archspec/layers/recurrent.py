"""Sequence layers: recurrent (LSTM, GRU, SimpleRNN), their wrappers (Bidirectional, TimeDistributed) and attention (MultiHeadAttention): archspec's Keras layers for them (registered for saving on import)."""

from __future__ import annotations

__all__: list = []
