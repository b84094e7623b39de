"""archspec's own layers (:mod:`archspec.layers`) as ops: their rules and definitions, pure Python.

Each layer is one :class:`~archspec.ops.opdef.OpDef` in :data:`OPS` (made by :func:`layer_op`):
its class name in ``archspec.layers``, its analyzer rule, the keyword arguments it accepts and
requires, and any op-name aliases. Adding a layer to ``archspec.layers`` means adding its entry
here; ``tests/ops/test_custom_rules.py`` checks each entry against the class (arguments,
serialization) and each rule against the layer's ``compute_output_shape`` and ``count_params``.

Each rule follows the contract in :mod:`archspec.ops.base`. MACs are those of the operation
itself, per sample: TiledConv2D's Keras implementation computes ``tile_rows * tile_cols`` times
more (it convolves with every tile's kernels). This module must not import Keras, TensorFlow or
NumPy.
"""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import Result, Rule, Shape, ShapeError, arg, ntuple, prod
from archspec.ops.opdef import BASE_ARGS, OpDef, snake_case
from archspec.ops.rules._common import (
    _channels_last, _check_positive, _choice, _conv_length, _known_channels, _one, _padding, _positive_int,
)
from archspec.ops.rules.conv import conv

#: The fixed kernels of FixedFilter2D by name (all 3 x 3); ``archspec.layers.fixed_filter.KERNELS``.
FIXED_KERNEL_NAMES = (
    "vertical_edge", "horizontal_edge", "sobel_x", "sobel_y", "scharr_x", "scharr_y", "laplacian",
)


# --------------------------------------------------------------------------- helpers
def _image(shapes: Sequence[Shape], name: str) -> tuple:
    """The one (rows, cols, channels) input of a 2D layer, channels known."""
    shape = _one(shapes, 3, name)
    _known_channels(shape, name)
    return shape


def _grid(shape, k, s, padding: str, name: str) -> tuple:
    """The (rows, cols) a window of size ``k`` and strides ``s`` slides over; refuses none."""
    out = tuple(_conv_length(n, ki, si, 1, padding) for n, ki, si in zip(shape[:2], k, s))
    _check_positive(out, shape[:2], name, k, hint="use a smaller window or a larger input")
    return out


def _window_args(args: dict, key: str) -> tuple[tuple, tuple]:
    return ntuple(arg(args, key), 2, key), ntuple(arg(args, "strides", 1), 2, "strides")


# --------------------------------------------------------------------------- rules
def local_response_normalization(args: dict, shapes: Sequence[Shape]) -> Result:
    """LRN (AlexNet): same shape, no parameters; ``size`` MACs per value (sum of squares)."""
    shape = _one(shapes, None, "LocalResponseNormalization")
    size = arg(args, "size", 5)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ShapeError(f"`size` must be a positive odd integer, got {size!r}")
    if not shape or shape[-1] is None:
        raise ShapeError("LocalResponseNormalization needs a known last (channel) dimension")
    values = prod(shape)
    return Result(shape, macs=None if values is None else size * values)


def stochastic_pooling2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """Stochastic pooling: valid windows; MACs of the inference-time weighted average."""
    shape = _image(shapes, "StochasticPooling2D")
    p = ntuple(arg(args, "pool_size", 2), 2, "pool_size")
    strides = arg(args, "strides", None)
    s = p if strides is None else ntuple(strides, 2, "strides")
    out = _grid(shape, p, s, "valid", "pooling")
    macs = prod((*out, shape[-1], p[0] * p[1]))
    return Result(out + (shape[-1],), macs=macs, window=p, strides=s, rf="window")


def locally_connected2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """Unshared convolution: one kernel and one bias per output position."""
    shape = _image(shapes, "LocallyConnected2D")
    filters = _positive_int(arg(args, "filters"), "filters")
    k, s = _window_args(args, "kernel_size")
    padding = _padding(args)
    if shape[0] is None or shape[1] is None:
        raise ShapeError("LocallyConnected2D has one kernel per output position: the input rows "
                         "and cols must be known", hint="give the input a fixed size")
    out = _grid(shape, k, s, padding, "LocallyConnected2D")
    cin = shape[-1]
    per_position = k[0] * k[1] * cin * filters + (filters if arg(args, "use_bias", True) else 0)
    params = out[0] * out[1] * per_position
    macs = out[0] * out[1] * filters * k[0] * k[1] * cin
    return Result(out + (filters,), params, 0, macs, k, s, "window")


def tiled_conv2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """Tiled convolution: tile_rows x tile_cols kernel sets (and biases) cycled over positions."""
    shape = _image(shapes, "TiledConv2D")
    filters = _positive_int(arg(args, "filters"), "filters")
    k, s = _window_args(args, "kernel_size")
    t = ntuple(arg(args, "tile_size"), 2, "tile_size")
    padding = _padding(args)
    out = _grid(shape, k, s, padding, "TiledConv2D")
    cin = shape[-1]
    per_tile = k[0] * k[1] * cin * filters + (filters if arg(args, "use_bias", True) else 0)
    macs = prod((*out, filters, k[0] * k[1] * cin))
    return Result(out + (filters,), t[0] * t[1] * per_tile, 0, macs, k, s, "window")


def _fixed_kernel_size(kernel) -> tuple[int, int]:
    if isinstance(kernel, str):
        if kernel.lower() not in FIXED_KERNEL_NAMES:
            raise ShapeError(f"unknown fixed kernel {kernel!r}",
                             hint="one of " + ", ".join(FIXED_KERNEL_NAMES) + ", or a 2D list")
        return (3, 3)
    ok = isinstance(kernel, (list, tuple)) and len(kernel) > 0 and all(
        isinstance(r, (list, tuple)) and len(r) == len(kernel[0]) > 0
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r)
        for r in kernel
    )
    if not ok:
        raise ShapeError(f"`kernel` must be a kernel name or a rectangular 2D list of numbers, "
                         f"got {kernel!r}")
    return (len(kernel), len(kernel[0]))


def fixed_filter2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """A fixed kernel: kh * kw non-trainable parameters; depthwise or summed to one channel."""
    shape = _image(shapes, "FixedFilter2D")
    k = _fixed_kernel_size(arg(args, "kernel"))
    s = ntuple(arg(args, "strides", 1), 2, "strides")
    padding = _padding(args)
    channels = _choice(args, "channels", "depthwise", ("depthwise", "sum"))
    out = _grid(shape, k, s, padding, "FixedFilter2D")
    cout = 1 if channels == "sum" else shape[-1]
    macs = prod((*out, shape[-1], k[0] * k[1]))
    return Result(out + (cout,), 0, k[0] * k[1], macs, k, s, "window")


_conv2d = conv(2)


def full_conv2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """Conv2D on the input zero-padded by (k - 1) * dilation on each side."""
    if "padding" in args:
        raise ShapeError("FullConv2D takes no `padding` argument (it always pads fully)",
                         hint="use conv2d for valid or same padding")
    _channels_last(args)
    shape = _image(shapes, "FullConv2D")
    k = ntuple(arg(args, "kernel_size"), 2, "kernel_size")
    d = ntuple(arg(args, "dilation_rate", 1), 2, "dilation_rate")
    padded = tuple(None if n is None else n + 2 * (ki - 1) * di for n, ki, di in zip(shape, k, d))
    return _conv2d(args, [padded + (shape[-1],)])


def zero_pad_shortcut(args: dict, shapes: Sequence[Shape]) -> Result:
    """ResNet option A: subsample by ``strides``, zero-pad the channels to ``filters``."""
    shape = _image(shapes, "ZeroPadShortcut")
    filters = _positive_int(arg(args, "filters"), "filters")
    s = ntuple(arg(args, "strides", 1), 2, "strides")
    if shape[-1] > filters:
        raise ShapeError(
            f"a zero-padding shortcut can only add channels: the input has {shape[-1]}, "
            f"`filters` is {filters}",
            hint="use a projection shortcut (1x1 convolution) to reduce channels",
        )
    out = tuple(None if n is None else -(-n // si) for n, si in zip(shape[:2], s))
    return Result(out + (filters,), window=(1, 1), strides=s, rf="window")


# --------------------------------------------------------------------------- op definitions
_WEIGHTS = ("activation", "use_bias", "kernel_initializer", "bias_initializer",
            "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint")


def layer_op(cls: str, rule: Rule, args: tuple, required: tuple = (), aliases: tuple = (),
             call_args: tuple = (), bools: tuple = ()) -> OpDef:
    """The op of ``archspec.layers.<cls>``: its own arguments, then those of every Keras layer;
    ``call_args`` are given to the layer's call (``reverse``), not to its constructor."""
    return OpDef(snake_case(cls), cls, "archspec.layers", args=(*args, *call_args, *BASE_ARGS),
                 required=required, rule=rule, aliases=aliases, call_args=call_args, bools=bools)


OPS = [
    layer_op("LocalResponseNormalization", local_response_normalization,
             ("size", "alpha", "beta", "bias"), aliases=("lrn",)),
    layer_op("StochasticPooling2D", stochastic_pooling2d, ("pool_size", "strides", "seed")),
    layer_op("LocallyConnected2D", locally_connected2d,
             ("filters", "kernel_size", "strides", "padding", *_WEIGHTS), ("filters", "kernel_size")),
    layer_op("TiledConv2D", tiled_conv2d,
             ("filters", "kernel_size", "tile_size", "strides", "padding", *_WEIGHTS),
             ("filters", "kernel_size", "tile_size")),
    layer_op("FixedFilter2D", fixed_filter2d, ("kernel", "channels", "strides", "padding"), ("kernel",)),
    layer_op("FullConv2D", full_conv2d,
             ("filters", "kernel_size", "strides", "data_format", "dilation_rate", "groups", *_WEIGHTS),
             ("filters", "kernel_size")),
    layer_op("ZeroPadShortcut", zero_pad_shortcut, ("filters", "strides"), ("filters",)),
]
