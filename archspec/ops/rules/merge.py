"""Merges: concatenate, and add/subtract/multiply/average/maximum/minimum with Keras' broadcasting."""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, arg, format_shape, short
from archspec.ops.opdef import keras_op


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
            "cannot concatenate inputs of different ranks: " + ", ".join(map(format_shape, shapes))
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
                + ", ".join(map(format_shape, shapes)),
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
                "cannot merge inputs of different shapes: " + ", ".join(map(format_shape, shapes)),
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


#: The merges: each is called on a list of tensors.
OPS = [
    keras_op("Concatenate", rule=concatenate, multi_input=True, aliases=("concat",)),
    keras_op("Add", rule=elementwise_merge, multi_input=True),
    keras_op("Multiply", rule=elementwise_merge, multi_input=True),
    keras_op("Average", rule=elementwise_merge, multi_input=True),
    keras_op("Maximum", rule=elementwise_merge, multi_input=True),
    keras_op("Minimum", rule=elementwise_merge, multi_input=True),
    keras_op("Subtract", rule=subtract, multi_input=True),
    keras_op("Dot", multi_input=True),  # analyzed by Keras
]
