"""``archspec build SPEC -o MODEL.keras``: build the Keras model and save it."""

from __future__ import annotations

from pathlib import Path

from archspec.cli._common import add_spec_arguments, load_spec
from archspec.errors import SpecError, command_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("build", help="build the Keras model and save it as .keras")
    add_spec_arguments(p)
    p.add_argument("-o", "--output", required=True, help="the .keras file to write")
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.builder import build
    from archspec.tools.export import save_keras

    spec = load_spec(args)
    out = Path(args.output)
    if out.suffix != ".keras":
        raise SpecError("the output must be a `.keras` file", command_line("--output"), received=str(out))
    spec.analyze(limits=not args.no_limits)  # the size limits, before Keras allocates anything
    model = build(spec)
    save_keras(model, out)
    print(f"wrote {out} ({model.count_params():,} parameters)")
    return 0
