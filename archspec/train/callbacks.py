"""The callbacks every run uses, whichever loop drives them (``fit`` or the custom step).

- :class:`EpochCheckpoint`: the state after each epoch (model, optimizer, epoch) in one file
  replaced atomically, never saved for an epoch whose loss became NaN; restored before training;
- :class:`NanGuard`: stops the run at the first non-finite loss;
- :class:`RunRecorder`: the history rows (kept across resumes), ``history.csv/json``, which epoch
  is the best, and the learning rate, written by the chief only.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import keras

import archspec.faults as faults
from archspec.errors import RunError
from archspec.train import artifacts


class NanGuard(keras.callbacks.Callback):
    """Stop at the first non-finite training loss; remember where."""

    def __init__(self):
        super().__init__()
        self.tripped: tuple | None = None  # (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        faults.point(f"train.batch.epoch{self.epoch + 1}")  # crash tests: a kill mid-epoch
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.tripped = (self.epoch, batch)
            self.model.stop_training = True


class EpochCheckpoint(keras.callbacks.Callback):
    """The run's state after each epoch, as one atomically replaced file, never saved after a NaN.

    The state -- every model variable, every optimizer variable and the epoch -- is a single
    ``backup/state.npz``, written to a temporary file and renamed: a kill at any moment leaves the
    previous epoch's state or this one's, never weights of one epoch with the counter of another.
    Keras' ``BackupAndRestore`` (``save_weights`` to HDF5 plus a JSON file) took ~85 ms an epoch
    for ResNet-20 here; a snapshot of the variables to ``.npz`` takes a few.

    :meth:`restore` loads it before training (the loop then starts at its epoch). The best epoch's
    state is kept beside it (``best.npz``, a hard link -- or a copy -- of that epoch's state file)
    and becomes ``best.keras`` at the end of the run (:meth:`save_best_model`), instead of writing
    a whole ``.keras`` model at every improvement.
    """

    STATE, BEST = "state.npz", "best.npz"
    #: what Keras' BackupAndRestore writes (run directories of older archspec versions)
    KERAS_WEIGHTS, KERAS_METADATA = "latest.weights.h5", "training_metadata.json"

    def __init__(self, backup_dir: str | Path, guard: NanGuard):
        super().__init__()
        self.backup_dir = str(backup_dir)
        self.guard = guard
        self._state_path = os.path.join(self.backup_dir, self.STATE)
        self._best_path = os.path.join(self.backup_dir, self.BEST)

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped is None:
            self._save(epoch + 1)

    def _variables(self) -> tuple[list, list]:
        opt = self.model.optimizer
        return list(self.model.weights), (list(opt.variables) if opt is not None else [])

    def _save(self, epoch: int) -> None:
        import numpy as np

        os.makedirs(self.backup_dir, exist_ok=True)
        weights, opt_vars = self._variables()
        arrays = {f"m{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(weights)}
        arrays.update({f"o{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(opt_vars)})
        arrays["epoch"] = np.array(epoch)
        tmp = os.path.join(self.backup_dir, ".tmp.state.npz")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._state_path)

    def restore(self, model) -> int:
        """Load the last saved state into ``model`` (compiled; call inside ``strategy.scope()``);
        the epoch to start at (0 without a checkpoint)."""
        self.set_model(model)
        opt = model.optimizer
        if opt is not None and not opt.built:  # its variables must exist to receive the state
            opt.build(model.trainable_variables)
        if os.path.exists(self._state_path):
            return self._assign(self._state_path, optimizer=True)
        return self._restore_keras_format()

    def _restore_keras_format(self) -> int:
        weights = os.path.join(self.backup_dir, self.KERAS_WEIGHTS)
        metadata = os.path.join(self.backup_dir, self.KERAS_METADATA)
        if os.path.exists(weights):
            self.model.load_weights(weights)
        if not os.path.exists(metadata):
            return 0
        with open(metadata) as f:
            return int(json.load(f)["epoch"])

    def _assign(self, path: str, *, optimizer: bool) -> int:
        """Load a state file into the model (and its optimizer); its epoch."""
        import zipfile

        import numpy as np

        weights, opt_vars = self._variables()
        hint = ("start over with --fresh, or train into another --output directory "
                f"(the run directory is {Path(self.backup_dir).parent})")
        try:
            with np.load(path) as f:
                state = {name: f[name] for name in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise RunError(f"the checkpoint {path} cannot be read ({exc})", hint=hint) from None
        expect = {f"m{i}": v for i, v in enumerate(weights)} | {f"o{i}": v for i, v in enumerate(opt_vars)}
        if set(state) != set(expect) | {"epoch"} or any(
                tuple(state[k].shape) != tuple(v.shape) for k, v in expect.items()):
            raise RunError(f"the checkpoint {path} is of another model or optimizer (or another precision)",
                           hint=hint)
        for i, v in enumerate(weights):
            v.assign(state[f"m{i}"])
        if optimizer:
            for i, v in enumerate(opt_vars):
                v.assign(state[f"o{i}"])
        return int(state["epoch"])

    def keep_as_best(self) -> None:
        """Mark the state just saved as the best epoch's."""
        if not os.path.exists(self._state_path):
            return
        tmp = os.path.join(self.backup_dir, ".tmp.best.npz")
        if os.path.exists(tmp):
            os.remove(tmp)
        try:
            os.link(self._state_path, tmp)  # the state file is replaced, never rewritten: a link is a copy
        except OSError:
            shutil.copyfile(self._state_path, tmp)
        os.replace(tmp, self._best_path)

    def save_best_model(self, path) -> bool:
        """Write the best epoch's model, optimizer state included, to ``path``; the model's own
        state is left as it was."""
        if not os.path.exists(self._best_path):
            return False
        weights, opt_vars = self._variables()
        current = [keras.ops.convert_to_numpy(v) for v in weights + opt_vars]
        self._assign(self._best_path, optimizer=True)
        try:
            artifacts.save_model(self.model, path)
        finally:
            for v, value in zip(weights + opt_vars, current):
                v.assign(value)
        return True

    def restore_last_good(self) -> bool:
        """Load the last saved epoch's state, optimizer included (after a NaN); False when none."""
        if not os.path.exists(self._state_path):
            return False
        self._assign(self._state_path, optimizer=True)
        return True


class RunRecorder(keras.callbacks.Callback):
    """History rows, ``history.csv/json`` and the best epoch (by ``monitor``), kept consistent
    across resumes; ``initial_epoch``: where a resumed run starts (rows after it are dropped)."""

    def __init__(self, run: Path, guard: NanGuard, *, monitor: str, higher_is_better: bool, write: bool,
                 initial_epoch: int = 0, on_best=None):
        super().__init__()
        self.run, self.guard, self.monitor, self.write = Path(run), guard, monitor, write
        self.sign = -1.0 if higher_is_better else 1.0
        self.on_best = on_best
        self.rows: list[dict] = []
        self.best = math.inf
        self.initial_epoch = initial_epoch
        self._t0 = 0.0

    def on_train_begin(self, logs=None):
        self.rows = [r for r in artifacts.read_history(self.run) if r.get("epoch", 0) <= self.initial_epoch]
        if self.initial_epoch and self.write:
            print(f"resuming from the checkpoint of epoch {self.initial_epoch} in {self.run / 'backup'}", flush=True)
        for r in self.rows:
            value = r.get(self.monitor)
            if value is not None:
                self.best = min(self.best, self.sign * value)

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped is not None:
            return
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
        row["learning_rate"] = current_lr(self.model.optimizer)
        row["seconds"] = round(time.perf_counter() - self._t0, 3)
        self.rows.append(row)
        if not self.write:
            return
        value = row.get(self.monitor)
        if value is not None and math.isfinite(value) and self.sign * value < self.best:
            self.best = self.sign * value
            if self.on_best is not None:  # before the history: a kill between the two keeps both right
                self.on_best()
        artifacts.write_history(self.run, self.rows)


def current_lr(optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(keras.ops.convert_to_numpy(inner.learning_rate))
    except (TypeError, ValueError):  # pragma: no cover
        return math.nan
