"""``archspec ops [FILTER]``: the layers a spec can use."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("ops", help="list the layers a spec can use")
    p.add_argument("filter", nargs="?", help="only names containing this")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.ops import registry

    reg = registry()
    for name in reg.names():
        op = reg.get(name)
        if args.filter and args.filter.lower() not in name and args.filter.lower() not in op.cls.lower():
            continue
        mark = "" if op.rule else "  (analyzed by Keras)"
        print(f"{name:32s} {op.module}.{op.cls}{mark}")
    return 0
