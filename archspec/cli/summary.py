"""``archspec summary SPEC [--json] [--source]``: per-layer shapes, parameters, MACs (no TensorFlow)."""

from __future__ import annotations

import json

from archspec.cli._common import add_spec_arguments, load_spec


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("summary", help="per-layer shapes, parameters, MACs, receptive field (no TensorFlow)")
    add_spec_arguments(p)
    p.add_argument("--json", action="store_true", help="print the stable JSON form")
    p.add_argument("--compact", action="store_true", help="with --json: one line")
    p.add_argument("--source", action="store_true", help="show where each layer was written")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.analyze.table import format_table

    analysis = load_spec(args).analyze(limits=not args.no_limits)
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=None if args.compact else 1))
    else:
        print(format_table(analysis, show_source=args.source))
    return 0
