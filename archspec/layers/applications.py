"""The layers keras.applications defines outside keras.layers (ConvNeXt's LayerScale and StochasticDepth, Inception-ResNet-v2's CustomScaleLayer): archspec's Keras layers for them (registered for saving on import).

Each has the class name, the constructor arguments, the weights (names and shapes, so weights
copy and load by layer name) and the computation of its keras.applications original
(``keras/src/applications/convnext.py`` and ``inception_resnet_v2.py``), which Keras does not
export; the zoo's ``convnext.yaml`` and ``inception_resnet_v2.yaml`` use them. The analyzer's
rules are in :mod:`archspec.ops.rules.applications`.
"""

from __future__ import annotations

import keras
from keras import ops

from archspec.layers._args import number, positive_int

__all__ = ["CustomScaleLayer", "LayerScale", "StochasticDepth"]


@keras.saving.register_keras_serializable(package="archspec")
class CustomScaleLayer(keras.layers.Layer):
    """``inputs[0] + scale * inputs[1]``: Inception-ResNet's scaled residual sum (Szegedy et al.,
    "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning", AAAI
    2017, section 3.3: the residuals are scaled by 0.1 to 0.3 before the addition). No weights.

    Args:
        scale: the factor of the residual (the second input).

    Example:
        >>> CustomScaleLayer(0.5)([keras.ops.ones((1, 2)), keras.ops.ones((1, 2))]).tolist()
        [[1.5, 1.5]]
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = number(scale, "scale")

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"CustomScaleLayer takes two inputs [shortcut, residual]. "
                             f"Received: input_shape={input_shape}")
        if tuple(input_shape[0][1:]) != tuple(input_shape[1][1:]):
            raise ValueError("CustomScaleLayer's two inputs must have the same shape. "
                             f"Received: input_shape={input_shape}")

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="archspec")
class LayerScale(keras.layers.Layer):
    """Multiplies each channel by a learned factor ``gamma`` (``projection_dim`` weights, all
    ``init_values`` at first): ConvNeXt's layer scale (Liu et al., "A ConvNet for the 2020s", CVPR
    2022; from Touvron et al., "Going deeper with Image Transformers", ICCV 2021). The weight is
    unnamed, as in keras.applications (Keras calls it ``variable``).

    Args:
        init_values: the initial factor.
        projection_dim: the number of channels (the last axis).

    Example:
        >>> LayerScale(0.5, 3)(keras.ops.ones((1, 3))).tolist()
        [[0.5, 0.5, 0.5]]
    """

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = number(init_values, "init_values")
        self.projection_dim = positive_int(projection_dim, "projection_dim")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.projection_dim:
            raise ValueError("LayerScale's `projection_dim` must be the input's last dimension "
                             f"({input_shape[-1]}). Received: projection_dim={self.projection_dim}")
        self.gamma = self.add_weight(
            shape=(self.projection_dim,),
            initializer=keras.initializers.Constant(self.init_values),
            trainable=True,
        )

    def call(self, x):
        return x * self.gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


@keras.saving.register_keras_serializable(package="archspec")
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch of a sample with probability ``drop_path_rate`` in
    training and scales the kept ones by ``1 / (1 - drop_path_rate)``; the identity at inference
    (Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016, in ConvNeXt's per-sample
    "drop path" form). No weights; the draws use Keras' global seed, as keras.applications'.

    Args:
        drop_path_rate: the probability of dropping a sample's branch, in [0, 1).

    Example:
        >>> StochasticDepth(0.5)(keras.ops.ones((2, 3)), training=False).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        rate = number(drop_path_rate, "drop_path_rate", minimum=0.0)
        if rate >= 1.0:
            raise ValueError("The `drop_path_rate` argument must be in [0, 1). "
                             f"Received: drop_path_rate={drop_path_rate!r}")
        self.drop_path_rate = rate

    def call(self, x, training=None):
        if training and self.drop_path_rate > 0:
            keep_prob = 1 - self.drop_path_rate
            shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
            random_tensor = ops.floor(keep_prob + keras.random.uniform(shape, 0, 1))
            return (x / keep_prob) * random_tensor
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config
