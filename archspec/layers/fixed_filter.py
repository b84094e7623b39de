"""Fixed (hand-designed, never trained) 2D filters: edge detectors and the Laplacian.

The named kernels are the lectures' tables (Goodfellow et al., Deep Learning, ch. 9, "some
special kernels"; Sobel & Feldman 1968; Scharr 2000), applied as written, by cross-correlation
like Keras' Conv2D (no kernel flip):

    vertical_edge   [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
    horizontal_edge [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
    sobel_x         [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    sobel_y         [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    scharr_x        [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
    scharr_y        [[-3, -10, -3], [0, 0, 0], [3, 10, 3]]
    laplacian       [[0, 1, 0], [1, -4, 1], [0, 1, 0]]

Channels: ``channels="depthwise"`` (default) filters every input channel separately (C channels
in, C out, like DepthwiseConv2D with the same kernel for each channel); ``channels="sum"`` sums
the filtered channels into one output channel (a Conv2D with one filter whose kernel is the same
for every input channel). The kh x kw kernel is one non-trainable weight, so the layer reports
kh * kw non-trainable parameters and saves the kernel with the model. channels_last.
"""

from __future__ import annotations

import keras
from keras import ops

from archspec.layers._args import conv_length, int_tuple, one_of, spatial_input

KERNELS: dict[str, list[list[float]]] = {
    "vertical_edge": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "horizontal_edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "scharr_x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr_y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
}


def kernel_values(kernel) -> list[list[float]]:
    """The 2D kernel named (or given as a rectangular list of lists of numbers) by ``kernel``."""
    if isinstance(kernel, str):
        if kernel.lower() not in KERNELS:
            names = ", ".join(KERNELS)
            raise ValueError(f"Unknown fixed kernel name; use one of {names} or a 2D list. "
                             f"Received: kernel={kernel!r}")
        return [list(map(float, row)) for row in KERNELS[kernel.lower()]]
    rows = list(kernel) if isinstance(kernel, (list, tuple)) else None
    ok = bool(rows) and all(isinstance(r, (list, tuple)) and len(r) == len(rows[0]) > 0 for r in rows)
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in rows for v in r)
    if not ok:
        raise ValueError("The `kernel` argument must be a kernel name or a non-empty rectangular "
                         f"2D list of numbers. Received: kernel={kernel!r}")
    return [[float(v) for v in r] for r in rows]


@keras.saving.register_keras_serializable(package="archspec")
class FixedFilter2D(keras.layers.Layer):
    """A non-trainable 2D filter: a named edge/Laplacian kernel or an explicit 2D list.

    Args:
        kernel: "vertical_edge", "horizontal_edge", "sobel_x", "sobel_y", "scharr_x",
            "scharr_y", "laplacian", or a 2D list of numbers (rows of the kernel).
        channels: "depthwise" (each channel filtered separately) or "sum" (one output channel).
        strides: window step, an int or (rows, cols).
        padding: "valid" or "same".

    Example:
        >>> edges = FixedFilter2D("sobel_x")
        >>> edges(keras.ops.ones((1, 5, 5, 3))).shape, edges.count_params()
        ((1, 3, 3, 3), 9)
    """

    def __init__(self, kernel, channels: str = "depthwise", strides=(1, 1), padding: str = "valid",
                 **kwargs):
        super().__init__(**kwargs)
        self.values = kernel_values(kernel)
        self.kernel_spec = kernel.lower() if isinstance(kernel, str) else [list(r) for r in kernel]
        self.channels = one_of(channels, ("depthwise", "sum"), "channels")
        self.strides = int_tuple(strides, 2, "strides")
        self.padding = one_of(padding, ("valid", "same"), "padding")
        self.kernel_size = (len(self.values), len(self.values[0]))

    def build(self, input_shape):
        shape = spatial_input(input_shape, self)
        out = self.compute_output_shape(shape)[1:3]
        if any(n is not None and n < 1 for n in out):
            raise ValueError(
                "The kernel is larger than the input: the output would be empty. "
                f"Received: kernel of size {self.kernel_size}, input_shape={shape}"
            )
        self._in_channels = int(shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size, initializer="zeros",
                                      trainable=False)
        self.kernel.assign(self.values)

    def call(self, inputs):
        kernel = ops.cast(self.kernel, inputs.dtype)[:, :, None, None]
        if self.channels == "sum":
            kernel = ops.tile(kernel, (1, 1, self._in_channels, 1))
            return ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)
        # The same kernel for every channel: fold the channels into the batch and run one plain
        # convolution. (A depthwise convolution would say the same, but TensorFlow's CPU depthwise
        # kernel refuses unequal strides on some machines: "Current implementation only supports
        # equal length strides".)
        shape = ops.shape(inputs)
        folded = ops.reshape(ops.transpose(inputs, (0, 3, 1, 2)), (-1, shape[1], shape[2], 1))
        out = ops.conv(folded, kernel, strides=self.strides, padding=self.padding)
        out_shape = ops.shape(out)
        out = ops.reshape(out, (-1, self._in_channels, out_shape[1], out_shape[2]))
        return ops.transpose(out, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        batch, rows, cols, channels = input_shape
        out = [
            conv_length(n, k, s, self.padding)
            for n, k, s in zip((rows, cols), self.kernel_size, self.strides)
        ]
        return (batch, *out, 1 if self.channels == "sum" else channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kernel": self.kernel_spec, "channels": self.channels, "strides": self.strides,
                       "padding": self.padding})
        return config
