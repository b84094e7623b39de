"""The callbacks every run uses, whichever loop drives them (``fit`` or the custom step).

- :class:`NanGuard`: stops the run at the first non-finite loss;
- :class:`EpochCheckpoint`: after each epoch, the history row, the best epoch, the checkpoint
  (one verified file holding the state and the history up to it) and the records derived from it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras

import archspec.faults as faults
from archspec.train import artifacts
from archspec.train.checkpoint import Checkpoints


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
    """After each epoch, in this order: the history row, the best epoch (by ``monitor``), the
    checkpoint (weights, optimizer, epoch and the history up to it: one verified file, see
    :mod:`archspec.train.checkpoint`) and, on the chief, the history files and ``run.json``'s
    progress -- views of the checkpoint, rewritten from it on resume. Never saves after a NaN.

    ``rows`` and ``best`` come from the checkpoint a resumed run starts from. A training loss that
    blows up (>= 1e6, or 100x its lowest value and 10x its first) is reported once, in
    ``warnings``.
    """

    def __init__(self, checkpoints: Checkpoints, guard: NanGuard, *, run: Path, monitor: str,
                 higher_is_better: bool, write: bool, record=None, fingerprint: dict | None = None,
                 rows: list | None = None, best: dict | None = None, log=print):
        super().__init__()
        self.checkpoints, self.guard, self.run = checkpoints, guard, Path(run)
        self.monitor, self.write, self.record, self.fingerprint = monitor, write, record, fingerprint or {}
        self.sign = -1.0 if higher_is_better else 1.0
        self.rows: list[dict] = list(rows or [])
        self.best = best if best is not None else _best_of(self.rows, monitor, self.sign)
        self.warnings: list[str] = []
        self.log = log
        self._t0 = 0.0

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
        value = row.get(self.monitor)
        improved = value is not None and math.isfinite(value) and (
            self.best is None or self.sign * value < self.sign * self.best["value"])
        if improved:
            self.best = {"epoch": epoch + 1, "monitor": self.monitor, "value": value}
        self._check_divergence(row)
        model_vars, opt_vars = variables(self.model)
        values = [keras.ops.convert_to_numpy(v) for v in model_vars], [keras.ops.convert_to_numpy(v) for v in opt_vars]
        sha = self.checkpoints.save(*values, epoch + 1, {"history": self.rows, "best": self.best,
                                                         "fingerprint": self.fingerprint}, best=improved)
        if self.write:
            artifacts.write_history(self.run, self.rows)
            faults.point("train.history.written")
            if self.record is not None:
                self.record.progress(epoch + 1, sha)

    def settle(self) -> None:
        """After an interruption or an error: the last checkpoint's sync waited for, and the
        records brought to it (best effort, never raises: the disk may be what failed)."""
        try:
            self.checkpoints.wait()
        except Exception:  # noqa: BLE001
            pass
        self.sync_records()

    def sync_records(self) -> None:
        """After an interruption or an error: bring the history files and ``run.json`` to the
        checkpoint in place (a stop between the checkpoint and its records leaves them behind);
        best effort, never raises (the disk may be what failed)."""
        epoch, sha = self.checkpoints.last_epoch, self.checkpoints.last_sha
        if not self.write or not epoch:
            return
        self.rows = [r for r in self.rows if r["epoch"] <= epoch]
        try:
            artifacts.write_history(self.run, self.rows)
            if self.record is not None:
                self.record.progress(epoch, sha)
        except Exception:  # noqa: BLE001
            pass

    def _check_divergence(self, row: dict) -> None:
        losses = [r["loss"] for r in self.rows if isinstance(r.get("loss"), float) and math.isfinite(r["loss"])]
        if self.warnings or not losses or losses[-1] != row.get("loss"):
            return
        loss, low, first = losses[-1], min(losses), losses[0]
        if loss >= 1e6 or (loss > 100 * low and loss > 10 * first and low > 0):
            best = losses.index(low) + 1
            self.warnings.append(f"the training loss diverged: {loss:.4g} at epoch {row['epoch']} "
                                 f"(lowest {low:.4g} at epoch {self.rows[best - 1]['epoch']})")
            self.log("warning: " + self.warnings[-1] + "; lower the learning rate, or keep best.keras")


def keras_value(v):
    """A variable's value as a numpy array."""
    return keras.ops.convert_to_numpy(v)


def variables(model) -> tuple[list, list]:
    """The model's variables and its optimizer's (none before the optimizer is built)."""
    opt = model.optimizer
    return list(model.weights), (list(opt.variables) if opt is not None else [])


def _best_of(rows: list[dict], monitor: str, sign: float) -> dict | None:
    best = None
    for r in rows:
        value = r.get(monitor)
        if isinstance(value, (int, float)) and math.isfinite(value) and (best is None or sign * value < sign * best["value"]):
            best = {"epoch": r["epoch"], "monitor": monitor, "value": value}
    return best


def current_lr(optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(keras.ops.convert_to_numpy(inner.learning_rate))
    except (TypeError, ValueError):  # pragma: no cover
        return math.nan
