"""``archspec tune``: search a spec's inline spaces with keras-tuner (added to the CLI by cli.py).

    archspec tune SPEC --tuner random|bayesian|hyperband --max-trials N --objective val_accuracy
                  --directory DIR [--data sklearn:digits] [--max-params 1M] [--max-macs 50M]
                  [--max-memory 64MiB] [--max-epochs N] [--seed S] [--strategy mirrored[:N]]
                  [--overwrite] [--set k=v ...]
    archspec tune --summary DIR

Started again with the same command after a crash (even SIGKILL), a search continues: completed
trials are kept, the one that was running runs again. With keras-tuner's
``KERASTUNER_TUNER_ID``/``KERASTUNER_ORACLE_IP``/``KERASTUNER_ORACLE_PORT`` set, the same command
runs as the chief (``KERASTUNER_TUNER_ID=chief``: serves the oracle, then writes the results) or
as a worker (runs trials).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from archspec.errors import Loc, SpecError


def add_parsers(sub) -> None:
    p = sub.add_parser("tune", help="search the spec's {hp: ...} spaces with keras-tuner",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", help="the YAML spec with search spaces")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter")
    p.add_argument("--include-path", action="append", metavar="DIR",
                   help="a folder `extends`/`use` may also name files in (repeatable)")
    p.add_argument("--tuner", choices=["random", "bayesian", "hyperband"], default="random")
    p.add_argument("--max-trials", type=int, default=10, help="random/bayesian: number of trials")
    p.add_argument("--max-epochs", type=int, help="hyperband: epochs of the longest trial "
                   "(default: the spec's train.epochs)")
    p.add_argument("--epochs", type=int, help="random/bayesian: epochs per trial "
                   "(default: the spec's train.epochs)")
    p.add_argument("--objective", default="val_accuracy")
    p.add_argument("--directory", "-d", help="where the search lives (resumed when it exists)")
    p.add_argument("--data", help="dataset (default: the spec's train.data, else sklearn:digits)")
    p.add_argument("--max-params", help="reject architectures with more parameters (e.g. 1M)")
    p.add_argument("--max-macs", help="reject architectures with more MACs per sample (e.g. 50M)")
    p.add_argument("--max-memory", help="reject architectures needing more activation + weight "
                   "memory per sample (e.g. 64MiB)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", help="tf.distribute strategy for each trial: default, mirrored, "
                   "mirrored:N (N logical CPUs), one_device")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--no-model", action="store_true", help="do not write best.keras")
    p.add_argument("--summary", metavar="DIR", help="print the table of a finished or running search")
    p.set_defaults(func=cmd_tune)


def _cli_error(message: str, where: str, **kw) -> SpecError:
    return SpecError(message, Loc("<command line>", 0, 0, where), **kw)


def cmd_tune(args) -> int:
    if args.summary:
        return _summary(Path(args.summary))
    if not args.spec:
        raise _cli_error("give a SPEC to tune, or --summary DIR", "spec")
    if not args.directory:
        raise _cli_error("`--directory` is required to tune", "--directory",
                         hint="the search is saved there and resumed from there")
    from archspec.cli import parse_sets
    from archspec.spec import Spec
    from archspec.spec.document import load_document
    from archspec import tune

    spec = Spec(load_document(args.spec, include_path=args.include_path or ()), parse_sets(args.set),
                override_loc=Loc("<command line>"))
    budget = tune.Budget(tune.parse_size(args.max_params, "max-params"),
                         tune.parse_size(args.max_macs, "max-macs"),
                         tune.parse_size(args.max_memory, "max-memory"))
    data = args.data or (spec.train or {}).get("data") or "sklearn:digits"
    strategy = tune.make_strategy(args.strategy)  # before any other TF op
    hm = tune.HyperModel(spec)
    tuner = tune.make_tuner(hm, args.tuner, directory=args.directory, objective=args.objective,
                            max_trials=args.max_trials, max_epochs=args.max_epochs, budget=budget,
                            seed=args.seed, overwrite=args.overwrite, strategy=strategy, log=True)
    import keras

    keras.utils.set_random_seed(args.seed)
    (x, y), val = tune.load_data(data, spec=spec)
    cfg = tune.train_config(spec.train)
    hm.steps_per_epoch = max(1, -(-len(x) // cfg.batch_size))
    fit = {"validation_data": val, "verbose": 0}
    if args.epochs and args.tuner != "hyperband":
        fit["epochs"] = args.epochs
    role = os.environ.get("KERASTUNER_TUNER_ID")
    t0 = time.perf_counter()
    tuner.search(x, y, **fit)
    if role and role != "chief":
        print(f"worker {role}: done", flush=True)
        return 0
    paths = tune.write_results(tuner, args.directory, with_model=not args.no_model,
                               epochs=fit.get("epochs"))
    rows = tune.results_table(args.directory)
    print(tune.format_table(rows))
    best = paths.get("best")
    if best:
        print(f"best: trial {best['trial_id']} {args.objective}={best['score']:.4f} "
              f"({best['params']:,} params) in {time.perf_counter() - t0:.0f}s")
    print("wrote " + ", ".join(str(p) for k, p in paths.items() if k != "best"))
    return 0


def _summary(directory: Path) -> int:
    from archspec.tune import PROJECT

    if not (directory / PROJECT).is_dir():
        raise _cli_error(f"no search in `{directory}`", "--summary",
                         hint=f"expected {directory / PROJECT}/trial_*/trial.json")
    from archspec.tune import format_table, results_table

    rows = results_table(directory)
    print(format_table(rows))
    done = sum(r["status"] == "completed" for r in rows)
    print(f"{len(rows)} trials: {done} completed, "
          f"{sum(r['status'].startswith('rejected') for r in rows)} rejected, "
          f"{len(rows) - done - sum(r['status'].startswith('rejected') for r in rows)} other")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from archspec.cli import main

    sys.exit(main(["tune", *sys.argv[1:]]))
