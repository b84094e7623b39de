"""Draw an architecture with graphviz (``archspec plot SPEC -o FILE.svg|png``).

Each layer is a box (name, op, output shape, parameters); each block call is a dashed cluster,
and ``collapse=N`` draws block calls nested deeper than N levels as one box each (their output
shape and total parameters), so a ResNet-152 fits on a page. Needs ``pydot`` (pip) and the
``dot`` program (Debian/Ubuntu: ``apt-get install graphviz``; macOS: ``brew install graphviz``).
"""

from __future__ import annotations

import html
from pathlib import Path

from archspec.errors import RunError, SpecError, command_line
from archspec.spec import Spec
from archspec.ir import format_shape as _shape
from archspec.spec import as_spec

INSTALL_HINT = ("install graphviz's `dot` program (Debian/Ubuntu: apt-get install graphviz; "
                "macOS: brew install graphviz) and pydot (pip install pydot)")


def _label(title: str, op: str, shape, params: int, color: str) -> str:
    return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
            f'<tr><td bgcolor="{color}"><b>{html.escape(title)}</b></td></tr>'
            f'<tr><td>{html.escape(op)}</td></tr>'
            f'<tr><td>{html.escape(_shape(shape))}</td></tr>'
            f'<tr><td>{params:,} params</td></tr></table>>')


COLORS = {"conv": "#cfe2f3", "pool": "#d9ead3", "dense": "#fce5cd", "norm": "#ead1dc",
          "input": "#eeeeee", "concat": "#fff2cc", "add": "#fff2cc", "block": "#d9d2e9"}


def _color(op: str) -> str:
    for key, color in COLORS.items():
        if key in op:
            return color
    return "#ffffff"


def to_dot(spec: Spec | str | Path, *, collapse: int | None = None):
    """A ``pydot.Dot`` of the spec's graph (a spec or a spec file); ``collapse``: block depth
    drawn as single boxes."""
    try:
        import pydot
    except ImportError:
        raise RunError("drawing needs the `pydot` package", hint=INSTALL_HINT) from None
    spec = as_spec(spec)
    analysis = {r.name: r for r in spec.analyze().layers}
    graph = pydot.Dot(spec.name, graph_type="digraph", rankdir="TB", fontname="Helvetica")
    graph.set_node_defaults(shape="plaintext", fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(fontname="Helvetica", fontsize="9")

    def box_of(node) -> str:
        """The drawn box a node belongs to: itself, or its collapsed block call."""
        parts = node.scope.split("/") if node.scope else []
        if collapse is not None and len(parts) > collapse:
            return "block:" + "/".join(parts[: collapse + 1])
        return node.name

    clusters: dict[str, object] = {}

    def cluster_for(scope: str):
        if not scope:
            return graph
        if scope in clusters:
            return clusters[scope]
        parent_scope, _, label = scope.rpartition("/")
        parent = cluster_for(parent_scope)
        sub = pydot.Cluster(f"c{len(clusters)}", label=label.split("#")[0], style="dashed",
                            fontname="Helvetica", fontsize="10")
        parent.add_subgraph(sub)
        clusters[scope] = sub
        return sub

    boxes: dict[str, dict] = {}
    for node in spec.graph.nodes:
        box = box_of(node)
        row = analysis[node.name]
        if box == node.name:
            parts = node.scope.split("/") if node.scope else []
            scope = "/".join(parts[: collapse]) if collapse is not None else node.scope
            cluster_for(scope).add_node(pydot.Node(
                _id(box), label=_label(node.name, node.op, node.shape, row.params, _color(node.op))))
            boxes[box] = {"shape": node.shape}
        else:
            info = boxes.setdefault(box, {"params": 0, "scope": box[len("block:"):]})
            info["params"] += row.params
            info["shape"] = node.shape  # the last node of the call is its output
    for box, info in boxes.items():
        if box.startswith("block:"):
            scope = info["scope"]
            parent, _, label = scope.rpartition("/")
            title, _, call = label.partition("@")
            cluster_for(parent).add_node(pydot.Node(
                _id(box), label=_label(call or title, title.split("#")[0], info["shape"], info["params"],
                                       COLORS["block"])))
    seen = set()
    for node in spec.graph.nodes:
        dst = box_of(node)
        for src_name in node.inputs:
            src = box_of(spec.graph[src_name])
            if src == dst or (src, dst) in seen:
                continue
            seen.add((src, dst))
            graph.add_edge(pydot.Edge(_id(src), _id(dst)))
    return graph


def _id(name: str) -> str:
    return '"' + name.replace('"', "'") + '"'


def write_plot(spec: Spec | str | Path, output: str | Path, *, collapse: int | None = None) -> Path:
    """Render to ``.svg``, ``.png``, ``.pdf`` or ``.dot`` (by the file's suffix)."""
    output = Path(output)
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise SpecError("the plot file must end in .svg, .png, .pdf or .dot", command_line("--output"),
                        received=str(output))
    graph = to_dot(spec, collapse=collapse)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        output.write_text(graph.to_string())
        return output
    try:
        data = graph.create(format=fmt)
    except FileNotFoundError:
        raise RunError("drawing needs graphviz's `dot` program, which is not installed",
                       hint=INSTALL_HINT) from None
    output.write_bytes(data)
    return output
