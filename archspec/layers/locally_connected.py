"""Locally connected ("unshared") 2D convolution (Goodfellow, Bengio & Courville, Deep
Learning, 2016, sec. 9.5, eq. 9.11; LeCun 1986; Keras 2's ``LocallyConnected2D``).

Like Conv2D, each output unit sees a kh x kw x channels window of the input, but every output
position (i, j) has its own kernel and its own bias: no parameter sharing, so

    params = out_rows * out_cols * (kh * kw * in_channels * filters + filters)   (with bias).

Weight layout and initialization follow Keras 2's ``LocallyConnected2D`` (``implementation=1``):
``kernel`` has shape (out_rows * out_cols, kh * kw * in_channels, filters), position-major in
row order, the middle axis ordered (row, col, channel) as in a Conv2D kernel reshaped to
(kh * kw * in_channels, filters); ``bias`` has shape (out_rows, out_cols, filters). Keras 2
weights therefore load with ``set_weights``. Needs known input rows and cols; channels_last.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from archspec.layers._args import spatial_input
from archspec.layers.base_local_conv import BaseLocalConv2D


@keras.saving.register_keras_serializable(package="archspec")
class LocallyConnected2D(BaseLocalConv2D):
    """A 2D convolution whose kernel is not shared across positions.

    Args:
        filters: number of output channels.
        kernel_size: window size, an int or (rows, cols).
        strides: window step, an int or (rows, cols).
        padding: "valid" or "same" (zero padding, as Conv2D).
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in Conv2D.

    Example:
        >>> lc = LocallyConnected2D(2, 3)
        >>> lc(keras.ops.ones((1, 5, 5, 1))).shape, lc.count_params()
        ((1, 3, 3, 2), 180)
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, strides, padding, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
                         bias_constraint, **kwargs)

    def build(self, input_shape):
        _, rows, cols, _ = spatial_input(input_shape, self)
        if rows is None or cols is None:
            raise ValueError(
                "LocallyConnected2D has one kernel per output position, so the input rows and "
                f"cols must be known. Received: input_shape={tuple(input_shape)}"
            )
        (out_rows, out_cols), channels = self._checked_grid(input_shape)
        self.output_grid = (out_rows, out_cols)
        kh, kw = self.kernel_size
        self._add_kernel_and_bias((out_rows * out_cols, kh * kw * channels, self.filters),
                                  (out_rows, out_cols, self.filters))

    def call(self, inputs):
        kh, kw = self.kernel_size
        patches = tf.image.extract_patches(
            inputs,
            sizes=[1, kh, kw, 1],
            strides=[1, *self.strides, 1],
            rates=[1, 1, 1, 1],
            padding=self.padding.upper(),
        )  # (batch, out_rows, out_cols, kh * kw * channels), ordered (row, col, channel)
        out_rows, out_cols = self.output_grid
        kernel = ops.reshape(self.kernel, (out_rows, out_cols, -1, self.filters))
        outputs = ops.einsum("bijk,ijkf->bijf", patches, kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)
