"""Local response normalization across channels (Krizhevsky, Sutskever & Hinton, AlexNet, 2012).

    b[..., i] = a[..., i] / (bias + alpha * sum_{j = i - size//2}^{i + size//2} a[..., j]^2) ** beta

with the sum clipped to the existing channels (AlexNet sec. 3.3, with k = bias, n = size). The
defaults are AlexNet's constants: k = 2, n = 5, alpha = 1e-4, beta = 0.75. As in the paper and in
``tf.nn.local_response_normalization`` (``depth_radius = size // 2``), ``alpha`` multiplies the sum
itself: it is NOT divided by ``size`` (Caffe's and PyTorch's LRN divide it by n; to reproduce those,
pass ``alpha / size``).
"""

from __future__ import annotations

import keras
from keras import ops

from archspec.layers._args import number


@keras.saving.register_keras_serializable(package="archspec")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization over the last (channel) axis.

    Args:
        size: the number of adjacent channels summed over, n (odd; the window is centred).
        alpha: scale of the sum of squares (not divided by ``size``).
        beta: exponent.
        bias: additive constant k (> 0).

    Example:
        >>> layer = LocalResponseNormalization()  # AlexNet: size=5, alpha=1e-4, beta=0.75, bias=2
        >>> layer(keras.ops.ones((1, 2, 2, 8))).shape
        (1, 2, 2, 8)
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(
                "The `size` argument must be a positive odd integer (the window is centred on "
                f"each channel). Received: size={size!r}"
            )
        self.size = size
        self.alpha = number(alpha, "alpha", minimum=0.0)
        self.beta = number(beta, "beta", minimum=0.0)
        self.bias = number(bias, "bias", minimum=0.0, strict=True)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "LocalResponseNormalization needs an input with a known last (channel) "
                f"dimension. Received: input_shape={tuple(input_shape)}"
            )
        self._channels = int(input_shape[-1])

    def call(self, inputs):
        radius = self.size // 2
        squares = ops.square(inputs)
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[radius, radius]]
        padded = ops.pad(squares, pad)
        total = padded[..., 0 : self._channels]
        for offset in range(1, self.size):
            total = total + padded[..., offset : offset + self._channels]
        return inputs / ops.power(self.bias + self.alpha * total, self.beta)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias})
        return config
