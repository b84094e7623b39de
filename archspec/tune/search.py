"""``search``: one call from a spec with search spaces to the results of a keras-tuner search.

The data, checked against the model as ``archspec train`` checks it (before any trial; see
:mod:`archspec.tune.data`), the strategy (before any other TensorFlow op), the data brought to the
model's input, the :class:`HyperModel`, the tuner, the search itself, then the results:
``results.csv/json/png``, ``best.yaml`` and ``best.keras`` (with several objectives also the Pareto
front, ``pareto/trial_ID.yaml``); a search in which no trial trained is a
:class:`~archspec.errors.RunError` saying why. ``archspec tune`` is this function and a table printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from archspec.errors import FileError, command_line
from archspec.spec import Spec, as_spec
from archspec.tune.budget import Budget
from archspec.tune.prune import Pruner, make_pruner
from archspec.tune.resume import owns_oracle, prepare_resume, tuner_id
from archspec._env import quiet_tensorflow


@dataclass
class SearchResult:
    """What :func:`search` did. A keras-tuner worker (``KERASTUNER_TUNER_ID`` other than
    ``chief``) only runs trials: its ``worker`` is that id, and ``rows`` and ``paths`` are empty."""

    directory: Path
    rows: list = field(default_factory=list)   # results_table(directory): one row per trial
    paths: dict = field(default_factory=dict)  # what write_results wrote: csv, json, png, yaml, keras
    best: dict | None = None                   # {trial_id, score, params} of the best trial (--pick's)
    objective: str = "val_accuracy"            # the metric the tuner optimized
    objectives: list = field(default_factory=list)  # every objective (archspec.tune.pareto.Objective)
    front: list = field(default_factory=list)  # the rows on the Pareto front (several objectives)
    pick: str | None = None                    # how best was chosen: --pick, "knee" by default with several
    seconds: float = 0.0
    worker: str | None = None
    tuner: object = None


def search(spec: Spec | str | Path, *, directory: str | Path, tuner: str = "random", max_trials: int = 10,
           max_epochs: int | None = None, epochs: int | None = None, budget: Budget | None = None,
           data: str | None = None, strategy=None, objective: str | list = "val_accuracy", seed: int = 0,
           overwrite: bool = False, write_model: bool = True, log: bool = True,
           overrides: dict | None = None, prune: str | Pruner | None = None,
           pick: str | None = None, isolate: bool = False, hparams: bool = True,
           parallel: int | None = None) -> SearchResult:
    """Search the spaces of ``spec`` (a :class:`~archspec.spec.Spec` or a path) with keras-tuner.

    One search per directory: the search holds the directory's lock (``DIRECTORY/.lock``, see
    :mod:`archspec.train.lock`) from start to end, and a second one stops at once, before importing
    TensorFlow, with a FileError naming the first. The chief of a distributed search holds that
    lock too; each keras-tuner worker (``KERASTUNER_TUNER_ID`` other than ``chief``, with the
    chief's ``KERASTUNER_ORACLE_IP``) holds its own, ``DIRECTORY/.lock-ID``: chief and workers share
    the directory, two chiefs or two processes with one worker id cannot.

    Args:
        directory: where the search lives; an existing search there is resumed (completed
            trials kept, the one that was running run again) unless ``overwrite``. A file of it
            keras-tuner would read that is truncated is a FileError naming it
            (:mod:`archspec.tune.resume`).
        tuner: ``random``, ``bayesian``, ``grid`` or ``hyperband``; ``max_trials`` (random,
            bayesian, grid), ``max_epochs`` (hyperband; default the spec's ``train.epochs``).
        epochs: epochs per trial (random, bayesian, grid; default the spec's ``train.epochs``).
        objective: the metric the tuner optimizes (``val_accuracy``, ``val_loss:min``), or a list
            of it and costs (``["val_accuracy", "params:min", "latency:min"]``): then the results
            mark the Pareto front, ``pareto/trial_ID.yaml`` freezes each of its trials and
            ``pick`` chooses best.yaml (:mod:`archspec.tune.pareto`).
        pick: ``knee`` (the default with several objectives), ``max:NAME``/``min:NAME``, with
            conditions after ``@`` (``max:val_accuracy@params<100k``). No trial meeting them is a
            SpecError at ``--pick``, raised after the results are written.
        prune: ``median``, ``asha`` or a :class:`~archspec.tune.prune.Pruner` (warm-up, rungs):
            stop trials that fall behind (random, bayesian, grid; see :mod:`archspec.tune.prune`).
        budget: limits checked on the analyzer's numbers before a trial builds a model.
        data: a data source name in place of the spec's ``train.data`` (as ``--data``). Before
            any trial it is checked against the model (at the spaces' defaults) as ``archspec
            train`` checks it, a mismatch being the same located SpecError, and every trial trains
            on it brought to the model's input as train does (``train.fit_input``;
            :mod:`archspec.tune.data`).
        strategy: a strategy name of ``archspec train`` (``mirrored:N`` splits the CPU into N
            logical devices), or a ``tf.distribute`` strategy; each trial runs under it.
        write_model: write ``best.keras``.
        isolate: run each trial in a process of its own: a trial that crashes (an exception, NaN,
            SIGKILL, out of memory, a segfault) fails with its reason and the search goes on, and
            this process never builds a trial's model (:mod:`archspec.tune.isolate`; trials then
            train without ``strategy``).
        parallel: run this many trials at once, each in a worker process of its own with its
            share of the machine (one GPU each; the CPU cores divided between them): this process
            serves keras-tuner's oracle to them as its chief, starts a worker again when it dies
            (its trial resumes from its last epoch) and writes the results
            (:mod:`archspec.tune.parallel`). Not with ``strategy`` nor in a process that is already
            a keras-tuner chief or worker.
        hparams: write TensorBoard's HParams runs of the trials to ``DIRECTORY/hparams``
            (:mod:`archspec.tune.hparams`).
        overrides: train fields (dotted, ``optimizer.momentum``) to values or ``(value, Loc)``,
            over the spec's ``train:`` section for the data check and every trial, as
            ``archspec tune --set train.FIELD=VALUE`` gives them.
        log: print one line per finished trial (a failed one with its error).

    Raises:
        RunError: no trial trained (each failed, or was rejected by the budget: the message says
            how many and why, with the first failure's error), or keras-tuner stopped the search
            after too many failed trials in a row. The results files are written first.

    Example:
        >>> r = search("architectures/search/lenet_search.yaml", directory="runs/lenet",
        ...            max_trials=3, budget=Budget(max_params=100_000))   # doctest: +SKIP
        >>> r.best["trial_id"], r.paths["yaml"]                          # doctest: +SKIP
        ('1', PosixPath('runs/lenet/best.yaml'))
    """
    from archspec.tune.pareto import parse_objectives, parse_pick

    objectives = parse_objectives(objective)  # mistakes in the arguments: before TensorFlow
    parse_pick(pick, objectives)
    pruner = make_pruner(prune)
    if pruner is not None and tuner == "hyperband":
        from archspec.errors import SpecError

        raise SpecError("`--prune` does not apply to hyperband: Hyperband stops trials on its own schedule",
                        command_line("--prune"), received=pruner.rule,
                        hint="use --tuner random, bayesian or grid with --prune, or hyperband without it")
    if isolate and tuner == "hyperband":
        from archspec.errors import SpecError

        raise SpecError("`--isolate` does not apply to hyperband: its trials go on from the weights of earlier "
                        "ones, which an isolated trial's process does not load", command_line("--isolate"),
                        received=tuner, hint="use --tuner random, bayesian or grid with --isolate")
    run = dict(spec=spec, directory=directory, tuner=tuner, max_trials=max_trials, max_epochs=max_epochs,
               epochs=epochs, budget=budget, data=data, strategy=strategy, objectives=objectives, seed=seed,
               overwrite=overwrite, write_model=write_model, log=log, overrides=overrides, pruner=pruner,
               pick=pick, isolate=isolate, hparams=hparams)
    if parallel is None:
        return _search_locked(**run)
    from archspec.tune.parallel import chief_environment, check_parallel

    check_parallel(parallel, strategy)  # before TensorFlow
    with chief_environment():  # this process: keras-tuner's chief on 127.0.0.1, serving the workers it starts
        return _search_locked(**run, workers=dict(n=parallel, objective=objective))


def _search_locked(*, directory, overwrite, **run) -> SearchResult:
    role = os.environ.get("KERASTUNER_TUNER_ID")
    worker = role if role and role != "chief" else None
    # the process that holds keras-tuner's oracle (and writes its files) holds the directory's lock:
    # a search with no KERASTUNER_* variables, a chief, and (keras-tuner's own rule) any id without
    # KERASTUNER_ORACLE_IP, which is no worker of a chief
    with _locked(directory, None if owns_oracle() else tuner_id()):
        if not overwrite:
            prepare_resume(directory)  # before TensorFlow: a truncated file is named at once
        return _search(directory=directory, overwrite=overwrite, worker=worker, **run)


def _start_parallel(searcher, directory, workers: dict, spec, kwargs: dict, *, log: bool) -> None:
    """Bind the oracle's server (a port the kernel picks), then start the workers on it."""
    from archspec.tune.chief import start_server
    from archspec.tune.parallel import start_workers

    searcher.server = start_server(searcher.oracle, port=0)
    os.environ["KERASTUNER_ORACLE_PORT"] = str(searcher.server[2])  # (chief_environment restores it)
    env = {k: os.environ[k] for k in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")}
    searcher.workers = start_workers(directory, workers["n"], spec, kwargs, workers["gpus"], env, log=log)


@contextlib.contextmanager
def _locked(directory: str | Path, worker: str | None):
    """Hold the search directory's lock (a worker: its own lock there) for the block."""
    from archspec.train.lock import LOCK, hold

    if worker is None:
        what, name = "search directory", LOCK
        hint = "wait for that search to finish, stop it, or search into another --directory"
    else:
        what = f"search directory (as keras-tuner worker `{worker}`)"
        name = LOCK + "-" + re.sub(r"[^\w.-]", "_", worker)
        hint = (f"another process runs as keras-tuner worker `{worker}` of this search: give each worker "
                "its own KERASTUNER_TUNER_ID")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(hold(directory, what=what, name=name))
        except FileError as err:
            in_use = "in use by another process" in err.message
            raise FileError(err.path, err.message, hint=hint if in_use else
                            (err.hint or "").replace("(-o DIR)", "(--directory DIR)") or None) from None
        yield


def _search(spec, *, directory, tuner, max_trials, max_epochs, epochs, budget, data, strategy, objectives,
            seed, overwrite, write_model, log, worker, overrides=None, pruner=None, pick=None,
            isolate=False, hparams=True, workers=None) -> SearchResult:
    quiet_tensorflow()
    t0 = time.perf_counter()
    spec = as_spec(spec)
    if workers is not None:  # the workers' GPUs, hidden here before this process's first TensorFlow op
        from archspec.tune.parallel import gpus_for_workers

        workers["gpus"] = gpus_for_workers()
    from archspec.tune.data import check_data, fit_arrays

    # before any trial, and before TensorFlow for sklearn:/npz: data: the check `archspec train` makes
    # (the model's input and outputs at the spaces' defaults), a located SpecError for a mismatch
    overrides = dict(overrides or {})
    if data is not None:
        overrides["data"] = (data, command_line("--data"))
    loaded, how, in_shape = check_data(None, spec, overrides)
    from archspec.tune.trials import make_strategy

    if strategy is None or isinstance(strategy, str):
        strategy = make_strategy(strategy)  # before any other TensorFlow op
    import keras

    from archspec.train.data import steps_for
    from archspec.tune.hypermodel import HyperModel
    from archspec.tune.results import results_table, search_failure, write_results
    from archspec.tune.failures import SearchStopped
    from archspec.tune.trials import make_tuner, repair_records

    (x, y), val = fit_arrays(loaded, how, in_shape)  # resized, padded or reshaped as train does
    del loaded
    from archspec.tune.pareto import parse_pick
    from archspec.tune.results import write_settings

    hm = HyperModel(spec, train_overrides=overrides)
    if any(o.name == "latency" for o in objectives):
        hm.latency_input = val[0][:1]  # one example, batch 1 (archspec.tune.pareto.measure_latency)
    metric = objectives[0]
    searcher = make_tuner(hm, tuner, directory=directory, objective=metric.name, direction=metric.direction,
                          max_trials=max_trials, max_epochs=max_epochs, budget=budget, seed=seed,
                          overwrite=overwrite, strategy=strategy, log=log, pruner=pruner, isolate=isolate)
    if isolate:  # the search's custom ops, packed once for every trial's process (one that cannot be
        from archspec.tune.shipping import pack_ops  # sent stops the search here, before any trial)

        searcher.shipped_ops = pack_ops("--isolate")
    if not worker:  # what the results table and --summary need to know of this search
        write_settings(directory, {"objectives": [str(o) for o in objectives], "pick": pick,
                                   "prune": None if pruner is None else vars(pruner)})
    keras.utils.set_random_seed(seed)
    cfg = hm.train_config()
    hm.steps_per_epoch = steps_for(len(x), cfg.batch_size)
    hm.validation_steps = steps_for(len(val[0]), cfg.batch_size)
    fit = {"validation_data": val, "verbose": 0}
    if epochs and tuner != "hyperband":
        fit["epochs"] = epochs
    stopped = None
    try:
        if workers is not None:  # --parallel: serve the oracle, then start the workers (archspec.tune.parallel)
            _start_parallel(searcher, directory, workers, spec, dict(
                tuner=tuner, max_trials=max_trials, max_epochs=max_epochs, epochs=epochs, budget=budget, data=data,
                objective=workers["objective"], seed=seed, overrides=overrides, prune=pruner, isolate=isolate),
                log=log)
        searcher.search(x, y, **fit)
    except SearchStopped as err:  # keras-tuner's limit of failed trials in a row
        stopped = err
    finally:
        if searcher.workers is not None:
            searcher.workers.stop()
        if searcher.server is not None:
            searcher.server[0].stop(grace=None)
    result = SearchResult(Path(directory), objective=metric.name, objectives=objectives, tuner=searcher,
                          pick=str(parse_pick(pick, objectives) or "") or None)
    if worker:
        result.worker = worker
        if stopped:
            raise stopped
    else:
        repair_records(searcher)  # a trial a kill left without its record
        from archspec.tune.checkpoint import sweep

        sweep(searcher)  # epoch checkpoints of ended trials that a kill left behind
        result.paths = write_results(searcher, directory, with_model=write_model, epochs=fit.get("epochs"))
        result.best = result.paths.pop("best", None)
        result.paths.pop("front", None)
        unmet = result.paths.pop("unmet", None)
        result.rows = results_table(directory)
        if hparams:
            from archspec.tune.hparams import write_hparams

            result.paths["hparams"] = write_hparams(directory, result.rows, metric.name)
        result.front = [r for r in result.rows if r.get("front")]
        failure = search_failure(result.rows, searcher.hypermodel.budget, directory,
                                 stopped=stopped.limit if stopped else None)
        if searcher.workers is not None and not searcher.ended:  # (before search_failure's: the cause)
            from archspec.errors import RunError

            failure = RunError(f"the search stopped before its end: no worker was left after {len(result.rows)} "
                               "trial(s) (" + ("; ".join(searcher.workers.gone()) or "they exited") + ")",
                               hint="the results of the trials that ended are written; the same command "
                                    "goes on with the search once the workers' error above is mended")
        if failure or stopped:
            raise failure or stopped
        if unmet:
            from archspec.errors import SpecError

            raise SpecError(unmet + ": best.yaml not written", command_line("--pick"), received=pick,
                            hint=f"the results are in {directory} (results.csv); loosen the conditions, "
                                 f"then `archspec tune` again with the same --directory picks without training")
    result.seconds = time.perf_counter() - t0
    return result
