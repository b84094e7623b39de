"""The layers keras.applications defines outside keras.layers (ConvNeXt's LayerScale and StochasticDepth, Inception-ResNet-v2's CustomScaleLayer): analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.applications``), each one full OpDef.

MACs: one multiply(-accumulate) per value for the two that scale (CustomScaleLayer's
``x + scale * r``, LayerScale's ``x * gamma``); none for StochasticDepth (the identity at
inference, like Dropout).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, arg, format_shape, prod, short
from archspec.ops.rules._common import _one
from archspec.ops.rules.custom import layer_op


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ShapeError(f"`{name}` must be a number, got {short(value)}", arg=name)
    return float(value)


def custom_scale_layer(args: dict, shapes: Sequence[Shape]) -> Result:
    """``inputs[0] + scale * inputs[1]``: two inputs of one shape, no parameters."""
    _number(arg(args, "scale"), "scale")
    if len(shapes) != 2:
        raise ShapeError(f"CustomScaleLayer takes two inputs (shortcut, residual), got {len(shapes)}")
    a, b = (tuple(s) for s in shapes)
    if len(a) != len(b) or any(i is not None and j is not None and i != j for i, j in zip(a, b)):
        raise ShapeError(f"CustomScaleLayer's two inputs must have the same shape, got "
                         f"{format_shape(a)} and {format_shape(b)}",
                         hint="the residual's last convolution must give the shortcut's channels")
    out = tuple(i if i is not None else j for i, j in zip(a, b))
    return Result(out, macs=prod(out))


def layer_scale(args: dict, shapes: Sequence[Shape]) -> Result:
    """``x * gamma``: one trainable factor per channel (the last axis, ``projection_dim``)."""
    shape = _one(shapes, None, "LayerScale")
    _number(arg(args, "init_values"), "init_values")
    dim = arg(args, "projection_dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ShapeError(f"`projection_dim` must be a positive integer, got {short(dim)}",
                         arg="projection_dim")
    if not shape or (shape[-1] is not None and shape[-1] != dim):
        raise ShapeError(f"`projection_dim` ({dim}) must be the input's last dimension, input "
                         f"{format_shape(shape)}", arg="projection_dim")
    return Result(tuple(shape), params=dim, macs=prod(shape))


def stochastic_depth(args: dict, shapes: Sequence[Shape]) -> Result:
    """Drop path: the identity at inference; ``drop_path_rate`` in [0, 1)."""
    shape = _one(shapes, None, "StochasticDepth")
    rate = _number(arg(args, "drop_path_rate"), "drop_path_rate")
    if not 0 <= rate < 1:
        raise ShapeError(f"`drop_path_rate` must be in [0, 1), got {short(rate)}", arg="drop_path_rate")
    return Result(tuple(shape))


OPS: list = []
LAYER_OPS = [
    replace(layer_op("CustomScaleLayer", custom_scale_layer, ("scale",), ("scale",)), multi_input=True),
    layer_op("LayerScale", layer_scale, ("init_values", "projection_dim"), ("init_values", "projection_dim")),
    layer_op("StochasticDepth", stochastic_depth, ("drop_path_rate",), ("drop_path_rate",)),
]
