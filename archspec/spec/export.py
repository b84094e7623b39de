"""Write a resolved spec back out as concrete YAML (every template, repeat and param expanded)."""

from __future__ import annotations

import yaml

from archspec.spec.load import plain as _plain


def resolved_yaml(spec) -> str:
    graph = spec.graph
    doc: dict = {"name": spec.name}
    if spec.params:
        doc["params"] = _plain(spec.params)
    inputs = [graph[n] for n in graph.inputs]
    if len(inputs) == 1 and inputs[0].name == "input_layer":
        doc["input"] = _plain(inputs[0].args)
    else:
        doc["inputs"] = {n.name: _plain(n.args) for n in inputs}
    body = []
    prev = graph.inputs[0] if graph.inputs else None
    shared = {n.shares for n in graph.layers if n.shares}
    for node in graph.layers:
        # an application of a shared layer: `share:` the layer's name, named after it on reload
        args = {**({} if node.shares else {"name": node.name}), **_plain(node.args)}
        if node.shares or node.name in shared:
            args["share"] = node.shares or node.name
        if node.inputs != [prev]:
            args["from"] = node.inputs[0] if len(node.inputs) == 1 else list(node.inputs)
        body.append({node.op: args})
        prev = node.name
    doc["body"] = body
    if graph.outputs != [prev]:
        doc["outputs"] = list(graph.outputs)
    if spec.train is not None:
        doc["train"] = _plain(spec.train)
    header = f"# {spec.name}: resolved from {spec.path} by archspec (every value concrete)\n"
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
