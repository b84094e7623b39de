"""Tuners whose trials reject over-budget architectures before building, clear the session, and
train through archspec.train's data and compile path.

A trial that fails (an exception while building or training, or a NaN objective) is recorded with
its error (``archspec.json``: ``status: failed``, ``error``) and printed on its trial line;
keras-tuner's traceback of it is not printed (it stays in the trial's ``trial.json``, ``message``).
When keras-tuner stops the search after too many failed trials in a row, the tuners save what
keras-tuner left unsaved and raise :class:`SearchStopped`.

Every trained trial's record keeps its ``curve``, the objective after each epoch; with a
:class:`~archspec.tune.prune.Pruner` a trial that falls behind stops at the end of an epoch and is
recorded ``pruned`` (see :mod:`archspec.tune.prune`). With ``latency`` among the objectives the
record has the trial's ``latency_ms`` (:func:`archspec.tune.pareto.measure_latency`).
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
import zlib
from pathlib import Path

import keras
import keras_tuner as kt

import archspec.faults as faults
from archspec.errors import SpecError, command_line
from archspec.train.artifacts import write_json
from archspec.train.compile import direction as train_direction
from archspec.tune.budget import Budget, memory_bytes
from archspec.tune.failures import (  # error_text: also read from here
    _no_exception, _quiet_failures, error_text, failures_in_a_row, stopped,
)
from archspec.tune.hypermodel import HyperModel, quiet_optimizer_warning
from archspec.tune.layout import PROJECT, RECORD, TUNERS
from archspec.tune.prune import Pruner, best_so_far, read_curves
from archspec.tune.results import trial_line
from archspec.tune.resume import REMOVED, owns_oracle, prepare_resume


class _Trials:
    """What every archspec tuner adds to a keras-tuner tuner (a mixin; see make_tuner)."""

    def __init__(self, hypermodel, *, budget: Budget | None = None, reject_score: float | None = None,
                 log: bool = False, pruner: Pruner | None = None, isolate: bool = False, **kwargs):
        if budget is not None:
            hypermodel.budget = budget
        self.isolate = isolate  # each trial in a process of its own (archspec.tune.isolate)
        self.reject_score = reject_score
        self.log = log
        self.pruner = pruner
        self.curves: dict[str, dict] = {}  # trial id -> {curve, status}: the pruner's state (see search)
        self.workers = None  # the chief of a --parallel search: its worker processes (archspec.tune.parallel)
        self.server = None   # ... and its oracle's server, bound before they start (archspec.tune.chief)
        self.ended = True    # ... and whether the oracle ended the search (not the workers' deaths)
        self.search_seed = (kwargs.get("seed") or 1) - 1  # archspec's seed (see oracle_seed)
        super().__init__(hypermodel, **kwargs)

    def search(self, *args, **kwargs):
        # keras-tuner collects garbage twice a trial (clear_session and gc.collect in _try_build).
        # A full collection walks every live object -- TensorFlow's and Keras' modules make that
        # ~260 ms on this machine, twice a trial. Objects alive now (modules, the data) stay alive
        # for the whole search: freezing them (gc.freeze, Python >= 3.7) leaves each collection
        # only what the trials create, and measured ~10x faster collections.
        from keras_tuner.src.distribute import utils as dist_utils

        if dist_utils.has_chief_oracle():  # keras-tuner 1.4.8's Parent.to_proto prints each condition's
            from keras_tuner.src.engine import conditions  # first value (`True`) whenever a trial is sent

            conditions.print = lambda *args, **kwargs: None
        if dist_utils.is_chief_oracle():  # serve the oracle (archspec's server: --parallel's workers watched)
            from archspec.tune.chief import serve

            self.oracle.verbose = kwargs.get("verbose", self.oracle.verbose)  # (what keras-tuner's search sets)
            self.save()
            serve(self, self.workers, self.server)
            return None
        if dist_utils.has_chief_oracle():  # a worker: grid and Hyperband answer IDLE while trials run
            from archspec.tune.chief import back_off_when_idle

            back_off_when_idle(self.oracle)
        caller_froze = gc.get_freeze_count() > 0  # then leave unfreezing to the caller
        repair_records(self)  # a resumed search: completed trials a kill left without a record
        self.curves = read_curves(Path(self.project_dir).parent)  # a resumed search prunes as before
        gc.collect()
        gc.freeze()
        try:
            with _quiet_failures():
                return super().search(*args, **kwargs)
        finally:
            if not caller_froze:
                gc.unfreeze()

    def _populate_initial_space(self):
        # keras-tuner builds the model (repeatedly, to activate conditional scopes) to find the
        # space: resolving is enough, and makes no Keras object.
        self.hypermodel.declare_only = True
        try:
            super()._populate_initial_space()
        finally:
            self.hypermodel.declare_only = False

    def _worst(self) -> float:
        if self.reject_score is not None:
            return self.reject_score
        return 0.0 if self.oracle.objective.direction == "max" else 1e12

    def run_trial(self, trial, *args, **kwargs):
        t0 = time.perf_counter()
        hm: HyperModel = self.hypermodel
        hm.fit_seconds = 0.0
        hm.latency_ms = None
        hm.resumed_epoch = 0
        hm.trial_dir = Path(self.get_trial_dir(trial.trial_id))  # its epoch checkpoint (archspec.tune.checkpoint)
        try:
            record = static_record(hm, trial)
        except Exception as err:  # e.g. values the analyzer refuses: a failed trial, with its reason
            self._failed(trial, {"trial_id": trial.trial_id, "params": None, "macs": None, "memory": None,
                                 "rejected": False, "pid": os.getpid(), "started": time.time()}, err, t0)
            raise
        record.update(pid=os.getpid(), started=time.time())
        if record["rejected"]:  # over budget: rejected before any Keras object
            record.update(trial_seconds=time.perf_counter() - t0, fit_seconds=0.0)
            self._record(trial, record)
            return {self.oracle.objective.name: self._worst()}
        # keras-tuner's _try_build clears the Keras session and collects garbage before building:
        # nothing of the previous trial's model is kept (see scripts/bench_tune.py --memory)
        # every random number of the trial (initial weights, dropout, the data's shuffle) from the
        # search's seed and the trial's id alone: a trial run again after a kill repeats the run it
        # would have had in a search never killed, whatever ran before it in this process
        import keras

        seed = trial_seed(self.search_seed, trial.trial_id)
        record["seed"] = seed  # the trial's random numbers: with its values, it reproduces the trial
        keras.utils.set_random_seed(seed)
        if self.pruner is not None:  # the trials other processes finished too (workers share DIRECTORY)
            self.curves = read_curves(Path(self.project_dir).parent)
        watch = _Curve(self, trial.trial_id)
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), watch]
        try:
            if self.isolate:  # built and trained in a child process: nothing of it in this one
                from archspec.tune.isolate import run_isolated

                hm.trial_pid = None
                try:
                    result = run_isolated(self, trial, seed, watch, args, kwargs)
                finally:
                    record["pid"] = hm.trial_pid or record["pid"]  # the trial's process, not this one
            else:
                with quiet_optimizer_warning():
                    result = super().run_trial(trial, *args, **kwargs)
        except Exception as err:  # keras-tuner marks the trial failed; the record says why
            record["curve"] = _plain(watch.curve)
            self._failed(trial, record, err, t0)
            raise
        finally:
            hm.trial_dir = None  # a fit after the search (the best trial retrained) checkpoints nowhere
        record.update(trial_seconds=time.perf_counter() - t0, fit_seconds=hm.fit_seconds,
                      curve=_plain(watch.curve))
        if hm.latency_ms is not None:
            record["latency_ms"] = hm.latency_ms
        if hm.resumed_epoch:  # run again after a kill: the epochs before it came from its checkpoint
            record["resumed_epoch"] = hm.resumed_epoch
        if watch.pruned:  # stopped by the pruner: never the best, reported as the worst objective
            record.update(status="pruned", pruned=watch.pruned)
            result = {self.oracle.objective.name: self._worst()}
        faults.point("tune.trial_trained")
        self._record(trial, record)
        self.curves[str(trial.trial_id)] = {"curve": list(watch.curve), "status": record["status"]}
        return result

    def on_trial_end(self, trial):
        # The record is already written (run_trial): a kill from here on, as keras-tuner marks the
        # trial completed, cannot leave a completed trial without one. A kill before this point
        # leaves a trial keras-tuner runs again on resume, and that run rewrites the record.
        try:
            super().on_trial_end(trial)  # keras-tuner marks the trial completed (or failed) and saves it
        except RuntimeError:
            limit = failures_in_a_row(self.oracle)
            if limit is None:
                raise
            self._save_stopped(trial)
            record = self._trial_ended(trial)
            raise stopped(limit, trial.trial_id, record.get("error")) from None
        self._trial_ended(trial)

    def _save_stopped(self, trial) -> None:
        """What keras-tuner's oracle leaves undone when it stops the search in ``end_trial`` (it
        raises before saving the trial and itself, and before it takes the trial off its running
        ones): done, so that the table sees the failed trial and a resumed search does not run it
        again."""
        oracle = self.oracle
        for tuner_id, running in list(oracle.ongoing_trials.items()):
            if running.trial_id == trial.trial_id:
                oracle.ongoing_trials.pop(tuner_id)
        oracle._save_trial(oracle.get_trial(trial.trial_id))
        oracle.save()
        self.save()

    def _trial_ended(self, trial) -> dict:
        """After keras-tuner ended ``trial``: a trial it failed without an exception (a NaN objective)
        gets its reason recorded; the trial's line is printed. Returns the trial's record."""
        faults.point("tune.trial_ended")
        from archspec.tune import checkpoint

        checkpoint.remove(self.get_trial_dir(trial.trial_id))  # ended: never resumed again
        ended = self.oracle.get_trial(trial.trial_id)
        path = Path(self.get_trial_dir(trial.trial_id)) / RECORD
        record = _read_record(path)
        if ended.status == kt.engine.trial.TrialStatus.FAILED and record and record.get("status") != "failed":
            record.update(status="failed", error=_no_exception(ended, self.oracle.objective.name))
            self._record(trial, record)
        if self.log:
            print(trial_line(self.get_trial_dir(trial.trial_id), ended, self.oracle.objective.name), flush=True)
        return record

    def _failed(self, trial, record: dict, err: Exception, t0: float) -> None:
        record.update(status="failed", error=error_text(err), trial_seconds=time.perf_counter() - t0,
                      fit_seconds=self.hypermodel.fit_seconds)
        self._record(trial, record)

    def _record(self, trial, record: dict) -> None:
        write_json(Path(self.get_trial_dir(trial.trial_id)) / RECORD, record)  # atomic
        faults.point("tune.trial_recorded")


class _Curve(keras.callbacks.Callback):
    """Keeps a trial's objective after each epoch and, with a pruner, stops the trial when the
    pruner says so (``pruned``: epoch, score, best, threshold, rule). keras-tuner deep-copies the
    callbacks it is given: this one is shared, not copied."""

    def __init__(self, tuner: _Trials, trial_id: str):
        super().__init__()
        self.tuner, self.trial_id = tuner, str(trial_id)
        self.name = tuner.oracle.objective.name
        self.maximize = tuner.oracle.objective.direction == "max"
        self.curve: list[float] = []
        self.pruned: dict | None = None

    def __deepcopy__(self, memo):
        return self

    def on_epoch_end(self, epoch, logs=None):
        v = (logs or {}).get(self.name)
        self.curve.append(math.nan if v is None else float(v))
        pruner = self.tuner.pruner
        if pruner is None or self.pruned or v is None:  # no value this epoch (validation_freq): no decision
            return
        mine = {k: c for k, c in self.tuner.curves.items() if k != self.trial_id}
        completed = [c["curve"] for c in mine.values() if c["status"] == "completed"]
        others = [c["curve"] for c in mine.values() if c["status"] in ("completed", "pruned")]
        prune, bar = pruner.decide(self.curve, completed, others, self.maximize)
        if prune:
            self.pruned = {"epoch": len(self.curve), "score": _plain([self.curve[-1]])[0],
                           "best": _plain([best_so_far(self.curve, self.maximize)])[0],
                           "threshold": bar, "rule": pruner.rule}
            self.model.stop_training = True


def _plain(values: list[float]) -> list:
    """Floats for JSON: NaN as null."""
    return [None if v is None or math.isnan(v) else float(v) for v in values]


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def oracle_seed(seed: int | None) -> int | None:
    """keras-tuner's seed for archspec's ``seed``: one more, since keras-tuner takes 0 for "draw a
    random seed" (``seed or random.randint(1, 10000)``) and ``--seed 0`` must repeat too."""
    return None if seed is None else seed + 1


def trial_seed(seed: int, trial_id: str) -> int:
    """The random seed of one trial: a function of the search's ``seed`` and the trial's id only
    (``"01"`` and ``"1"`` alike: the id's width follows ``max_trials``, which a resume may change)."""
    key = str(int(trial_id)) if str(trial_id).isdigit() else str(trial_id)
    return zlib.crc32(f"archspec-trial:{seed}:{key}".encode()) & 0x7FFFFFFF


def static_record(hm: HyperModel, trial) -> dict:
    """The part of a trial's record that follows from its values alone: parameters, MACs,
    memory, and whether the budget rejects it (``rejected``; ``status`` says why)."""
    a, reason = hm.budget.check_spec(hm.resolve(trial.hyperparameters))
    return {"trial_id": trial.trial_id, "params": a.total_params, "macs": a.macs,
            "memory": memory_bytes(a), "status": reason or "completed", "rejected": reason is not None}


def repair_records(tuner) -> list[str]:
    """Give every trial keras-tuner has completed, but that has no archspec record (a search
    killed by an older archspec, or a record lost), the record re-derived from its values;
    timings and pid are unknown (null). Returns the repaired trial ids. Needs the oracle's trials
    in this process (a worker of a distributed search has none: the chief repairs)."""
    trials = getattr(tuner.oracle, "trials", None)
    if not isinstance(trials, dict):
        return []
    repaired = []
    for trial in list(trials.values()):
        path = Path(tuner.get_trial_dir(trial.trial_id)) / RECORD
        if trial.status != "COMPLETED" or _readable(path):
            continue
        record = static_record(tuner.hypermodel, trial)
        record.update(pid=None, started=None, trial_seconds=None, fit_seconds=None, repaired=True)
        write_json(path, record)
        repaired.append(trial.trial_id)
    return repaired


def refill_removed(tuner) -> list[str]:
    """Values for each trial whose folder was removed (see :mod:`archspec.tune.resume`), asked of
    the oracle as for a new trial (random and bayesian: new values; hyperband: the free place of
    its bracket); the spaces' defaults if the oracle has none to give. The trial, in the oracle's
    retry queue, then runs again under its id. Returns the ids."""
    oracle = tuner.oracle
    trials = getattr(oracle, "trials", None)
    if not owns_oracle() or not isinstance(trials, dict):
        return []
    waiting = [t for t in trials.values() if t.message == REMOVED and not t.hyperparameters.values]
    for trial in waiting:  # not "RUNNING" while the oracle draws: BayesianOptimization's model would
        trial.status = "INVALID"  # count a running trial it does not know as scored (or fail)
    for trial in waiting:
        response = oracle.populate_space(trial.trial_id)
        hp = oracle.hyperparameters.copy()
        if response.get("status") == "RUNNING" and response.get("values"):
            hp.values = dict(response["values"])
        else:  # keras-tuner would draw the missing values at random, unseeded
            hp.values = {p.name: p.default for p in hp.space}
        trial.hyperparameters = hp
        trial.message = None
        oracle._record_values(trial)  # as keras-tuner's create_trial does: not drawn twice
    for trial in waiting:
        trial.status = "RUNNING"
        oracle._save_trial(trial)
    if waiting:
        oracle.save()
    return [t.trial_id for t in waiting]


def _readable(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False


class RandomSearch(_Trials, kt.RandomSearch):
    """keras-tuner's RandomSearch with archspec's budget, records and session clearing."""


class BayesianOptimization(_Trials, kt.BayesianOptimization):
    """keras-tuner's BayesianOptimization with archspec's budget, records and session clearing."""


class Hyperband(_Trials, kt.Hyperband):
    """keras-tuner's Hyperband with archspec's budget, records and session clearing."""


class GridSearch(_Trials, kt.GridSearch):
    """keras-tuner's GridSearch with archspec's budget, records and session clearing; resumes
    (keras-tuner's grid oracle keeps the grid's order in memory only, so a reloaded grid search
    would stop at once: :func:`restore_grid` rebuilds it from the trials)."""

    def reload(self):
        super().reload()
        if owns_oracle():
            restore_grid(self.oracle)


def restore_grid(oracle) -> None:
    """Rebuild a reloaded keras-tuner grid oracle's order of the trials (``_ordered_ids``, by
    their values, as the oracle compares them) and the trials to continue from
    (``_populate_next``), which keras-tuner does not save: the grid then goes on where it was."""
    import functools

    trials = getattr(oracle, "trials", None)
    if not isinstance(trials, dict) or not trials or getattr(oracle, "_populate_next", None):
        return
    order = sorted(trials, key=functools.cmp_to_key(
        lambda a, b: oracle._compare(trials[a].hyperparameters.values, trials[b].hyperparameters.values)))
    for trial_id in order:
        oracle._ordered_ids.insert(trial_id)
    oracle._populate_next = list(order)


def make_tuner(hypermodel: HyperModel, tuner: str = "random", *, directory: str | Path,
               objective: str = "val_accuracy", max_trials: int = 10, max_epochs: int | None = None,
               budget: Budget | None = None, seed: int | None = 0, overwrite: bool = False,
               strategy=None, direction: str | None = None, pruner: Pruner | None = None,
               isolate: bool = False, **kwargs):
    """A keras-tuner tuner over ``hypermodel``; its trials live in ``directory/trials``.

    ``overwrite=False`` (the default) resumes a search found in ``directory``: completed trials
    are kept, the one that was running is run again; a file keras-tuner would read that is
    truncated is a :class:`~archspec.errors.FileError` naming it, and a trial whose folder was
    removed runs again (:mod:`archspec.tune.resume`). Each trial draws its random numbers from
    ``seed`` and its id (:func:`trial_seed`); keras-tuner's oracle draws the values from ``seed``.
    ``strategy`` (a ``tf.distribute`` strategy) is the strategy each trial builds and trains
    under. ``max_epochs`` (Hyperband) defaults to the spec's ``train.epochs``. The objective is
    minimized when it is a loss or an error (:func:`archspec.train.compile.direction`), else
    maximized, unless ``direction`` (``min``/``max``) says. ``pruner``
    (:class:`archspec.tune.prune.Pruner`; random, bayesian and grid) stops trials that fall behind.
    ``isolate`` runs each trial in a process of its own (:mod:`archspec.tune.isolate`).
    """
    if tuner not in TUNERS:
        raise SpecError(f"unknown tuner `{tuner}`", command_line("--tuner"),
                        received=tuner, hint="tuners: " + ", ".join(TUNERS))
    if pruner is not None and tuner == "hyperband":
        raise SpecError("`--prune` does not apply to hyperband: Hyperband stops trials on its own schedule",
                        command_line("--prune"), received=pruner.rule,
                        hint="use --tuner random, bayesian or grid with --prune, or hyperband without it")
    if not overwrite:
        prepare_resume(directory)  # a FileError naming a truncated file keras-tuner would read
    way = direction or train_direction(objective) or "max"
    common = dict(objective=kt.Objective(objective, way), directory=str(directory),
                  project_name=PROJECT, overwrite=overwrite, seed=oracle_seed(seed), budget=budget,
                  distribution_strategy=strategy, pruner=pruner, isolate=isolate, **kwargs)
    if tuner == "random":
        made = RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "grid":
        made = GridSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "bayesian":
        made = BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    else:
        cfg = hypermodel.train_config()
        epochs = max_epochs or cfg.epochs
        made = Hyperband(hypermodel, max_epochs=max(epochs, 2), **common)
    if not overwrite:
        refill_removed(made)
    return made


def make_strategy(name: str | None):
    """A trial's strategy, from ``archspec train``'s own strategies (same names and code):
    ``None``/``default``, ``auto``, ``one_device``, ``mirrored``, ``multi_worker``, ``tpu``;
    ``mirrored:N`` first splits the CPU into N logical devices (before TensorFlow initializes).
    """
    if not name or name == "default":
        return None
    from archspec.train.config import STRATEGIES
    from archspec.train.strategy import configure_logical_cpus
    from archspec.train.strategy import make_strategy as train_strategy

    kind, _, n = name.partition(":")
    loc = command_line("--strategy")
    if kind not in STRATEGIES or (n and (kind != "mirrored" or not n.isdigit())):
        raise SpecError(f"unknown strategy `{name}`", loc,
                        hint="strategies: " + ", ".join(STRATEGIES) + ", mirrored:N (N logical CPUs)")
    if n:
        configure_logical_cpus(int(n))
    return train_strategy(kind, loc)

