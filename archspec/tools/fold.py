"""Folding BatchNormalization into the layer before it, for inference and export.

At inference a ``BatchNormalization`` is an affine map per channel,
``y = gamma * (x - mean) / sqrt(var + eps) + beta``; after a ``Conv2D``, ``Dense`` or
``DepthwiseConv2D`` with no activation of its own, it folds into that layer's kernel and bias:

    scale = gamma / sqrt(var + eps)
    kernel' = kernel * scale            (per output channel)
    bias'   = (bias - mean) * scale + beta

:func:`fold_batchnorm` returns a copy of a functional model with every foldable pair merged: the
layer keeps its name and gains a bias (``use_bias=True``), the ``BatchNormalization`` becomes an
``Identity`` of the same name (so layer names, and the graph, stay as they were). A pair is
foldable when the batch norm normalizes the last axis (channels-last), the layer before it has a
linear activation, is called once, and feeds nothing else. Others (a batch norm after an add, a
pool, a layer with an activation, nested models) are left as they are. The copy is for inference
only: its outputs equal the original's in inference mode within float32 rounding (``ATOL``, for
inputs of order 1), and training it would no longer normalize batches.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the layers a following batch norm folds into (kernel attribute, output channels on the last axis)
FOLDABLE = ("Conv1D", "Conv2D", "Conv3D", "Dense", "DepthwiseConv2D")
#: the agreement measured between a model and its folded copy (float32, inputs in [0, 1))
ATOL = 1e-4


@dataclass
class FoldReport:
    """What :func:`fold_batchnorm` did: ``folded`` (layer, batch norm) pairs, and the batch norms
    left in place with the reason."""

    folded: list
    kept: list

    def __str__(self) -> str:
        return f"folded {len(self.folded)} batch norm(s), kept {len(self.kept)}"


def _consumers(model) -> dict:
    """Layer name -> how many times its outputs are used (by layers, or as model outputs)."""
    counts: dict = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                src = tensor._keras_history.operation.name
                counts[src] = counts.get(src, 0) + 1
    for tensor in model.outputs:
        src = tensor._keras_history.operation.name
        counts[src] = counts.get(src, 0) + 1
    return counts


def _source(layer):
    """The one layer whose output ``layer`` is called on, or None."""
    if len(layer._inbound_nodes) != 1:
        return None
    inputs = layer._inbound_nodes[0].input_tensors
    if len(inputs) != 1:
        return None
    return inputs[0]._keras_history.operation


def _pairs(model) -> tuple[dict, list]:
    """The foldable pairs (batch norm name -> layer before it) and the batch norms kept, with why."""
    consumers = _consumers(model)
    pairs, kept = {}, []
    for bn in model.layers:
        if type(bn).__name__ != "BatchNormalization":
            continue
        src = _source(bn)
        axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
        rank = len(bn.input.shape) if src is not None else 0
        why = None
        if src is None or type(src).__name__ not in FOLDABLE:
            why = f"after {type(src).__name__ if src is not None else 'several inputs'}"
        elif axis not in (-1, rank - 1):
            why = f"normalizes axis {bn.axis}, not the channels-last axis"
        elif getattr(src.activation, "__name__", "linear") != "linear":
            why = f"{src.name} has an activation"
        elif len(src._inbound_nodes) != 1 or consumers.get(src.name, 0) != 1:
            why = f"{src.name} is shared or feeds other layers"
        if why:
            kept.append((bn.name, why))
        else:
            pairs[bn.name] = src
    return pairs, kept


def folded_weights(layer, bn) -> tuple:
    """The kernel and bias of ``layer`` with the batch norm ``bn`` that follows it folded in."""
    import numpy as np

    kernel = np.asarray(layer.kernel, np.float64)  # DepthwiseConv2D's too: (kh, kw, in, multiplier)
    channels = kernel.shape[-2] * kernel.shape[-1] if type(layer).__name__ == "DepthwiseConv2D" else kernel.shape[-1]
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(channels)
    gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones(channels)
    beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros(channels)
    mean = np.asarray(bn.moving_mean, np.float64)
    var = np.asarray(bn.moving_variance, np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon)
    if type(layer).__name__ == "DepthwiseConv2D":  # output channel c * multiplier + m
        kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        kernel = kernel * scale
    return kernel.astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)


def fold_batchnorm(model):
    """A copy of the functional ``model`` with its batch norms folded (see the module doc), and a
    :class:`FoldReport`."""
    import keras

    pairs, kept = _pairs(model)
    into = {layer.name: bn_name for bn_name, layer in pairs.items()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            return keras.layers.Identity(name=layer.name)
        if layer.name in into:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.layers.Identity):  # the batch norm's call had training and mask
            return layer(args[0] if args else kwargs["inputs"])
        return layer(*args, **kwargs)

    inputs = keras.tree.map_structure(  # named as the original's inputs (clone_model names them anew)
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t._keras_history.operation.name),
        model.input)
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone, call_function=call)
    for layer in model.layers:
        if layer.name in pairs or not layer.weights:
            continue
        target = copy.get_layer(layer.name)
        if layer.name in into:
            kernel, bias = folded_weights(layer, model.get_layer(into[layer.name]))
            target.set_weights([kernel, bias])
        elif layer.weights:
            target.set_weights(layer.get_weights())
    return copy, FoldReport([(layer.name, bn) for bn, layer in pairs.items()], kept)
