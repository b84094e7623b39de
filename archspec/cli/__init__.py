"""The ``archspec`` command line.

    archspec validate SPEC [--set k=v ...]
    archspec summary SPEC [--set k=v ...] [--json] [--source]
    archspec build SPEC [--set k=v ...] -o model.keras
    archspec resolve SPEC [--set k=v ...]
    archspec ops [FILTER]
    archspec zoo
    archspec schema [-o FILE]
    archspec visualize MODEL --layer NAME (--image IMG | --maximize) -o maps.png
    archspec diff A B [--set k=v] [--set-b k=v]
    archspec plot SPEC -o FILE.svg|png [--collapse N]
    archspec export MODEL|RUN|SPEC --format keras|savedmodel|tflite [-o OUT]

A mistake in a spec prints a located error in a few lines and exits with status 2, never a
traceback. argparse (stdlib) is enough here and keeps ``archspec summary`` fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from archspec.errors import Loc, SpecError

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool its reader closed


def parse_sets(items: list[str] | None) -> dict:
    """``["classes=10", "width=0.5"]`` -> ``{"classes": 10, "width": 0.5}`` (values are YAML)."""
    from archspec.spec.load import load_yaml

    out: dict = {}
    for i, item in enumerate(items or []):
        loc = Loc("<command line>", 0, 0, f"--set[{i}]")
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SpecError("`--set` takes NAME=VALUE", loc, received=item,
                            hint="e.g. --set classes=10 --set input_shape=[32,32,3]")
        try:
            value = load_yaml(text, "<--set>") if text.strip() else None
        except SpecError:
            value = text  # not YAML: take it as a string
        out[key] = _plain(value)
    return out


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load(args):
    from archspec import check_train
    from archspec.spec import Spec
    from archspec.spec.document import load_document

    document = load_document(args.spec, include_path=getattr(args, "include_path", None) or ())
    return check_train(Spec(document, parse_sets(args.set), override_loc=Loc("<command line>")))


def cmd_validate(args) -> int:
    spec = _load(args)
    a = spec.analyze(limits=not args.no_limits)
    print(f"{args.spec}: OK: {spec.name}, {len(spec.graph.layers)} layers, "
          f"{a.total_params:,} parameters, output {', '.join(map(str, spec.output_shapes))}")
    return 0


def cmd_summary(args) -> int:
    from archspec.analyze.table import format_table

    analysis = _load(args).analyze(limits=not args.no_limits)
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=None if args.compact else 1))
    else:
        print(format_table(analysis, show_source=args.source))
    return 0


def cmd_build(args) -> int:
    import archspec

    spec = _load(args)
    out = Path(args.output)
    if out.suffix != ".keras":
        raise SpecError("the output must be a `.keras` file", Loc("<command line>", 0, 0, "--output"),
                        received=str(out))
    spec.analyze(limits=not args.no_limits)  # the size limits, before Keras allocates anything
    model = archspec.build(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, out)  # atomic: a crash never leaves half a file
    print(f"wrote {out} ({model.count_params():,} parameters)")
    return 0


def cmd_resolve(args) -> int:
    sys.stdout.write(_load(args).to_yaml())
    return 0


def cmd_ops(args) -> int:
    from archspec.ops import registry

    reg = registry()
    for name in reg.names():
        op = reg.get(name)
        if args.filter and args.filter.lower() not in name and args.filter.lower() not in op.cls.lower():
            continue
        mark = "" if op.rule else "  (analyzed by Keras)"
        print(f"{name:32s} {op.module}.{op.cls}{mark}")
    return 0


def cmd_diff(args) -> int:
    from archspec.tools.diff import diff_specs, format_diff
    from archspec.spec import Spec
    from archspec.spec.document import load_document

    sets = parse_sets(args.set)
    a = Spec(load_document(args.a), sets, override_loc=Loc("<command line>"))
    b = Spec(load_document(args.b), {**sets, **parse_sets(args.set_b)}, override_loc=Loc("<command line>"))
    d = diff_specs(a, b)
    print(format_diff(d))
    return 0 if d.same or not args.exit_code else 1


def cmd_plot(args) -> int:
    from archspec.tools.plot import write_plot

    path = write_plot(_load(args), args.output, collapse=args.collapse)
    print(f"wrote {path}")
    return 0


def cmd_export(args) -> int:
    from archspec.tools.export import SUFFIX, export, load_source

    model = load_source(args.source, parse_sets(args.set))
    out = args.output or (Path(args.source).stem if not Path(args.source).is_dir()
                          else Path(args.source).name) + "_export" + SUFFIX[args.format]
    path, diff = export(model, out, args.format)
    print(f"wrote {path} ({args.format}); outputs match the source on a sample batch "
          f"(max difference {diff:.2g})")
    return 0


def cmd_visualize(args) -> int:
    from archspec.tools import visualize as vis
    from archspec.tools.export import load_source

    model = load_source(args.model)
    if args.maximize:
        filters = vis.parse_filters(args.filters)
        images, before, after = vis.maximize(model, args.layer, filters, steps=args.steps)
        vis.save_grid(images, args.output, f"{args.layer}: inputs maximizing filters {args.filters}")
        print(f"wrote {args.output}: mean activation {sum(before) / len(before):.3g} -> "
              f"{sum(after) / len(after):.3g} after {args.steps} steps")
        return 0
    if not args.image:
        raise SpecError("feature maps need an `--image` (or use --maximize)",
                        Loc("<command line>", 0, 0, "--image"))
    image = vis.load_image(args.image, tuple(model.inputs[0].shape[1:]))
    maps = vis.feature_maps(model, args.layer, image)
    vis.save_grid(maps[..., : args.max_maps], args.output,
                  f"{args.layer}: {maps.shape[-1]} feature maps of {Path(args.image).name}")
    print(f"wrote {args.output} ({min(maps.shape[-1], args.max_maps)} maps of {maps.shape[0]}x{maps.shape[1]})")
    return 0


def cmd_schema(args) -> int:
    from archspec.tools.schema import make_schema

    text = json.dumps(make_schema(), indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def zoo_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "architectures"


def zoo_rows() -> list[tuple]:
    """(spec file, description, parameters, MACs, input shape) for every shipped architecture."""
    import archspec

    rows = []
    for path in sorted(zoo_dir().glob("*.yaml")):
        spec = archspec.load(path)
        a = spec.analyze()
        desc = spec.document.data.get("description", "")
        rows.append((path.name, desc, a.total_params, a.macs, spec.input_shapes[0]))
    return rows


def cmd_zoo(args) -> int:
    rows = zoo_rows()
    if args.markdown:
        print("| spec | what | input | parameters | MACs |")
        print("|---|---|---|---|---|")
        for name, desc, params, macs, shape in rows:
            dims = "x".join("?" if d is None else str(d) for d in shape)
            cost = "depends on the input size" if None in shape else f"{macs / 1e6:,.1f} M"
            print(f"| `{name}` | {desc} | {dims} | {params:,} | {cost} |")
        return 0
    for name, _, params, macs, _ in rows:
        print(f"{name[:-5]:28s} {params:>14,} params {macs / 1e6:>12,.1f} M MACs")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the YAML spec file")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter (repeatable); VALUE is YAML: 10, 0.5, [32,32,3]")
    p.add_argument("--include-path", action="append", metavar="DIR",
                   help="a folder `extends`/`use` may also name files in (repeatable); by default: "
                        "the spec's folder and the zoo")
    p.add_argument("--no-limits", action="store_true",
                   help="lift the size limits (parameters per layer and in total, activation memory, "
                        "layers; see docs/language.md) for validate, summary and build")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archspec", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a spec (no TensorFlow)")
    _common(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs, receptive field (no TensorFlow)")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the stable JSON form")
    p.add_argument("--compact", action="store_true", help="with --json: one line")
    p.add_argument("--source", action="store_true", help="show where each layer was written")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("build", help="build the Keras model and save it as .keras")
    _common(p)
    p.add_argument("-o", "--output", required=True, help="the .keras file to write")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("resolve", help="print the fully expanded spec (templates, repeats, params)")
    _common(p)
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("ops", help="list the layers a spec can use")
    p.add_argument("filter", nargs="?", help="only names containing this")
    p.set_defaults(func=cmd_ops)

    p = sub.add_parser("diff", help="compare two architectures layer by layer (no TensorFlow)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="overrides for A (and B)")
    p.add_argument("--set-b", action="append", metavar="NAME=VALUE", help="overrides for B only")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when they differ (like git diff)")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("plot", help="draw the architecture (graphviz): .svg, .png, .pdf or .dot")
    _common(p)
    p.add_argument("-o", "--output", required=True, help="FILE.svg|png|pdf|dot")
    p.add_argument("--collapse", type=int, metavar="DEPTH",
                   help="draw block calls nested deeper than DEPTH as single boxes (0: every call)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("export", help="export a model (.keras, run dir or spec) and check its outputs")
    p.add_argument("source", help="MODEL.keras, a run directory, or SPEC.yaml")
    p.add_argument("--format", choices=["keras", "savedmodel", "tflite"], default="keras")
    p.add_argument("-o", "--output", help="where to write (default: next to the name)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="spec overrides (for a spec)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("visualize", help="feature maps of a layer, or inputs that maximize its filters")
    p.add_argument("model", help="MODEL.keras or a run directory")
    p.add_argument("--layer", required=True)
    p.add_argument("--image", help="an image file (for feature maps)")
    p.add_argument("--maximize", action="store_true", help="gradient ascent on the input instead")
    p.add_argument("--filters", default="0-7", help="with --maximize: e.g. 0-7,12")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--max-maps", type=int, default=64)
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("schema", help="write the JSON Schema of the spec language (for editors)")
    p.add_argument("-o", "--output", help="the file to write (default: print)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("zoo", help="list the architectures shipped in architectures/")
    p.add_argument("--markdown", action="store_true", help="as a Markdown table (docs/zoo.md)")
    p.set_defaults(func=cmd_zoo)

    _add_plugins(sub)
    return parser


def _add_plugins(sub) -> None:
    """Subcommands that live with their feature (training, tuning), added when present."""
    import importlib

    for module in ("archspec.cli.train", "archspec.cli.tune"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        mod.add_parsers(sub)


def _version() -> str:
    from archspec import __version__

    return f"archspec {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # here, not at exit: a closed pipe is then handled below
        return code
    except SpecError as err:
        print(err.format(), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`archspec summary --json | head`): stop quietly, as Unix tools do;
        # stdout goes to /dev/null so that Python's own flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
