"""``archspec train`` and ``archspec evaluate`` (added to the main CLI by :func:`add_parsers`).

    archspec train SPEC [--data NAME] [--epochs N] [--batch-size N] [--optimizer NAME]
                        [--learning-rate LR] [--loss NAME] [--metrics a,b] [--validation-split F]
                        [--seed N] [--strategy S] [--precision P] [--jit-compile J] [--loop L]
                        [--set NAME=VALUE] [--set train.FIELD=VALUE] [-o RUN_DIR] [--fresh]
    archspec evaluate RUN_DIR [--data NAME] [--batch-size N]

Exit status: 0 done, 2 a mistake in the spec or the arguments, 3 the loss became NaN (the run
stopped cleanly, keeping the last good checkpoint).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from archspec.errors import Loc, SpecError
from archspec.train.config import JIT, LOOPS, PRECISIONS, STRATEGIES

#: command-line flag -> train field
FLAGS = {
    "data": "data", "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer.name",
    "learning_rate": "optimizer.learning_rate", "loss": "loss", "metrics": "metrics",
    "validation_split": "validation_split", "seed": "seed", "strategy": "strategy", "precision": "precision",
    "jit_compile": "jit_compile", "loop": "loop", "steps_per_execution": "steps_per_execution",
}
RUN_FILES = ("backup", "history.csv", "history.json", "metrics.json", "model.keras", "best.keras", "curves.png",
             "run.json", "spec.yaml", "tensorboard")


def add_parsers(subparsers) -> None:
    """Add the ``train`` and ``evaluate`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("train", help="train a spec on a data set (resumes after a kill)",
                              description="Train SPEC; every train: field can be overridden by a flag or "
                                          "--set train.FIELD=VALUE. See docs/training.md.")
    p.add_argument("spec", help="the YAML spec file")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a spec parameter (classes=10) or a train field (train.optimizer.momentum=0.9); repeatable")
    p.add_argument("--include-path", action="append", metavar="DIR",
                   help="a folder `extends`/`use` may also name files in (repeatable)")
    p.add_argument("--data", help="sklearn:digits (default), npz:PATH, images:DIR, keras:mnist|fashion_mnist|"
                                  "cifar10|cifar100, tfds:NAME")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="the global batch size (split across replicas)")
    p.add_argument("--optimizer", help="a Keras optimizer name: sgd, adam, adamw, rmsprop, ...")
    p.add_argument("--learning-rate", "--lr", type=float, dest="learning_rate")
    p.add_argument("--loss", help="a Keras loss name (default: from the output activation)")
    p.add_argument("--metrics", type=lambda s: [m for m in s.split(",") if m], help="comma-separated")
    p.add_argument("--validation-split", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--strategy", choices=STRATEGIES)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--jit-compile", choices=JIT)
    p.add_argument("--loop", choices=LOOPS, help="fit, custom distributed step, or auto (custom for multi-worker)")
    p.add_argument("--steps-per-execution", type=_auto_or_int, metavar="auto|N",
                   help="training steps per call into the compiled graph (fit loop); auto: several "
                        "for small models, where per-step overhead dominates")
    p.add_argument("-o", "--output", help="the run directory (default: runs/<spec name>)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming the run directory")
    p.add_argument("--logical-cpus", type=int, metavar="N",
                   help="split the CPU into N logical devices (to try MirroredStrategy without GPUs)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2),
                   help="0 silent, 1 progress bars, 2 one line per epoch (default: 1 on a terminal, else 2)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="re-evaluate a saved run on its test split (or --data)")
    p.add_argument("run_dir", help="a run directory written by `archspec train`")
    p.add_argument("--data", help="another data source to evaluate on")
    p.add_argument("--batch-size", type=int)
    p.set_defaults(func=cmd_evaluate)


def _auto_or_int(text: str):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or an integer, got {text!r}") from None


def split_sets(items: list[str] | None) -> tuple[list[str], dict]:
    """``--set`` items -> (spec parameter items, train overrides {dotted: (value, Loc)})."""
    from archspec.spec.load import load_yaml

    params, train = [], {}
    for i, item in enumerate(items or []):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not key.startswith("train."):
            params.append(item)
            continue
        loc = Loc("<command line>", 0, 0, f"--set {key}")
        if not sep or not key[6:]:
            raise SpecError("`--set` takes NAME=VALUE", loc, received=item, hint="e.g. --set train.epochs=5")
        try:
            value = load_yaml(text, "<--set>") if text.strip() else None
        except SpecError:
            value = text
        train[key[6:]] = (_plain(value), loc)
    return params, train


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def overrides_from_args(args) -> dict:
    out = {}
    for flag, field in FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            out[field] = (value, Loc("<command line>", 0, 0, "--" + flag.replace("_", "-")))
    return out


def cmd_train(args) -> int:
    from archspec.cli import parse_sets
    from archspec.spec import Spec
    from archspec.spec.document import load_document
    from archspec.train import train_spec
    from archspec.train.loop import EXIT_NAN

    param_items, train_sets = split_sets(args.set)
    spec = Spec(load_document(args.spec, include_path=args.include_path or ()), parse_sets(param_items),
                override_loc=Loc("<command line>"))
    overrides = {**train_sets, **overrides_from_args(args)}
    output = Path(args.output or Path("runs") / spec.name)
    if args.fresh:
        for name in RUN_FILES:
            target = output / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    result = train_spec(spec, overrides=overrides, output=output, verbose=args.verbose,
                        logical_cpus=args.logical_cpus)
    return EXIT_NAN if result.status == "nan" else 0


def cmd_evaluate(args) -> int:
    from archspec.train.loop import evaluate_run

    evaluate_run(args.run_dir, data=args.data, batch_size=args.batch_size)
    return 0


def make_parser() -> argparse.ArgumentParser:
    """A parser with only these subcommands (for tests and ``python -m archspec.cli.train``)."""
    parser = argparse.ArgumentParser(prog="archspec")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser
