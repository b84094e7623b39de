"""``archspec zoo [--markdown]``: the shipped architectures with parameters and MACs."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="list the architectures shipped in architectures/")
    p.add_argument("--markdown", action="store_true", help="as a Markdown table (docs/zoo.md)")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.zoo import format_zoo, zoo_rows

    print(format_zoo(zoo_rows(), markdown=args.markdown))
    return 0
