"""An export-only copy of a model in which the layers tf2onnx cannot convert are replaced by
equivalents it converts (``archspec export --format onnx``).

Measured with Keras 3.15 and tf2onnx 1.17, three standard layers run on TensorFlow in a way that
tf2onnx cannot put in an ONNX file:

- ``Conv2D`` with ``groups`` > 1: TensorFlow's CPU kernels have no grouped convolution, so Keras
  runs it as an XLA-compiled function, which tf2onnx leaves as ``StatefulPartitionedCall``.
  Here: :class:`GroupedConv2D`, the same layer and kernel, convolved group by group with plain
  convolutions (one depthwise convolution when every group is one input channel).
- exact GELU (``gelu``, approximate False): TensorFlow computes it with ``Erfc``, which ONNX has
  not. Here: :func:`erf_gelu`, ``0.5 x (1 + erf(x / sqrt(2)))`` (ONNX has ``Erf``), as the
  activation of a copy of the layer.
- ``Normalization``: its mean and variance are constant tensors, not weights, and tf2onnx turns
  the constants the traced function captures into inputs of the ONNX graph. Here:
  :class:`NormalizationAsWeights`, the same mean and variance held as (non-trainable) weights, which
  become initializers of the graph.

:func:`onnx_compatible` builds the copy with ``keras.models.clone_model`` (nested functional and
sequential models too): each replacement keeps the layer's name and weights, and every other layer
is the model's own (reused, not copied; a shared layer stays shared). The model itself does not
change, and the export is checked against it. A layer that cannot be replaced (inside a custom
layer, a subclass of these, a model that is not functional) is left as it is: the exporter then
names it as one that does not convert.

>>> copy = onnx_compatible(model)          # doctest: +SKIP
>>> copy.export("m.onnx", format="onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops
from keras.src.models.functional import Functional  # keras.Model's functional kind: what clone_model rebuilds

__all__ = ["GroupedConv2D", "NormalizationAsWeights", "erf_gelu", "onnx_compatible"]


def erf_gelu(x):
    """Exact GELU, ``0.5 x (1 + erf(x / sqrt(2)))``: the same function as ``keras.activations.gelu``
    (approximate False), written with ``erf`` instead of TensorFlow's ``erfc``."""
    return ops.multiply(ops.multiply(x, 0.5), ops.add(1.0, ops.erf(ops.multiply(x, 1.0 / math.sqrt(2.0)))))


class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D`` (same config, same kernel) whose ``groups`` run as plain convolutions: one per
    group, concatenated, or one depthwise convolution when each group is one input channel
    (ConvNeXt's depthwise convolutions); TensorFlow would compile the grouped one with XLA."""

    def convolution_op(self, inputs, kernel):
        axis = -1 if self.data_format == "channels_last" else 1
        channels = inputs.shape[axis]
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        if self.groups == channels:  # kernel (h, w, 1, groups * k): output c * k + m reads channel c
            depthwise = ops.reshape(kernel, tuple(kernel.shape[:2]) + (channels, self.filters // channels))
            return ops.depthwise_conv(inputs, depthwise, strides=self.strides, padding=self.padding,
                                      data_format=self.data_format, dilation_rate=self.dilation_rate)
        plain = super().convolution_op  # each group's channels match its kernel: no XLA
        parts = zip(ops.split(inputs, self.groups, axis=axis), ops.split(kernel, self.groups, axis=-1))
        return ops.concatenate([plain(x, k) for x, k in parts], axis=axis)


class NormalizationAsWeights(keras.layers.Layer):
    """``keras.layers.Normalization`` with its mean and variance (as ``Normalization`` keeps them:
    broadcast to the input's rank) held as non-trainable weights; the same arithmetic."""

    def __init__(self, mean, variance, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mean_value = np.asarray(mean, dtype=self.dtype)
        self.variance_value = np.asarray(variance, dtype=self.dtype)
        if self.mean_value.shape != self.variance_value.shape:
            raise ValueError("mean and variance must have the same shape. Received: "
                             f"mean.shape={self.mean_value.shape}, variance.shape={self.variance_value.shape}")
        self.invert = invert

    def build(self, input_shape):
        shape = self.mean_value.shape
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)
        self.mean.assign(self.mean_value)
        self.variance.assign(self.variance_value)

    def call(self, inputs):
        scale = ops.maximum(ops.sqrt(self.variance), keras.backend.epsilon())
        if self.invert:
            return ops.add(self.mean, ops.multiply(inputs, scale))
        return ops.divide(ops.subtract(inputs, self.mean), scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean_value.tolist(),
                "variance": self.variance_value.tolist(), "invert": self.invert}


def onnx_compatible(model):
    """``model`` itself when none of its layers needs replacing (see the module's docstring), else
    its export-only copy with each such layer replaced."""
    if not any(_replacement(layer) for layer in _reachable_layers(model)):
        return model
    if not isinstance(model, (keras.Sequential, Functional)):
        return model  # a subclassed model: clone_model cannot rebuild it (the exporter names the layers)
    return keras.models.clone_model(model, clone_function=_replace, recursive=True)


def _reachable_layers(model):
    """The layers ``clone_model(recursive=True)`` hands its clone function: those of ``model`` and
    of the functional or sequential models nested in it."""
    for layer in model.layers:
        if isinstance(layer, (keras.Sequential, Functional)):
            yield from _reachable_layers(layer)
        else:
            yield layer


def _replace(layer):
    make = _replacement(layer)
    if make is None:
        return layer
    try:
        return make(layer)
    except Exception:  # noqa: BLE001 (e.g. a subclass whose config does not rebuild it): left as it is,
        return layer   # and the exporter names it if it does not convert


def _replacement(layer):
    """The function that makes ``layer``'s replacement, or None when it converts as it is (or
    cannot be replaced: a subclass may compute something else, and a layer not yet built has no
    weights to copy)."""
    if not getattr(layer, "built", False):
        return None
    if type(layer) is keras.layers.Normalization:
        return _normalization
    if type(layer) is keras.layers.Conv2D and layer.groups > 1:
        return _grouped_conv
    if getattr(layer, "activation", None) is keras.activations.gelu and "activation" in layer.get_config():
        return _with_erf_gelu
    return None


def _copy(layer, cls, **changes):
    """A layer of class ``cls`` from ``layer``'s config with ``changes``, built as ``layer`` was,
    holding ``layer``'s weights."""
    clone = cls.from_config({**layer.get_config(), **changes})
    build = layer.get_build_config()
    if build:
        clone.build_from_config(build)
    clone.set_weights(layer.get_weights())
    return clone


def _export_activation(activation):
    return erf_gelu if activation is keras.activations.gelu else activation


def _grouped_conv(layer):
    return _copy(layer, GroupedConv2D, activation=_export_activation(layer.activation))


def _with_erf_gelu(layer):
    return _copy(layer, type(layer), activation=erf_gelu)


def _normalization(layer):
    clone = NormalizationAsWeights(ops.convert_to_numpy(layer.mean), ops.convert_to_numpy(layer.variance),
                                invert=layer.invert, name=layer.name, dtype=layer.dtype_policy)
    clone.build(layer.get_build_config()["input_shape"])
    return clone
