"""One process per run (or search) directory: an exclusive ``flock`` on ``DIR/.lock``.

The lock file says who holds it (pid, host, command, since when), so that a second
``archspec train -o DIR`` stops at once with a message naming the first one, before importing
TensorFlow, instead of two processes writing the same checkpoint. The kernel releases the lock
when its holder exits, however it exits (SIGKILL included): there is no stale lock to remove.
Where ``fcntl`` does not exist (Windows) directories are not locked.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

import archspec.faults as faults
from archspec.errors import FileError, os_error

LOCK = ".lock"


@contextlib.contextmanager
def hold(directory: str | Path, *, what: str = "run directory", name: str = LOCK):
    """Hold the lock of ``directory`` (created if needed) for the block; a FileError naming the
    holder when another process has it, or when the directory cannot be written."""
    directory = Path(directory)
    path = directory / name
    created = not directory.exists()
    try:
        faults.point("lock.create", path)
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise os_error(directory, exc, f"creating the {what}") from None
    try:
        _acquire(fd, path, what)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield path
    finally:
        if created and [p.name for p in directory.iterdir()] == [name]:  # a refused run leaves no trace
            try:
                path.unlink()
                directory.rmdir()
            except OSError:  # someone else came meanwhile: theirs now
                pass
        os.close(fd)  # closing releases the flock


def _acquire(fd: int, path: Path, what: str) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (Windows)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(path)
        raise FileError(path.parent, f"the {what} is in use by another process ({holder})",
                        hint="wait for it to finish, stop it, or give another output directory (-o DIR)") from None


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"pid {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown holder"
