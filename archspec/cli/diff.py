"""``archspec diff A B [--set k=v] [--set-b k=v] [--exit-code]``: two architectures, layer by layer."""

from __future__ import annotations

from archspec.cli._common import add_include_path_argument, add_set_argument, load_spec, parse_sets


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("diff", help="compare two architectures layer by layer (no TensorFlow)")
    p.add_argument("a", metavar="A", help="the first spec (YAML file or zoo name)")
    p.add_argument("b", metavar="B", help="the spec to compare it with")
    add_set_argument(p, "overrides for A (and B)")
    p.add_argument("--set-b", action="append", metavar="NAME=VALUE", help="overrides for B only")
    add_include_path_argument(p)
    p.add_argument("--exit-code", action="store_true", help="exit 1 when they differ (like git diff)")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.diff import diff_specs, format_diff

    params, _ = parse_sets(args.set, train=False)
    params_b, _ = parse_sets(args.set_b, train=False, flag="--set-b")
    a = load_spec(args, path=args.a, params=params)
    b = load_spec(args, path=args.b, params={**params, **params_b})
    d = diff_specs(a, b)
    print(format_diff(d))
    return 0 if d.same or not args.exit_code else 1
