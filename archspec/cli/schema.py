"""``archspec schema [-o FILE]``: the JSON Schema of the spec language (for editors)."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("schema", help="write the JSON Schema of the spec language (for editors)")
    p.add_argument("-o", "--output", help="the file to write (default: print)")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.schema import make_schema

    text = json.dumps(make_schema(), indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0
