"""Convolutions: Conv1D/2D/3D, transposed, depthwise and separable (Keras' formulas)."""

from __future__ import annotations

import math
from typing import Sequence

from archspec.analyze.base import Result, Shape, ShapeError, arg, ntuple, short
from archspec.analyze.rules._common import (
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
        op = arg(args, "output_padding", None)
        op = ntuple(op, rank, "output_padding", minimum=0) if op is not None else (None,) * rank
        if any(opi is not None and opi >= si for opi, si in zip(op, s)):  # Keras' check
            raise ShapeError(
                f"`output_padding` must be smaller than `strides`, got output_padding="
                f"{list(op)} and strides={list(s)}"
            )
        padding = _padding(args)
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
        mult = arg(args, "depth_multiplier", 1)
        padding = _padding(args)
        cin = shape[-1]
        spatial, k_eff = _output_grid(shape, k, s, d, padding)
        kvol = math.prod(k)
        params = kvol * cin * mult + cin * mult * filters + (filters if _bias(args) else 0)
        macs = _macs(*spatial, cin * mult * (kvol + filters))
        return Result(spatial + (filters,), params, 0, macs, k_eff, s, "window")

    return rule
