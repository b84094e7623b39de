"""Sequence layers: recurrent (LSTM, GRU, SimpleRNN), their wrappers (Bidirectional, TimeDistributed) and attention (MultiHeadAttention): analyzer rules and op definitions (pure Python, no Keras).

``OPS``: facts of standard Keras layers (``keras_op`` entries); ``LAYER_OPS``: archspec's own
layers (``archspec.layers.recurrent``), each one full OpDef.

A wrapper's ``layer`` (and Bidirectional's ``backward_layer``) is a nested op, written as a step
is: ``{lstm: {units: 64, return_sequences: true}}``, or a bare op name. :func:`nested_op` checks
it (op name, argument names, required arguments: "did you mean" on a typo) and the wrapper's rule
analyzes it with the inner op's own rule on the per-step shape; the builder makes the inner
Keras layer from the same mapping (``archspec.layers.recurrent``), so the saved model holds
plain ``keras.layers.Bidirectional`` / ``TimeDistributed`` layers.

MACs (multiply-accumulates per sample; element-wise products, activations, biases and the
softmax are not counted, as for Dense):

- SimpleRNN: ``T * (F * u + u * u)``; GRU: ``3 T (F u + u u)``; LSTM: ``4 T (F u + u u)``
  (T time steps, F input features, u units): the input and recurrent matrix products of every
  gate at every step, also when ``return_sequences`` is false; unknown when T is;
- Bidirectional: the forward and the backward layer's MACs;
- TimeDistributed: T times the inner layer's MACs on one step;
- MultiHeadAttention (h heads, key size k, value size v, query length Tq x Fq, key/value length
  Tk): the query, key, value (and gate) projections, ``h k Tq Tk`` for the scores,
  ``h v Tq Tk`` for the weighted sum of the values, and the output projection.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any, Sequence

from archspec.errors import did_you_mean
from archspec.ops.base import NoRule, Result, Shape, ShapeError, arg, format_shape, prod, short
from archspec.ops.opdef import BASE_ARGS, OpDef, keras_op
from archspec.ops.rules._common import _one, _positive_int

#: the recurrent ops a Bidirectional wraps, and the number of gates of each
RNN_GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}


# --------------------------------------------------------------------------- nested ops
def nested_op(value: Any, what: str = "layer") -> tuple:
    """The ``(OpDef, arguments)`` of a nested op ``value``: ``{op: {args}}`` or a bare op name.
    Argument aliases (``kernel`` for ``kernel_size``) are mapped as in a step; a problem is a
    :class:`ShapeError` located at the wrapper's argument ``what``."""
    from archspec.ops import ARG_ALIASES, get_op, registry

    example = "e.g. `layer: {lstm: {units: 64}}`"
    if isinstance(value, str):
        value = {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise ShapeError(f"`{what}` must be one op: a one-key mapping {{op: {{arguments}}}} or an op name, "
                         f"got {short(value)}", hint=example, arg=what)
    kind, raw = next(iter(value.items()))
    op = get_op(kind) if isinstance(kind, str) else None
    if op is None:
        raise ShapeError(f"unknown layer `{kind}` in `{what}`", arg=what,
                         hint=did_you_mean(str(kind), registry().spellings()) or "see `archspec ops` for the layers")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ShapeError(f"the arguments of `{kind}` in `{what}` must be a mapping, got {short(raw)}",
                         hint=example, arg=what)
    args: dict = {}
    for key, v in raw.items():
        target = key if key in op.args else ARG_ALIASES.get(key, key)
        if target not in op.args:
            raise ShapeError(f"unknown argument `{key}` for `{op.cls}` in `{what}`", arg=what,
                             hint=did_you_mean(str(key), op.args) or f"`{op.cls}` takes: " + ", ".join(op.args))
        if target in args:
            raise ShapeError(f"`{key}` and `{target}` are the same argument (in `{what}`)", arg=what)
        args[target] = v
    missing = [r for r in op.required if r not in args]
    if missing:
        raise ShapeError(f"`{op.cls}` in `{what}` is missing its argument `{missing[0]}`", arg=what,
                         hint=f"`{op.cls}` requires: " + ", ".join(op.required))
    return op, args


def _analyze_nested(value: Any, shape: Shape, what: str = "layer") -> tuple:
    """``(op, args, Result)`` of the nested op ``value`` on one input of ``shape``; its rule's
    complaint becomes the wrapper's, located at ``what``. No rule: :class:`NoRule` (Keras
    analyzes the whole wrapper)."""
    from archspec.ops.arguments import check_arguments

    op, args = nested_op(value, what)
    if op.multi_input:
        raise ShapeError(f"`{what}` must be a one-input layer; `{op.cls}` merges several", arg=what)
    inner = {k: v for k, v in args.items() if k != "name"}
    try:
        check_arguments(op.cls, inner, op.bools)
        if op.rule is None:
            raise NoRule(op.cls)
        return op, args, op.rule(inner, [tuple(shape)])
    except ShapeError as exc:
        raise ShapeError(f"the wrapped {op.cls}: {exc.message}", hint=exc.hint, arg=what) from None


# --------------------------------------------------------------------------- recurrent
def _sequence(shapes: Sequence[Shape], name: str) -> tuple:
    """The one (time steps, features) input of a recurrent layer, features known."""
    steps, features = _one(shapes, 2, name)
    if features is None:
        raise ShapeError(f"the feature (last) dimension of the input to {name} must be known")
    return steps, features


def _single_output(args: dict, name: str) -> None:
    if arg(args, "return_state", False):
        raise ShapeError(f"`return_state: true` makes {name} return several tensors (the output and its "
                         "states); a step has one output", arg="return_state",
                         hint="leave it out: the last state of a one-layer RNN is its output with "
                         "return_sequences: false")


def recurrent(name: str, gates: int):
    """SimpleRNN (1 gate), GRU (3) and LSTM (4) on a (time steps, features) input."""

    def rule(args: dict, shapes: Sequence[Shape]) -> Result:
        steps, features = _sequence(shapes, name)
        units = _positive_int(arg(args, "units"), "units")
        _single_output(args, name)
        if arg(args, "stateful", False):
            raise ShapeError(f"a stateful {name} needs a fixed batch size, which archspec's inputs "
                             "leave open", arg="stateful", hint="leave `stateful` out")
        if arg(args, "unroll", False) and steps is None:
            raise ShapeError(f"{name} cannot unroll over an unknown number of time steps",
                             arg="unroll", hint="give the input a fixed length, or leave `unroll` out")
        bias = gates * units if arg(args, "use_bias", True) else 0
        if name == "GRU" and arg(args, "reset_after", True):
            bias *= 2  # separate input and recurrent biases (the cuDNN-compatible GRU)
        params = gates * units * (features + units) + bias
        macs = None if steps is None else steps * gates * units * (features + units)
        out = (steps, units) if arg(args, "return_sequences", False) else (units,)
        return Result(out, params, 0, macs, rf="global")

    rule.__name__ = rule.__qualname__ = name.lower()
    return rule


lstm, gru, simple_rnn = recurrent("LSTM", 4), recurrent("GRU", 3), recurrent("SimpleRNN", 1)


# --------------------------------------------------------------------------- wrappers
MERGE_MODES = ("concat", "sum", "mul", "ave")


def bidirectional(args: dict, shapes: Sequence[Shape]) -> Result:
    """A recurrent layer run forward and backward, merged (``concat`` doubles the features)."""
    shape = _one(shapes, None, "Bidirectional")
    merge = arg(args, "merge_mode", "concat")
    if merge is None:
        raise ShapeError("`merge_mode: null` returns the forward and backward outputs as two tensors; "
                         "a step has one output", arg="merge_mode", hint="merge modes: " + ", ".join(MERGE_MODES))
    if merge not in MERGE_MODES:
        raise ShapeError(f"`merge_mode` must be one of {', '.join(MERGE_MODES)}, got {short(merge)}",
                         arg="merge_mode")
    fwd_op, fwd_args, fwd = _analyze_nested(arg(args, "layer"), shape)
    if fwd_op.name not in RNN_GATES:
        raise ShapeError(f"Bidirectional wraps a recurrent layer (lstm, gru, simple_rnn), got `{fwd_op.cls}`",
                         arg="layer")
    if "backward_layer" not in args:
        if fwd_args.get("go_backwards", False):
            raise ShapeError("the wrapped layer runs forward: leave `go_backwards` out (Bidirectional "
                             "makes the backward copy)", arg="layer")
        bwd = fwd
    else:
        bwd_op, bwd_args, bwd = _analyze_nested(args["backward_layer"], shape, "backward_layer")
        if bwd_op.name not in RNN_GATES:
            raise ShapeError(f"`backward_layer` must be a recurrent layer (lstm, gru, simple_rnn), "
                             f"got `{bwd_op.cls}`", arg="backward_layer")
        if not bwd_args.get("go_backwards", False) or fwd_args.get("go_backwards", False):
            raise ShapeError("`backward_layer` needs `go_backwards: true`, and `layer` runs forward",
                             arg="backward_layer")
        if bwd.shape != fwd.shape:  # Keras declares the output from the forward layer's alone
            raise ShapeError("`layer` and `backward_layer` must give outputs of one shape (the same "
                             f"`units` and `return_sequences`), got {format_shape(fwd.shape)} and "
                             f"{format_shape(bwd.shape)}", arg="backward_layer")
    out = fwd.shape[:-1] + (2 * fwd.shape[-1],) if merge == "concat" else fwd.shape
    macs = None if fwd.macs is None or bwd.macs is None else fwd.macs + bwd.macs
    return Result(out, fwd.params + bwd.params, fwd.non_trainable + bwd.non_trainable, macs, rf="global")


def time_distributed(args: dict, shapes: Sequence[Shape]) -> Result:
    """The inner layer applied to every time step (axis 1) with the same weights."""
    shape = _one(shapes, None, "TimeDistributed")
    if len(shape) < 2:
        raise ShapeError(f"TimeDistributed needs an input of rank 3 or more (batch, time, ...), "
                         f"got rank {len(shape) + 1}: {format_shape(shape)}")
    steps = shape[0]
    _, _, inner = _analyze_nested(arg(args, "layer"), shape[1:])
    macs = None if steps is None or inner.macs is None else steps * inner.macs
    window = strides = None
    if inner.rf in ("window", "up") and inner.strides is not None:  # one frame at a time
        strides = (1, *inner.strides)
        window = (1, *inner.window) if inner.window is not None else None
    return Result((steps, *inner.shape), inner.params, inner.non_trainable, macs, window, strides, inner.rf)


# --------------------------------------------------------------------------- attention
def _attention_axes(value: Any, rank: int) -> tuple:
    """MultiHeadAttention's ``attention_axes`` as indices into a shape without the batch axis
    (default: every axis but the features)."""
    if value is None:
        return tuple(range(rank - 1))
    axes = [value] if isinstance(value, int) else value
    full = rank + 1  # with the batch axis
    if not isinstance(axes, (list, tuple)) or not axes or not all(
            isinstance(a, int) and not isinstance(a, bool) and 1 <= a % full < full - 1 and -full <= a < full
            for a in axes):
        raise ShapeError(f"`attention_axes` must be axes of the query other than batch and features "
                         f"(1 to {full - 2}), got {short(value)}", arg="attention_axes")
    return tuple(sorted({a % full - 1 for a in axes}))


def multi_head_attention(args: dict, shapes: Sequence[Shape]) -> Result:
    """Called on ``[query, value]`` or ``[query, value, key]`` (``from: [q, v]``; self-attention:
    ``from: [_, _]``): the query's shape, its features replaced by ``output_shape``."""
    if len(shapes) not in (2, 3):
        raise ShapeError(f"MultiHeadAttention takes [query, value] or [query, value, key], got "
                         f"{len(shapes)} inputs")
    query, value = (tuple(s) for s in shapes[:2])
    key = tuple(shapes[2]) if len(shapes) == 3 else value
    if not len(query) == len(value) == len(key) or len(query) < 2:
        raise ShapeError("MultiHeadAttention needs query, value and key of one rank, at least 3 (batch, "
                         "positions, features), got " + ", ".join(map(format_shape, shapes)))
    if value[:-1] != key[:-1]:
        raise ShapeError("all dimensions of `value` and `key` but the last must be equal, got "
                         f"{format_shape(value)} and {format_shape(key)}")
    for name, s in (("query", query), ("value", value), ("key", key)):
        if s[-1] is None:
            raise ShapeError(f"the feature (last) dimension of the {name} must be known")
    heads = _positive_int(arg(args, "num_heads"), "num_heads")
    kdim = _positive_int(arg(args, "key_dim"), "key_dim")
    vdim = arg(args, "value_dim", None)
    vdim = kdim if vdim is None else _positive_int(vdim, "value_dim")
    out_shape = arg(args, "output_shape", None)
    if out_shape is None:
        out_shape = (query[-1],)
    else:
        items = [out_shape] if isinstance(out_shape, int) else out_shape
        if not isinstance(items, (list, tuple)) or not items or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
            raise ShapeError(f"`output_shape` must be a positive integer or a list of them, got "
                             f"{short(out_shape)}", arg="output_shape")
        out_shape = tuple(items)
    axes = _attention_axes(arg(args, "attention_axes", None), len(query))
    bias = bool(arg(args, "use_bias", True))
    gate = bool(arg(args, "use_gate", False))
    n_out = prod(out_shape)
    params = ((query[-1] + bias) * heads * kdim + (key[-1] + bias) * heads * kdim
              + (value[-1] + bias) * heads * vdim + heads * vdim * n_out + (n_out if bias else 0))
    if gate:
        params += (query[-1] + bias) * heads * vdim
    tq, tk = prod(query[:-1]), prod(key[i] for i in axes)
    macs = None
    if tq is not None and tk is not None:
        kv = prod(key[:-1])
        macs = (tq * query[-1] * heads * (kdim + vdim * gate) + kv * heads * (key[-1] * kdim + value[-1] * vdim)
                + tq * tk * heads * (kdim + vdim) + tq * heads * vdim * n_out)
    return Result(query[:-1] + out_shape, params, 0, macs, rf="global")


# --------------------------------------------------------------------------- op definitions
class _Deferred:
    """A factory in :mod:`archspec.layers.recurrent`, imported when first called (it imports
    Keras): the op's ``keras_class()``, called as the builder calls a class."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, **kwargs):
        return getattr(importlib.import_module("archspec.layers.recurrent"), self.name)(**kwargs)

    def __repr__(self) -> str:
        return f"archspec.layers.recurrent.{self.name}"


#: The recurrent layers and attention (standard Keras layers). MultiHeadAttention is called with
#: ``query=``, ``value=`` (and ``key=``) rather than a list: its factory makes the plain Keras
#: layer and calls it so.
OPS = [
    keras_op("LSTM", rule=lstm),
    keras_op("GRU", rule=gru),
    keras_op("SimpleRNN", rule=simple_rnn),
    replace(keras_op("MultiHeadAttention", rule=multi_head_attention, multi_input=True, aliases=("mha",)),
            factory=_Deferred("multi_head_attention")),
]

#: The wrappers: archspec.layers.Bidirectional / TimeDistributed make Keras' own wrappers of the
#: nested op (Keras' catalog lacks them: they need a layer to be made).
LAYER_OPS = [
    OpDef("bidirectional", "Bidirectional", "archspec.layers", rule=bidirectional, required=("layer",),
          args=("layer", "merge_mode", "backward_layer", *BASE_ARGS)),
    OpDef("time_distributed", "TimeDistributed", "archspec.layers", rule=time_distributed,
          required=("layer",), args=("layer", *BASE_ARGS)),
]
