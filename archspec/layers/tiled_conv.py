"""Tiled convolution (Le, Ngiam, Chen, Chia, Koh & Ng, "Tiled convolutional neural networks",
NIPS 2010; Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 9.5, eq. 9.12).

A compromise between a convolution and a locally connected layer: a set of t_rows x t_cols
kernels is cycled over the output positions, output (i, j) using kernel (i mod t_rows,
j mod t_cols). ``tile_size=1`` is Conv2D; a tile as large as the output is LocallyConnected2D.
Each tile also has its own bias, so

    params = t_rows * t_cols * (kh * kw * in_channels * filters + filters)   (with bias).

Layout: ``kernel`` has shape (kh, kw, in_channels, t_rows * t_cols * filters), output column
``(ti * t_cols + tj) * filters + f`` being filter f of tile (ti, tj); ``bias`` has shape
(t_rows, t_cols, filters). The call convolves with every tile's kernels and keeps, at each
position, its own tile's outputs: it computes t_rows * t_cols times the MACs of the tiled
convolution itself (the analyzer reports the latter). channels_last.
"""

from __future__ import annotations

import keras
from keras import activations, constraints, initializers, ops, regularizers

from archspec.layers._args import conv_length, int_tuple, one_of, positive_int, spatial_input


@keras.saving.register_keras_serializable(package="archspec")
class TiledConv2D(keras.layers.Layer):
    """A 2D convolution with ``tile_size`` sets of kernels cycled over the output positions.

    Args:
        filters: number of output channels.
        kernel_size: window size, an int or (rows, cols).
        tile_size: t, the number of kernel sets along rows and cols, an int or (rows, cols).
        strides: window step, an int or (rows, cols).
        padding: "valid" or "same".
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in Conv2D.

    Example:
        >>> tc = TiledConv2D(4, 3, tile_size=2)
        >>> tc(keras.ops.ones((1, 6, 6, 3))).shape, tc.count_params()
        ((1, 4, 4, 4), 448)
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        tile_size,
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
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters")
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size")
        self.tile_size = int_tuple(tile_size, 2, "tile_size")
        self.strides = int_tuple(strides, 2, "strides")
        self.padding = one_of(padding, ("valid", "same"), "padding")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    @property
    def _tiles(self) -> int:
        return self.tile_size[0] * self.tile_size[1]

    def build(self, input_shape):
        _, rows, cols, channels = spatial_input(input_shape, self)
        out = self.compute_output_shape(input_shape)[1:3]
        if any(n is not None and n < 1 for n in out):
            raise ValueError(
                "The kernel is larger than the input: the output would be empty. "
                f"Received: kernel_size={self.kernel_size}, input_shape={tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels, self._tiles * self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(*self.tile_size, self.filters),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs):
        every = ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding)
        shape = ops.shape(every)
        every = ops.reshape(every, (shape[0], shape[1], shape[2], self._tiles, self.filters))
        if self.use_bias:
            every = every + ops.reshape(self.bias, (self._tiles, self.filters))
        t_rows, t_cols = self.tile_size
        tile_row = ops.mod(ops.arange(shape[1]), t_rows)
        tile_col = ops.mod(ops.arange(shape[2]), t_cols)
        tile = tile_row[:, None] * t_cols + tile_col[None, :]  # (out_rows, out_cols)
        mask = ops.one_hot(tile, self._tiles, dtype=every.dtype)[..., None]
        return self.activation(ops.sum(every * mask, axis=3))

    def compute_output_shape(self, input_shape):
        batch, rows, cols, _ = input_shape
        out = [
            conv_length(n, k, s, self.padding)
            for n, k, s in zip((rows, cols), self.kernel_size, self.strides)
        ]
        return (batch, *out, self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "tile_size": self.tile_size,
                "strides": self.strides,
                "padding": self.padding,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
            }
        )
        return config
