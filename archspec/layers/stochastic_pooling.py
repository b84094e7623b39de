"""Stochastic pooling (Zeiler & Fergus, "Stochastic Pooling for Regularization of Deep
Convolutional Neural Networks", ICLR 2013).

In each pooling window the activations define a distribution p_i = a_i / sum_k a_k.
Training: the output is one element of the window, sampled with probability p_i.
Inference: the output is the probability-weighted average sum_i p_i a_i (the paper's
"probabilistic weighting"), i.e. sum a_i^2 / sum a_i.

The paper assumes non-negative activations (after a ReLU). Here negative activations get
probability 0 (p_i is computed from max(a_i, 0)); a window with no positive activation is
sampled uniformly at training and averaged at inference, which keeps inference equal to the
expectation of training. Windows are "valid" (no padding); channels_last.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from archspec.layers._args import conv_length, int_tuple, spatial_input


@keras.saving.register_keras_serializable(package="archspec")
class StochasticPooling2D(keras.layers.Layer):
    """Stochastic pooling over 2D windows (channels_last, valid windows).

    Args:
        pool_size: window size, an int or (rows, cols).
        strides: window step; defaults to ``pool_size`` (non-overlapping windows).
        seed: seed of the sampling at training time.

    Example:
        >>> pool = StochasticPooling2D(pool_size=2)
        >>> pool(keras.ops.ones((1, 4, 4, 3)), training=True).shape
        (1, 2, 2, 3)
    """

    def __init__(self, pool_size=(2, 2), strides=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else int_tuple(strides, 2, "strides")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"The `seed` argument must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        shape = spatial_input(input_shape, self)
        for n, k, name in zip(shape[1:3], self.pool_size, ("rows", "cols")):
            if n is not None and n < k:
                raise ValueError(
                    f"The pooling window ({k}) is larger than the input {name} ({n}). "
                    f"Received: pool_size={self.pool_size}, input_shape={shape}"
                )

    def _windows(self, inputs):
        """(batch, out_rows, out_cols, window, channels) views of the pooling windows."""
        kh, kw = self.pool_size
        channels = inputs.shape[-1]
        patches = tf.image.extract_patches(
            inputs,
            sizes=[1, kh, kw, 1],
            strides=[1, *self.strides, 1],
            rates=[1, 1, 1, 1],
            padding="VALID",
        )  # (..., kh * kw * channels), ordered (row, col, channel)
        shape = ops.shape(patches)
        return ops.reshape(patches, (shape[0], shape[1], shape[2], kh * kw, channels))

    def call(self, inputs, training=None):
        windows = self._windows(inputs)
        weights = ops.relu(windows)
        total = ops.sum(weights, axis=3, keepdims=True)
        weights = ops.where(total > 0, weights, ops.ones_like(weights))  # all <= 0: uniform
        if not training:
            return ops.sum(weights * windows, axis=3) / ops.sum(weights, axis=3)
        # Inverse-CDF sampling: the first i whose cumulative weight reaches u * total.
        cdf = ops.cumsum(weights, axis=3)
        total = cdf[:, :, :, -1:, :]
        shape = ops.shape(total)
        u = 1.0 - keras.random.uniform(shape, dtype=windows.dtype, seed=self.seed_generator)  # (0, 1]
        index = ops.sum(ops.cast(cdf < u * total, "int32"), axis=3, keepdims=True)
        return ops.squeeze(ops.take_along_axis(windows, index, axis=3), axis=3)

    def compute_output_shape(self, input_shape):
        batch, rows, cols, channels = input_shape
        out = [conv_length(n, k, s, "valid") for n, k, s in zip((rows, cols), self.pool_size, self.strides)]
        return (batch, *out, channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides, "seed": self.seed})
        return config
