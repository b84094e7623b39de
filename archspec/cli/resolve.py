"""``archspec resolve SPEC``: the fully expanded spec (templates, repeats, parameters) as YAML."""

from __future__ import annotations

import sys

from archspec.cli._common import add_spec_arguments, load_spec


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("resolve", help="print the fully expanded spec (templates, repeats, params)")
    add_spec_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    sys.stdout.write(load_spec(args).to_yaml())
    return 0
