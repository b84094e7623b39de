"""``archspec zoo [PATTERN] [--markdown]``: the shipped architectures with parameters and MACs."""

from __future__ import annotations

from archspec.errors import SpecError, command_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="list the shipped architectures (each name works as a SPEC)")
    p.add_argument("pattern", nargs="?", default="*",
                   help="only names matching this shell-style pattern, e.g. 'resnet*' (quote it); "
                        "no match is an error (exit 2)")
    p.add_argument("--markdown", action="store_true", help="as a Markdown table (docs/zoo.md)")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.zoo import format_zoo, no_match_hint, zoo_rows

    rows = zoo_rows(args.pattern)
    if not rows:
        raise SpecError("no spec of the zoo matches this pattern", command_line("PATTERN"),
                        received=args.pattern, hint=no_match_hint(args.pattern))
    print(format_zoo(rows, markdown=args.markdown))
    return 0
