"""The parameter-free residual shortcut "option A" of the CIFAR ResNets (He, Zhang, Ren & Sun,
"Deep Residual Learning for Image Recognition", 2015, sec. 4.2): "the shortcut still performs
identity mapping, with extra zero entries padded for increasing dimensions".

The input is subsampled by ``strides`` (rows 0, s, 2s, ...: ceil(n / s) of them, the size of a
"same" convolution with stride s) and its channels are zero-padded at the end up to ``filters``.
No parameters. channels_last.

The residual construct's ``shortcut: pad`` no longer makes this layer: it builds the same
function from standard Keras layers (``MaxPooling2D(pool_size=1, strides=s)``, then
``ZeroPadding2D`` with ``data_format="channels_first"`` on the channels, see
:func:`archspec.spec.constructs._pad_shortcut`), so a CIFAR ResNet's ``.keras`` file reloads with
plain Keras. The class stays for models saved before, and for specs that name the op
``zero_pad_shortcut`` themselves.
"""

from __future__ import annotations

import keras
from keras import ops

from archspec.layers._args import int_tuple, positive_int, spatial_input


@keras.saving.register_keras_serializable(package="archspec")
class ZeroPadShortcut(keras.layers.Layer):
    """Identity shortcut with spatial subsampling and zero-padded extra channels (option A).

    Args:
        filters: number of output channels (>= the input channels).
        strides: subsampling step, an int or (rows, cols).

    Example:
        >>> ZeroPadShortcut(32, strides=2)(keras.ops.ones((1, 32, 32, 16))).shape
        (1, 16, 16, 32)
    """

    def __init__(self, filters: int, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters")
        self.strides = int_tuple(strides, 2, "strides")

    def build(self, input_shape):
        shape = spatial_input(input_shape, self)
        if shape[-1] > self.filters:
            raise ValueError(
                "ZeroPadShortcut can only add channels: `filters` must be >= the input channels "
                f"({shape[-1]}). Received: filters={self.filters}, input_shape={shape}"
            )
        self._extra = self.filters - int(shape[-1])

    def call(self, inputs):
        sh, sw = self.strides
        x = inputs[:, ::sh, ::sw, :] if (sh, sw) != (1, 1) else inputs
        if self._extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self._extra]])
        return x

    def compute_output_shape(self, input_shape):
        batch, rows, cols, _ = input_shape
        out = [None if n is None else -(-n // s) for n, s in zip((rows, cols), self.strides)]
        return (batch, *out, self.filters)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config
