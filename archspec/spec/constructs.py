"""The structural constructs of a body: `repeat`, `branches` and `residual`.

Each is a function ``(resolver, raw, ctx, loc, path) -> output node name``; the resolver
dispatches on :data:`CONSTRUCTS`, so a new construct is one function and one table entry.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from archspec.errors import Loc, SpecError, did_you_mean
from archspec.ops import STEP_KEYS, Op, get_op
from archspec.spec.context import Ctx, Refs
from archspec.spec.load import loc_of
from archspec.spec.wrap import time_distributed

if TYPE_CHECKING:
    from archspec.spec.resolve import Resolver

MAX_REPEAT = 1_000
MERGES = {
    "concat": "concatenate", "concatenate": "concatenate", "add": "add", "average": "average",
    "maximum": "maximum", "minimum": "minimum", "multiply": "multiply", "subtract": "subtract",
}


def repeat(r: "Resolver", raw: dict, ctx: Ctx, loc: Loc, path: str) -> str:
    r.check_keys(raw, ("times", "counter", "start", "body") + STEP_KEYS, "repeat", path, loc)
    if "body" not in raw:
        raise SpecError("`repeat` needs a `body`", loc)
    times = r.value(raw.get("times"), ctx.vars, raw, "times", f"{path}.times")
    tloc = loc_of(raw, "times", f"{path}.times")
    if not isinstance(times, int) or isinstance(times, bool) or times < 0:
        raise SpecError("`repeat: times` must be a non-negative integer", tloc, received=times)
    if times > MAX_REPEAT:
        raise SpecError(f"`repeat: times` is larger than {MAX_REPEAT}", tloc, received=times)
    counter = raw.get("counter", "i")
    if not isinstance(counter, str) or not counter.isidentifier():
        raise SpecError("`counter` must be an identifier", loc_of(raw, "counter", f"{path}.counter"),
                        received=counter)
    start = r.value(raw.get("start", 0), ctx.vars, raw, "start", f"{path}.start")
    if not isinstance(start, int) or isinstance(start, bool):
        raise SpecError("`repeat: start` must be an integer", loc_of(raw, "start", f"{path}.start"),
                        received=start)
    ctx = ctx.child(prev=r.source(raw, ctx, path)[0])
    for k in range(times):
        inner = ctx.child(vars={**ctx.vars, counter: start + k})
        ctx.prev = r.seq(raw["body"], inner, f"{path}.body", loc_of(raw, "body", f"{path}.body"))
    return ctx.prev

def branches(r: "Resolver", raw: dict, ctx: Ctx, loc: Loc, path: str) -> str:
    r.check_keys(raw, ("paths", "merge", "axis", "name") + STEP_KEYS, "branches", path, loc)
    paths = raw.get("paths")
    if not isinstance(paths, list) or len(paths) < 2:
        raise SpecError("`branches` needs `paths`: a list of at least two step lists", loc,
                        received=paths)
    entry = r.source(raw, ctx, path)[0]
    outs = []
    for i, steps in enumerate(paths):
        sub = ctx.child(prev=entry, entry=entry, refs=Refs(ctx.refs))
        outs.append(r.seq(steps, sub, f"{path}.paths[{i}]", loc_of(paths, i, f"{path}.paths[{i}]"))
                    if steps else entry)
    merge = r.value(raw.get("merge", "concat"), ctx.vars, raw, "merge", f"{path}.merge")
    op = merge_op(merge, loc_of(raw, "merge", f"{path}.merge"))
    args = {}
    if "axis" in raw:
        if op.name != "concatenate":
            raise SpecError("`axis` applies only to `merge: concat`", loc_of(raw, "axis", f"{path}.axis"))
        args["axis"] = r.value(raw["axis"], ctx.vars, raw, "axis", f"{path}.axis")
    name = r.value(raw.get("name"), ctx.vars, raw, "name", f"{path}.name")
    return r.add_layer(op, args, outs, name, loc, ctx)

def merge_op(merge: Any, loc: Loc) -> Op:
    if not isinstance(merge, str) or merge not in MERGES:
        raise SpecError(f"unknown merge `{merge}`", loc, received=merge,
                        hint=did_you_mean(merge, MERGES) or "merges: " + ", ".join(MERGES))
    return get_op(MERGES[merge])

def residual(r: "Resolver", raw: dict, ctx: Ctx, loc: Loc, path: str) -> str:
    r.check_keys(raw, ("body", "shortcut", "merge", "activation", "name", "projection")
                     + STEP_KEYS, "residual", path, loc)
    if "body" not in raw:
        raise SpecError("`residual` needs a `body`", loc)
    entry = r.source(raw, ctx, path)[0]
    name = r.value(raw.get("name"), ctx.vars, raw, "name", f"{path}.name")
    body_out = r.seq(raw["body"], ctx.child(prev=entry, entry=entry, refs=Refs(ctx.refs)), f"{path}.body",
                     loc_of(raw, "body", f"{path}.body"))
    shortcut = raw.get("shortcut", "auto")
    sloc = loc_of(raw, "shortcut", f"{path}.shortcut")
    if isinstance(shortcut, list):
        short_out = r.seq(shortcut, ctx.child(prev=entry, entry=entry, refs=Refs(ctx.refs)),
                             f"{path}.shortcut")
    else:
        shortcut = r.value(shortcut, ctx.vars, raw, "shortcut", f"{path}.shortcut")
        short_out = _shortcut(r, shortcut, entry, body_out, raw, name, ctx, sloc, path)
    merge = r.value(raw.get("merge", "add"), ctx.vars, raw, "merge", f"{path}.merge")
    op = merge_op(merge, loc_of(raw, "merge", f"{path}.merge"))
    out = r.add_layer(op, {}, [short_out, body_out], f"{name}_add" if name else None, loc, ctx)
    if raw.get("activation") is not None:
        act = r.value(raw["activation"], ctx.vars, raw, "activation", f"{path}.activation")
        out = r.add_layer(get_op("activation"), {"activation": act}, [out],
                             f"{name}_out" if name else None, loc_of(raw, "activation", path), ctx)
    return out

def _shortcut(r: "Resolver", kind: Any, entry: str, body_out: str, raw: dict, name: Any,
              ctx: Ctx, loc: Loc, path: str) -> str:
    kinds = ("auto", "identity", "projection", "pad")
    if kind not in kinds:
        raise SpecError(f"unknown shortcut `{kind}`", loc, received=kind,
                        hint=did_you_mean(kind, kinds) or "shortcuts: " + ", ".join(kinds)
                        + ", or a list of steps")
    src, dst = r.graph[entry].shape, r.graph[body_out].shape
    if kind == "auto" or (kind == "pad" and src == dst):
        # auto: project only when the shape changes; pad (option A) has nothing to pad then
        kind = "identity" if src == dst else ("pad" if kind == "pad" else "projection")
    if kind == "identity":
        return entry  # the add reports a shape mismatch, located at the residual
    if len(src) != len(dst) or len(src) < 2:
        raise SpecError("a projection/pad shortcut needs spatial inputs of equal rank", loc,
                        received=f"{src} -> {dst}")
    strides = []
    for a, b in zip(src[:-1], dst[:-1]):
        if a is None or b is None:
            raise SpecError("a projection shortcut needs known spatial sizes", loc, received=f"{src} -> {dst}")
        strides.append(max(1, math.ceil(a / b)))
    rank = len(src) - 1
    if kind == "pad":
        return _pad_shortcut(r, entry, src, dst, strides, name, ctx, loc)
    proj = r.value(raw.get("projection", {}), ctx.vars, raw, "projection", f"{path}.projection")
    if not isinstance(proj, dict):
        raise SpecError("`projection` must be a mapping", loc, received=proj)
    for key in proj:
        if key not in ("batch_norm", "use_bias", "epsilon", "momentum"):
            raise SpecError(f"unknown key `{key}` in `projection`", loc, received=key,
                            hint=did_you_mean(key, ("batch_norm", "use_bias", "epsilon", "momentum")))
    bn = proj.get("batch_norm", True)
    out = r.add_layer(
        get_op(f"conv{rank}d"),
        {"filters": dst[-1], "kernel_size": 1, "strides": strides, "use_bias": proj.get("use_bias", not bn)},
        [entry], f"{name}_proj" if name else None, loc, ctx,
    )
    if bn:
        bn_args = {k: proj[k] for k in ("epsilon", "momentum") if k in proj}
        out = r.add_layer(get_op("batch_normalization"), bn_args, [out],
                             f"{name}_proj_bn" if name else None, loc, ctx)
    return out

def _pad_shortcut(r: "Resolver", entry: str, src: tuple, dst: tuple, strides: list, name: Any,
                  ctx: Ctx, loc: Loc) -> str:
    """Option A of the CIFAR ResNets (the identity, subsampled, its channels zero-padded at the
    end), from standard Keras layers only, so that a saved model reloads with plain Keras:

    - ``max_pooling{r}d`` with ``pool_size: 1`` and the shortcut's ``strides`` keeps rows 0, s,
      2s, ...: ceil(n / s) of them (``X_pool``; none where every stride is 1);
    - ``zero_padding{r}d`` with ``data_format: channels_first`` pads the *last* axes, and so the
      channels of this channels_last tensor, with zeros at the end (``X_pad``; none where the
      channel count is kept).

    Exactly :class:`archspec.layers.ZeroPadShortcut` (tests/test_reload.py), no parameters, no
    MACs; the receptive field is that of a 1x1 window with the shortcut's strides.
    """
    rank = len(src) - 1
    if rank > 3:
        raise SpecError("a `pad` shortcut needs 1D, 2D or 3D inputs", loc, received=f"{src} -> {dst}")
    extra = dst[-1] - src[-1] if isinstance(dst[-1], int) and isinstance(src[-1], int) else None
    if extra is None or extra < 0:
        raise SpecError(f"a zero-padding shortcut can only add channels: the input has {src[-1]}, the "
                        f"body gives {dst[-1]}", loc, received=f"{src} -> {dst}",
                        hint="use a projection shortcut (`shortcut: projection`) to reduce channels")
    out = entry
    if any(s > 1 for s in strides):
        out = r.add_layer(get_op(f"max_pooling{rank}d"), {"pool_size": 1, "strides": strides}, [out],
                          f"{name}_pool" if name else None, loc, ctx)
    if extra:
        padding = [0, extra] if rank == 1 else [[0, 0]] * (rank - 1) + [[0, extra]]
        out = r.add_layer(get_op(f"zero_padding{rank}d"), {"padding": padding, "data_format": "channels_first"},
                          [out], f"{name}_pad" if name else None, loc, ctx)
    return out


CONSTRUCTS = {"repeat": repeat, "branches": branches, "residual": residual,
              "time_distributed": time_distributed}
