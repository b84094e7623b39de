"""``archspec validate SPEC``: check a spec (no TensorFlow)."""

from __future__ import annotations

from archspec.cli._common import add_spec_arguments, load_spec


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("validate", help="check a spec (no TensorFlow)")
    add_spec_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    spec = load_spec(args)
    a = spec.analyze(limits=not args.no_limits)
    print(f"{args.spec}: OK: {spec.name}, {len(spec.graph.layers)} layers, "
          f"{a.total_params:,} parameters, output {', '.join(map(str, spec.output_shapes))}")
    return 0
