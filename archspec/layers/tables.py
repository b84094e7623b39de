"""Convolution with a connection table (which input maps feed which output maps), as in LeCun et al. 1989 and LeNet-5's C3: archspec's Keras layers for them (registered for saving on import)."""

from __future__ import annotations

__all__: list = []
