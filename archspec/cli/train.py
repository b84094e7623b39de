"""``archspec train`` and ``archspec evaluate`` (added to the main CLI by :func:`add_parsers`).

    archspec train SPEC [--data NAME] [--epochs N] [--batch-size N] [--optimizer NAME]
                        [--learning-rate LR] [--loss NAME] [--metrics a,b] [--validation-split F]
                        [--seed N] [--strategy S] [--precision P] [--jit-compile J] [--loop L]
                        [--set NAME=VALUE] [--set train.FIELD=VALUE] [-o RUN_DIR] [--fresh]
                        [--resume-with-changes] [--weights PATH [--strict] [--adapt-input]]
    archspec evaluate RUN_DIR [--data NAME] [--batch-size N] [--weights PATH [--strict] [--adapt-input]]

Parse, call :func:`archspec.train.fit` / :func:`archspec.train.evaluate_run`, report. Exit
status: 0 done (or nothing to do: the run had finished), 2 a mistake in the spec or the arguments
or a file that cannot be used (bad data, a full or read-only disk, a run directory in use or
trained with other settings), 3 the loss became NaN (the run stopped cleanly, keeping the last
good checkpoint), 130/143 interrupted by SIGINT/SIGTERM (``run.json`` says ``interrupted``; the
same command resumes).
"""

from __future__ import annotations

import argparse

from archspec.cli._common import SPEC_HELP, add_include_path_argument, add_set_argument, load_spec, parse_sets
from archspec.cli.build import add_weights_arguments
from archspec.errors import command_line
from archspec.train.config import JIT, LOOPS, PRECISIONS, STRATEGIES

#: command-line flag -> train field
FLAGS = {
    "data": "data", "epochs": "epochs", "batch_size": "batch_size", "optimizer": "optimizer.name",
    "learning_rate": "optimizer.learning_rate", "loss": "loss", "metrics": "metrics",
    "validation_split": "validation_split", "seed": "seed", "strategy": "strategy", "precision": "precision",
    "jit_compile": "jit_compile", "loop": "loop", "steps_per_execution": "steps_per_execution",
}


def add_parsers(subparsers) -> None:
    """Add the ``train`` and ``evaluate`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("train", help="train a spec on a data set (resumes after a kill)",
                              description="Train SPEC; every train: field can be overridden by a flag or "
                                          "--set train.FIELD=VALUE. See docs/training.md.")
    p.add_argument("spec", help=SPEC_HELP)
    add_set_argument(p, "a spec parameter (classes=10) or a train field (train.optimizer.momentum=0.9); "
                        "repeatable")
    add_include_path_argument(p)
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
    p.add_argument("--resume-with-changes", action="store_true",
                   help="resume although the spec, data or train settings differ from the checkpoint's; "
                        "the changes are recorded in run.json")
    add_weights_arguments(p)  # loaded into a fresh run only: a resume continues from its checkpoint
    p.add_argument("--logical-cpus", type=int, metavar="N",
                   help="split the CPU into N logical devices (to try MirroredStrategy without GPUs)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2),
                   help="0 silent, 1 progress bars, 2 one line per epoch (default: 1 on a terminal, else 2)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="re-evaluate a saved run on its test split (or --data)")
    p.add_argument("run_dir", help="a run directory written by `archspec train`")
    p.add_argument("--data", help="another data source to evaluate on")
    p.add_argument("--batch-size", type=int)
    add_weights_arguments(p)  # evaluate these weights in the run's model
    p.set_defaults(func=cmd_evaluate)


def _auto_or_int(text: str):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or an integer, got {text!r}") from None


def overrides_from_args(args) -> dict:
    out = {}
    for flag, field in FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            out[field] = (value, command_line("--" + flag.replace("_", "-")))
    return out


def cmd_train(args) -> int:
    from archspec.train import fit
    from archspec.train.loop import EXIT_NAN

    params, train_sets = parse_sets(args.set)
    spec = load_spec(args, params=params)
    result = fit(spec, output=args.output, overrides={**train_sets, **overrides_from_args(args)},
                 fresh=args.fresh, verbose=args.verbose, logical_cpus=args.logical_cpus,
                 resume_with_changes=args.resume_with_changes, weights=args.weights,
                 weights_strict=args.strict, adapt_input=args.adapt_input)
    return EXIT_NAN if result.status == "nan" else 0


def cmd_evaluate(args) -> int:
    from archspec.train.evaluate import evaluate_run

    evaluate_run(args.run_dir, data=args.data, batch_size=args.batch_size, weights=args.weights,
                 weights_strict=args.strict, adapt_input=args.adapt_input)
    return 0


def make_parser() -> argparse.ArgumentParser:
    """A parser with only these subcommands (for tests and ``python -m archspec.cli.train``)."""
    parser = argparse.ArgumentParser(prog="archspec")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser
