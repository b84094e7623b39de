"""``archspec tune``: search the ``{hp: ...}`` spaces of a spec with keras-tuner.

    archspec tune SPEC --tuner random|bayesian|grid|hyperband --max-trials N --objective val_accuracy
                  [--objective params:min|macs:min|memory:min|latency:min ...] [--pick knee|max:NAME[@COND]]
                  [--prune median|asha [--prune-startup N] [--prune-warmup E] [--prune-min-epochs R]
                  [--prune-reduction ETA]]
                  --directory DIR [--data sklearn:digits] [--max-params 1M] [--max-macs 50M]
                  [--max-memory 64MiB] [--max-epochs N] [--epochs N] [--seed S]
                  [--strategy mirrored[:N]] [--isolate] [--parallel N] [--overwrite] [--no-model] [--set k=v ...]
    archspec tune --summary DIR

Every trial builds, compiles and trains as ``archspec train`` does, from the spec's ``train:``
section (data, ``fit_input``, optimizer, loss, ...). Before any trial the data is checked against
the model (its spaces at their defaults) as ``archspec train`` checks it: a mismatch is the same
located error (exit 2). A search in which no trial trained (each failed or was rejected by the
budget) says why, with the first failure's error, and exits with 1; each trial's line shows its
error, and its record (``trials/trial_N/archspec.json``) keeps it.

Started again with the same command after a crash (even SIGKILL), a search continues: completed
trials are kept, the one that was running runs again, and repeats the score it would have had (each
trial is seeded from --seed and its id). A file of the search that a kill left truncated is named
(exit 2); removing a trial's folder runs that trial again. One search per directory: a second one
stops at once (exit 2), naming the process that holds it. With keras-tuner's
``KERASTUNER_TUNER_ID``/``KERASTUNER_ORACLE_IP``/``KERASTUNER_ORACLE_PORT`` set, the same command
runs as the chief (``KERASTUNER_TUNER_ID=chief``: serves the oracle, then writes the results) or
as a worker (runs trials).

Added to the main CLI by :func:`add_parsers`. Parse, call :func:`archspec.tune.search`, print the
table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from archspec.cli._common import add_include_path_argument, add_set_argument, load_spec, parse_sets
from archspec.errors import SpecError, command_line
from archspec.tune.layout import TUNERS


DESCRIPTION = ("Search the {hp: ...} spaces of SPEC with keras-tuner. Each trial builds, compiles and trains "
               "as `archspec train` does, from the spec's train: section (data, fit_input, optimizer, ...); "
               "the data is checked against the model before any trial, as train checks it. The search "
               "lives in --directory and the same command resumes it. See docs/tuning.md.")
EPILOG = ("exit status: 0 done; 1 no trial trained (each failed or was rejected by the budget: the reason "
          "is printed) or keras-tuner stopped the search after too many failed trials in a row; 2 a mistake "
          "in the spec or the arguments (the data does not fit the model, too), or a file of the search "
          "that cannot be used; 130/143 interrupted.")


def add_parsers(sub) -> None:
    """Add the ``tune`` subcommand to an argparse subparsers object."""
    p = sub.add_parser("tune", help="search the spec's {hp: ...} spaces with keras-tuner (resumes after a kill)",
                       description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("spec", nargs="?", help="the YAML spec with search spaces")
    add_set_argument(p, "a spec parameter (classes=10) or a train field for every trial "
                        "(train.fit_input=resize, train.optimizer.momentum=0.9); repeatable")
    add_include_path_argument(p)
    p.add_argument("--tuner", choices=TUNERS, default="random", help="the search strategy (default: random)")
    p.add_argument("--max-trials", type=int, default=10, help="random/bayesian/grid: number of trials")
    p.add_argument("--max-epochs", type=int, help="hyperband: epochs of the longest trial "
                   "(default: the spec's train.epochs)")
    p.add_argument("--epochs", type=int, help="random/bayesian/grid: epochs per trial "
                   "(default: the spec's train.epochs)")
    p.add_argument("--objective", action="append", help="the metric the search optimizes (default: "
                   "val_accuracy; a loss or an error is minimized; NAME:min|max to say); repeat it with costs "
                   "(params:min, macs:min, memory:min, latency:min) to rank trials by all of them: the table "
                   "marks the Pareto front, pareto/trial_ID.yaml freezes each of its trials")
    p.add_argument("--pick", help="which trial best.yaml is: knee (default with several objectives), "
                   "max:NAME or min:NAME, with conditions after @ (max:val_accuracy@params<100k,latency<2)")
    p.add_argument("--prune", choices=("median", "asha"), help="random/bayesian/grid: stop a trial whose "
                   "objective falls behind the median of completed trials at the same epoch (median), or "
                   "outside the top 1/reduction at an ASHA rung (asha)")
    p.add_argument("--prune-startup", type=int, help="completed trials before any pruning (default: 5)")
    p.add_argument("--prune-warmup", type=int, help="epochs of each trial never pruned (default: 0)")
    p.add_argument("--prune-min-epochs", type=int, help="asha: the epoch of the first rung (default: 1)")
    p.add_argument("--prune-reduction", type=int, help="asha: rungs at min-epochs * reduction**k, the top "
                   "1/reduction go on (default: 3)")
    p.add_argument("--directory", "-d", help="where the search lives (resumed when it exists)")
    p.add_argument("--data", help="a data source with arrays: sklearn:digits, npz:PATH, keras:mnist|fashion_mnist|"
                   "cifar10|cifar100 (default: the spec's train.data, else sklearn:digits)")
    p.add_argument("--max-params", help="reject architectures with more parameters (e.g. 1M)")
    p.add_argument("--max-macs", help="reject architectures with more MACs per sample (e.g. 50M)")
    p.add_argument("--max-memory", help="reject architectures needing more activation + weight "
                   "memory per sample (e.g. 64MiB)")
    p.add_argument("--seed", type=int, default=0, help="seeds keras-tuner's draws and every trial (default: 0)")
    p.add_argument("--strategy", help="tf.distribute strategy for each trial: default, mirrored, "
                   "mirrored:N (N logical CPUs), one_device")
    p.add_argument("--isolate", action="store_true", help="run each trial in a process of its own: a trial "
                   "that crashes (an error, NaN, killed, out of memory) fails with its reason and the search "
                   "goes on")
    p.add_argument("--parallel", type=int, metavar="N", help="run N trials at once, each in a worker process "
                   "with its share of the machine (a GPU each; the CPU cores divided): a worker that dies is "
                   "started again and its trial resumes from its last epoch")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--no-model", action="store_true", help="do not write best.keras")
    p.add_argument("--summary", metavar="DIR", help="print the table of a finished or running search")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args) -> int:
    if args.summary:
        return _summary(Path(args.summary))
    if not args.spec:
        raise SpecError("give a SPEC to tune, or --summary DIR", command_line("spec"))
    if not args.directory:
        raise SpecError("`--directory` is required to tune", command_line("--directory"),
                        hint="the search is saved there and resumed from there")
    from archspec.tune import Budget, format_table, parse_size, search
    from archspec.tune.prune import make_pruner

    params, train_sets = parse_sets(args.set)
    spec = load_spec(args, params=params)
    budget = Budget(parse_size(args.max_params, "max-params"), parse_size(args.max_macs, "max-macs"),
                    parse_size(args.max_memory, "max-memory"))
    pruner = make_pruner(args.prune, startup_trials=args.prune_startup, warmup_epochs=args.prune_warmup,
                         min_epochs=args.prune_min_epochs, reduction=args.prune_reduction)
    objective = args.objective or ["val_accuracy"]
    result = search(spec, directory=args.directory, tuner=args.tuner, max_trials=args.max_trials,
                    max_epochs=args.max_epochs, epochs=args.epochs, budget=budget, data=args.data,
                    strategy=args.strategy, objective=objective if len(objective) > 1 else objective[0],
                    seed=args.seed, overwrite=args.overwrite, write_model=not args.no_model,
                    overrides=train_sets, prune=pruner, pick=args.pick, isolate=args.isolate,
                    parallel=args.parallel)
    if result.worker:
        print(f"worker {result.worker}: done", flush=True)
        return 0
    print(format_table(result.rows))
    if result.best:
        best = result.best
        how = f", picked by --pick {result.pick}" if result.pick else ""
        print(f"best: trial {best['trial_id']} {result.objective}={best['score']:.4f} "
              f"({best['params']:,} params{how}) in {result.seconds:.0f}s")
    if len(result.objectives) > 1:
        print(f"Pareto front of {', '.join(str(o) for o in result.objectives)}: trials "
              + ", ".join(str(r["trial_id"]) for r in result.front))
    print("wrote " + ", ".join(str(p) for p in result.paths.values()))
    return 0


def _summary(directory: Path) -> int:
    from archspec.tune.layout import PROJECT
    from archspec.tune.results import UNREADABLE, format_table, results_table

    if not (directory / PROJECT).is_dir():
        raise SpecError(f"no search in `{directory}`", command_line("--summary"),
                        hint=f"expected {directory / PROJECT}/trial_*/trial.json")
    rows = results_table(directory)
    print(format_table(rows))
    done = sum(r["status"] == "completed" for r in rows)
    rejected = sum(r["rejected"] for r in rows)
    pruned = sum(r["status"] == "pruned" for r in rows)
    failed = [r for r in rows if r["status"] == "failed" and not r["rejected"]]
    unreadable = [r["trial_id"] for r in rows if r["status"] == UNREADABLE]
    other = len(rows) - done - rejected - pruned - len(failed) - len(unreadable)
    print(f"{len(rows)} trials: {done} completed, {rejected} rejected"
          + (f", {pruned} pruned" if pruned else "")
          + (f", {len(failed)} failed" if failed else "") + f", {other} other"
          + (f", {len(unreadable)} unreadable" if unreadable else ""))
    if failed and failed[0].get("error"):
        print(f"trial {failed[0]['trial_id']} failed: {failed[0]['error'].splitlines()[0]}")
    for trial_id in unreadable:
        print(f"trial {trial_id}: {directory / PROJECT / f'trial_{trial_id}' / 'trial.json'} is truncated or "
              "corrupt: resuming the search stops there (remove that trial's folder to run it again)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from archspec.cli import main

    sys.exit(main(["tune", *sys.argv[1:]]))
