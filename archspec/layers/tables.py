"""Convolution with a connection table (which input maps feed which output maps), as in LeCun et
al. 1989 (each H2 map reads 8 of H1's 12 maps) and LeNet-5's C3 (LeCun, Bottou, Bengio & Haffner
1998, Table I: each of 16 maps reads 3, 4 or all 6 of S2's maps): archspec's Keras layer for it,
registered for saving on import.

``table[j]`` lists the input maps output map ``j`` reads, so the layer has ``len(table)`` output
maps and one kh x kw kernel per connection (pair of input map and output map). Its ``kernel``
holds only those: shape (kh, kw, connections), connection ``c`` being the c-th pair in the order
the table lists them (output map 0's inputs first). Biases are per output map, or per output
unit (position and map, ``unit_bias=True``: the 1989 network's scheme). So

    params = kh * kw * sum(len(inputs) for inputs in table) + biases.

The call places the kernels in a full (kh, kw, in_maps, out_maps) kernel, zeros where the table
has no connection, and convolves with it: the same output and gradients as a full convolution
whose missing connections are held at zero. channels_last.
"""

from __future__ import annotations

import keras
from keras import ops

from archspec.layers._args import conv_length, int_tuple, one_of, spatial_input

__all__ = ["TableConv2D"]


def check_table(table, in_maps: int | None = None) -> tuple[tuple[int, ...], ...]:
    """``table`` as a tuple of tuples of ints, or ValueError naming the bad entry: a non-empty list
    of entries, each a non-empty list of distinct input-map indices (< ``in_maps`` when given)."""
    if not isinstance(table, (list, tuple)) or not table:
        raise ValueError(f"The `table` argument must be a non-empty list (one list of input maps per "
                         f"output map). Received: table={table!r}")
    out = []
    for j, inputs in enumerate(table):
        if not isinstance(inputs, (list, tuple)) or not inputs or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in inputs):
            raise ValueError(f"`table[{j}]` (the input maps of output map {j}) must be a non-empty "
                             f"list of input-map indices >= 0. Received: {inputs!r}")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"`table[{j}]` lists an input map twice. Received: {inputs!r}")
        if in_maps is not None and max(inputs) >= in_maps:
            raise ValueError(f"`table[{j}]` reads input map {max(inputs)}, but the input has {in_maps} "
                             f"maps (0 to {in_maps - 1}). Received: {inputs!r}")
        out.append(tuple(int(i) for i in inputs))
    return tuple(out)


@keras.saving.register_keras_serializable(package="archspec")
class TableConv2D(keras.layers.Layer):
    """A 2D convolution whose output map ``j`` reads only the input maps ``table[j]``.

    Args:
        table: for each output map, the list of input maps it reads (indices from 0).
        kernel_size: window size, an int or (rows, cols).
        strides: window step, an int or (rows, cols).
        padding: "valid" or "same".
        activation, use_bias, *_initializer, *_regularizer, *_constraint: as in Conv2D.
        unit_bias: one bias per output unit (position and map) instead of one per map; needs a
            known input size.

    Example:
        >>> tc = TableConv2D([[0, 1], [1, 2], [0, 1, 2]], 3)
        >>> tc(keras.ops.ones((1, 6, 6, 3))).shape, tc.count_params()
        ((1, 4, 4, 3), 66)
    """

    def __init__(
        self,
        table,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        activation=None,
        use_bias: bool = True,
        unit_bias: bool = False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.table = check_table(table)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size")
        self.strides = int_tuple(strides, 2, "strides")
        self.padding = one_of(padding, ("valid", "same"), "padding")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.unit_bias = bool(unit_bias)
        if self.unit_bias and not self.use_bias:
            raise ValueError("`unit_bias=True` needs `use_bias=True`. Received: use_bias=False")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def filters(self) -> int:
        """The number of output maps: one per table entry."""
        return len(self.table)

    @property
    def connections(self) -> int:
        """The number of (input map, output map) pairs the table connects."""
        return sum(len(inputs) for inputs in self.table)

    def _out_grid(self, shape) -> tuple:
        return tuple(conv_length(n, k, s, self.padding) for n, k, s in zip(shape[1:3], self.kernel_size, self.strides))

    def build(self, input_shape):
        shape = spatial_input(input_shape, self)
        check_table(self.table, shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, self.connections),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            if self.unit_bias:
                grid = self._out_grid(shape)
                if None in grid:
                    raise ValueError("`unit_bias=True` needs a known input size (one bias per output "
                                     f"position). Received: input_shape={tuple(input_shape)}")
                bias_shape = (*grid, self.filters)
            else:
                bias_shape = (self.filters,)
            self.bias = self.add_weight(name="bias", shape=bias_shape, initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        # where each connection's kernel goes in the full kernel: 0 = no connection, c + 1 = kernel c
        index = [[0] * self.filters for _ in range(shape[-1])]
        c = 0
        for j, inputs in enumerate(self.table):
            for i in inputs:
                c += 1
                index[i][j] = c
        self._index = index

    def full_kernel(self):
        """The (kh, kw, in_maps, out_maps) kernel: each connection's kernel, zeros elsewhere."""
        padded = ops.concatenate([ops.zeros((*self.kernel_size, 1), dtype=self.kernel.dtype), self.kernel],
                                 axis=-1)
        return ops.take(padded, ops.convert_to_tensor(self._index, dtype="int32"), axis=-1)

    def call(self, inputs):
        out = ops.conv(inputs, self.full_kernel(), strides=self.strides, padding=self.padding)
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._out_grid(input_shape), self.filters)

    def get_config(self) -> dict:
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "table": [list(inputs) for inputs in self.table],
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "unit_bias": self.unit_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "bias_constraint": ser(self.bias_constraint),
        }
