"""Weight sharing: ``share: KEY`` applies one step's layers again, with the same weights.

The first step with a given ``share`` key makes its layers as usual and owns their weights; every
later step with the same key (a layer, a block call or a construct, on other inputs) must make the
same layers with the same arguments, in the same order: each of them becomes an application of the
first one's layer (Keras calls that layer again) instead of a new layer::

    - encoder: {from: left, as: a, share: siamese}     # makes the encoder's layers
    - encoder: {from: right, as: b, share: siamese}    # applies the same layers to `right`

The applications are nodes of the graph like any other (their own output shapes and MACs, since
they compute), named after the layer they apply: ``<layer>:2`` for its second application, ``:3``
for the third. They carry no parameters of their own (``Node.shares`` names the layer), so the
analyzer counts shared weights once, as Keras' ``count_params`` does. A shared layer must find
weights of the same shapes: an input with other channels than at the first use is refused, located,
naming both shapes. Spatial sizes may differ (a shared head over feature levels).

Inside an application, ``share`` keys of nested steps are implied by the outer one (every layer
made inside is already an application), so shared blocks may contain shared layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archspec.errors import Loc, SpecError
from archspec.ir import Graph, Node, Result, format_shape


@dataclass
class _Owner:
    nodes: list  # names of the layers the first use made, in order
    loc: Loc


@dataclass
class _Application:
    key: str
    owner: _Owner
    loc: Loc
    made: int = 0  # layers made so far in this application


@dataclass
class Shares:
    """The share keys seen so far, and the application being resolved (if any)."""

    owners: dict = field(default_factory=dict)
    current: _Application | None = None
    calls: dict = field(default_factory=dict)  # root layer -> applications made so far

    def step(self, key: str | None, loc: Loc, graph: Graph, resolve):
        """Resolve one step (``resolve()``) under ``share: key``; returns its output node."""
        if key is None or self.current is not None:  # no key, or implied by the outer application
            return resolve()
        owner = self.owners.get(key)
        if owner is None:  # the first use: resolve it, and remember the layers it made
            start = len(graph.nodes)
            out = resolve()
            made = [n.name for n in graph.nodes[start:] if n.op != "input"]
            if not made:
                raise SpecError(f"`share: {key}`: the step makes no layer to share", loc,
                                hint="`share` goes on a layer, a block call or a construct")
            self.owners[key] = _Owner(made, loc)
            return out
        self.current = _Application(key, owner, loc)
        try:
            out = resolve()
            made = self.current.made
        finally:
            self.current = None
        if made != len(owner.nodes):
            raise SpecError(
                f"`share: {key}`: this step makes {made} layer(s), its first use at {owner.loc} made "
                f"{len(owner.nodes)}", loc,
                hint="a shared step must make the same layers as its first use (check `when` and "
                     "`repeat` values that differ between the two)")
        return out

    def next_layer(self, graph: Graph, op_name: str, cls: str, args: dict, loc: Loc,
                   call_args: tuple = ()) -> Node:
        """For a layer about to be made inside an application: the layer it applies again (the
        root of the sharing); refuses another op or other arguments than the first use's (the
        arguments of the layer's call, ``call_args``, may differ: ``reverse`` of a
        ReversibleEmbedding)."""
        app = self.current
        if app.made >= len(app.owner.nodes):
            raise SpecError(f"`share: {app.key}`: this step makes more layers than its first use at "
                            f"{app.owner.loc} ({len(app.owner.nodes)})", loc)
        first: Node = graph[app.owner.nodes[app.made]]
        app.made += 1
        root: Node = graph[first.shares] if first.shares else first
        made = lambda a: {k: v for k, v in a.items() if k not in call_args}  # noqa: E731
        if (op_name, made(args)) != (first.op, made(first.args)):
            raise SpecError(
                f"`share: {app.key}`: this layer ({cls} {_args(args)}) is not the one it shares, "
                f"`{first.name}` ({first.op} {_args(first.args)})", loc,
                hint="a shared step makes the same layers with the same arguments as its first use; "
                     "only its inputs differ")
        return root

    def apply(self, graph: Graph, root: Node, shapes: list, result: Result, loc: Loc) -> tuple[str, Result]:
        """The application's node name and result, its parameters moved to ``root``; refuses an
        input that would need weights of other shapes."""
        app = self.current
        if (result.params, result.non_trainable) != (root.result.params, root.result.non_trainable):
            here = ", ".join(format_shape(s, "batch") for s in shapes)
            there = ", ".join(format_shape(graph[i].shape, "batch") for i in root.inputs)
            raise SpecError(
                f"`share: {app.key}`: `{root.name}` would need other weights for input {here} than "
                f"for its first input {there} ({result.params + result.non_trainable:,} parameters "
                f"against {root.result.params + root.result.non_trainable:,})", loc,
                received=here, hint="a shared layer needs inputs with the same channels (last axis) "
                                    "as at its first use")
        n = self.calls.get(root.name, 1) + 1
        while f"{root.name}:{n}" in graph:
            n += 1
        self.calls[root.name] = n
        shared = Result(result.shape, 0, 0, result.macs, result.window, result.strides, result.rf)
        return f"{root.name}:{n}", shared


def _args(args: dict) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return "{" + (text if len(text) <= 80 else text[:77] + "...") + "}"
