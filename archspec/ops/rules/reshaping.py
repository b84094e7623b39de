"""Flatten, reshape, permute, repeat, padding, cropping, upsampling and resizing."""

from __future__ import annotations

import math
from typing import Sequence

from archspec.ops.base import Unportable, Result, Shape, ShapeError, arg, ntuple, prod, short
from archspec.ops.opdef import keras_op
from archspec.ops.rules._common import _channels_last, _one


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
        return _non_negative(((value, value),) * rank, value, name)
    if isinstance(value, (list, tuple)) and len(value) == rank:
        pairs = []
        for v in value:
            if isinstance(v, int) and not isinstance(v, bool):
                pairs.append((v, v))
            elif isinstance(v, (list, tuple)) and len(v) == 2:
                pairs.append(tuple(v))
            else:
                raise ShapeError(f"invalid `{name}`: {short(value)}", arg=name)
        return _non_negative(tuple(pairs), value, name)
    if rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2:
        return _non_negative((tuple(value),), value, name)
    raise ShapeError(f"invalid `{name}`: {short(value)}", arg=name)


def _non_negative(pairs: tuple, value, name: str) -> tuple:
    """Padding and cropping amounts are integers >= 0 (TensorFlow refuses negative paddings when
    the layer runs)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for pair in pairs for v in pair):
        raise ShapeError(f"`{name}` takes integers >= 0, got {short(value)}", arg=name)
    return pairs


def zero_padding(rank: int):
    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        # channels_first pads the last `rank` axes: on a channels_last tensor, the channels too
        # (the `pad` shortcut's zero channels, archspec/spec/constructs.py); the receptive field
        # passes through either way
        first = args.get("data_format") == "channels_first"
        if not first:
            _channels_last(args)
        shape = _one(shapes, rank + 1, f"ZeroPadding{rank}D")
        pads = _pad_pairs(args.get("padding"), rank, "padding", 1)
        lead, padded = (shape[:1], shape[1:]) if first else ((), shape[:-1])
        grown = tuple(None if n is None else n + a + b for n, (a, b) in zip(padded, pads))
        return Result(lead + grown if first else grown + (shape[-1],))

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
        if arg(args, "interpolation", "nearest") == "area":
            raise Unportable("UpSampling2D with interpolation 'area': TensorFlow's area resize "
                             "has no gradient, so the network could not train",
                             hint="use nearest or bilinear", arg="interpolation")
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


#: The reshaping ops.
OPS = [
    keras_op("Flatten", rule=flatten),
    keras_op("Reshape", rule=reshape),
    keras_op("Permute", rule=permute),
    keras_op("RepeatVector", rule=repeat_vector),
    keras_op("ZeroPadding1D", rule=zero_padding(1)),
    keras_op("ZeroPadding2D", rule=zero_padding(2)),
    keras_op("ZeroPadding3D", rule=zero_padding(3)),
    keras_op("Cropping1D", rule=cropping(1)),
    keras_op("Cropping2D", rule=cropping(2)),
    keras_op("Cropping3D", rule=cropping(3)),
    keras_op("UpSampling1D", rule=upsampling(1)),
    keras_op("UpSampling2D", rule=upsampling(2)),
    keras_op("UpSampling3D", rule=upsampling(3)),
    keras_op("Resizing", rule=resizing),
    keras_op("CenterCrop", rule=crop_to),
    keras_op("RandomCrop", rule=crop_to),
]
