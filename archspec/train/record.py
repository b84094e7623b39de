"""``run.json``: what a run is and where it stands, never claiming more than the checkpoint holds.

The record is written when the run starts training (not before its data and settings passed
their checks: a rerun that fails early leaves a finished run's record as it was), after every
checkpoint (``epochs_completed`` and the checkpoint's SHA-256), and at the end (``completed``,
``early_stopped``, ``nan``), or when the run stops on a signal (``interrupted``) or an error
(``failed``, with the message). When a finished run is continued (more ``--epochs``), its record
is kept under ``previous_runs``; resuming with changed settings (``--resume-with-changes``)
appends them to ``changes`` with the epoch they apply from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from archspec.train import artifacts

FINISHED = ("completed", "early_stopped")
RUN_JSON = "run.json"


def read(run: str | Path) -> dict:
    """The record of a run directory ({} when missing or unreadable)."""
    try:
        info = json.loads((Path(run) / RUN_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class RunRecord:
    """The record of one run directory, kept in memory and written whole (atomically)."""

    def __init__(self, run: str | Path, *, write: bool = True):
        self.path = Path(run) / RUN_JSON
        self.write = write
        self.info = read(run)

    @property
    def status(self) -> str | None:
        return self.info.get("status")

    def _save(self) -> None:
        if self.write:
            artifacts.write_json(self.path, self.info)

    def start(self, info: dict, *, resumed_at: int, changes: list[str], checkpoint_sha: str = "") -> None:
        old = self.info
        previous = list(old.get("previous_runs", []))
        if old.get("status") in FINISHED + ("nan",):
            previous.append({k: old.get(k) for k in ("status", "epochs_completed", "test_metrics", "finished",
                                                      "command")})
        # changes of an attempt that stopped before finishing an epoch with them never applied
        record_changes = [c for c in old.get("changes", []) if c.get("from_epoch", 0) <= resumed_at]
        if changes:
            record_changes.append({"from_epoch": resumed_at + 1, "changed": changes, "command": info.get("command")})
        self.info = {**info, "status": "running", "started": _now(), "resumed_at_epoch": resumed_at,
                     "epochs_completed": resumed_at}
        if resumed_at:
            self.info["checkpoint"] = {"epoch": resumed_at, "sha256": checkpoint_sha, "file": "backup/state.npz"}
        if previous:
            self.info["previous_runs"] = previous
        if record_changes:
            self.info["changes"] = record_changes
        self._save()

    def progress(self, epoch: int, sha256: str) -> None:
        """A checkpoint of ``epoch`` is in place."""
        self.info.update(epochs_completed=epoch, checkpoint={"epoch": epoch, "sha256": sha256,
                                                             "file": "backup/state.npz"})
        self._save()

    def end(self, status: str, **fields) -> None:
        self.info.update(status=status, finished=_now(), **fields)
        self._save()

    def stop(self, status: str, error: str | None = None) -> None:
        """``interrupted`` or ``failed``: best effort (the disk may be what failed)."""
        self.info.update(status=status, finished=_now())
        if error:
            self.info["error"] = error
        try:
            self._save()
        except Exception:  # noqa: BLE001  (already failing: the original error is what matters)
            pass


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
