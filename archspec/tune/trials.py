"""Tuners whose trials reject over-budget architectures before building, clear the session, and
train through archspec.train's data and compile path."""

from __future__ import annotations

import gc
import json
import os
import time
import zlib
from pathlib import Path

import keras_tuner as kt

import archspec.faults as faults
from archspec.errors import SpecError, command_line
from archspec.train.artifacts import write_json
from archspec.train.compile import direction
from archspec.train.config import TrainConfig
from archspec.tune.budget import Budget, memory_bytes
from archspec.tune.hypermodel import HyperModel, quiet_optimizer_warning
from archspec.tune.layout import PROJECT, RECORD, TUNERS
from archspec.tune.results import trial_line
from archspec.tune.resume import REMOVED, owns_oracle, prepare_resume


class _Trials:
    """What every archspec tuner adds to a keras-tuner tuner (a mixin; see make_tuner)."""

    def __init__(self, hypermodel, *, budget: Budget | None = None, reject_score: float | None = None,
                 log: bool = False, **kwargs):
        if budget is not None:
            hypermodel.budget = budget
        self.reject_score = reject_score
        self.log = log
        self.search_seed = (kwargs.get("seed") or 1) - 1  # archspec's seed (see oracle_seed)
        super().__init__(hypermodel, **kwargs)

    def search(self, *args, **kwargs):
        # keras-tuner collects garbage twice a trial (clear_session and gc.collect in _try_build).
        # A full collection walks every live object -- TensorFlow's and Keras' modules make that
        # ~260 ms on this machine, twice a trial. Objects alive now (modules, the data) stay alive
        # for the whole search: freezing them (gc.freeze, Python >= 3.7) leaves each collection
        # only what the trials create, and measured ~10x faster collections.
        caller_froze = gc.get_freeze_count() > 0  # then leave unfreezing to the caller
        repair_records(self)  # a resumed search: completed trials a kill left without a record
        gc.collect()
        gc.freeze()
        try:
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
        record = static_record(hm, trial)
        record.update(pid=os.getpid(), started=time.time())
        if record["rejected"]:  # over budget: rejected before any Keras object
            record.update(trial_seconds=time.perf_counter() - t0, fit_seconds=0.0)
            self._record(trial, record)
            return {self.oracle.objective.name: self._worst()}
        # keras-tuner's _try_build clears the Keras session and collects garbage before building:
        # nothing of the previous trial's model is kept (see scripts/bench_tune.py --memory)
        hm.fit_seconds = 0.0
        # every random number of the trial (initial weights, dropout, the data's shuffle) from the
        # search's seed and the trial's id alone: a trial run again after a kill repeats the run it
        # would have had in a search never killed, whatever ran before it in this process
        import keras

        keras.utils.set_random_seed(trial_seed(self.search_seed, trial.trial_id))
        with quiet_optimizer_warning():
            result = super().run_trial(trial, *args, **kwargs)
        record.update(trial_seconds=time.perf_counter() - t0, fit_seconds=hm.fit_seconds)
        faults.point("tune.trial_trained")
        self._record(trial, record)
        return result

    def on_trial_end(self, trial):
        # The record is already written (run_trial): a kill from here on, as keras-tuner marks the
        # trial completed, cannot leave a completed trial without one. A kill before this point
        # leaves a trial keras-tuner runs again on resume, and that run rewrites the record.
        super().on_trial_end(trial)  # keras-tuner marks the trial completed and saves it
        faults.point("tune.trial_ended")
        if self.log:
            print(trial_line(self.get_trial_dir(trial.trial_id), self.oracle.get_trial(trial.trial_id),
                             self.oracle.objective.name), flush=True)

    def _record(self, trial, record: dict) -> None:
        write_json(Path(self.get_trial_dir(trial.trial_id)) / RECORD, record)  # atomic
        faults.point("tune.trial_recorded")


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


def make_tuner(hypermodel: HyperModel, tuner: str = "random", *, directory: str | Path,
               objective: str = "val_accuracy", max_trials: int = 10, max_epochs: int | None = None,
               budget: Budget | None = None, seed: int | None = 0, overwrite: bool = False,
               strategy=None, **kwargs):
    """A keras-tuner tuner over ``hypermodel``; its trials live in ``directory/trials``.

    ``overwrite=False`` (the default) resumes a search found in ``directory``: completed trials
    are kept, the one that was running is run again; a file keras-tuner would read that is
    truncated is a :class:`~archspec.errors.FileError` naming it, and a trial whose folder was
    removed runs again (:mod:`archspec.tune.resume`). Each trial draws its random numbers from
    ``seed`` and its id (:func:`trial_seed`); keras-tuner's oracle draws the values from ``seed``.
    ``strategy`` (a ``tf.distribute`` strategy) is the strategy each trial builds and trains
    under. ``max_epochs`` (Hyperband) defaults to the spec's ``train.epochs``. The objective is
    minimized when it is a loss or an error (:func:`archspec.train.compile.direction`), else
    maximized.
    """
    if tuner not in TUNERS:
        raise SpecError(f"unknown tuner `{tuner}`", command_line("--tuner"),
                        received=tuner, hint="tuners: " + ", ".join(TUNERS))
    if not overwrite:
        prepare_resume(directory)  # a FileError naming a truncated file keras-tuner would read
    common = dict(objective=kt.Objective(objective, direction(objective) or "max"), directory=str(directory),
                  project_name=PROJECT, overwrite=overwrite, seed=oracle_seed(seed), budget=budget,
                  distribution_strategy=strategy, **kwargs)
    if tuner == "random":
        made = RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "bayesian":
        made = BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    else:
        cfg = TrainConfig.from_sources(hypermodel.spec.train)
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

