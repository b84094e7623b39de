"""The shipped architectures (``archspec zoo``): each spec with its parameters and MACs.

>>> rows = zoo_rows()                                  # doctest: +SKIP
>>> rows[0].name, rows[0].params                       # doctest: +SKIP
('alexnet.yaml', 62378344)
"""

from __future__ import annotations

from dataclasses import dataclass

from archspec.spec import load
from archspec.spec.document import ZOO


@dataclass(frozen=True)
class ZooRow:
    name: str  # the spec file's name, e.g. ``vgg16.yaml``
    description: str
    params: int
    macs: int | None
    input_shape: tuple  # without the batch dimension; None where any size fits


def zoo_rows() -> list[ZooRow]:
    """One row per ``*.yaml`` of the zoo folder (:data:`archspec.spec.document.ZOO`), by name."""
    rows = []
    for path in sorted(ZOO.glob("*.yaml")):
        spec = load(path)
        a = spec.analyze()
        rows.append(ZooRow(path.name, spec.document.data.get("description", ""), a.total_params, a.macs,
                           spec.input_shapes[0]))
    return rows


def format_zoo(rows: list[ZooRow], *, markdown: bool = False) -> str:
    """One line per spec, or (``markdown``) the table of docs/zoo.md."""
    if not markdown:
        return "\n".join(f"{r.name[:-5]:28s} {r.params:>14,} params {r.macs / 1e6:>12,.1f} M MACs" for r in rows)
    lines = ["| spec | what | input | parameters | MACs |", "|---|---|---|---|---|"]
    for r in rows:
        dims = "x".join("?" if d is None else str(d) for d in r.input_shape)
        cost = "depends on the input size" if None in r.input_shape else f"{r.macs / 1e6:,.1f} M"
        lines.append(f"| `{r.name}` | {r.description} | {dims} | {r.params:,} | {cost} |")
    return "\n".join(lines)
