"""A JSON Schema of the spec language, generated from the op registry (``archspec schema``).

For editors: with yaml-language-server, put ``# yaml-language-server: $schema=archspec.schema.json``
at the top of a spec to get completion of op and argument names and red squiggles under typos
(``fliters``). The schema checks names and structure; values are free, since any value may be a
``$param``, an ``${expression}`` or a ``{hp: ...}`` search space. ``archspec validate`` remains the
full check (shapes, references, blocks).
"""

from __future__ import annotations

from archspec.ops import ARG_ALIASES, registry
from archspec.spec.document import TOP_KEYS

SCHEMA_ID = "https://archspec.dev/schema/spec.json"
_ANY: dict = {}


def _steps() -> dict:
    return {"type": "array", "items": {"$ref": "#/$defs/step"}}


def _closed(properties: dict, *, required: list | None = None, description: str = "") -> dict:
    out = {"type": ["object", "null"], "properties": properties, "additionalProperties": False}
    if required:
        out["type"] = "object"
        out["required"] = required
    if description:
        out["description"] = description
    return out


def _step_keys() -> dict:
    return {"from": {"description": "input reference(s); default: the previous step"},
            "as": {"type": "string", "description": "a reference name for this step's output"},
            "when": {"description": "skip the step when false"},
            "share": {"type": "string", "description": "steps with the same `share` name apply one set "
                      "of weights: the first makes the layers, the others apply them again"}}


def _constructs() -> dict:
    keys = _step_keys()
    return {
        "repeat": _closed({"times": _ANY, "counter": {"type": "string"}, "start": _ANY,
                           "body": _steps(), **keys}, required=["body"],
                          description="repeat a body `times` times with a counter"),
        "branches": _closed({"paths": {"type": "array", "items": _steps()}, "merge": _ANY,
                             "axis": _ANY, "name": _ANY, **keys}, required=["paths"],
                            description="parallel paths from one input, merged"),
        "residual": _closed({"body": _steps(), "shortcut": {"anyOf": [{"type": "string"}, _steps()]},
                             "merge": _ANY, "activation": _ANY, "name": _ANY,
                             "projection": {"type": "object"}, **keys}, required=["body"],
                            description="body + shortcut, added, optional post-activation"),
        # an op (`layer:`) or a construct (`body:`): every layer of the body runs on each time step
        "time_distributed": {"anyOf": [
            {"$ref": "#/$defs/op.time_distributed"},
            _closed({"body": _steps(), **keys}, required=["body"],
                    description="a body whose every layer runs on each time step")]},
    }


def _ops() -> dict:
    reg = registry()
    out = {}
    for name in reg.names():
        op = reg.get(name)
        props = {a: _ANY for a in op.args}
        props.update({alias: _ANY for alias, target in ARG_ALIASES.items() if target in op.args})
        props.update(_step_keys())
        out[name] = _closed(props, description=f"{op.module}.{op.cls}")
        if op.cls != name:
            out[op.cls] = {"$ref": f"#/$defs/op.{name}"}
    return out


def make_schema() -> dict:
    """The JSON Schema (draft 2020-12) of an archspec spec file."""
    ops = _ops()
    constructs = _constructs()
    step_props = {k: {"$ref": f"#/$defs/op.{k}"} for k in ops}
    step_props.update(constructs)
    top = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "reference": {"type": "string"},
        "params": {"type": "object"},
        "use": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "extends": {"type": "string"},
        "blocks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"}},
        "input": _ANY,
        "inputs": {"type": "object"},
        "body": _steps(),
        "outputs": _ANY,
        "train": {"type": "object"},
        "init": {"anyOf": [{"type": "string"}, {
            "type": "object", "required": ["weights"], "additionalProperties": False,
            "properties": {"weights": {"type": "string"}, "strict": {"type": "boolean"},
                           "adapt_input": {"type": "boolean"}}}]},
        "features": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    }
    missing = set(TOP_KEYS) - set(top)
    if missing:  # pragma: no cover (keeps the schema in step with the loader)
        raise RuntimeError(f"schema lacks top-level keys {sorted(missing)}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "archspec spec",
        "type": "object",
        "properties": top,
        "additionalProperties": False,
        "$defs": {
            **{f"op.{k}": v for k, v in ops.items()},
            "block": _closed({"args": {"type": "object"}, "body": _steps(),
                              "description": {"type": "string"}}, required=["body"]),
            "step": {
                "anyOf": [
                    {"type": "string", "description": "an op or block without arguments"},
                    {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "properties": step_props,
                        # a block call: any name, its own arguments
                        "additionalProperties": {"type": ["object", "null"]},
                    },
                ]
            },
        },
    }
