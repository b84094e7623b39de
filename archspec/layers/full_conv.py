"""2D convolution with "full" padding (Goodfellow, Bengio & Courville, Deep Learning, 2016,
sec. 9.5: "enough zeroes are added for every pixel to be visited k times in each direction").

The input is zero-padded by (k - 1) * dilation on each side of each spatial dimension before a
valid convolution, so with stride 1 the output has input + (k - 1) * dilation rows/cols (the
lecture's m + k - 1). With strides s: floor((n + (k - 1) * d - 1) / s) + 1. Everything else,
weights included, is Keras' Conv2D (a subclass; ``padding`` is not an argument).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="archspec")
class FullConv2D(keras.layers.Conv2D):
    """Conv2D with "full" zero padding: output = input + (kernel_size - 1) * dilation_rate.

    Takes Conv2D's arguments except ``padding``.

    Example:
        >>> conv = FullConv2D(1, 3)
        >>> conv(keras.ops.ones((1, 5, 5, 1))).shape
        (1, 7, 7, 1)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), data_format=None, dilation_rate=(1, 1),
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        if "padding" in kwargs:
            raise ValueError(
                "FullConv2D always pads by (kernel_size - 1) * dilation_rate (full padding); "
                f"it takes no `padding` argument. Received: padding={kwargs['padding']!r}"
            )
        super().__init__(
            filters=filters, kernel_size=kernel_size, strides=strides, padding="valid",
            data_format=data_format, dilation_rate=dilation_rate, groups=groups,
            activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs,
        )

    @property
    def full_padding(self) -> tuple[int, int]:
        """Zeros added on each side of rows and cols: (k - 1) * dilation."""
        return tuple((k - 1) * d for k, d in zip(self.kernel_size, self.dilation_rate))

    def _spatial_axes(self) -> tuple[int, int]:
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def _padded_shape(self, input_shape):
        shape = list(input_shape)
        for axis, p in zip(self._spatial_axes(), self.full_padding):
            if shape[axis] is not None:
                shape[axis] += 2 * p
        return tuple(shape)

    def call(self, inputs):
        pad = [[0, 0]] * 4
        for axis, p in zip(self._spatial_axes(), self.full_padding):
            pad[axis] = [p, p]
        return super().call(ops.pad(inputs, pad))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(self._padded_shape(input_shape))

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("padding")
        return config
