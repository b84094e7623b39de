"""Dense, embedding, normalization, PReLU and element-wise layers."""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import NoRule, Result, Shape, ShapeError, arg, format_shape, prod, short
from archspec.ops.opdef import keras_op
from archspec.ops.rules._common import _bias, _macs, _one


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


def _nested_shape(value) -> tuple:
    """The shape of a number or a nested list of numbers (rectangular), as NumPy would see it."""
    if isinstance(value, (list, tuple)):
        inner = {_nested_shape(v) for v in value}
        if len(inner) > 1:
            raise ShapeError(f"a ragged list is not an array: {short(value)}")
        return (len(value), *(inner.pop() if inner else ()))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ShapeError(f"expected a number or a list of numbers, got {short(value)}")
    return ()


def normalization(args: dict, shapes: Sequence[Shape]) -> Result:
    """Keras' Normalization (``preprocessing/normalization.py``): same shape. Without ``mean`` and
    ``variance`` it holds non-trainable ``mean`` and ``variance`` weights over the kept ``axis``
    sizes, and a scalar ``count`` (``adapt()`` sets them): ``2 * prod(kept sizes) + 1``; with
    them, constants and no weights. ``axis=None`` keeps no axis (a scalar mean and variance)."""
    shape = _one(shapes, None, "Normalization")
    ndim = len(shape) + 1
    axis = arg(args, "axis", -1)
    axes = () if axis is None else (axis,) if not isinstance(axis, (list, tuple)) else tuple(axis)
    if not all(isinstance(a, int) and not isinstance(a, bool) and -ndim <= a < ndim for a in axes):
        raise ShapeError(f"invalid `axis` {short(axis)} for an input of rank {ndim} (with the batch axis): "
                         f"integers from {-ndim} to {ndim - 1}, or null", arg="axis")
    keep = sorted(a % ndim for a in axes)
    if 0 in keep:
        raise ShapeError("Normalization cannot keep the batch axis (its size is unknown)", arg="axis")
    sizes = [shape[a - 1] for a in keep]
    if None in sizes:
        raise ShapeError(f"the kept `axis` {short(axis)} of Normalization must have a known size, got "
                         f"input shape {format_shape(shape)}", arg="axis")
    mean, variance = arg(args, "mean", None), arg(args, "variance", None)
    if (mean is None) != (variance is None):
        raise ShapeError("give both `mean` and `variance`, or neither (adapt() computes them)",
                         arg="mean" if mean is not None else "variance")
    if mean is None:
        return Result(tuple(shape), 0, 2 * prod(sizes) + 1)
    m, v = _nested_shape(mean), _nested_shape(variance)
    if m != v:
        raise ShapeError(f"`mean` and `variance` must have the same shape, got {m} and {v}", arg="variance")
    if len(m) > len(keep) or any(a not in (1, b) for a, b in zip(reversed(m), reversed(sizes))):
        raise ShapeError(f"`mean` of shape {m} does not fit the kept axis sizes {tuple(sizes)}", arg="mean")
    return Result(tuple(shape))


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


def along_axes(args: dict, shapes: Sequence[Shape]) -> Result:
    """Softmax and UnitNormalization: same shape, over ``axis`` (an int or distinct ints), each
    within the rank counted with the batch axis; Keras checks it only when the layer runs."""
    shape = _one(shapes)
    rank = len(shape) + 1
    axis = arg(args, "axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    ok = (bool(axes) and all(isinstance(a, int) and not isinstance(a, bool) and -rank <= a < rank for a in axes)
          and len({a % rank for a in axes}) == len(axes))
    if not ok:
        raise ShapeError(f"invalid `axis` {short(axis)} for an input of rank {rank} (with the batch axis): "
                         f"an integer from {-rank} to {rank - 1}, or a list of distinct ones", arg="axis")
    return Result(tuple(shape))


#: Element-wise layers: activations, dropout, noise, rescaling, random augmentations.
SAME_SHAPE = (
    "Activation", "ReLU", "ELU", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "AlphaDropout", "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity",
    "Rescaling", "Masking", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
    "RandomContrast", "RandomBrightness", "RandomShear", "RandomGrayscale", "RandomHue",
    "RandomSaturation", "RandomSharpness", "RandomInvert", "RandomPosterization",
    "RandomColorDegeneration", "RandomColorJitter", "RandomErasing", "RandomGaussianBlur",
    "RandomPerspective", "RandomElasticTransform", "AutoContrast", "Equalization", "Solarization",
)

#: Dense, embedding, normalization and element-wise ops.
OPS = [
    keras_op("Dense", rule=dense, aliases=("fc",)),
    keras_op("Embedding", rule=embedding),
    keras_op("BatchNormalization", rule=batch_norm, aliases=("bn", "batchnorm")),
    keras_op("LayerNormalization", rule=layer_norm),
    keras_op("GroupNormalization", rule=group_norm),
    keras_op("PReLU", rule=prelu),
    keras_op("Normalization", rule=normalization),
    keras_op("Softmax", rule=along_axes),
    keras_op("UnitNormalization", rule=along_axes),
    keras_op("LeakyReLU", rule=same_shape, aliases=("leaky_relu",)),
    *(keras_op(cls, rule=same_shape) for cls in SAME_SHAPE),
]
