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

from dataclasses import dataclass, field
from typing import Any

from archspec.analyze.infer import analyze_node
from archspec.ir import Result
from archspec.errors import Loc, SpecError, did_you_mean
from archspec.ir import Graph, Node
from archspec.ops import ARG_ALIASES, STEP_KEYS, Op, get_op, registry
from archspec.spec import expr
from archspec.spec.document import Document
from archspec.spec.load import YDict, loc_of
from archspec.spec.blocks import call_block
from archspec.spec.constructs import CONSTRUCTS
from archspec.spec.context import Ctx, Refs
from archspec.spec.sharing import Shares
from archspec.spec.space import Chooser, default_chooser, is_space, parse_space

MAX_NODES = 20_000
RESERVED_REFS = ("_", "_in")


@dataclass
class Resolved:
    """The outcome of resolution: the graph plus the evaluated parameters and train section."""

    graph: Graph
    params: dict
    train: Any
    spaces: list = field(default_factory=list)
    init: dict | None = None       # {weights, strict, adapt_input}: checked, paths as written
    features: list | None = None   # layer names a backbone returns: checked to exist


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
        self.calls = 0  # block calls so far, for unique scope labels
        self.shares = Shares()  # `share:` keys and the application being resolved

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
        if "/" in name:  # Keras refuses it in model and layer names
            raise SpecError("`name` may not contain `/`", loc_of(data, "name", "name"), received=name,
                            hint="use `_` or `-`: the name becomes the Keras model's name")
        self.graph.name = name
        ctx = Ctx(vars=dict(params), refs=Refs(), prev=None, entry=None)
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
        init = _init(self.value(data["init"], ctx.vars, data, "init", "init"), loc_of(data, "init", "init"),
                     self.doc.roots) if "init" in data else None
        features = check_features(self.value(data["features"], ctx.vars, data, "features", "features"),
                             loc_of(data, "features", "features"), self.graph) if "features" in data else None
        return Resolved(self.graph, params, train, self.spaces, init, features)

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

    def _inputs(self, ctx: Ctx) -> None:
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
            if not isinstance(name, str) or not name.isidentifier():
                raise SpecError("an input name must be an identifier", loc, received=name)
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

    def _outputs(self, ctx: Ctx, last: str) -> list[str]:
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
    def seq(self, steps: Any, ctx: Ctx, path: str, loc: Loc | None = None) -> str:
        if not isinstance(steps, list):
            raise SpecError("a body must be a list of steps", loc or getattr(steps, "loc", Loc()).at(path),
                            received=steps, hint="write each step on its own line starting with `- `")
        for i, step in enumerate(steps):
            ctx.prev = self.step(step, ctx, steps, i, f"{path}[{i}]")
        return ctx.prev

    def step(self, step: Any, ctx: Ctx, parent: Any, index: int, path: str) -> str:
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
            resolve = lambda: CONSTRUCTS[kind](self, raw, ctx, loc, path)  # noqa: E731
        elif kind in self.doc.blocks:
            resolve = lambda: call_block(self, kind, raw, ctx, loc, path)  # noqa: E731
        else:
            op = get_op(kind)
            if op is None:
                known = list(self.doc.blocks) + list(CONSTRUCTS) + registry().spellings()
                raise SpecError(f"unknown layer or block `{kind}`", loc, received=kind,
                                hint=did_you_mean(kind, known) or "see `archspec ops` for the layers")
            resolve = lambda: self.layer(op, raw, ctx, loc, path)  # noqa: E731
        out = self.shares.step(self._share_key(raw, ctx, path), loc, self.graph, resolve)
        self._bind_as(raw, out, ctx, path)
        return out

    def _share_key(self, raw: dict, ctx: Ctx, path: str) -> str | None:
        if "share" not in raw:
            return None
        key = self.value(raw["share"], ctx.vars, raw, "share", f"{path}.share")
        if not isinstance(key, str) or not key:
            raise SpecError("`share` must be a name (the steps with the same name share their weights)",
                            loc_of(raw, "share", f"{path}.share"), received=key)
        return key

    def _bind_as(self, raw: dict, node: str, ctx: Ctx, path: str) -> None:
        if "as" not in raw:
            return
        name = self.value(raw["as"], ctx.vars, raw, "as", f"{path}.as")
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_REFS:
            raise SpecError("`as` must be an identifier (not `_` or `_in`)",
                            loc_of(raw, "as", f"{path}.as"), received=name)
        ctx.refs.names[name] = node

    def source(self, raw: dict, ctx: Ctx, path: str) -> list[str]:
        """The nodes a step reads: its `from:` (names or references), else the previous node.
        Blocks and constructs (:mod:`archspec.spec.blocks`, :mod:`~archspec.spec.constructs`)
        use it as layers do."""
        if "from" not in raw:
            return [ctx.prev]
        value = self.value(raw["from"], ctx.vars, raw, "from", f"{path}.from")
        loc = loc_of(raw, "from", f"{path}.from")
        refs = value if isinstance(value, list) else [value]
        if not refs:
            raise SpecError("`from` must name at least one input", loc)
        return [self.ref(r, ctx, loc) for r in refs]

    def ref(self, name: Any, ctx: Ctx, loc: Loc) -> str:
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
    def layer(self, op: Op, raw: dict, ctx: Ctx, loc: Loc, path: str,
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
            inputs = self.source(raw, ctx, path)
        arg_locs = {}
        if isinstance(raw, YDict):
            for key in raw:
                target = key if key in op.args else ARG_ALIASES.get(key, key)
                arg_locs[target] = raw.value_loc(key).at(f"{path}.{key}")
        return self.add_layer(op, args, inputs, name, loc, ctx, arg_locs)

    def add_layer(self, op: Op, args: dict, inputs: list[str], name: Any, loc: Loc, ctx: Ctx,
                  arg_locs: dict | None = None) -> str:
        if name is None:
            # an application of a shared layer is named after it (`conv2d:2`): no automatic name
            name = self._auto_name(op.name) if self.shares.current is None else None
        elif not isinstance(name, str) or not name or "/" in name:
            raise SpecError("a layer `name` must be a non-empty string without `/`", loc, received=name)
        shapes = [self.graph[i].shape for i in inputs]
        if op.multi_input and len(inputs) == 1:
            raise SpecError(f"`{op.cls}` merges several inputs: give them with `from: [a, b]`", loc,
                            received=inputs)
        if not op.multi_input and len(inputs) > 1:
            raise SpecError(f"`{op.cls}` takes one input, got {len(inputs)} in `from`", loc,
                            received=inputs)
        # an application of a shared layer (archspec/spec/sharing.py): the layer it applies
        root = (self.shares.next_layer(self.graph, op.name, op.cls, args, loc, op.call_args)
                if self.shares.current else None)
        try:
            result, fallback = analyze_node(op, args, shapes, loc, arg_locs)
        except SpecError as err:
            value = err.received
            if isinstance(value, str) and value in ctx.vars and not err.hint:
                err.hint = f"to use the parameter `{value}`, write `${value}`"
                err.args = (err.format(),)
            raise
        if root is not None:
            name, result = self.shares.apply(self.graph, root, shapes, result, loc)
        return self._add_node(name, op.name, args, inputs, loc, result, ctx, fallback,
                              root.name if root is not None else None)

    def _auto_name(self, base: str) -> str:
        while True:
            n = self.counters.get(base, 0)
            self.counters[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.graph:
                return name

    def _add_node(self, name: str, op: str, args: dict, inputs: list[str], loc: Loc,
                  result: Result, ctx: Ctx, fallback: bool = False, shares: str | None = None) -> str:
        if name in self.graph:
            first = self.layer_locs.get(name)
            raise SpecError(f"duplicate layer name `{name}`", loc, received=name,
                            hint=(f"`{name}` was first defined at {first}; " if first else "")
                            + "layer names must be unique: derive them from block arguments or counters")
        if len(self.graph) >= MAX_NODES:
            raise SpecError(f"the model has more than {MAX_NODES:,} layers", loc,
                            hint="check `repeat: times` and recursive blocks")
        self.layer_locs[name] = loc
        self.graph.add(Node(name, op, args, list(inputs), loc, result, fallback, ctx.scope, shares))
        return name

    # ------------------------------------------------------------------ constructs
    def check_keys(self, raw: dict, allowed: tuple, what: str, path: str, loc: Loc) -> None:
        """Refuse a key of ``raw`` not in ``allowed``, located, with "did you mean"."""
        for key in raw:
            if key not in allowed:
                raise SpecError(f"unknown key `{key}` in `{what}`",
                                (raw.key_loc(key) if isinstance(raw, YDict) else loc).at(f"{path}.{key}"),
                                received=key, hint=did_you_mean(key, allowed) or "keys: " + ", ".join(allowed))


#: the keys of ``init:`` and what each takes
INIT_KEYS = {"weights": str, "strict": bool, "adapt_input": bool}


def _init(value, loc: Loc, roots: tuple) -> dict:
    """``init: {weights: PATH, strict: bool, adapt_input: bool}``, checked; ``path``: the weights
    file, relative to the spec that names it and confined as includes are (not read here)."""
    if isinstance(value, str):
        value = {"weights": value}
    example = "e.g. `init: {weights: resnet50.weights.h5, adapt_input: true}`"
    if not isinstance(value, dict):
        raise SpecError("`init` must be a mapping with `weights: PATH`", loc, received=value, hint=example)
    for key, v in value.items():
        if key not in INIT_KEYS:
            raise SpecError(f"unknown init field `{key}`", loc.at(f"init.{key}"), received=key,
                            hint=did_you_mean(key, INIT_KEYS) or "init fields: " + ", ".join(INIT_KEYS))
        if not isinstance(v, INIT_KEYS[key]) or (INIT_KEYS[key] is str and not v):
            kind = "a path" if INIT_KEYS[key] is str else "true or false"
            raise SpecError(f"`init.{key}` must be {kind}", loc.at(f"init.{key}"), received=v)
    if "weights" not in value:
        raise SpecError("`init` needs `weights: PATH`", loc, received=value, hint=example)
    from archspec.spec.document import confined_file

    return {**value, "path": str(confined_file(value["weights"], loc.at("init.weights"), roots))}


def check_features(value, loc: Loc, graph: Graph) -> list:
    """``features: [NAME, ...]``: layer names of the graph, each once (a single name is a list of
    one). The one check of feature names: the spec key, ``build(features=...)`` and
    ``--features`` all come here; an unknown name gets "did you mean"."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SpecError("`features` must be a list of layer names", loc, received=value,
                        hint="e.g. `features: [conv3_block4_out, conv4_block6_out, conv5_block3_out]`")
    names = [n.name for n in graph.layers]
    for name in value:
        if name not in graph:
            raise SpecError(f"no layer `{name}` for `features`", loc, received=name,
                            hint=did_you_mean(name, names) or "`archspec summary` lists the layer names")
    if len(set(value)) != len(value):
        raise SpecError("`features` names a layer twice", loc, received=value)
    return list(value)
