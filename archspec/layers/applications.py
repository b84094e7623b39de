"""The layers keras.applications defines outside keras.layers (ConvNeXt's LayerScale and StochasticDepth, Inception-ResNet-v2's CustomScaleLayer): archspec's Keras layers for them (registered for saving on import)."""

from __future__ import annotations

__all__: list = []
