"""``archspec visualize MODEL --layer NAME (--image IMG | --maximize) -o maps.png``: feature maps
of a layer, or the inputs that maximize its filters."""

from __future__ import annotations

from archspec.errors import SpecError, command_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("visualize", help="feature maps of a layer, or inputs that maximize its filters")
    p.add_argument("model", help="MODEL.keras or a run directory")
    p.add_argument("--layer", required=True, metavar="NAME",
                   help="the layer whose outputs to show (a name from `archspec summary`)")
    p.add_argument("--image", help="an image file (for feature maps)")
    p.add_argument("--maximize", action="store_true", help="gradient ascent on the input instead")
    p.add_argument("--filters", default="0-7", help="with --maximize: the filters to show, e.g. 0-7,12 "
                                                    "(default: 0-7)")
    p.add_argument("--steps", type=int, default=60, metavar="N",
                   help="with --maximize: gradient-ascent steps (default: 60)")
    p.add_argument("--max-maps", type=int, default=64, metavar="N",
                   help="feature maps: draw at most N channels (default: 64)")
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.maximize and not args.image:
        raise SpecError("feature maps need an `--image` (or use --maximize)", command_line("--image"))
    from archspec.tools import visualize as vis
    from archspec.tools.export import load_source

    model = load_source(args.model)
    if args.maximize:
        path, before, after = vis.write_maximized(model, args.layer, args.filters, args.output, steps=args.steps)
        print(f"wrote {path}: mean activation {before:.3g} -> {after:.3g} after {args.steps} steps")
        return 0
    path, n, (h, w) = vis.write_feature_maps(model, args.layer, args.image, args.output, max_maps=args.max_maps)
    print(f"wrote {path} ({n} maps of {h}x{w})")
    return 0
