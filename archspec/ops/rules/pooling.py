"""Pooling: max/average, global and adaptive."""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import Result, Shape, arg, ntuple
from archspec.ops.opdef import keras_op
from archspec.ops.rules._common import (
    _channels_last, _check_positive, _conv_length, _one, _padding,
)


def pool(rank: int):
    """MaxPooling/AveragePooling 1D/2D/3D."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"Pooling{rank}D")
        p = ntuple(arg(args, "pool_size", 2), rank, "pool_size")
        strides = arg(args, "strides", None)
        s = p if strides is None else ntuple(strides, rank, "strides")
        padding = _padding(args)
        spatial = tuple(_conv_length(n, pi, si, 1, padding) for n, pi, si in zip(shape[:-1], p, s))
        _check_positive(spatial, shape[:-1], "pooling", p)
        return Result(spatial + (shape[-1],), 0, 0, 0, p, s, "window")

    return rule


def global_pool(rank: int):
    """GlobalMax/AveragePooling 1D/2D/3D."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"GlobalPooling{rank}D")
        if arg(args, "keepdims", False):
            return Result((1,) * rank + (shape[-1],), rf="global")
        return Result((shape[-1],), rf="global")

    return rule


def adaptive_pool(rank: int):
    """AdaptiveAverage/MaxPooling 1D/2D/3D: a fixed output grid."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"AdaptivePooling{rank}D")
        out = ntuple(arg(args, "output_size"), rank, "output_size")
        if any(n is None for n in shape[:-1]):
            return Result(out + (shape[-1],), rf="global")  # the window depends on the input size
        # each output cell pools about n/out inputs (bins start at floor(i*n/out))
        window = tuple(-(-n // o) for n, o in zip(shape[:-1], out))
        strides = tuple(max(1, n // o) for n, o in zip(shape[:-1], out))
        return Result(out + (shape[-1],), window=window, strides=strides, rf="window")

    return rule


#: The pooling ops (``MaxPool2D``, ``AvgPool2D``, ``GlobalAvgPool2D`` & co. follow their classes).
OPS = [
    keras_op("MaxPooling1D", rule=pool(1)),
    keras_op("MaxPooling2D", rule=pool(2)),
    keras_op("MaxPooling3D", rule=pool(3)),
    keras_op("AveragePooling1D", rule=pool(1)),
    keras_op("AveragePooling2D", rule=pool(2)),
    keras_op("AveragePooling3D", rule=pool(3)),
    keras_op("GlobalMaxPooling1D", rule=global_pool(1)),
    keras_op("GlobalMaxPooling2D", rule=global_pool(2)),
    keras_op("GlobalMaxPooling3D", rule=global_pool(3)),
    keras_op("GlobalAveragePooling1D", rule=global_pool(1)),
    keras_op("GlobalAveragePooling2D", rule=global_pool(2)),
    keras_op("GlobalAveragePooling3D", rule=global_pool(3)),
    keras_op("AdaptiveMaxPooling1D", rule=adaptive_pool(1)),
    keras_op("AdaptiveMaxPooling2D", rule=adaptive_pool(2)),
    keras_op("AdaptiveMaxPooling3D", rule=adaptive_pool(3)),
    keras_op("AdaptiveAveragePooling1D", rule=adaptive_pool(1)),
    keras_op("AdaptiveAveragePooling2D", rule=adaptive_pool(2)),
    keras_op("AdaptiveAveragePooling3D", rule=adaptive_pool(3)),
]
