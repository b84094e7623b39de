"""Convolutions: Conv1D/2D/3D, transposed, depthwise and separable (Keras' formulas)."""

from __future__ import annotations

import math
from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, Unportable, arg, ntuple, short
from archspec.ops.rules._common import (
    _bias, _channels_last, _check_positive, _check_strides_dilation, _conv_length, _macs, _one, _padding,
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
        groups = arg(args, "groups", 1)
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ShapeError(f"`groups` must be a positive integer, got {short(groups)}", arg="groups")
        padding = _padding(args, ("valid", "same", "causal") if rank == 1 else ("valid", "same"))
        if not isinstance(filters, int) or filters <= 0:
            raise ShapeError(f"`filters` must be a positive integer, got {short(filters)}", arg="filters")
        _check_strides_dilation(s, d)
        cin = shape[-1]
        if cin is None:
            raise ShapeError("the channel dimension of the input must be known")
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
        cin = shape[-1]
        if cin is None:
            raise ShapeError("the channel dimension of the input must be known")
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


def depthwise_conv(rank: int):
    """DepthwiseConv1D/2D."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"DepthwiseConv{rank}D")
        k, s, d = _kernel_strides_dilation(args, rank)
        _check_depthwise_strides(s, d, f"DepthwiseConv{rank}D")
        mult = arg(args, "depth_multiplier", 1)
        padding = _padding(args)
        cin = shape[-1]
        spatial, k_eff = _output_grid(shape, k, s, d, padding)
        kvol = math.prod(k)
        cout = cin * mult
        params = kvol * cout + (cout if _bias(args) else 0)
        return Result(spatial + (cout,), params, 0, _macs(*spatial, cout, kvol), k_eff, s, "window")

    return rule


def separable_conv(rank: int):
    """SeparableConv1D/2D: depthwise then pointwise."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"SeparableConv{rank}D")
        filters = arg(args, "filters")
        k, s, d = _kernel_strides_dilation(args, rank)
        _check_depthwise_strides(s, d, f"SeparableConv{rank}D")
        mult = arg(args, "depth_multiplier", 1)
        padding = _padding(args)
        cin = shape[-1]
        spatial, k_eff = _output_grid(shape, k, s, d, padding)
        kvol = math.prod(k)
        params = kvol * cin * mult + cin * mult * filters + (filters if _bias(args) else 0)
        macs = _macs(*spatial, cin * mult * (kvol + filters))
        return Result(spatial + (filters,), params, 0, macs, k_eff, s, "window")

    return rule
