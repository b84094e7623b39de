"""Convolutions: Conv1D/2D/3D, transposed, depthwise and separable (Keras' formulas)."""

from __future__ import annotations

import math
from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, Unportable, arg, ntuple
from archspec.ops.opdef import keras_op
from archspec.ops.rules._common import (
    _bias, _channels_last, _check_positive, _check_strides_dilation, _conv_length, _known_channels, _macs,
    _one, _padding, _positive_int,
)


def _kernel_strides_dilation(args: dict, rank: int) -> tuple:
    return (ntuple(arg(args, "kernel_size"), rank, "kernel_size"),
            ntuple(arg(args, "strides", 1), rank, "strides"),
            ntuple(arg(args, "dilation_rate", 1), rank, "dilation_rate"))


def _output_grid(shape: Shape, k: tuple, s: tuple, d: tuple, padding: str) -> tuple:
    """Output sizes of a sliding window and its effective (dilated) kernel; refuses empty outputs."""
    spatial = tuple(_conv_length(n, ki, si, di, padding) for n, ki, si, di in zip(shape[:-1], k, s, d))
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    _check_positive(spatial, shape[:-1], "convolution", k_eff)
    return spatial, k_eff


def _check_depthwise_strides(s: tuple, d: tuple, name: str) -> None:
    """TensorFlow's 2D depthwise kernel (DepthwiseConv2dNative) refuses unequal row and column
    strides on some CPUs ("Current implementation only supports equal length strides"); Keras
    goes around that kernel only when a dilation is > 1 as well."""
    if len(s) == 2 and s[0] != s[1] and max(d) == 1:
        raise Unportable(
            f"{name} with unequal strides {list(s)}: TensorFlow's depthwise kernel refuses "
            "unequal row and column strides on some machines",
            hint="use equal strides, or stride 1 followed by a pooling layer with the strides you need",
            arg="strides")


def conv(rank: int):
    """Conv1D/2D/3D (groups, dilation, valid/same/causal)."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"Conv{rank}D")
        filters = arg(args, "filters")
        k, s, d = _kernel_strides_dilation(args, rank)
        groups = _positive_int(arg(args, "groups", 1), "groups")
        padding = _padding(args, ("valid", "same", "causal") if rank == 1 else ("valid", "same"))
        _positive_int(filters, "filters")
        _check_strides_dilation(s, d)
        cin = _known_channels(shape, f"Conv{rank}D")
        if cin % groups or filters % groups:
            raise ShapeError(
                f"the number of input channels ({cin}) and filters ({filters}) must be "
                f"divisible by groups ({groups})"
            )
        spatial, k_eff = _output_grid(shape, k, s, d, padding)
        kvol = math.prod(k)
        params = kvol * (cin // groups) * filters + (filters if _bias(args) else 0)
        macs = _macs(*spatial, filters, kvol * (cin // groups))
        return Result(spatial + (filters,), params, 0, macs, k_eff, s, "window")

    return rule


def _deconv_length(n, k, padding, output_padding, s, d):
    if n is None:
        return None
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        if padding == "valid":
            return n * s + max(k - s, 0)
        return n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def conv_transpose(rank: int):
    """Conv1DTranspose/2D/3D."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"Conv{rank}DTranspose")
        filters = arg(args, "filters")
        k, s, d = _kernel_strides_dilation(args, rank)
        _check_strides_dilation(s, d)
        if max(d) > 1:
            raise Unportable(
                f"Conv{rank}DTranspose with dilation_rate {list(d)}: TensorFlow has no CPU kernel "
                "for a dilated transposed convolution (it builds, then fails in the forward pass)",
                hint="use dilation_rate: 1, or full_conv2d (a full convolution, dilation allowed)"
                if rank == 2 else "use dilation_rate: 1", arg="dilation_rate")
        op = arg(args, "output_padding", None)
        op = ntuple(op, rank, "output_padding", minimum=0) if op is not None else (None,) * rank
        if any(opi is not None and opi >= si for opi, si in zip(op, s)):  # Keras' check
            raise ShapeError(
                f"`output_padding` must be smaller than `strides`, got output_padding="
                f"{list(op)} and strides={list(s)}"
            )
        padding = _padding(args)
        if padding == "same" and any(opi == 0 and ki % 2 == 0 for opi, ki in zip(op, k)):
            # Keras computes (n - 1) * strides for this output; TensorFlow's kernel insists on
            # n * strides with "same" padding and fails in the forward pass (on every machine)
            raise ShapeError(
                f"`output_padding` 0 with an even kernel_size {list(k)} and padding same gives an "
                "output one step shorter than TensorFlow's transposed-convolution kernel computes: "
                "it fails in the forward pass",
                hint="leave output_padding out, or use an odd kernel_size", arg="output_padding")
        cin = _known_channels(shape, f"Conv{rank}DTranspose")
        spatial = tuple(
            _deconv_length(n, ki, padding, opi, si, di)
            for n, ki, opi, si, di in zip(shape[:-1], k, op, s, d)
        )
        _check_positive(spatial, shape[:-1], "transposed convolution", k)
        kvol = math.prod(k)
        params = kvol * cin * filters + (filters if _bias(args) else 0)
        macs = _macs(*shape[:-1], cin, kvol, filters)
        return Result(spatial + (filters,), params, 0, macs, None, s, "up")

    return rule


def _depthwise_window(args: dict, shapes: Sequence[Shape], rank: int, name: str) -> tuple:
    """What depthwise and separable convolutions share: input channels, depth multiplier, output
    grid, effective kernel, strides and kernel volume."""
    _channels_last(args)
    shape = _one(shapes, rank + 1, name)
    k, s, d = _kernel_strides_dilation(args, rank)
    _check_depthwise_strides(s, d, name)
    mult = arg(args, "depth_multiplier", 1)
    spatial, k_eff = _output_grid(shape, k, s, d, _padding(args))
    return shape[-1], mult, spatial, k_eff, s, math.prod(k)


def depthwise_conv(rank: int):
    """DepthwiseConv1D/2D."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        cin, mult, spatial, k_eff, s, kvol = _depthwise_window(args, shapes, rank, f"DepthwiseConv{rank}D")
        cout = cin * mult
        params = kvol * cout + (cout if _bias(args) else 0)
        return Result(spatial + (cout,), params, 0, _macs(*spatial, cout, kvol), k_eff, s, "window")

    return rule


def separable_conv(rank: int):
    """SeparableConv1D/2D: depthwise then pointwise."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        filters = arg(args, "filters")
        cin, mult, spatial, k_eff, s, kvol = _depthwise_window(args, shapes, rank, f"SeparableConv{rank}D")
        params = kvol * cin * mult + cin * mult * filters + (filters if _bias(args) else 0)
        macs = _macs(*spatial, cin * mult * (kvol + filters))
        return Result(spatial + (filters,), params, 0, macs, k_eff, s, "window")

    return rule


#: The convolution ops (Keras' other names of these classes, ``Convolution2D`` & co., follow).
OPS = [
    keras_op("Conv1D", rule=conv(1)),
    keras_op("Conv2D", rule=conv(2)),
    keras_op("Conv3D", rule=conv(3)),
    keras_op("Conv1DTranspose", rule=conv_transpose(1)),
    keras_op("Conv2DTranspose", rule=conv_transpose(2)),
    keras_op("Conv3DTranspose", rule=conv_transpose(3)),
    keras_op("DepthwiseConv1D", rule=depthwise_conv(1)),
    keras_op("DepthwiseConv2D", rule=depthwise_conv(2)),
    keras_op("SeparableConv1D", rule=separable_conv(1)),
    keras_op("SeparableConv2D", rule=separable_conv(2)),
]
