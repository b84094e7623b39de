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
from keras import ops

from archspec.layers._args import int_tuple
from archspec.layers.base_local_conv import BaseLocalConv2D


@keras.saving.register_keras_serializable(package="archspec")
class TiledConv2D(BaseLocalConv2D):
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
        super().__init__(filters, kernel_size, strides, padding, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
                         bias_constraint, **kwargs)
        self.tile_size = int_tuple(tile_size, 2, "tile_size")

    @property
    def _tiles(self) -> int:
        return self.tile_size[0] * self.tile_size[1]

    def build(self, input_shape):
        _, channels = self._checked_grid(input_shape)
        self._add_kernel_and_bias((*self.kernel_size, channels, self._tiles * self.filters),
                                  (*self.tile_size, self.filters))

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

    def get_config(self) -> dict:
        return {**super().get_config(), "tile_size": self.tile_size}
