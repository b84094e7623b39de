"""Shape, parameter and MAC rules for archspec's own layers (:mod:`archspec.layers`), pure Python.

Each rule follows the contract in :mod:`archspec.ops.base`; ``tests/ops/test_custom_rules.py``
checks them against the layers' ``compute_output_shape`` and ``count_params``. The op registry
(:mod:`archspec.ops`) reads three tables from here:

- :data:`RULES`: op name (the snake-case class name) -> rule;
- :data:`LAYERS`: op name -> class name in ``archspec.layers``;
- :data:`ARGS` / :data:`REQUIRED`: the keyword arguments each class accepts / requires.

MACs are those of the operation itself, per sample: TiledConv2D's Keras implementation
computes ``tile_rows * tile_cols`` times more (it convolves with every tile's kernels).
This module must not import Keras, TensorFlow or NumPy.
"""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import NoRule, Result, Shape, ShapeError, arg, ntuple, prod
from archspec.ops.rules import RULES as STANDARD_RULES

#: The fixed kernels of FixedFilter2D by name (all 3 x 3); ``archspec.layers.fixed_filter.KERNELS``.
FIXED_KERNEL_NAMES = (
    "vertical_edge", "horizontal_edge", "sobel_x", "sobel_y", "scharr_x", "scharr_y", "laplacian",
)


# --------------------------------------------------------------------------- helpers
def _image(shapes: Sequence[Shape], name: str) -> tuple:
    """The one (rows, cols, channels) input of a 2D layer, channels known."""
    if len(shapes) != 1:
        raise ShapeError(f"{name} takes one input, got {len(shapes)}")
    shape = tuple(shapes[0])
    if len(shape) != 3:
        dims = ", ".join("None" if v is None else str(v) for v in shape)
        raise ShapeError(
            f"{name} expects an input of rank 4 (batch, rows, cols, channels), "
            f"got rank {len(shape) + 1}: (batch, {dims})",
            hint="check the output of the layer before it",
        )
    if shape[-1] is None:
        raise ShapeError(f"the channel dimension of the input to {name} must be known")
    return shape


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"`{name}` must be a positive integer, got {value!r}")
    return value


def _choice(args: dict, name: str, default: str, choices: tuple) -> str:
    value = arg(args, name, default)
    if not isinstance(value, str) or value.lower() not in choices:
        raise ShapeError(f"`{name}` must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _length(n, k: int, s: int, padding: str):
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1


def _grid(shape, k, s, padding: str, name: str) -> tuple:
    out = tuple(_length(n, ki, si, padding) for n, ki, si in zip(shape[:2], k, s))
    for o, n, ki in zip(out, shape[:2], k):
        if o is not None and o <= 0:
            raise ShapeError(
                f"the {name} window ({ki}) is larger than its input ({n}): the output size "
                f"would be {o}",
                hint="use a smaller window or a larger input",
            )
    return out


def _window_args(args: dict, key: str) -> tuple[tuple, tuple]:
    k = ntuple(arg(args, key), 2, key)
    s = ntuple(arg(args, "strides", 1), 2, "strides")
    for name, value in ((key, k), ("strides", s)):
        if any(v < 1 for v in value):
            raise ShapeError(f"`{name}` must be positive, got {value!r}")
    return k, s


# --------------------------------------------------------------------------- rules
def local_response_normalization(args: dict, shapes: Sequence[Shape]) -> Result:
    """LRN (AlexNet): same shape, no parameters; ``size`` MACs per value (sum of squares)."""
    if len(shapes) != 1:
        raise ShapeError(f"LocalResponseNormalization takes one input, got {len(shapes)}")
    shape = tuple(shapes[0])
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
    filters = _positive(arg(args, "filters"), "filters")
    k, s = _window_args(args, "kernel_size")
    padding = _choice(args, "padding", "valid", ("valid", "same"))
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
    filters = _positive(arg(args, "filters"), "filters")
    k, s = _window_args(args, "kernel_size")
    t = ntuple(arg(args, "tile_size"), 2, "tile_size")
    if any(v < 1 for v in t):
        raise ShapeError(f"`tile_size` must be positive, got {t!r}")
    padding = _choice(args, "padding", "valid", ("valid", "same"))
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
    padding = _choice(args, "padding", "valid", ("valid", "same"))
    channels = _choice(args, "channels", "depthwise", ("depthwise", "sum"))
    out = _grid(shape, k, s, padding, "FixedFilter2D")
    cout = 1 if channels == "sum" else shape[-1]
    macs = prod((*out, shape[-1], k[0] * k[1]))
    return Result(out + (cout,), 0, k[0] * k[1], macs, k, s, "window")


def full_conv2d(args: dict, shapes: Sequence[Shape]) -> Result:
    """Conv2D on the input zero-padded by (k - 1) * dilation on each side."""
    if "padding" in args:
        raise ShapeError("FullConv2D takes no `padding` argument (it always pads fully)",
                         hint="use conv2d for valid or same padding")
    if args.get("data_format") not in (None, "channels_last"):
        raise NoRule(f"data_format={args['data_format']!r}")
    shape = _image(shapes, "FullConv2D")
    k = ntuple(arg(args, "kernel_size"), 2, "kernel_size")
    d = ntuple(arg(args, "dilation_rate", 1), 2, "dilation_rate")
    padded = tuple(None if n is None else n + 2 * (ki - 1) * di for n, ki, di in zip(shape, k, d))
    return STANDARD_RULES["conv2d"](args, [padded + (shape[-1],)])


def zero_pad_shortcut(args: dict, shapes: Sequence[Shape]) -> Result:
    """ResNet option A: subsample by ``strides``, zero-pad the channels to ``filters``."""
    shape = _image(shapes, "ZeroPadShortcut")
    filters = _positive(arg(args, "filters"), "filters")
    s = ntuple(arg(args, "strides", 1), 2, "strides")
    if any(v < 1 for v in s):
        raise ShapeError(f"`strides` must be positive, got {s!r}")
    if shape[-1] > filters:
        raise ShapeError(
            f"a zero-padding shortcut can only add channels: the input has {shape[-1]}, "
            f"`filters` is {filters}",
            hint="use a projection shortcut (1x1 convolution) to reduce channels",
        )
    out = tuple(None if n is None else -(-n // si) for n, si in zip(shape[:2], s))
    return Result(out + (filters,), window=(1, 1), strides=s, rf="window")


# --------------------------------------------------------------------------- tables
RULES = {
    "local_response_normalization": local_response_normalization,
    "stochastic_pooling2d": stochastic_pooling2d,
    "locally_connected2d": locally_connected2d,
    "tiled_conv2d": tiled_conv2d,
    "fixed_filter2d": fixed_filter2d,
    "full_conv2d": full_conv2d,
    "zero_pad_shortcut": zero_pad_shortcut,
}

LAYERS = {
    "local_response_normalization": "LocalResponseNormalization",
    "stochastic_pooling2d": "StochasticPooling2D",
    "locally_connected2d": "LocallyConnected2D",
    "tiled_conv2d": "TiledConv2D",
    "fixed_filter2d": "FixedFilter2D",
    "full_conv2d": "FullConv2D",
    "zero_pad_shortcut": "ZeroPadShortcut",
}

_BASE = ["name", "dtype", "trainable", "autocast", "activity_regularizer"]
_WEIGHTS = ["activation", "use_bias", "kernel_initializer", "bias_initializer",
            "kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"]

ARGS = {
    "local_response_normalization": ["size", "alpha", "beta", "bias", *_BASE],
    "stochastic_pooling2d": ["pool_size", "strides", "seed", *_BASE],
    "locally_connected2d": ["filters", "kernel_size", "strides", "padding", *_WEIGHTS, *_BASE],
    "tiled_conv2d": ["filters", "kernel_size", "tile_size", "strides", "padding", *_WEIGHTS, *_BASE],
    "fixed_filter2d": ["kernel", "channels", "strides", "padding", *_BASE],
    "full_conv2d": ["filters", "kernel_size", "strides", "data_format", "dilation_rate", "groups",
                    *_WEIGHTS, *_BASE],
    "zero_pad_shortcut": ["filters", "strides", *_BASE],
}

REQUIRED = {
    "local_response_normalization": [],
    "stochastic_pooling2d": [],
    "locally_connected2d": ["filters", "kernel_size"],
    "tiled_conv2d": ["filters", "kernel_size", "tile_size"],
    "fixed_filter2d": ["kernel"],
    "full_conv2d": ["filters", "kernel_size"],
    "zero_pad_shortcut": ["filters"],
}
