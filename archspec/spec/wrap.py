"""The construct ``time_distributed``: a body whose every layer runs on each time step.

Two forms, one step name::

    - time_distributed: {layer: {conv2d: {filters: 8, kernel_size: 3}}}   # one layer (the op)
    - time_distributed:                                                    # a block of steps
        body:
          - conv2d: {filters: 8, kernel_size: 3, activation: relu}
          - my_block: {filters: 16}                                        # block calls too
          - global_average_pooling2d

In the second, the body is resolved as written on the per-step shape (the input without its time
axis, axis 1): each one-input layer it makes becomes a ``time_distributed`` layer wrapping it
(same name, same weights at every step), analyzed by the inner op's rule on one step. Merges
(``add``, ``concatenate``, the merges of ``branches`` and ``residual``) combine whole sequences
and need no wrapping; a merge's ``axis`` counted from the front (``axis: 1``) is moved past the
time axis. A time_distributed inside another wraps twice. A ``residual`` whose shape changes
needs its shortcut written as steps here (its automatic projection is made for the whole
sequence, and is refused, with that hint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.analyze.infer import analyze_node
from archspec.errors import Loc, SpecError
from archspec.ir import format_shape
from archspec.ops import STEP_KEYS, Op, get_op
from archspec.spec.context import Ctx, Refs
from archspec.spec.load import loc_of

if TYPE_CHECKING:
    from archspec.spec.resolve import Resolver


def time_distributed(r: "Resolver", raw: dict, ctx: Ctx, loc: Loc, path: str) -> str:
    """``time_distributed: {layer: ...}`` is the op; ``time_distributed: {body: [...]}`` wraps
    every layer of the body."""
    op = get_op("time_distributed")
    if "body" not in raw:
        return r.layer(op, raw, ctx, loc, path)
    r.check_keys(raw, ("body",) + STEP_KEYS, "time_distributed", path, loc)
    entry = r.source(raw, ctx, path)[0]
    shape = r.graph[entry].shape
    if len(shape) < 2:
        raise SpecError("`time_distributed` needs an input of rank 3 or more (batch, time, ...), got "
                        f"{format_shape(shape)}", loc, received=f"input shape {format_shape(shape)}",
                        hint="put it on a sequence: (batch, time steps, features) or (batch, frames, "
                        "rows, cols, channels)")
    add_layer = r.add_layer  # the resolver's (or an enclosing time_distributed's)

    def add_wrapped(inner: Op, args: dict, inputs: list, name: Any, at: Loc, c: Ctx,
                    arg_locs: dict | None = None) -> str:
        if inner.multi_input:
            axis = args.get("axis")
            if isinstance(axis, int) and not isinstance(axis, bool) and axis > 0:
                args = {**args, "axis": axis + 1}  # counted on one step: skip the time axis
            return add_layer(inner, args, inputs, name, at, c, arg_locs)
        # the inner op on one step first: its complaint is located at its own arguments
        try:
            analyze_node(inner, args, [r.graph[i].shape[1:] for i in inputs], at, arg_locs)
        except SpecError as err:
            if at.path.endswith(".shortcut"):  # a projection made for the whole sequence
                err.hint = ("inside `time_distributed`, write the shortcut of a residual that changes "
                            "the shape as steps: `shortcut: [{conv2d: {filters: F, kernel_size: 1, "
                            "strides: S}}]`")
                err.args = (err.format(),)
            raise
        if name is None and getattr(getattr(r, "shares", None), "current", None) is None:
            name = r._auto_name(inner.name)  # named as the layer it wraps: conv2d, conv2d_1, ...
        return add_layer(op, {"layer": {inner.name: args}}, inputs, name, at, c)

    own = "add_layer" in vars(r)  # an enclosing time_distributed's
    r.add_layer = add_wrapped
    try:
        sub = ctx.child(prev=entry, entry=entry, refs=Refs(ctx.refs))
        return r.seq(raw["body"], sub, f"{path}.body", loc_of(raw, "body", f"{path}.body"))
    finally:
        if own:
            r.add_layer = add_layer
        else:
            del r.add_layer  # back to the resolver's own method
