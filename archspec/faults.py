"""Deterministic fault injection for archspec's own crash tests.

Code that writes state a crash could tear (checkpoints, history, run and trial records) marks the
instants worth testing with :func:`point`. A test sets ``ARCHSPEC_FAULT`` (in a child process's
environment, or in its own with ``monkeypatch.setenv``) to make a fault happen exactly there,
instead of racing a timer::

    ARCHSPEC_FAULT=tune.trial_ended:2          # SIGKILL the 2nd time a trial is marked completed
    ARCHSPEC_FAULT=train.checkpoint.replaced   # SIGKILL the 1st time (":N" defaults to 1)
    ARCHSPEC_FAULT=train.batch.epoch2:1:term   # send SIGTERM to this process there
    ARCHSPEC_FAULT=train.checkpoint.write:1:enospc   # the write fails: no space left on the device

Actions: ``kill`` (the default; SIGKILL), ``term`` (SIGTERM), ``enospc`` and ``erofs`` (an
``OSError`` as a full or read-only disk raises it), ``crash`` (raise :class:`Killed`, a
``BaseException`` that archspec's own handlers let through without writing anything: an
in-process stand-in for SIGKILL, for tests that must not pay for a new process). Several points
may be given, separated by commas; the first one reached N times fires. Without the variable
(every normal run), :func:`point` only counts.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

ENV = "ARCHSPEC_FAULT"

_seen: Counter = Counter()


class Killed(BaseException):
    """An in-process SIGKILL (action ``crash``): nothing may be written after it."""


def _targets(text: str) -> dict[str, tuple[int, str]]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, rest = item.partition(":")
        n, _, action = rest.partition(":")
        out[name] = (int(n) if n.isdigit() else 1, action or "kill")
    return out


def point(name: str, path: str | os.PathLike | None = None) -> None:
    """Mark a crash-test point (``path``: the file being written, for the OSError actions)."""
    _seen[name] += 1
    spec = os.environ.get(ENV)
    if not spec:
        return
    n, action = _targets(spec).get(name, (0, ""))
    if n != _seen[name]:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif action == "crash":
        raise Killed(name)
    elif action in ("enospc", "erofs"):
        code = errno.ENOSPC if action == "enospc" else errno.EROFS
        raise OSError(code, os.strerror(code), str(path) if path is not None else None)
    else:  # pragma: no cover
        raise ValueError(f"{ENV}: unknown action {action!r} for {name}")


def reset() -> None:
    """Forget how often each point was reached (between in-process tests)."""
    _seen.clear()
