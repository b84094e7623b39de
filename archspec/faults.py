"""Deterministic fault injection for archspec's own crash tests.

Code that writes state a crash could tear (trial records, checkpoints, results) marks the
instants worth testing with :func:`point`. A test sets ``ARCHSPEC_FAULT`` in a child process's
environment to kill that process with SIGKILL exactly there, instead of racing a timer:

    ARCHSPEC_FAULT=tune.trial_ended:2     # die the 2nd time a trial has been marked completed
    ARCHSPEC_FAULT=tune.trial_recorded    # die the 1st time (":N" defaults to 1)

Several points may be given, separated by commas; the first one reached N times fires. Without
the variable (every normal run), :func:`point` only counts.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "ARCHSPEC_FAULT"

_seen: Counter = Counter()


def _targets(text: str) -> dict[str, int]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, n = item.partition(":")
        out[name] = int(n) if n.isdigit() else 1
    return out


def point(name: str) -> None:
    """Mark a crash-test point: SIGKILL this process here if ``ARCHSPEC_FAULT`` names it."""
    _seen[name] += 1
    spec = os.environ.get(ENV)
    if spec and _targets(spec).get(name) == _seen[name]:
        os.kill(os.getpid(), signal.SIGKILL)
