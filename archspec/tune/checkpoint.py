"""A trial's epoch checkpoint: a trial cut short by a kill resumes at its last completed epoch.

While a trial trains, each completed epoch is saved to ``trials/trial_N/epochs/`` (archspec
train's verified state files, :mod:`archspec.train.checkpoint`: every model and optimizer
variable, the epoch, and the history and objective curve up to it). When the search is started
again after a kill (of the search, of a ``--parallel`` worker or of an ``--isolate``'d trial's
process), keras-tuner gives the interrupted trial again; its fit loads that state and trains the
remaining epochs only. The history it returns, the objective curve the pruner sees and the
best-epoch weights keras-tuner keeps cover every epoch, before and after the kill. Once the trial
has ended the folder is removed.

The resumed epochs see the data in another shuffled order than they would have without the kill
(the order is drawn anew when ``fit`` starts): the trial's score is that of the same run continued,
not bit for bit the score of a run never killed. A trial the pruner had stopped stays stopped
where it was. A checkpoint of other values or another batch size (a trial folder reused,
``--set train.batch_size=...``) is ignored; one of the same trial run with more ``--epochs`` goes
on to them.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import keras

import archspec.faults as faults
from archspec.train import checkpoint as ck
from archspec.train.callbacks import variables

DIR = "epochs"  # in the trial's folder


class TrialCheckpoint(keras.callbacks.Callback):
    """Saves the trial's state after every epoch (see the module docstring)."""

    def __init__(self, trial_dir: str | Path, values: dict, batch_size=None):
        super().__init__()
        self.checkpoints = ck.Checkpoints(Path(trial_dir) / DIR, log=lambda message: None)
        self.values = _plain_values(values)
        self.batch_size = batch_size
        self.history: dict[str, list] = {}  # every epoch's logs, the resumed ones first
        self.curve: list | None = None      # the objective callback's curve (set by restore)
        self.resumed_epoch = 0
        self.others: list = []              # the fit's other callbacks (the curve is among them)
        self.before: dict[str, list] = {}   # the history restored: the epochs before the kill

    def restore(self, model, initial_epoch: int, epochs: int, callbacks: list) -> int:
        """Load this trial's last epoch into ``model`` (and into keras-tuner's best-epoch saver
        and archspec's curve among ``callbacks``); the epoch ``fit`` starts at (``epochs``: none
        is left, for a trial the pruner had stopped)."""
        for stale in self.checkpoints.dir.glob(".*.tmp*"):  # a killed process's temporary files
            stale.unlink(missing_ok=True)
        try:
            state = self.checkpoints.load()
        except Exception:  # every state file damaged: train from the start
            return initial_epoch
        if (state is None or state.meta.get("values") != self.values or state.epoch <= initial_epoch
                or state.meta.get("batch_size") != self.batch_size):
            return initial_epoch
        from archspec.train.resume import assign_state

        with model.distribute_strategy.scope():
            try:
                assign_state(model, state, where=self.checkpoints.dir)
            except Exception:  # another model's state: train from the start
                return initial_epoch
        self.history = {k: list(v) for k, v in state.meta.get("history", {}).items()}
        self.before = {k: [math.nan if x is None else x for x in v] for k, v in self.history.items()}
        pruned = state.meta.get("pruned")
        for cb in callbacks:
            if hasattr(cb, "curve") and hasattr(cb, "pruned"):  # archspec.tune.trials._Curve
                cb.curve[:] = [math.nan if v is None else v for v in state.meta.get("curve", [])]
                cb.pruned = pruned
            best = getattr(cb, "best_value", None)
            objective = getattr(cb, "objective", None)
            if best is not None and objective is not None:  # keras-tuner's SaveBestEpoch
                for value in self.history.get(objective.name, []):
                    if value is not None and objective.better_than(value, cb.best_value):
                        cb.best_value = value
        self.resumed_epoch = state.epoch
        return max(state.epoch, epochs) if pruned else state.epoch  # pruned: it stopped there

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(_number(v))
        watch = next((cb for cb in self.others if hasattr(cb, "pruned")), None)  # runs before this one
        model_vars, opt_vars = variables(self.model)
        self.checkpoints.save([keras.ops.convert_to_numpy(v) for v in model_vars],
                              [keras.ops.convert_to_numpy(v) for v in opt_vars], epoch + 1,
                              {"history": self.history, "values": self.values, "batch_size": self.batch_size,
                               "curve": [_number(v) for v in (watch.curve if watch else [])],
                               "pruned": watch.pruned if watch else None}, best=False)
        faults.point("tune.trial_epoch")  # crash tests: a kill after an epoch's state is saved

    def merged(self, history):
        """``history`` (the fit's History) with the epochs before the kill in front."""
        if not self.resumed_epoch:
            return history
        before = self.before  # the epochs restored (with Hyperband's initial_epoch, fewer than resumed_epoch)
        after = history.history
        history.history = {k: [*before.get(k, []), *after.get(k, [])] for k in {*before, *after}}
        history.epoch = list(range(len(next(iter(history.history.values()), []))))
        return history


def fit(model, trial_dir: str | Path, values: dict, fit_kwargs: dict, run):
    """``run(**fit_kwargs)`` (the trial's ``model.fit``) with the epoch checkpoint: resumed from
    the trial's last saved epoch when there is one. Returns the fit's History over every epoch."""
    saver = TrialCheckpoint(trial_dir, values, fit_kwargs.get("batch_size"))
    callbacks = list(fit_kwargs.get("callbacks") or [])
    start = saver.restore(model, fit_kwargs.get("initial_epoch", 0), fit_kwargs.get("epochs", 1), callbacks)
    saver.others = callbacks
    kwargs = dict(fit_kwargs, callbacks=[*callbacks, saver])
    if start:
        kwargs["initial_epoch"] = start
    try:
        history = run(**kwargs)
    finally:
        try:
            saver.checkpoints.wait()  # the last epoch's sync: its error only costs a resume its epochs
        except Exception:  # noqa: BLE001
            pass
    return saver.merged(history), saver.resumed_epoch


def remove(trial_dir: str | Path) -> None:
    """Remove the trial's epoch checkpoint (the trial has ended)."""
    shutil.rmtree(Path(trial_dir) / DIR, ignore_errors=True)


def sweep(tuner) -> None:
    """Remove the epoch checkpoints of every trial that has ended (a kill between a trial's end
    and its removal leaves one behind); running trials keep theirs."""
    from keras_tuner.src.engine.trial import TrialStatus

    for trial_id, trial in list(tuner.oracle.trials.items()):
        if trial.status != TrialStatus.RUNNING:
            remove(tuner.get_trial_dir(trial_id))


def _number(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _plain_values(values: dict) -> dict:
    import json

    return json.loads(json.dumps(values, default=str))
