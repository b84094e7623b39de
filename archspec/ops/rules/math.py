"""Element-wise and reduction ops under keras.ops' names (abs, square, sqrt, ..., mean/sum/max
over axes, L2 normalisation, cosine similarity): analyzer rules and op definitions (pure Python,
no Keras).

``OPS``: facts of standard Keras layers (none: Keras has no layer for these ops; its element-wise
merges ``maximum``, ``minimum``, ``subtract``... are in :mod:`~archspec.ops.rules.merge`);
``LAYER_OPS``: archspec's own layers (``archspec.layers.math``), each one full OpDef.

None of these ops has parameters. Axes are the whole tensor's, as in keras.ops: 0 is the batch
axis (refused), 1 the first axis of a sample, -1 the last; the rules index the shape without
the batch axis, so axis ``a > 0`` is ``shape[a - 1]``.

MACs (multiply-accumulates per sample) count the products that are summed, as for LRN: element-wise
ops (abs, square, ..., clip, power) and the plain reductions (mean, sum, max, min) count 0, like
activations, merges and pooling; ``std`` and ``var`` count one per input value (the sum of squared
deviations), ``normalize`` one per input value (the norm's sum of ``|x| ** order``) and
``cosine_similarity`` three per value of one input (``a * b``, ``a * a`` and ``b * b``, summed).
Divisions, square roots and the other element-wise work are not counted. A count that depends on
an unknown (None) size is None.

Receptive field: an op that works on each value, or reduces or normalizes along the last
(channel) axis only, keeps it (``"same"``); one that reduces or normalizes along another axis
sees that axis whole (``"global"``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

from archspec.ops.base import Result, Rule, Shape, ShapeError, arg, format_shape, prod, short
from archspec.ops.opdef import OpDef
from archspec.ops.rules._common import _one
from archspec.ops.rules.custom import layer_op

OPS: list = []

#: The element-wise ops without arguments (their classes; the op names are keras.ops' names).
UNARY = ("Abs", "Square", "Sqrt", "Exp", "Log", "Negative", "Sign", "Reciprocal")
#: The reductions over ``axis``: ``(axis, keepdims)``.
REDUCTIONS = ("Mean", "Sum", "Max", "Min", "Std", "Var")
_SUMS_OF_SQUARES = ("Std", "Var")  # one MAC per input value


# --------------------------------------------------------------------------- helpers
def _number(args: dict, name: str):
    """The number ``args[name]`` (required; infinities allowed, NaN not)."""
    value = arg(args, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and math.isnan(value)
    ):
        raise ShapeError(f"`{name}` must be a number, got {short(value)}", arg=name)
    return value


def _bool(args: dict, name: str, default: bool) -> bool:
    value = arg(args, name, default)
    if not isinstance(value, bool):
        raise ShapeError(f"`{name}` must be true or false, got {short(value)}", arg=name)
    return value


def _axes(value, shape: Shape, several: bool) -> tuple[int, ...]:
    """The axes named by ``value`` (keras.ops' numbering, batch = 0) as indices into ``shape``
    (which has no batch axis). Refuses the batch axis, an axis out of range, an axis twice."""
    rank = len(shape) + 1
    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    if is_int(value):
        items = [value]
    elif several and isinstance(value, (list, tuple)) and value and all(is_int(v) for v in value):
        items = list(value)
    else:
        what = "an integer or a non-empty list of integers" if several else "an integer"
        raise ShapeError(f"`axis` must be {what}, got {short(value)}", arg="axis")
    numbering = (f"axes count from the batch axis (0): 1 is the first axis of a sample, -1 the last; "
                 f"an input {format_shape(shape)} has axes 1 to {rank - 1} (or -{rank - 1} to -1)")
    out = []
    for a in items:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for an input of rank {rank}: {format_shape(shape)}",
                             hint=numbering, arg="axis")
        if a % rank == 0:
            raise ShapeError(f"axis {a} is the batch axis: a layer works on each sample separately",
                             hint=numbering, arg="axis")
        index = a - 1 if a > 0 else len(shape) + a
        if index in out:
            raise ShapeError(f"`axis` names axis {a} twice ({short(value)})", hint=numbering, arg="axis")
        out.append(index)
    return tuple(out)


def _reduced(shape: Shape, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _rf(shape: Shape, axes: tuple) -> str:
    """``"same"`` when only the last (channel) axis is reduced, else ``"global"``."""
    return "same" if set(axes) <= {len(shape) - 1} else "global"


# --------------------------------------------------------------------------- rules
def unary(name: str) -> Rule:
    """An element-wise op without arguments: the shape is unchanged, 0 MACs."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        return Result(_one(shapes, None, name))

    rule.__doc__ = f"{name}: element-wise, the same shape."
    return rule


def clip(args: dict, shapes: Sequence[Shape]) -> Result:
    """Clip: element-wise, ``x_min <= x_max`` (numbers; ``.inf`` leaves a side open)."""
    shape = _one(shapes, None, "Clip")
    low, high = _number(args, "x_min"), _number(args, "x_max")
    if low > high:
        raise ShapeError(f"`x_min` ({low}) is larger than `x_max` ({high})",
                         hint="clip limits each value to [x_min, x_max]", arg="x_min")
    return Result(shape)


def power(args: dict, shapes: Sequence[Shape]) -> Result:
    """Power: element-wise ``x ** exponent``."""
    shape = _one(shapes, None, "Power")
    _number(args, "exponent")
    return Result(shape)


def reduction(name: str) -> Rule:
    """Mean, Sum, Max, Min, Std, Var over ``axis`` (an int or a list), optionally ``keepdims``."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        shape = _one(shapes, None, name)
        axes = _axes(arg(args, "axis"), shape, several=True)
        out = _reduced(shape, axes, _bool(args, "keepdims", False))
        macs = prod(shape) if name in _SUMS_OF_SQUARES else 0
        return Result(out, macs=macs, rf=_rf(shape, axes))

    rule.__doc__ = f"{name} over `axis`: those axes removed (kept with size 1 with `keepdims`)."
    return rule


def normalize(args: dict, shapes: Sequence[Shape]) -> Result:
    """Normalize: ``x / max(norm(x), epsilon)`` along one axis; the same shape."""
    shape = _one(shapes, None, "Normalize")
    axes = _axes(arg(args, "axis", -1), shape, several=False)
    order = arg(args, "order", 2)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ShapeError(f"`order` must be an integer >= 1, got {short(order)}",
                         hint="2: the Euclidean (L2) norm, 1: the sum of absolute values", arg="order")
    epsilon = arg(args, "epsilon", None)
    if epsilon is not None and (isinstance(epsilon, bool) or not isinstance(epsilon, (int, float))
                                or not epsilon > 0):
        raise ShapeError(f"`epsilon` must be a number > 0 (or null: Keras' 1e-7), got {short(epsilon)}",
                         arg="epsilon")
    return Result(shape, macs=prod(shape), rf=_rf(shape, axes))


def cosine_similarity(args: dict, shapes: Sequence[Shape]) -> Result:
    """CosineSimilarity of two inputs of the same shape along ``axis`` (that axis removed, or
    kept with size 1 with ``keepdims``)."""
    if len(shapes) != 2:
        raise ShapeError(f"cosine_similarity compares exactly 2 inputs, got {len(shapes)}")
    a, b = (tuple(s) for s in shapes)
    if len(a) != len(b) or any(i is not None and j is not None and i != j for i, j in zip(a, b)):
        raise ShapeError(
            "cosine_similarity compares inputs of the same shape, got "
            + ", ".join(map(format_shape, shapes)),
            hint="project both to the same size first (e.g. a dense layer with the same units)",
        )
    shape = tuple(i if i is not None else j for i, j in zip(a, b))
    axes = _axes(arg(args, "axis", -1), shape, several=False)
    out = _reduced(shape, axes, _bool(args, "keepdims", False))
    values = prod(shape)
    return Result(out, macs=None if values is None else 3 * values, rf=_rf(shape, axes))


# --------------------------------------------------------------------------- op definitions
def _op(cls: str, rule: Rule, args: tuple = (), required: tuple = (), *, bools: tuple = (),
        multi_input: bool = False, aliases: tuple = ()) -> OpDef:
    return replace(layer_op(cls, rule, args, required, aliases), bools=bools, multi_input=multi_input)


LAYER_OPS = [
    *(_op(cls, unary(cls)) for cls in UNARY),
    _op("Clip", clip, ("x_min", "x_max"), ("x_min", "x_max")),
    _op("Power", power, ("exponent",), ("exponent",)),
    *(_op(cls, reduction(cls), ("axis", "keepdims"), ("axis",), bools=("keepdims",)) for cls in REDUCTIONS),
    _op("Normalize", normalize, ("axis", "order", "epsilon"), aliases=("l2_normalize",)),
    _op("CosineSimilarity", cosine_similarity, ("axis", "keepdims"), bools=("keepdims",), multi_input=True),
]
