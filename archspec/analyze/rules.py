"""Shape, parameter and MAC rules for the standard Keras layers (pure Python, no TF).

Each rule follows the contract in :mod:`archspec.analyze.base`. The formulas are Keras'
own (``keras/src/ops/operation_utils.py``: ``compute_conv_output_shape``,
``compute_pooling_output_shape``, ``deconv_output_length``); ``tests/test_analyze_vs_keras.py``
proves them equal to Keras on hundreds of random configurations. Only ``channels_last`` is
analyzed here; other data formats fall back to Keras (:class:`NoRule`).
"""

from __future__ import annotations

import math
from typing import Sequence

from archspec.analyze.base import NoRule, Result, Shape, ShapeError, arg, ntuple, prod, short


# --------------------------------------------------------------------------- helpers
def _one(shapes: Sequence[Shape], rank: int | None = None, name: str = "this layer") -> Shape:
    if len(shapes) != 1:
        raise ShapeError(f"{name} takes one input, got {len(shapes)}")
    shape = tuple(shapes[0])
    if rank is not None and len(shape) != rank:
        raise ShapeError(
            f"{name} expects an input of rank {rank + 1} (batch, {_dims(rank)}), "
            f"got rank {len(shape) + 1}: (batch, {', '.join(map(_dim, shape))})",
            hint="check the layer's dimensionality (1D/2D/3D) and the output of the layer before it",
        )
    return shape


def _dims(rank: int) -> str:
    return ", ".join(["spatial"] * (rank - 1) + ["channels"])


def _dim(v) -> str:
    return "None" if v is None else str(v)


def _channels_last(args: dict) -> None:
    fmt = args.get("data_format")
    if fmt not in (None, "channels_last"):
        raise NoRule(f"data_format={fmt!r}")


def _padding(args: dict, allowed=("valid", "same")) -> str:
    padding = arg(args, "padding", "valid")
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ShapeError(f"`padding` must be one of {', '.join(allowed)}, got {short(padding)}", arg="padding")
    return padding.lower()


def _conv_length(n, k, s, d, padding):
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // s)
    out = (n - d * (k - 1) - 1) // s + 1
    return out


def _check_positive(out_spatial, in_spatial, what: str, k_eff):
    for o, i, k in zip(out_spatial, in_spatial, k_eff):
        if o is not None and o <= 0:
            raise ShapeError(
                f"the {what} window ({k}) is larger than its input ({i}): the output size "
                f"would be {o}",
                hint="use padding: same, a smaller kernel/pool, or a larger input",
            )


def _check_strides_dilation(s, d) -> None:
    # Keras' check in base_conv.py and base_conv_transpose.py (depthwise/separable layers lack it)
    if max(s) > 1 and max(d) > 1:
        raise ShapeError("`strides` > 1 together with `dilation_rate` > 1 is not supported")


def _bias(args: dict) -> bool:
    return bool(arg(args, "use_bias", True))


def _macs(*factors):
    value = prod(factors)
    return value


# --------------------------------------------------------------------------- convolution
def conv(rank: int):
    """Conv1D/2D/3D (groups, dilation, valid/same/causal)."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"Conv{rank}D")
        filters = arg(args, "filters")
        k = ntuple(arg(args, "kernel_size"), rank, "kernel_size")
        s = ntuple(arg(args, "strides", 1), rank, "strides")
        d = ntuple(arg(args, "dilation_rate", 1), rank, "dilation_rate")
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
        spatial = tuple(_conv_length(n, ki, si, di, padding) for n, ki, si, di in zip(shape[:-1], k, s, d))
        k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        _check_positive(spatial, shape[:-1], "convolution", k_eff)
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
        k = ntuple(arg(args, "kernel_size"), rank, "kernel_size")
        s = ntuple(arg(args, "strides", 1), rank, "strides")
        d = ntuple(arg(args, "dilation_rate", 1), rank, "dilation_rate")
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
        k = ntuple(arg(args, "kernel_size"), rank, "kernel_size")
        s = ntuple(arg(args, "strides", 1), rank, "strides")
        d = ntuple(arg(args, "dilation_rate", 1), rank, "dilation_rate")
        mult = arg(args, "depth_multiplier", 1)
        padding = _padding(args)
        cin = shape[-1]
        spatial = tuple(_conv_length(n, ki, si, di, padding) for n, ki, si, di in zip(shape[:-1], k, s, d))
        k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        _check_positive(spatial, shape[:-1], "convolution", k_eff)
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
        k = ntuple(arg(args, "kernel_size"), rank, "kernel_size")
        s = ntuple(arg(args, "strides", 1), rank, "strides")
        d = ntuple(arg(args, "dilation_rate", 1), rank, "dilation_rate")
        mult = arg(args, "depth_multiplier", 1)
        padding = _padding(args)
        cin = shape[-1]
        spatial = tuple(_conv_length(n, ki, si, di, padding) for n, ki, si, di in zip(shape[:-1], k, s, d))
        k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        _check_positive(spatial, shape[:-1], "convolution", k_eff)
        kvol = math.prod(k)
        params = kvol * cin * mult + cin * mult * filters + (filters if _bias(args) else 0)
        macs = _macs(*spatial, cin * mult * (kvol + filters))
        return Result(spatial + (filters,), params, 0, macs, k_eff, s, "window")

    return rule


# --------------------------------------------------------------------------- pooling
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


# --------------------------------------------------------------------------- dense & co
def dense(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "Dense")
    units = arg(args, "units")
    if not isinstance(units, int) or units <= 0:
        raise ShapeError(f"`units` must be a positive integer, got {short(units)}", arg="units")
    if not shape:
        raise ShapeError("Dense needs an input with at least one feature axis")
    fin = shape[-1]
    if fin is None:
        raise ShapeError(
            "the last dimension of the input to Dense must be known",
            hint="with a variable-size input, `flatten` has an unknown size: use global pooling "
            "(global_average_pooling2d) or adaptive pooling to a fixed grid before the dense "
            "layers" if len(shape) == 1 else "add a `flatten` or global pooling before the dense layers",
        )
    params = fin * units + (units if _bias(args) else 0)
    return Result(shape[:-1] + (units,), params, 0, _macs(*shape[:-1], fin, units), rf="same")


def embedding(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "Embedding")
    dim_in, dim_out = arg(args, "input_dim"), arg(args, "output_dim")
    return Result(tuple(shape) + (dim_out,), dim_in * dim_out, 0, 0)


def _axis_size(shape: Shape, axis, name: str) -> int:
    if isinstance(axis, (list, tuple)):
        return prod(_axis_size(shape, a, name) for a in axis)
    if not isinstance(axis, int) or not -len(shape) - 1 <= axis <= len(shape):
        raise ShapeError(f"invalid `axis` {short(axis)} for an input of rank {len(shape) + 1}", arg="axis")
    if axis == 0 or axis == -len(shape) - 1:
        raise NoRule("normalization over the batch axis")
    size = shape[axis - 1] if axis > 0 else shape[axis]
    if size is None:
        raise ShapeError(f"the normalized axis of {name} must have a known size")
    return size


def batch_norm(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "BatchNormalization")
    c = _axis_size(shape, arg(args, "axis", -1), "BatchNormalization")
    trainable = c * (int(bool(arg(args, "center", True))) + int(bool(arg(args, "scale", True))))
    if arg(args, "renorm", False):
        raise NoRule("renorm")
    return Result(tuple(shape), trainable, 2 * c)


def layer_norm(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "LayerNormalization")
    c = _axis_size(shape, arg(args, "axis", -1), "LayerNormalization")
    if arg(args, "rms_scaling", False):
        return Result(tuple(shape), c)
    n = int(bool(arg(args, "center", True))) + int(bool(arg(args, "scale", True)))
    return Result(tuple(shape), n * c)


def group_norm(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "GroupNormalization")
    c = _axis_size(shape, arg(args, "axis", -1), "GroupNormalization")
    n = int(bool(arg(args, "center", True))) + int(bool(arg(args, "scale", True)))
    return Result(tuple(shape), n * c)


def prelu(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "PReLU")
    shared = arg(args, "shared_axes", None) or []
    shared = [shared] if isinstance(shared, int) else list(shared)
    dims = [1 if (i + 1) in shared else v for i, v in enumerate(shape)]
    n = prod(dims)
    if n is None:
        raise NoRule("PReLU over an unknown dimension")
    return Result(tuple(shape), n)


def same_shape(args: dict, shapes: Sequence[Shape]) -> Result:
    """Element-wise layers: activations, dropout, noise, rescaling, random augmentations."""
    return Result(tuple(_one(shapes)))


def flatten(args: dict, shapes: Sequence[Shape]) -> Result:
    _channels_last(args)
    shape = _one(shapes, None, "Flatten")
    return Result((prod(shape),), rf="global")


def reshape(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "Reshape")
    target = list(arg(args, "target_shape"))
    total = prod(shape)
    unknown = [i for i, v in enumerate(target) if v == -1]
    if len(unknown) > 1:
        raise ShapeError("`target_shape` may contain at most one -1")
    known = math.prod(v for v in target if v != -1)
    if unknown:
        if total is None:
            target[unknown[0]] = None
        elif known == 0 or total % known:
            raise ShapeError(f"cannot reshape {total} values into {tuple(arg(args, 'target_shape'))}")
        else:
            target[unknown[0]] = total // known
    elif total is not None and total != known:
        raise ShapeError(
            f"cannot reshape an input of {total} values (shape {tuple(shape)}) into "
            f"{tuple(target)} ({known} values)"
        )
    return Result(tuple(target), rf="global")


def permute(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, None, "Permute")
    dims = arg(args, "dims")
    if sorted(dims) != list(range(1, len(shape) + 1)):
        raise ShapeError(f"`dims` must be a permutation of 1..{len(shape)}, got {short(dims)}", arg="dims")
    return Result(tuple(shape[d - 1] for d in dims), rf="global")


def repeat_vector(args: dict, shapes: Sequence[Shape]) -> Result:
    shape = _one(shapes, 1, "RepeatVector")
    return Result((arg(args, "n"),) + tuple(shape))


def _pad_pairs(value, rank: int, name: str, default) -> tuple:
    value = default if value is None else value
    if isinstance(value, int) and not isinstance(value, bool):
        return ((value, value),) * rank
    if isinstance(value, (list, tuple)) and len(value) == rank:
        pairs = []
        for v in value:
            if isinstance(v, int) and not isinstance(v, bool):
                pairs.append((v, v))
            elif isinstance(v, (list, tuple)) and len(v) == 2:
                pairs.append(tuple(v))
            else:
                raise ShapeError(f"invalid `{name}`: {short(value)}", arg=name)
        return tuple(pairs)
    if rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2:
        return (tuple(value),)
    raise ShapeError(f"invalid `{name}`: {short(value)}", arg=name)


def zero_padding(rank: int):
    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"ZeroPadding{rank}D")
        pads = _pad_pairs(args.get("padding"), rank, "padding", 1)
        spatial = tuple(None if n is None else n + a + b for n, (a, b) in zip(shape[:-1], pads))
        return Result(spatial + (shape[-1],))

    return rule


def cropping(rank: int):
    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"Cropping{rank}D")
        # Keras' defaults: Cropping1D (1, 1), Cropping2D ((0, 0), (0, 0)), Cropping3D ((1, 1),) * 3
        crops = _pad_pairs(args.get("cropping"), rank, "cropping", 0 if rank == 2 else 1)
        spatial = tuple(None if n is None else n - a - b for n, (a, b) in zip(shape[:-1], crops))
        for n, o in zip(shape[:-1], spatial):
            if o is not None and o <= 0:
                raise ShapeError(f"cropping {n} by {n - o} leaves nothing")
        return Result(spatial + (shape[-1],))

    return rule


def upsampling(rank: int):
    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        _channels_last(args)
        shape = _one(shapes, rank + 1, f"UpSampling{rank}D")
        size = arg(args, "size", 2)
        if rank == 1 and (not isinstance(size, int) or isinstance(size, bool)):
            raise ShapeError(f"`size` of UpSampling1D must be an integer, got {short(size)}", arg="size")
        size = ntuple(size, rank, "size")
        spatial = tuple(None if n is None else n * f for n, f in zip(shape[:-1], size))
        return Result(spatial + (shape[-1],), 0, 0, 0, None, size, "up")

    return rule


def resizing(args: dict, shapes: Sequence[Shape]) -> Result:
    _channels_last(args)
    shape = _one(shapes, 3, "Resizing")
    return Result((arg(args, "height"), arg(args, "width"), shape[-1]), rf="global")


def crop_to(args: dict, shapes: Sequence[Shape]) -> Result:
    """CenterCrop / RandomCrop to (height, width)."""
    _channels_last(args)
    shape = _one(shapes, 3, "crop")
    return Result((arg(args, "height"), arg(args, "width"), shape[-1]))


# --------------------------------------------------------------------------- merges
def _compatible(a, b) -> bool:
    return a is None or b is None or a == b


def concatenate(args: dict, shapes: Sequence[Shape]) -> Result:
    """Keras' Concatenate: other dimensions must match (None matches anything); the output
    takes them from the first input (``concatenate.py``: ``compute_output_shape``)."""
    if len(shapes) < 2:
        raise ShapeError(f"concatenate needs at least 2 inputs, got {len(shapes)}")
    rank = len(shapes[0])
    axis = arg(args, "axis", -1)
    if any(len(s) != rank for s in shapes):
        raise ShapeError(
            "cannot concatenate inputs of different ranks: " + ", ".join(map(_fmt, shapes))
        )
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank - 1 <= axis <= rank:
        raise ShapeError(f"invalid concatenation axis {short(axis)} for inputs of rank {rank + 1}", arg="axis")
    # index into the shape without batch; None: the batch axis (Keras accepts it too)
    ax = None if axis in (0, -rank - 1) else (axis - 1 if axis > 0 else rank + axis)
    for i in range(rank):
        if i == ax:
            continue
        sizes = {s[i] for s in shapes} - {None}
        if len(sizes) > 1:
            raise ShapeError(
                f"cannot concatenate along axis {axis}: all other dimensions must match, got "
                + ", ".join(map(_fmt, shapes)),
                hint="make the spatial sizes equal (padding: same, or the same strides in each path)",
            )
    out = list(shapes[0])
    if ax is not None:
        sizes = [s[ax] for s in shapes]
        out[ax] = None if None in sizes else sum(sizes)
    return Result(tuple(out))


def _broadcast(a: Shape, b: Shape, shapes) -> list:
    """Keras' ``Merge._compute_elemwise_op_output_shape``: right-aligned broadcasting, where
    1 broadcasts and None (unknown) wins."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return list(a)
    out = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b):], b):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1:
            out.append(j if i == 1 else i)
        elif i != j:
            raise ShapeError(
                "cannot merge inputs of different shapes: " + ", ".join(map(_fmt, shapes)),
                hint="a residual add needs a projection shortcut when the body changes the "
                "shape (shortcut: projection or auto)",
            )
        else:
            out.append(i)
    return out


def elementwise_merge(args: dict, shapes: Sequence[Shape]) -> Result:
    """Add, Subtract, Multiply, Average, Maximum, Minimum: equal (or broadcastable) shapes."""
    if len(shapes) < 2:
        raise ShapeError(f"this merge needs at least 2 inputs, got {len(shapes)}")
    out = list(shapes[0])
    for s in shapes[1:]:
        out = _broadcast(tuple(out), tuple(s), shapes)
    return Result(tuple(out))


def subtract(args: dict, shapes: Sequence[Shape]) -> Result:
    """Subtract: exactly two inputs (Keras refuses more), broadcast like the other merges."""
    if len(shapes) != 2:
        raise ShapeError(f"subtract takes exactly 2 inputs, got {len(shapes)}")
    return elementwise_merge(args, shapes)


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(["batch"] + [_dim(v) for v in shape]) + ")"


# --------------------------------------------------------------------------- table
#: rule name (as the op registry names it) -> rule function
RULES = {
    **{f"conv{r}d": conv(r) for r in (1, 2, 3)},
    **{f"conv{r}d_transpose": conv_transpose(r) for r in (1, 2, 3)},
    **{f"depthwise_conv{r}d": depthwise_conv(r) for r in (1, 2)},
    **{f"separable_conv{r}d": separable_conv(r) for r in (1, 2)},
    **{f"pool{r}d": pool(r) for r in (1, 2, 3)},
    **{f"global_pool{r}d": global_pool(r) for r in (1, 2, 3)},
    **{f"adaptive_pool{r}d": adaptive_pool(r) for r in (1, 2, 3)},
    **{f"zero_padding{r}d": zero_padding(r) for r in (1, 2, 3)},
    **{f"cropping{r}d": cropping(r) for r in (1, 2, 3)},
    **{f"upsampling{r}d": upsampling(r) for r in (1, 2, 3)},
    "dense": dense,
    "embedding": embedding,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "prelu": prelu,
    "same_shape": same_shape,
    "flatten": flatten,
    "reshape": reshape,
    "permute": permute,
    "repeat_vector": repeat_vector,
    "resizing": resizing,
    "crop_to": crop_to,
    "concatenate": concatenate,
    "elementwise_merge": elementwise_merge,
    "subtract": subtract,
}
