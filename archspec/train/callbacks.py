"""The callbacks every run uses, whichever loop drives them (``fit`` or the custom step).

- :class:`AtomicBackupAndRestore`: Keras' ``BackupAndRestore`` whose files are replaced
  atomically, and which never saves the state of an epoch whose loss became NaN;
- :class:`NanGuard`: stops the run at the first non-finite loss;
- :class:`RunRecorder`: the history rows (kept across resumes), ``history.csv/json``, the best
  model and the learning rate, written by the chief only.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras

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
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.tripped = (self.epoch, batch)
            self.model.stop_training = True


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` with atomic files, skipping the save after a NaN."""

    def __init__(self, backup_dir: str, guard: NanGuard):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped is not None:
            return
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        import json

        os.makedirs(self.backup_dir, exist_ok=True)
        tmp = os.path.join(self.backup_dir, ".tmp.weights.h5")
        self.model.save_weights(filepath=tmp, overwrite=True)
        os.replace(tmp, self._weights_path)
        artifacts.atomic_write(self._training_metadata_path,
                               json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def restore_last_good(self) -> bool:
        """Load the last saved epoch's weights (after a NaN); False when none was saved."""
        if not os.path.exists(self._weights_path):
            return False
        self.model.load_weights(self._weights_path)
        return True


class RunRecorder(keras.callbacks.Callback):
    """History rows, ``history.csv/json`` and ``best.keras``, kept consistent across resumes."""

    def __init__(self, run: Path, guard: NanGuard, *, monitor: str, write: bool):
        super().__init__()
        self.run, self.guard, self.monitor, self.write = Path(run), guard, monitor, write
        self.rows: list[dict] = []
        self.best = math.inf
        self.initial_epoch = 0
        self._t0 = 0.0

    def on_train_begin(self, logs=None):
        self.initial_epoch = int(getattr(self.model, "_initial_epoch", 0) or 0)
        self.rows = [r for r in artifacts.read_history(self.run) if r.get("epoch", 0) <= self.initial_epoch]
        if self.initial_epoch and self.write:
            print(f"resuming from the checkpoint of epoch {self.initial_epoch} in {self.run / 'backup'}", flush=True)
        for r in self.rows:
            value = r.get(self.monitor)
            if value is not None:
                self.best = min(self.best, self._sign() * value)

    def _sign(self) -> float:
        return -1.0 if "acc" in self.monitor or "auc" in self.monitor else 1.0

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
        artifacts.write_history(self.run, self.rows)
        value = row.get(self.monitor)
        if value is not None and math.isfinite(value) and self._sign() * value < self.best:
            self.best = self._sign() * value
            artifacts.save_model(self.model, self.run / "best.keras")


def current_lr(optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(keras.ops.convert_to_numpy(inner.learning_rate))
    except (TypeError, ValueError):  # pragma: no cover
        return math.nan
