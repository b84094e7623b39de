"""Block (template) calls: typed arguments with defaults, a scope of their own, no recursion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archspec.errors import Loc, SpecError, did_you_mean
from archspec.ops import STEP_KEYS
from archspec.spec.context import Ctx, Refs
from archspec.spec.load import YDict, loc_of

if TYPE_CHECKING:
    from archspec.spec.resolve import Resolver

MAX_BLOCK_DEPTH = 64
ARG_TYPES = {
    "int": int, "float": (int, float), "str": str, "bool": bool, "list": list,
    "dict": dict, "any": object,
}


def call_block(r: "Resolver", bname: str, raw: dict, ctx: Ctx, loc: Loc, path: str) -> str:
    bdef = r.doc.blocks[bname]
    bpath = f"blocks.{bname}"
    if bname in ctx.stack:
        chain = " -> ".join(ctx.stack + (bname,))
        raise SpecError(f"block `{bname}` calls itself (recursive template)", loc, received=chain,
                        hint="blocks may not call themselves, directly or through other blocks")
    if len(ctx.stack) >= MAX_BLOCK_DEPTH:
        raise SpecError("blocks are nested too deep", loc)
    if not isinstance(bdef, dict) or "body" not in bdef:
        raise SpecError(f"block `{bname}` needs a `body`", getattr(bdef, "loc", loc).at(bpath))
    r.check_keys(bdef, ("args", "body", "description"), f"blocks.{bname}", bpath,
                     getattr(bdef, "loc", loc))
    declared = bdef.get("args") or {}
    if not isinstance(declared, dict):
        raise SpecError("a block's `args` must map names to types", loc_of(bdef, "args", f"{bpath}.args"),
                        received=declared)
    values: dict = {}
    for key in raw:
        if key in STEP_KEYS:
            continue
        if key not in declared:
            raise SpecError(f"unknown argument `{key}` for block `{bname}`",
                            (raw.key_loc(key) if isinstance(raw, YDict) else loc).at(f"{path}.{key}"),
                            received=key,
                            hint=did_you_mean(key, list(declared) + list(STEP_KEYS))
                            or (f"`{bname}` takes: " + ", ".join(declared) if declared else
                                f"`{bname}` takes no arguments"))
        values[key] = r.value(raw[key], ctx.vars, raw, key, f"{path}.{key}")
    scope = {k: v for k, v in ctx.vars.items() if k in _param_names(r)}
    for key in declared:
        kind, default, has_default = _arg_decl(declared[key], loc_of(declared, key, f"{bpath}.args.{key}"))
        if key in values:
            value = values[key]
        elif has_default:
            value = r.value(default, scope, declared, key, f"{bpath}.args.{key}")
        else:
            raise SpecError(f"block `{bname}` is missing its argument `{key}`", loc,
                            hint=f"`{bname}` takes: " + ", ".join(
                                f"{k}: {_arg_decl(declared[k], loc)[0]}" for k in declared))
        expected = ARG_TYPES[kind]
        if value is not None and (not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool))):
            raise SpecError(f"argument `{key}` of block `{bname}` must be {kind}",
                            loc_of(raw, key, f"{path}.{key}") if key in raw else loc, received=value)
        scope[key] = value
    entry = r.source(raw, ctx, path)[0]
    inner = Ctx(vars=scope, refs=Refs(ctx.refs), prev=entry, entry=entry,
                 stack=ctx.stack + (bname,), scope=_scope(r, ctx.scope, bname, scope))
    try:
        return r.seq(bdef["body"], inner, f"{bpath}.body", loc_of(bdef, "body", f"{bpath}.body"))
    except SpecError as err:
        raise err.add_trace(f"block `{bname}` called at {loc}") from None

def _scope(r: "Resolver", outer: str, bname: str, args: dict) -> str:
    """A unique label for one block call: `block@name` when it has a `name` argument."""
    r.calls += 1
    label = f"{bname}@{args['name']}" if isinstance(args.get("name"), str) else f"{bname}#{r.calls}"
    return f"{outer}/{label}" if outer else label


def _param_names(r: "Resolver") -> set:
    raw = r.data.get("params") or {}
    return set(raw)


def _arg_decl(decl: Any, loc: Loc) -> tuple[str, Any, bool]:
    """A block argument declaration: ``int`` or ``{type: int, default: 3}``."""
    if isinstance(decl, str):
        kind, default, has_default = decl, None, False
    elif isinstance(decl, dict):
        kind, default, has_default = decl.get("type", "any"), decl.get("default"), "default" in decl
        for key in decl:
            if key not in ("type", "default", "description"):
                raise SpecError(f"unknown key `{key}` in an argument declaration", loc,
                                hint=did_you_mean(key, ("type", "default", "description")))
    else:
        raise SpecError("a block argument is declared as a type (`int`) or `{type, default}`", loc,
                        received=decl)
    if not isinstance(kind, str) or kind not in ARG_TYPES:
        raise SpecError(f"unknown argument type `{kind}`", loc, received=kind,
                        hint=did_you_mean(kind, ARG_TYPES) or "types: " + ", ".join(ARG_TYPES))
    return kind, default, has_default
