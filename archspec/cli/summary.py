"""``archspec summary SPEC [--json] [--source] [--features A,B]``: per-layer shapes, parameters,
MACs (no TensorFlow), and a backbone's features (``--features`` or the spec's ``features:``):
channels, reduction, shape."""

from __future__ import annotations

import json
import re

from archspec.cli._common import add_spec_arguments, load_spec
from archspec.cli.build import add_features_argument, features_of
from archspec.errors import command_line

#: the size an example ``--set`` gives a dimension of any size
_EXAMPLE_SIZE = 128


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("summary", help="per-layer shapes, parameters, MACs, receptive field (no TensorFlow)")
    add_spec_arguments(p)
    p.add_argument("--json", action="store_true", help="print the stable JSON form")
    p.add_argument("--compact", action="store_true", help="with --json: one line")
    p.add_argument("--source", action="store_true", help="show where each layer was written")
    add_features_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.analyze.table import format_table

    spec = load_spec(args)
    analysis = spec.analyze(limits=not args.no_limits, features=features_of(args),
                            features_loc=command_line("--features"))
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=None if args.compact else 1))
    else:
        print(format_table(analysis, show_source=args.source, size_hint=size_hint(spec)))
    return 0


def size_hint(spec) -> str:
    """How to give ``spec`` a fixed input size: the ``--set`` of the parameters its ``input:``
    (or ``inputs:``) names whose value has a ``null``, e.g. ``--set length=128``."""
    names = set()
    for key in ("input", "inputs"):
        names.update(re.findall(r"\$\{?([A-Za-z_]\w*)", json.dumps(spec.document.data.get(key), default=str)))
    sets = [f"--set {name}={_example(spec.params[name])}" for name in sorted(names)
            if name in spec.params and _has_none(spec.params[name])]
    if sets:
        return "for these figures, give the input a fixed size, e.g. " + " ".join(sets)
    return "for these figures, give the input a fixed shape in the spec's `input:`; no parameter sets it"


def _has_none(value) -> bool:
    return value is None or isinstance(value, (list, tuple)) and None in value


def _example(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(_EXAMPLE_SIZE if v is None else v) for v in value) + "]"
    return str(_EXAMPLE_SIZE)
