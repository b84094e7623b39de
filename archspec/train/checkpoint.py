"""The resume state of a run: ``RUN/backup/``, verified before it replaces anything.

::

    backup/
      state.npz       the last completed epoch: every model and optimizer variable, the epoch and
                      ``meta`` (the history up to it, the best epoch, the run's fingerprint)
      previous.npz    the epoch before (kept until the next state is verified; the fallback)
      best.npz        the best epoch's state, its own copy (not a link to state.npz)
      checksums.json  the SHA-256 of every state file written, recorded before the file is put
                      in place

One file holds the weights, the optimizer, the epoch *and the history up to it*: the history
files and ``run.json`` are views of it, rewritten from it when a run resumes, so a kill between
any two writes cannot leave records that disagree with the weights.

Saving an epoch: the archive is made in memory, written to a temporary file (a unique name),
read back and compared byte for byte (its SHA-256 is computed meanwhile on another thread), its
hash recorded in ``checksums.json``, and only then renamed over ``state.npz`` -- after
``state.npz`` is hard-linked to ``previous.npz``. ``state.npz``'s fsync runs in a thread while the
next epoch trains, and the next save waits for it before it links ``previous.npz`` (a state loaded
from the disk is synced first); ``best.npz``'s copy is synced before it replaces the last one. A
killed process loses nothing saved, a crashed machine at most the last state: ``previous.npz``
and ``best.npz`` are on the disk. The files replaced keep a temporary second name until the
thread deletes them (a stale temporary after a kill, removed at the next lock).
A bad sector, a torn write or a zero-filled file in ``state.npz`` fails the zip's CRC or the
recorded hash when loaded, and the run falls back to ``previous.npz`` with a message. Keras'
``BackupAndRestore`` (``save_weights`` to HDF5 plus a JSON file) took ~85 ms an epoch for ResNet-20
here; this takes a few.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import archspec.faults as faults
from archspec.errors import FileError, os_error
from archspec.train.artifacts import atomic_write, umask

STATE, PREVIOUS, BEST, CHECKSUMS = "state.npz", "previous.npz", "best.npz", "checksums.json"
#: what Keras' BackupAndRestore writes (run directories of older archspec versions)
KERAS_WEIGHTS, KERAS_METADATA = "latest.weights.h5", "training_metadata.json"
FORMAT = 2


@dataclass
class State:
    """A loaded state file: the arrays (``m0..``, ``o0..``), its epoch, ``meta`` and where from."""

    arrays: dict
    epoch: int
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""


class Checkpoints:
    """The state files of one backup directory (see the module docstring)."""

    def __init__(self, backup_dir: str | Path, log: Callable[[str], None] = print):
        self.dir = Path(backup_dir)
        self.log = log
        self.last_sha = ""
        self.last_epoch = 0  # of the state in place (loaded or saved), for the records
        # whether state.npz is known good (loaded from it, or written and verified here): only
        # then is it kept as previous.npz when the next state replaces it, never a damaged one
        self._state_good = False
        self._syncing: _Sync | None = None  # the last save's files, synced to the disk meanwhile
        self._state_synced = False  # state.npz known to be on the disk (saved here, its sync waited for)

    # ------------------------------------------------------------------ saving
    def wait(self) -> None:
        """Wait until the last saved files are on the disk (their fsync runs while the next epoch
        trains); an error of that sync is raised here, naming the file."""
        syncing, self._syncing = self._syncing, None
        if syncing is None:
            return
        failed = syncing.result()
        if failed is not None:
            path, exc = failed
            raise os_error(path, exc, "syncing a checkpoint to the disk") from None
        self._state_synced = True

    def save(self, model_values: list, optimizer_values: list, epoch: int, meta: dict, *, best: bool) -> str:
        """Save one epoch's state (and, when ``best``, as the best too); its SHA-256.

        The files are in place (written, read back equal, renamed) when this returns, so a kill
        of the process loses nothing saved. ``state.npz``'s fsync to the disk runs in a thread,
        which the next ``save`` (and :meth:`wait`) joins first, so ``previous.npz`` is on the disk
        (a state loaded, not saved here, is synced before it becomes ``previous.npz``);
        ``best.npz``'s copy is synced before it replaces the last one."""
        self.wait()
        arrays = {f"m{i}": v for i, v in enumerate(model_values)}
        arrays.update({f"o{i}": v for i, v in enumerate(optimizer_values)})
        arrays["epoch"] = np.array(epoch)
        arrays["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getbuffer()  # no copy of the archive (hundreds of MB for a ResNet-50)
        hashing = _Sha256(data)  # hashed on the other core while the file is written and read back
        target = state = self.dir / STATE
        synced: list[tuple[int, Path]] = []  # files in place: (a descriptor open on it, its name), synced later
        written: list[Path] = []             # temporary files not (yet) in place: removed after an error
        replaced: list[Path] = []            # second names of the files replaced: deleted after the sync
        handed = False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self._write_verified(data, STATE, written, synced)
            sha = hashing.result()
            self._record_checksum(sha, epoch, best)  # recorded before the file is put in place
            faults.point("train.checkpoint.written")
            if state.exists() and self._state_good:  # the previous good state stays until this one is in place
                target = self.dir / PREVIOUS
                if not self._state_synced:  # loaded, not saved by this process: on the disk before it is the fallback
                    _fsync_path(state)
                _replace_by_link(state, target, replaced)
            target = state
            os.replace(tmp, state)
            written.remove(tmp)
            self._state_good, self._state_synced, self.last_sha, self.last_epoch = True, False, sha, epoch
            faults.point("train.checkpoint.replaced")
            if best:
                target = self.dir / BEST
                tmp = self._write_verified(data, BEST, written, None)  # synced now: the last best goes
                _replace(tmp, target, replaced)
                written.remove(tmp)
                faults.point("train.checkpoint.best")
            self._syncing, handed = _Sync(list(synced), self.dir, replaced), True
        except OSError as exc:
            doing = (f"writing the best epoch's copy (epoch {epoch}; its checkpoint state.npz is in place)"
                     if target.name == BEST else f"writing the checkpoint of epoch {epoch}")
            raise os_error(target, exc, doing) from None
        finally:
            hashing.result()  # the thread ends before its buffer does
            del data
            if not handed:  # an error: what the thread would have done, done here as far as it goes
                for path in written + replaced:
                    path.unlink(missing_ok=True)
                for fd, _ in synced:
                    with contextlib.suppress(OSError):
                        os.fsync(fd)
                    os.close(fd)
        return sha

    def _write_verified(self, data: memoryview, name: str, written: list, synced: list | None) -> Path:
        """``data`` in a new temporary file beside ``name`` (added to ``written``), read back
        equal. With a ``synced`` list (and not on Windows, which cannot rename an open file), a
        descriptor open on it goes there, for the sync thread; else it is synced now."""
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.dir)
        written.append(Path(tmp))
        later = synced is not None and os.name != "nt"
        with os.fdopen(fd, "wb") as f:
            faults.point("train.checkpoint.write" if name == STATE else "train.checkpoint.write_best", tmp)
            f.write(data)
            f.flush()
            if not later:
                os.fsync(f.fileno())
        if not _reads_back(tmp, data):
            raise OSError(5, "the file read back differs from what was written", tmp)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600 files
        if later:
            synced.append((os.open(tmp, os.O_RDONLY), self.dir / name))
        return Path(tmp)

    def _record_checksum(self, sha: str, epoch: int, best: bool) -> None:
        """Add ``sha`` to checksums.json before its file exists; keep the last three epochs' and
        the best's."""
        known = self._checksums()
        if known is None:  # lost or damaged: the files in place that pass their CRC stay known
            known = self._rebuild_checksums()
        known[sha] = {"epoch": epoch, "best": best}
        if best:
            for value in known.values():
                value["best"] = value is known[sha]
        keep = {k: v for k, v in known.items() if v["epoch"] >= epoch - 2 or v.get("best")}
        atomic_write(self.dir / CHECKSUMS, json.dumps(keep, indent=1) + "\n")

    def _rebuild_checksums(self) -> dict:
        known = {}
        for name in (STATE, PREVIOUS, BEST):
            if (self.dir / name).exists():
                state, _ = self._read(self.dir / name, None)
                if state is not None:
                    known[state.sha256] = {"epoch": state.epoch, "best": name == BEST}
        return known

    def _checksums(self) -> dict | None:
        try:
            known = json.loads((self.dir / CHECKSUMS).read_text())
            return known if isinstance(known, dict) and all(isinstance(v, dict) for v in known.values()) else None
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ loading
    def load(self) -> State | None:
        """The newest good state: ``state.npz``, else ``previous.npz`` (saying why); None when the
        directory has neither; a FileError when every state file there is bad."""
        known = self._checksums()
        problems = []
        for name in (STATE, PREVIOUS):
            path = self.dir / name
            if not path.exists():
                continue
            state, problem = self._read(path, known)
            if state is not None:
                for bad, why in problems:
                    self.log(f"warning: the checkpoint {bad} is unusable ({why}); resuming from {path} "
                             f"(epoch {state.epoch}) instead")
                self.last_sha, self.last_epoch = state.sha256, state.epoch
                self._state_good, self._state_synced = name == STATE, False  # synced before it is previous.npz
                return state
            problems.append((path, problem))
        if problems:
            raise FileError(self.dir, "no usable checkpoint: " + "; ".join(f"{p.name}: {why}" for p, why in problems),
                            hint="start over with --fresh, or train into another --output directory")
        return None

    def load_best(self) -> State | None:
        """The best epoch's state, or None (absent or bad: a bad one is reported, not fatal)."""
        path = self.dir / BEST
        if not path.exists():
            return None
        state, problem = self._read(path, self._checksums())
        if state is None:
            self.log(f"warning: the best epoch's checkpoint {path} is unusable ({problem}): "
                     "best.keras is not written")
        return state

    def _read(self, path: Path, known: dict | None) -> tuple[State | None, str]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, exc.strerror or str(exc)
        if not data:
            return None, "the file is empty"
        if not data.strip(b"\0"):
            return None, "the file is all zero bytes"
        sha = hashlib.sha256(data).hexdigest()
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                bad = z.testzip()
            if bad is not None:
                return None, f"its member {bad} fails its CRC check (a damaged file)"
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            return None, f"not a readable .npz archive (truncated or damaged: {exc})"
        if "epoch" not in arrays:
            return None, "it holds no epoch (not an archspec checkpoint)"
        if known and sha not in known:
            return None, "its SHA-256 is not one archspec recorded when writing it (a damaged file)"
        meta = {}
        if "meta" in arrays:
            try:
                meta = json.loads(str(arrays.pop("meta")))
            except ValueError:
                return None, "its metadata is not readable"
        return State(arrays, int(arrays.pop("epoch")), meta, path, sha), ""

    def load_keras_format(self, model) -> int:
        """A run directory of an older archspec (Keras' BackupAndRestore files): load the weights;
        the epoch to start at (0 without)."""
        weights, metadata = self.dir / KERAS_WEIGHTS, self.dir / KERAS_METADATA
        if weights.exists():
            model.load_weights(weights)
        if not metadata.exists():
            return 0
        return int(json.loads(metadata.read_text())["epoch"])


def assign(state: State, model_vars: list, optimizer_vars: list, *, where: Path) -> None:
    """Put a state's arrays into the variables; a FileError when it is another model's."""
    expect = {f"m{i}": v for i, v in enumerate(model_vars)} | {f"o{i}": v for i, v in enumerate(optimizer_vars)}
    if set(state.arrays) != set(expect) or any(
            tuple(state.arrays[k].shape) != tuple(v.shape) for k, v in expect.items()):
        raise FileError(state.path or where, "the checkpoint is of another model or optimizer (or another precision)",
                        hint="start over with --fresh, or train into another --output directory "
                             f"(the run directory is {where})")
    for k, v in expect.items():
        v.assign(state.arrays[k])


class _Sha256:
    """The SHA-256 of a buffer, computed in a thread (hashlib lets go of the GIL for large data)."""

    def __init__(self, data: memoryview):
        self._hex, self._error = "", None
        self._thread = threading.Thread(target=self._run, args=(data,), name="archspec-checkpoint-sha256",
                                        daemon=True)
        self._thread.start()

    def _run(self, data) -> None:
        try:
            self._hex = hashlib.sha256(data).hexdigest()
        except BaseException as exc:  # noqa: BLE001  (raised again by result())
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hex


class _Sync:
    """In a thread: fsync the files of one save, then their directory, then delete the second
    names of the files they replaced (a 200 MB file takes 0.1-0.2 s to delete). ``result()``
    waits: None, or (the file's name, the OSError); anything else the thread raised is raised again."""

    def __init__(self, files: list[tuple[int, Path]], directory: Path, replaced: list[Path]):
        self._failed: tuple[Path, OSError] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(files, directory, replaced),
                                        name="archspec-checkpoint-sync", daemon=True)
        self._thread.start()

    def _run(self, files, directory, replaced) -> None:
        try:
            for fd, path in files:
                if self._failed is None:
                    try:
                        faults.point("train.checkpoint.sync", path)
                        os.fsync(fd)
                    except OSError as exc:
                        self._failed = (path, exc)
            _sync_dir(directory)
        except BaseException as exc:  # noqa: BLE001  (raised again by result())
            self._error = exc
        finally:
            for fd, _ in files:
                with contextlib.suppress(OSError):
                    os.close(fd)
            for path in replaced:  # left by a kill: a stale temporary, removed at the next lock
                with contextlib.suppress(OSError):
                    Path(path).unlink(missing_ok=True)

    def result(self) -> tuple[Path, OSError] | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._failed


def _reads_back(path: str | Path, data: memoryview, chunk: int = 1 << 24) -> bool:
    """Whether the file holds exactly ``data``: read back in 16 MiB pieces and compared (no copy
    of the whole file in memory, no second hash)."""
    piece = np.empty(chunk, np.uint8)
    expected = np.frombuffer(data, np.uint8)
    offset = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(piece)
            if not n:
                return offset == len(expected)
            if offset + n > len(expected) or not np.array_equal(piece[:n], expected[offset:offset + n]):
                return False
            offset += n


def _replace(src: Path, dst: Path, replaced: list[Path]) -> None:
    """``os.replace(src, dst)``, where the file ``dst`` was keeps a second, temporary name (a hard
    link), added to ``replaced``: deleting it (0.1-0.2 s for 200 MB) is left to the sync thread."""
    if dst.exists():
        old = _free_name(dst)
        try:
            os.link(dst, old)
            replaced.append(old)
        except OSError:  # no hard links on this file system: the replace deletes it
            pass
    os.replace(src, dst)


def _replace_by_link(src: Path, dst: Path, replaced: list[Path]) -> None:
    """Make ``dst`` the same file as ``src`` (a hard link, else a copy), atomically."""
    tmp = _free_name(dst)
    try:
        try:
            os.link(src, tmp)  # state.npz is replaced, never rewritten: a link is a copy
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)
            _fsync_path(tmp)
        _replace(tmp, dst, replaced)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _free_name(beside: Path) -> Path:
    """A unique temporary name beside ``beside`` (``.NAME.*.tmp``: removed when a killed process
    leaves it), not taken."""
    fd, tmp = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".tmp", dir=beside.parent)
    os.close(fd)
    os.unlink(tmp)
    return Path(tmp)


def _fsync_path(path: Path) -> None:
    """fsync a file by name (cheap when it is on the disk already)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover  (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
