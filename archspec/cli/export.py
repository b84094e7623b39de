"""``archspec export MODEL|RUN|SPEC --format keras|savedmodel|tflite|onnx [-o OUT]``: export a
model and check that the export gives the source's outputs."""

from __future__ import annotations

from archspec.cli._common import add_include_path_argument, add_set_argument, parse_sets


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a model (.keras, run dir or spec) and check its outputs")
    p.add_argument("source", help="MODEL.keras, a run directory, or SPEC.yaml")
    p.add_argument("--format", choices=["keras", "savedmodel", "tflite", "onnx"], default="keras",
                   help="keras: a .keras file (the default), savedmodel: a TF SavedModel folder, "
                        "tflite: a .tflite file, onnx: an .onnx file (checked with onnxruntime; "
                        "pip install 'archspec-keras[onnx]')")
    p.add_argument("-o", "--output",
                   help="where to write (default: next to the source, named after it: nets/lenet5.yaml -> "
                        "nets/lenet5_export.tflite; the run directory runs/x -> runs/x_export.keras)")
    add_set_argument(p, "spec overrides (for a spec)")
    add_include_path_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.tools.export import check_format, default_output, export, load_source

    params, _ = parse_sets(args.set, train=False)
    check_format(args.format)  # a missing tf2onnx/onnxruntime before the model is built
    model = load_source(args.source, params, include_path=args.include_path or ())
    path, diff = export(model, args.output or default_output(args.source, args.format), args.format)
    print(f"wrote {path} ({args.format}); outputs match the source on a sample batch "
          f"(max difference {diff:.2g})")
    return 0
