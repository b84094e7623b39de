"""Convolution with a connection table (which input maps feed which output maps), as in LeCun et
al. 1989 and LeNet-5's C3: analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.tables``), each one full OpDef.

TableConv2D (:mod:`archspec.layers.tables`): output map ``j`` reads the input maps ``table[j]``
through one kh x kw kernel each, so ``params = kh * kw * connections + biases`` (one per map, or
one per output unit with ``unit_bias``) and ``MACs = out_rows * out_cols * kh * kw *
connections``. A bad table entry is a located error at the table, naming the entry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, arg, ntuple, short
from archspec.ops.rules._common import _bias, _check_positive, _conv_length, _known_channels, _one, _padding
from archspec.ops.rules.custom import _WEIGHTS, layer_op


def _table(value, in_maps: int) -> tuple:
    """The connection table ``value``, checked against ``in_maps`` input maps."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ShapeError(f"`table` must be a non-empty list with one list of input maps per output map, "
                         f"got {short(value)}", arg="table")
    for j, inputs in enumerate(value):
        if not isinstance(inputs, (list, tuple)) or not inputs or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in inputs):
            raise ShapeError(f"table[{j}] (the input maps of output map {j}) must be a non-empty list of "
                             f"input-map indices >= 0, got {short(inputs)}", arg="table")
        if len(set(inputs)) != len(inputs):
            raise ShapeError(f"table[{j}] lists an input map twice: {short(inputs)}", arg="table")
        if max(inputs) >= in_maps:
            raise ShapeError(f"table[{j}] reads input map {max(inputs)}, but the input has {in_maps} maps "
                             f"(0 to {in_maps - 1})", arg="table",
                             hint="input maps are numbered from 0")
    return tuple(tuple(inputs) for inputs in value)


def table_conv2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """TableConv2D: a convolution whose output map j reads only the input maps ``table[j]``."""
    shape = _one(shapes, 3, "TableConv2D")
    cin = _known_channels(shape, "TableConv2D")
    table = _table(arg(args, "table"), cin)
    k = ntuple(arg(args, "kernel_size"), 2, "kernel_size")
    s = ntuple(arg(args, "strides", 1), 2, "strides")
    padding = _padding(args)
    out = tuple(_conv_length(n, ki, si, 1, padding) for n, ki, si in zip(shape[:2], k, s))
    _check_positive(out, shape[:2], "convolution", k)
    filters, connections = len(table), sum(len(inputs) for inputs in table)
    biases = 0
    if arg(args, "unit_bias", False):
        if not _bias(args):
            raise ShapeError("`unit_bias: true` needs `use_bias: true`", arg="unit_bias")
        if None in out:
            raise ShapeError("`unit_bias: true` gives every output position its own bias: the input "
                             "rows and cols must be known", hint="give the input a fixed size", arg="unit_bias")
        biases = out[0] * out[1] * filters
    elif _bias(args):
        biases = filters
    macs = None if None in out else out[0] * out[1] * k[0] * k[1] * connections
    return Result(out + (filters,), k[0] * k[1] * connections + biases, 0, macs, k, s, "window")


OPS: list = []
LAYER_OPS: list = [
    replace(layer_op("TableConv2D", table_conv2d,
                     ("table", "kernel_size", "strides", "padding", "unit_bias", *_WEIGHTS), ("table", "kernel_size")),
            bools=("use_bias", "unit_bias")),
]
