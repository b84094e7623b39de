"""``archspec plot SPEC -o FILE.svg|png|pdf|dot [--collapse N]``: draw the architecture."""

from __future__ import annotations

from archspec.cli._common import add_spec_arguments, load_spec


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("plot", help="draw the architecture (graphviz): .svg, .png, .pdf or .dot")
    add_spec_arguments(p)
    p.add_argument("-o", "--output", required=True, help="FILE.svg|png|pdf|dot")
    p.add_argument("--collapse", type=int, metavar="DEPTH",
                   help="draw block calls nested deeper than DEPTH as single boxes (0: every call as a "
                        "box; -1: also one box per run of repeated calls); default: as much detail as fits "
                        "a 2,000 px page, saying what was collapsed")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.plot import write_plot

    path = write_plot(load_spec(args), args.output, collapse=args.collapse)
    print(f"wrote {path}")
    return 0
