"""The base of the 2D convolutions whose kernels are not (all) shared across positions:
:class:`~archspec.layers.LocallyConnected2D` (one kernel per position) and
:class:`~archspec.layers.TiledConv2D` (a tile of kernels cycled over the positions).

Like Keras' ``BaseConv``, it owns what they have in common: Conv2D's arguments (``filters``,
``kernel_size``, ``strides``, ``padding``, activation, bias, initializers, regularizers,
constraints) and their ``get_config``, the output grid of the sliding window, and the creation
of the ``kernel`` and ``bias`` weights. A subclass says the shapes of its weights (``build``) and
how it applies them (``call``). channels_last.
"""

from __future__ import annotations

import keras
from keras import activations, constraints, initializers, regularizers

from archspec.layers._args import conv_length, int_tuple, one_of, positive_int, spatial_input


class BaseLocalConv2D(keras.layers.Layer):
    """Conv2D's arguments and output grid, for kernels that are not shared everywhere."""

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
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters")
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size")
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

    def _output_grid(self, rows, cols) -> tuple:
        """(out_rows, out_cols) of the sliding window; None stays None."""
        return tuple(
            conv_length(n, k, s, self.padding)
            for n, k, s in zip((rows, cols), self.kernel_size, self.strides)
        )

    def _checked_grid(self, input_shape) -> tuple:
        """The output grid and the input channels; refuses an empty output."""
        _, rows, cols, channels = spatial_input(input_shape, self)
        grid = self._output_grid(rows, cols)
        if any(n is not None and n < 1 for n in grid):
            raise ValueError(
                "The kernel is larger than the input: the output would be empty. "
                f"Received: kernel_size={self.kernel_size}, input_shape={tuple(input_shape)}"
            )
        return grid, channels

    def _add_kernel_and_bias(self, kernel_shape: tuple, bias_shape: tuple) -> None:
        """``self.kernel``, and ``self.bias`` (None without ``use_bias``)."""
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=bias_shape,
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def compute_output_shape(self, input_shape):
        batch, rows, cols, _ = input_shape
        return (batch, *self._output_grid(rows, cols), self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
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
