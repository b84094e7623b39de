"""``archspec build SPEC [--features A,B] [--weights PATH [--strict] [--adapt-input]] -o
MODEL.keras``: build the Keras model (with ``--features``, or the spec's ``features:``, a
multi-output backbone), optionally load weights into it (archspec.weights, the transfer report
printed), and save it."""

from __future__ import annotations

from pathlib import Path

from archspec.cli._common import add_spec_arguments, load_spec
from archspec.errors import SpecError, command_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("build", help="build the Keras model and save it as .keras")
    add_spec_arguments(p)
    p.add_argument("-o", "--output", required=True, help="the .keras file to write")
    add_features_argument(p)
    add_weights_arguments(p)
    p.set_defaults(func=run)


def add_features_argument(p) -> None:
    """``--features NAME,NAME``: a backbone's layers (also used by ``archspec summary``)."""
    p.add_argument("--features", metavar="NAME,NAME",
                   help="a backbone: the model's outputs are these layers' (comma-separated), in this order")


def features_of(args) -> list | None:
    """The ``--features`` layer names, unchecked (``Spec.feature_names`` checks them), or None."""
    if args.features is None:
        return None
    return [n.strip() for n in args.features.split(",") if n.strip()]


def add_weights_arguments(p) -> None:
    """``--weights PATH``, ``--strict``, ``--adapt-input`` (also used by ``archspec train``)."""
    p.add_argument("--weights", metavar="PATH",
                   help="load weights by layer name from a .keras, .weights.h5 or .h5 file or a run directory")
    p.add_argument("--strict", action="store_true",
                   help="with --weights: fail unless every tensor loads and every layer of the file is used")
    p.add_argument("--adapt-input", action="store_true",
                   help="with --weights: convert the first convolution from 3 input channels to this model's")


def run(args) -> int:
    from archspec.builder import build
    from archspec.tools.export import save_keras

    spec = load_spec(args)
    out = Path(args.output)
    if out.suffix != ".keras":
        raise SpecError("the output must be a `.keras` file", command_line("--output"), received=str(out))
    features = spec.feature_names(features_of(args), command_line("--features"))
    spec.analyze(limits=not args.no_limits)  # the size limits, before Keras allocates anything
    model = build(spec, features=features)
    init = spec.init or {}
    if args.weights or init:  # --weights, else the spec's init: {weights: ...}
        from archspec.weights import load_weights

        print(load_weights(model, args.weights or init["path"], strict=args.strict or init.get("strict", False),
                           adapt_input=args.adapt_input or init.get("adapt_input", False)))
    save_keras(model, out)
    outputs = f", {len(features)} feature outputs" if features else ""
    print(f"wrote {out} ({model.count_params():,} parameters{outputs})")
    return 0
