"""Compare two architectures layer by layer (``archspec diff A B``), without TensorFlow.

Layers are matched by name (archspec names are deterministic): a layer only in A is *removed*,
only in B *added*; a layer in both is *changed* when its op, arguments, inputs, output shape,
parameters or MACs differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archspec.spec import Spec
from archspec.ir import format_shape as _shape
from archspec.spec import as_spec


@dataclass
class LayerChange:
    name: str
    kind: str  # "added" | "removed" | "changed"
    details: list[str] = field(default_factory=list)


@dataclass
class Diff:
    a: str
    b: str
    changes: list[LayerChange]
    totals: dict  # field -> (a, b)

    @property
    def same(self) -> bool:
        return not self.changes and all(x == y for x, y in self.totals.values())


def diff_specs(a: Spec | str | Path, b: Spec | str | Path, *, include_path=()) -> Diff:
    """What changed from ``a`` to ``b`` (specs or spec files), layer by layer.

    >>> diff_specs("architectures/lenet5.yaml", "architectures/lenet5.yaml").same  # doctest: +SKIP
    True
    """
    a, b = as_spec(a, include_path=include_path), as_spec(b, include_path=include_path)
    ga, gb = a.graph, b.graph
    ra, rb = {r.name: r for r in a.analyze().layers}, {r.name: r for r in b.analyze().layers}
    changes = []
    for node in ga.nodes:
        if node.name not in gb:
            r = ra[node.name]
            changes.append(LayerChange(node.name, "removed", [f"{node.op} {_shape(r.output_shape)} {r.params:,} params"]))
            continue
        other = gb[node.name]
        details = []
        if node.op != other.op:
            details.append(f"op {node.op} -> {other.op}")
        for key in sorted(set(node.args) | set(other.args)):
            va, vb = node.args.get(key, "(default)"), other.args.get(key, "(default)")
            if va != vb:
                details.append(f"{key}: {va!r} -> {vb!r}")
        if node.inputs != other.inputs:
            details.append(f"inputs {node.inputs} -> {other.inputs}")
        x, y = ra[node.name], rb[node.name]
        if x.output_shape != y.output_shape:
            details.append(f"shape {_shape(x.output_shape)} -> {_shape(y.output_shape)}")
        if x.params != y.params:
            details.append(f"params {x.params:,} -> {y.params:,} ({y.params - x.params:+,})")
        if x.macs != y.macs:
            details.append(f"MACs {_num(x.macs)} -> {_num(y.macs)}")
        if details:
            changes.append(LayerChange(node.name, "changed", details))
    for node in gb.nodes:
        if node.name not in ga:
            r = rb[node.name]
            changes.append(LayerChange(node.name, "added", [f"{node.op} {_shape(r.output_shape)} {r.params:,} params"]))
    ta, tb = a.analyze(), b.analyze()
    totals = {
        "layers": (len(ga.layers), len(gb.layers)),
        "params": (ta.total_params, tb.total_params),
        "trainable_params": (ta.trainable_params, tb.trainable_params),
        "macs": (ta.macs, tb.macs),
        "outputs": ([_shape(s) for s in a.output_shapes], [_shape(s) for s in b.output_shapes]),
    }
    return Diff(a.path, b.path, changes, totals)


def _num(n) -> str:
    return "?" if n is None else f"{n:,}"


def format_diff(d: Diff) -> str:
    """``d`` as ``archspec diff`` prints it: ``-`` removed, ``+`` added, ``~`` changed, then totals."""
    out = [f"--- {d.a}", f"+++ {d.b}"]
    mark = {"removed": "-", "added": "+", "changed": "~"}
    for c in d.changes:
        out.append(f"{mark[c.kind]} {c.name}: " + "; ".join(c.details))
    if not d.changes:
        out.append("  (no layer differs)")
    for key, (x, y) in d.totals.items():
        if isinstance(x, int):
            out.append(f"  {key}: {x:,} -> {y:,} ({y - x:+,})" if x != y else f"  {key}: {x:,} (same)")
        else:
            out.append(f"  {key}: {x} -> {y}" if x != y else f"  {key}: {x} (same)")
    return "\n".join(out)
