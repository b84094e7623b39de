"""The shipped architectures (``archspec zoo [PATTERN]``): their names, and each spec with its
parameters and MACs.

>>> list_models("resnet5*")                            # doctest: +SKIP
['resnet50', 'resnet56']
>>> rows = zoo_rows()                                  # doctest: +SKIP
>>> rows[0].name, rows[0].params                       # doctest: +SKIP
('alexnet.yaml', 60965224)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from archspec.errors import did_you_mean
from archspec.spec import load
from archspec.spec.document import ZOO, ZOO_HINT, zoo_names

_WILDCARDS = "*?["


@dataclass(frozen=True)
class ZooRow:
    name: str  # the spec file's name, e.g. ``vgg16.yaml``
    description: str
    params: int
    macs: int | None
    input_shape: tuple  # without the batch dimension; None where any size fits


def list_models(pattern: str = "*") -> list[str]:
    """The zoo's spec names matching ``pattern``, sorted, as ``timm.list_models``: shell-style
    wildcards (``*``, ``?``, ``[...]``, :mod:`fnmatch`), ignoring case and a ``.yaml`` suffix. No
    match gives ``[]``. Each name loads as it is: ``archspec.load("resnet50")``.

    >>> list_models("vgg1[36]*")                       # doctest: +SKIP
    ['vgg13', 'vgg16', 'vgg16_bn', 'vgg16_c']
    """
    pattern = pattern.lower().removesuffix(".yaml")
    return [name for name in zoo_names() if fnmatch.fnmatchcase(name.lower(), pattern)]


def no_match_hint(pattern: str) -> str:
    """What to try when ``pattern`` matches no name: ``*resnet*`` for ``resnet``, a close name
    for a misspelling, and always ``archspec zoo`` with no pattern."""
    bare = pattern.removesuffix(".yaml")
    if not any(c in bare for c in _WILDCARDS) and list_models(f"*{bare}*"):
        return f"did you mean `*{bare}*`? (a pattern matches whole names) {ZOO_HINT}"
    close = did_you_mean(bare.strip(_WILDCARDS), zoo_names(), n=3)
    return f"{close} {ZOO_HINT}" if close else ZOO_HINT


def zoo_rows(pattern: str = "*") -> list[ZooRow]:
    """One row per ``*.yaml`` of the zoo folder (:data:`archspec.spec.document.ZOO`) whose name
    matches ``pattern`` (:func:`list_models`), by name."""
    rows = []
    for name in list_models(pattern):
        path = ZOO / f"{name}.yaml"
        spec = load(path)
        a = spec.analyze()
        rows.append(ZooRow(path.name, spec.document.data.get("description", ""), a.total_params, a.macs,
                           spec.input_shapes[0]))
    return rows


def archspec_classes(spec) -> list[str]:
    """The classes of archspec's own layers (:mod:`archspec.layers`) in the model ``spec`` (a
    :class:`~archspec.spec.Spec`) builds, sorted. Where this is empty, the model is standard Keras
    layers only and its ``.keras`` file reloads with plain Keras, without archspec; else it
    reloads after ``import archspec`` (or with ``archspec.load_model``).

    Imports Keras, to ask the classes: an archspec class that makes Keras' own layer (its
    ``__new__`` returns one, as the wrappers ``Bidirectional`` and ``TimeDistributed`` do) counts
    by the nested layers it wraps only."""
    from archspec.ops import get_op
    from archspec.ops.rules.recurrent import nested_op

    found: set = set()

    def visit(op, args: dict) -> None:
        if op is None or op.module != "archspec.layers":
            return
        if "__new__" not in vars(op.keras_class()):
            found.add(op.cls)
        for key in ("layer", "backward_layer"):  # the nested ops of the wrappers
            if args.get(key) is not None:
                visit(*nested_op(args[key], key))

    for node in spec.graph.layers:
        visit(get_op(node.op), node.args)
    return sorted(found)


def needs_archspec(pattern: str = "*") -> dict[str, list[str]]:
    """Zoo name -> :func:`archspec_classes`, for the zoo specs matching ``pattern`` (with their
    default parameters) whose saved models need archspec to reload. Imports Keras."""
    needs = {name: archspec_classes(load(ZOO / f"{name}.yaml")) for name in list_models(pattern)}
    return {name: classes for name, classes in needs.items() if classes}


def format_needs_archspec(needs: dict[str, list[str]]) -> str:
    """The list of docs/tutorial.md: one line per spec of :func:`needs_archspec`."""
    return "\n".join(f"- `{name}`: {', '.join(classes)}" for name, classes in needs.items())


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
