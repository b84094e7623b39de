"""Resolve a spec document into the graph IR: params, expressions, blocks, repeat, branches,
residuals and references, with every node's shape analyzed as it is added (pure Python).

Step forms in a ``body`` (each a one-key mapping, or a bare op name)::

    - flatten                                  # an op without arguments
    - conv2d: {filters: 64, kernel_size: 3}    # any Keras layer by name, its own arguments
    - vgg_block: {filters: 64, convs: 2}       # a block (template) call
    - repeat: {times: 3, counter: i, body: [...]}
    - branches: {merge: concat, paths: [[...], [...]]}
    - residual: {body: [...], shortcut: auto, activation: relu}

Every step also takes ``from`` (input reference(s), default: the previous step), ``as`` (a
reference name for its output) and ``when`` (skip the step when false). References: ``as`` names,
layer names, ``_`` (the previous output) and ``_in`` (the input of the enclosing block call,
branch path or residual body).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from archspec.analyze.base import NoRule, Result, ShapeError
from archspec.errors import Loc, SpecError, did_you_mean
from archspec.graph import Graph, Node
from archspec.ops import ARG_ALIASES, STEP_KEYS, Op, get_op, registry
from archspec.spec import expr
from archspec.spec.document import Document
from archspec.spec.load import YDict, YList, loc_of
from archspec.spec.space import Chooser, default_chooser, is_space, parse_space

MAX_NODES = 20_000
MAX_REPEAT = 1_000
MAX_BLOCK_DEPTH = 64
CONSTRUCTS = ("repeat", "branches", "residual")
MERGES = {
    "concat": "concatenate", "concatenate": "concatenate", "add": "add", "average": "average",
    "maximum": "maximum", "minimum": "minimum", "multiply": "multiply", "subtract": "subtract",
}
ARG_TYPES = {
    "int": int, "float": (int, float), "str": str, "bool": bool, "list": list,
    "dict": dict, "any": object,
}
RESERVED_REFS = ("_", "_in")


class _Refs:
    """A scope of reference names (``as``), chained to its parent."""

    def __init__(self, parent: "_Refs | None" = None):
        self.parent = parent
        self.names: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        scope = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        out, scope = [], self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out


@dataclass
class _Ctx:
    vars: dict  # expression scope
    refs: _Refs
    prev: str | None  # the current tensor (node name)
    entry: str | None  # `_in`
    stack: tuple = ()  # block names being expanded
    scope: str = ""  # dotted block-call path, for grouping

    def child(self, **changes) -> "_Ctx":
        return replace(self, **changes)


@dataclass
class Resolved:
    """The outcome of resolution: the graph plus the evaluated parameters and train section."""

    graph: Graph
    params: dict
    train: Any
    spaces: list = field(default_factory=list)


class Resolver:
    def __init__(self, doc: Document, overrides: dict | None = None, *,
                 chooser: Chooser = default_chooser, override_loc: Loc | None = None):
        self.doc = doc
        self.data = doc.data
        self.overrides = dict(overrides or {})
        self.override_loc = override_loc or Loc("<overrides>")
        self.chooser = chooser
        self.graph = Graph(name="model")
        self.counters: dict[str, int] = {}
        self.layer_locs: dict[str, Loc] = {}
        self.spaces: list = []

    # ------------------------------------------------------------------ entry point
    def run(self) -> Resolved:
        data = self.data
        if "body" not in data:
            raise SpecError("the spec has no `body`", data.loc.at(""),
                            hint="add `body:` with a list of layers")
        params = self._params()
        name = self.value(data.get("name", "model"), params, data, "name", "name")
        if not isinstance(name, str) or not name:
            raise SpecError("`name` must be a non-empty string", loc_of(data, "name", "name"), received=name)
        self.graph.name = name
        ctx = _Ctx(vars=dict(params), refs=_Refs(), prev=None, entry=None)
        self._inputs(ctx)
        body = data["body"]
        if not isinstance(body, list) or not body:
            raise SpecError("`body` must be a non-empty list of steps", loc_of(data, "body", "body"),
                            received=body if not isinstance(body, list) else [],
                            hint="each step looks like `- conv2d: {filters: 32, kernel_size: 3}`")
        last = self.seq(body, ctx, "body")
        self.graph.outputs = self._outputs(ctx, last)
        train = None
        if "train" in data:
            train = self.value(data["train"], ctx.vars, data, "train", "train", keep_spaces=True)
        return Resolved(self.graph, params, train, self.spaces)

    # ------------------------------------------------------------------ params, inputs, outputs
    def _params(self) -> dict:
        raw = self.data.get("params", YDict())
        if not isinstance(raw, dict):
            raise SpecError("`params` must be a mapping of names to values",
                            loc_of(self.data, "params", "params"), received=raw)
        for key in self.overrides:
            if key not in raw:
                raise SpecError(
                    f"unknown parameter `{key}`", self.override_loc.at(
                        f"--set {key}" if self.override_loc.file == "<command line>" else f"params.{key}"),
                    received=self.overrides[key],
                    hint=did_you_mean(key, raw) or ("parameters: " + ", ".join(raw) if raw else
                                                    "this spec declares no `params`"),
                )
        scope: dict = {}
        for key in raw:
            if not isinstance(key, str) or not key.isidentifier():
                raise SpecError("a parameter name must be an identifier", raw.key_loc(key).at(f"params.{key}"),
                                received=key)
            if key in self.overrides:
                scope[key] = self.overrides[key]
            else:
                scope[key] = self.value(raw[key], scope, raw, key, f"params.{key}")
        return scope

    def _inputs(self, ctx: _Ctx) -> None:
        data = self.data
        if "input" in data and "inputs" in data:
            raise SpecError("give either `input` or `inputs`, not both", loc_of(data, "inputs", "inputs"))
        if "input" in data:
            specs = {None: (data["input"], data, "input", "input")}
        elif "inputs" in data:
            raw = data["inputs"]
            if not isinstance(raw, dict) or not raw:
                raise SpecError("`inputs` must map input names to `{shape: [...]}`",
                                loc_of(data, "inputs", "inputs"), received=raw)
            specs = {k: (raw[k], raw, k, f"inputs.{k}") for k in raw}
        else:
            raise SpecError("the spec has no `input`", data.loc.at(""),
                            hint="add e.g. `input: {shape: [224, 224, 3]}`")
        for key, (raw, parent, pkey, path) in specs.items():
            value = self.value(raw, ctx.vars, parent, pkey, path)
            loc = loc_of(parent, pkey, path)
            if isinstance(value, list):
                value = {"shape": value}
            if not isinstance(value, dict) or "shape" not in value:
                raise SpecError("an input needs a `shape` (without the batch dimension)", loc,
                                received=value, hint="e.g. `input: {shape: [224, 224, 3]}`")
            for k in value:
                if k not in ("shape", "name", "dtype", "sparse"):
                    raise SpecError(f"unknown input key `{k}`", loc,
                                    hint=did_you_mean(k, ("shape", "name", "dtype", "sparse")))
            shape = value["shape"]
            if not isinstance(shape, list) or not shape or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in shape
            ):
                raise SpecError("an input shape must be a list of positive integers or null", loc,
                                received=shape, hint="the batch dimension is left out: [224, 224, 3]")
            name = value.get("name") or (key if key is not None else "input_layer")
            args = {"shape": tuple(shape)}
            for k in ("dtype", "sparse"):
                if k in value:
                    args[k] = value[k]
            node = self._add_node(name, "input", args, [], loc, Result(tuple(shape), rf="input"), ctx)
            self.graph.inputs.append(node)
            if key is not None:
                ctx.refs.names[key] = node
        ctx.prev = self.graph.inputs[0]
        ctx.entry = ctx.prev

    def _outputs(self, ctx: _Ctx, last: str) -> list[str]:
        data = self.data
        if "outputs" not in data:
            return [last]
        value = self.value(data["outputs"], ctx.vars, data, "outputs", "outputs")
        loc = loc_of(data, "outputs", "outputs")
        refs = value if isinstance(value, list) else [value]
        if not refs:
            raise SpecError("`outputs` must name at least one output", loc)
        return [self.ref(r, ctx, loc) for r in refs]

    # ------------------------------------------------------------------ values
    def value(self, raw: Any, scope: dict, parent: Any, key: Any, path: str, *, keep_spaces=False) -> Any:
        """Evaluate expressions in ``raw`` (recursively); search spaces become their value."""
        loc = loc_of(parent, key, path)
        if isinstance(raw, str):
            return expr.evaluate_string(raw, scope, loc) if expr.has_expr(raw) else raw
        if isinstance(raw, list):
            return [self.value(v, scope, raw, i, f"{path}[{i}]", keep_spaces=keep_spaces)
                    for i, v in enumerate(raw)]
        if isinstance(raw, dict):
            out = YDict() if keep_spaces else {}
            if isinstance(raw, YDict) and keep_spaces:
                out.loc, out.key_locs, out.value_locs = raw.loc, raw.key_locs, raw.value_locs
            for k in raw:
                out[k] = self.value(raw[k], scope, raw, k, f"{path}.{k}", keep_spaces=keep_spaces)
            if is_space(out):
                space = parse_space(out, path, loc)
                self.spaces.append(space)
                return self.chooser(space)
            return out
        return raw

    # ------------------------------------------------------------------ sequence and steps
    def seq(self, steps: Any, ctx: _Ctx, path: str) -> str:
        if not isinstance(steps, list):
            raise SpecError("a body must be a list of steps", getattr(steps, "loc", Loc()).at(path),
                            received=steps, hint="write each step on its own line starting with `- `")
        for i, step in enumerate(steps):
            ctx.prev = self.step(step, ctx, steps, i, f"{path}[{i}]")
        return ctx.prev

    def step(self, step: Any, ctx: _Ctx, parent: Any, index: int, path: str) -> str:
        loc = loc_of(parent, index, path)
        if isinstance(step, str):
            kind, raw = step, None
        elif isinstance(step, dict) and len(step) == 1:
            kind, raw = next(iter(step.items()))
            loc = step.key_loc(kind).at(f"{path}.{kind}") if isinstance(step, YDict) else loc
            path = f"{path}.{kind}"
        elif isinstance(step, dict):
            keys = list(step)
            raise SpecError(
                f"a step must have exactly one key (the op or block), got {len(keys)}: "
                + ", ".join(f"`{k}`" for k in keys),
                loc, hint="arguments go inside the op's mapping: `- conv2d: {filters: 32, kernel_size: 3}`"
                " (check the indentation)",
            )
        else:
            raise SpecError("a step must be an op name or a one-key mapping", loc, received=step,
                            hint="e.g. `- flatten` or `- dense: {units: 10}`")
        if raw is None:
            raw = YDict()
            raw.loc = loc
        if not isinstance(raw, dict):
            raise SpecError(f"the arguments of `{kind}` must be a mapping", loc, received=raw,
                            hint=f"e.g. `- {kind}: {{...}}`; a bare op is written `- {kind}`")
        if "when" in raw:
            cond = self.value(raw["when"], ctx.vars, raw, "when", f"{path}.when")
            if not isinstance(cond, bool):
                raise SpecError("`when` must be true or false", loc_of(raw, "when", f"{path}.when"), received=cond)
            if not cond:
                return ctx.prev
        if not isinstance(kind, str):
            raise SpecError("a step's key must be a name", loc, received=kind)
        if kind in CONSTRUCTS:
            out = getattr(self, kind)(raw, ctx, loc, path)
        elif kind in self.doc.blocks:
            out = self.call_block(kind, raw, ctx, loc, path)
        else:
            op = get_op(kind)
            if op is None:
                known = list(self.doc.blocks) + list(CONSTRUCTS) + registry().spellings()
                raise SpecError(f"unknown layer or block `{kind}`", loc, received=kind,
                                hint=did_you_mean(kind, known) or "see `archspec ops` for the layers")
            out = self.layer(op, raw, ctx, loc, path)
        self._bind_as(raw, out, ctx, path)
        return out

    def _bind_as(self, raw: dict, node: str, ctx: _Ctx, path: str) -> None:
        if "as" not in raw:
            return
        name = self.value(raw["as"], ctx.vars, raw, "as", f"{path}.as")
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_REFS:
            raise SpecError("`as` must be an identifier (not `_` or `_in`)",
                            loc_of(raw, "as", f"{path}.as"), received=name)
        ctx.refs.names[name] = node

    def _source(self, raw: dict, ctx: _Ctx, path: str) -> list[str]:
        if "from" not in raw:
            return [ctx.prev]
        value = self.value(raw["from"], ctx.vars, raw, "from", f"{path}.from")
        loc = loc_of(raw, "from", f"{path}.from")
        refs = value if isinstance(value, list) else [value]
        if not refs:
            raise SpecError("`from` must name at least one input", loc)
        return [self.ref(r, ctx, loc) for r in refs]

    def ref(self, name: Any, ctx: _Ctx, loc: Loc) -> str:
        if not isinstance(name, str):
            raise SpecError("a reference must be a name", loc, received=name)
        if name == "_":
            return ctx.prev
        if name == "_in":
            return ctx.entry
        found = ctx.refs.get(name)
        if found is None and name in self.graph:
            found = name
        if found is None:
            visible = ctx.refs.visible() + [n.name for n in self.graph.nodes]
            raise SpecError(f"unknown reference `{name}`", loc, received=name,
                            hint=did_you_mean(name, visible) or
                            "refer to a layer `name`, an `as` name, `_` (previous) or `_in`")
        return found

    # ------------------------------------------------------------------ layers
    def layer(self, op: Op, raw: dict, ctx: _Ctx, loc: Loc, path: str,
              inputs: list[str] | None = None) -> str:
        args: dict = {}
        for key in raw:
            if key in STEP_KEYS:
                continue
            target = key if key in op.args else ARG_ALIASES.get(key, key)
            if target not in op.args:
                raise SpecError(
                    f"unknown argument `{key}` for `{op.cls}`",
                    (raw.key_loc(key) if isinstance(raw, YDict) else loc).at(f"{path}.{key}"),
                    received=key,
                    hint=did_you_mean(key, list(op.args) + list(STEP_KEYS))
                    or f"`{op.cls}` takes: " + ", ".join(op.args),
                )
            if target in args:
                raise SpecError(f"`{key}` and `{target}` are the same argument", loc_of(raw, key, f"{path}.{key}"))
            args[target] = self.value(raw[key], ctx.vars, raw, key, f"{path}.{key}")
        missing = [r for r in op.required if r not in args]
        if missing:
            raise SpecError(f"`{op.cls}` is missing its argument `{missing[0]}`", loc,
                            hint=f"`{op.cls}` requires: " + ", ".join(op.required))
        name = args.pop("name", None)
        if inputs is None:
            inputs = self._source(raw, ctx, path)
        return self.add_layer(op, args, inputs, name, loc, ctx)

    def add_layer(self, op: Op, args: dict, inputs: list[str], name: Any, loc: Loc, ctx: _Ctx) -> str:
        if name is None:
            name = self._auto_name(op.name)
        elif not isinstance(name, str) or not name or "/" in name:
            raise SpecError("a layer `name` must be a non-empty string without `/`", loc, received=name)
        shapes = [self.graph[i].shape for i in inputs]
        if op.multi_input and len(inputs) == 1:
            raise SpecError(f"`{op.cls}` merges several inputs: give them with `from: [a, b]`", loc,
                            received=inputs)
        if not op.multi_input and len(inputs) > 1:
            raise SpecError(f"`{op.cls}` takes one input, got {len(inputs)} in `from`", loc,
                            received=inputs)
        result, fallback = analyze_node(op, args, shapes, loc)
        return self._add_node(name, op.name, args, inputs, loc, result, ctx, fallback)

    def _auto_name(self, base: str) -> str:
        while True:
            n = self.counters.get(base, 0)
            self.counters[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.graph:
                return name

    def _add_node(self, name: str, op: str, args: dict, inputs: list[str], loc: Loc,
                  result: Result, ctx: _Ctx, fallback: bool = False) -> str:
        if name in self.graph:
            first = self.layer_locs.get(name)
            raise SpecError(f"duplicate layer name `{name}`", loc, received=name,
                            hint=(f"`{name}` was first defined at {first}; " if first else "")
                            + "layer names must be unique: derive them from block arguments or counters")
        if len(self.graph) >= MAX_NODES:
            raise SpecError(f"the model has more than {MAX_NODES:,} layers", loc,
                            hint="check `repeat: times` and recursive blocks")
        self.layer_locs[name] = loc
        self.graph.add(Node(name, op, args, list(inputs), loc, result, fallback, ctx.scope))
        return name

    # ------------------------------------------------------------------ constructs
    def _check_keys(self, raw: dict, allowed: tuple, what: str, path: str, loc: Loc) -> None:
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key `{key}` in `{what}`",
                                (raw.key_loc(key) if isinstance(raw, YDict) else loc).at(f"{path}.{key}"),
                                received=key, hint=did_you_mean(key, allowed) or "keys: " + ", ".join(allowed))

    def repeat(self, raw: dict, ctx: _Ctx, loc: Loc, path: str) -> str:
        self._check_keys(raw, ("times", "counter", "start", "body") + STEP_KEYS, "repeat", path, loc)
        if "body" not in raw:
            raise SpecError("`repeat` needs a `body`", loc)
        times = self.value(raw.get("times"), ctx.vars, raw, "times", f"{path}.times")
        tloc = loc_of(raw, "times", f"{path}.times")
        if not isinstance(times, int) or isinstance(times, bool) or times < 0:
            raise SpecError("`repeat: times` must be a non-negative integer", tloc, received=times)
        if times > MAX_REPEAT:
            raise SpecError(f"`repeat: times` is larger than {MAX_REPEAT}", tloc, received=times)
        counter = raw.get("counter", "i")
        if not isinstance(counter, str) or not counter.isidentifier():
            raise SpecError("`counter` must be an identifier", loc_of(raw, "counter", f"{path}.counter"),
                            received=counter)
        start = self.value(raw.get("start", 0), ctx.vars, raw, "start", f"{path}.start")
        ctx = ctx.child(prev=self._source(raw, ctx, path)[0])
        for k in range(times):
            inner = ctx.child(vars={**ctx.vars, counter: start + k})
            ctx.prev = self.seq(raw["body"], inner, f"{path}.body")
        return ctx.prev

    def branches(self, raw: dict, ctx: _Ctx, loc: Loc, path: str) -> str:
        self._check_keys(raw, ("paths", "merge", "axis", "name") + STEP_KEYS, "branches", path, loc)
        paths = raw.get("paths")
        if not isinstance(paths, list) or len(paths) < 2:
            raise SpecError("`branches` needs `paths`: a list of at least two step lists", loc,
                            received=paths)
        entry = self._source(raw, ctx, path)[0]
        outs = []
        for i, steps in enumerate(paths):
            sub = ctx.child(prev=entry, entry=entry, refs=_Refs(ctx.refs))
            outs.append(self.seq(steps, sub, f"{path}.paths[{i}]") if steps else entry)
        merge = self.value(raw.get("merge", "concat"), ctx.vars, raw, "merge", f"{path}.merge")
        op = self._merge_op(merge, loc_of(raw, "merge", f"{path}.merge"))
        args = {}
        if "axis" in raw:
            if op.name != "concatenate":
                raise SpecError("`axis` applies only to `merge: concat`", loc_of(raw, "axis", f"{path}.axis"))
            args["axis"] = self.value(raw["axis"], ctx.vars, raw, "axis", f"{path}.axis")
        name = self.value(raw.get("name"), ctx.vars, raw, "name", f"{path}.name")
        return self.add_layer(op, args, outs, name, loc, ctx)

    def _merge_op(self, merge: Any, loc: Loc) -> Op:
        if merge not in MERGES:
            raise SpecError(f"unknown merge `{merge}`", loc, received=merge,
                            hint=did_you_mean(merge, MERGES) or "merges: " + ", ".join(MERGES))
        return get_op(MERGES[merge])

    def residual(self, raw: dict, ctx: _Ctx, loc: Loc, path: str) -> str:
        self._check_keys(raw, ("body", "shortcut", "merge", "activation", "name", "projection")
                         + STEP_KEYS, "residual", path, loc)
        if "body" not in raw:
            raise SpecError("`residual` needs a `body`", loc)
        entry = self._source(raw, ctx, path)[0]
        name = self.value(raw.get("name"), ctx.vars, raw, "name", f"{path}.name")
        body_out = self.seq(raw["body"], ctx.child(prev=entry, entry=entry, refs=_Refs(ctx.refs)), f"{path}.body")
        shortcut = raw.get("shortcut", "auto")
        sloc = loc_of(raw, "shortcut", f"{path}.shortcut")
        if isinstance(shortcut, list):
            short_out = self.seq(shortcut, ctx.child(prev=entry, entry=entry, refs=_Refs(ctx.refs)),
                                 f"{path}.shortcut")
        else:
            shortcut = self.value(shortcut, ctx.vars, raw, "shortcut", f"{path}.shortcut")
            short_out = self._shortcut(shortcut, entry, body_out, raw, name, ctx, sloc, path)
        merge = self.value(raw.get("merge", "add"), ctx.vars, raw, "merge", f"{path}.merge")
        op = self._merge_op(merge, loc_of(raw, "merge", f"{path}.merge"))
        out = self.add_layer(op, {}, [short_out, body_out], f"{name}_add" if name else None, loc, ctx)
        if raw.get("activation") is not None:
            act = self.value(raw["activation"], ctx.vars, raw, "activation", f"{path}.activation")
            out = self.add_layer(get_op("activation"), {"activation": act}, [out],
                                 f"{name}_out" if name else None, loc_of(raw, "activation", path), ctx)
        return out

    def _shortcut(self, kind: Any, entry: str, body_out: str, raw: dict, name: Any,
                  ctx: _Ctx, loc: Loc, path: str) -> str:
        kinds = ("auto", "identity", "projection", "pad")
        if kind not in kinds:
            raise SpecError(f"unknown shortcut `{kind}`", loc, received=kind,
                            hint=did_you_mean(kind, kinds) or "shortcuts: " + ", ".join(kinds)
                            + ", or a list of steps")
        src, dst = self.graph[entry].shape, self.graph[body_out].shape
        if kind == "auto":
            kind = "identity" if src == dst else "projection"
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
            op = get_op("zero_pad_shortcut")
            if op is None:  # pragma: no cover (archspec.layers ships it)
                raise SpecError("the `pad` shortcut layer is not available", loc)
            return self.add_layer(op, {"filters": dst[-1], "strides": strides}, [entry],
                                  f"{name}_pad" if name else None, loc, ctx)
        proj = self.value(raw.get("projection", {}), ctx.vars, raw, "projection", f"{path}.projection")
        if not isinstance(proj, dict):
            raise SpecError("`projection` must be a mapping", loc, received=proj)
        for key in proj:
            if key not in ("batch_norm", "use_bias", "epsilon", "momentum"):
                raise SpecError(f"unknown key `{key}` in `projection`", loc, received=key,
                                hint=did_you_mean(key, ("batch_norm", "use_bias", "epsilon", "momentum")))
        bn = proj.get("batch_norm", True)
        out = self.add_layer(
            get_op(f"conv{rank}d"),
            {"filters": dst[-1], "kernel_size": 1, "strides": strides, "use_bias": proj.get("use_bias", not bn)},
            [entry], f"{name}_proj" if name else None, loc, ctx,
        )
        if bn:
            bn_args = {k: proj[k] for k in ("epsilon", "momentum") if k in proj}
            out = self.add_layer(get_op("batch_normalization"), bn_args, [out],
                                 f"{name}_proj_bn" if name else None, loc, ctx)
        return out

    # ------------------------------------------------------------------ blocks
    def call_block(self, bname: str, raw: dict, ctx: _Ctx, loc: Loc, path: str) -> str:
        bdef = self.doc.blocks[bname]
        bpath = f"blocks.{bname}"
        if bname in ctx.stack:
            chain = " -> ".join(ctx.stack + (bname,))
            raise SpecError(f"block `{bname}` calls itself (recursive template)", loc, received=chain,
                            hint="blocks may not call themselves, directly or through other blocks")
        if len(ctx.stack) >= MAX_BLOCK_DEPTH:
            raise SpecError("blocks are nested too deep", loc)
        if not isinstance(bdef, dict) or "body" not in bdef:
            raise SpecError(f"block `{bname}` needs a `body`", getattr(bdef, "loc", loc).at(bpath))
        self._check_keys(bdef, ("args", "body", "description"), f"blocks.{bname}", bpath,
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
            values[key] = self.value(raw[key], ctx.vars, raw, key, f"{path}.{key}")
        scope = {k: v for k, v in ctx.vars.items() if k in self._param_names()}
        for key in declared:
            kind, default, has_default = _arg_decl(declared[key], loc_of(declared, key, f"{bpath}.args.{key}"))
            if key in values:
                value = values[key]
            elif has_default:
                value = self.value(default, scope, declared, key, f"{bpath}.args.{key}")
            else:
                raise SpecError(f"block `{bname}` is missing its argument `{key}`", loc,
                                hint=f"`{bname}` takes: " + ", ".join(
                                    f"{k}: {_arg_decl(declared[k], loc)[0]}" for k in declared))
            expected = ARG_TYPES[kind]
            if value is not None and (not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool))):
                raise SpecError(f"argument `{key}` of block `{bname}` must be {kind}",
                                loc_of(raw, key, f"{path}.{key}") if key in raw else loc, received=value)
            scope[key] = value
        entry = self._source(raw, ctx, path)[0]
        inner = _Ctx(vars=scope, refs=_Refs(ctx.refs), prev=entry, entry=entry,
                     stack=ctx.stack + (bname,), scope=f"{ctx.scope}/{bname}" if ctx.scope else bname)
        try:
            return self.seq(bdef["body"], inner, f"{bpath}.body")
        except SpecError as err:
            raise err.add_trace(f"block `{bname}` called at {loc}") from None

    def _param_names(self) -> set:
        raw = self.data.get("params") or {}
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
    if kind not in ARG_TYPES:
        raise SpecError(f"unknown argument type `{kind}`", loc, received=kind,
                        hint=did_you_mean(kind, ARG_TYPES) or "types: " + ", ".join(ARG_TYPES))
    return kind, default, has_default


def analyze_node(op: Op, args: dict, shapes: list, loc: Loc) -> tuple[Result, bool]:
    """Run the op's analyzer rule; fall back to Keras when there is none (imports Keras)."""
    if op.rule is not None:
        try:
            return op.rule(args, shapes), False
        except ShapeError as exc:
            given = ", ".join("(batch, " + ", ".join("None" if v is None else str(v) for v in s) + ")"
                              for s in shapes)
            raise SpecError(f"{op.cls}: {exc.message}", loc, received=f"input shape {given}",
                            hint=exc.hint) from None
        except NoRule:
            pass
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
            raise SpecError(f"{op.cls}: invalid arguments ({exc})", loc, received=args) from None
    from archspec.analyze.fallback import keras_result

    return keras_result(op, args, shapes, loc), True
