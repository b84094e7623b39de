"""How a search's failures are told: a trial's error as its record keeps it, keras-tuner's stop
after failures in a row, and its tracebacks kept out of the output."""

from __future__ import annotations

import contextlib
import math
import warnings

import keras_tuner as kt

from archspec.errors import ArchspecError, RunError


class SearchStopped(RunError):
    """keras-tuner stopped the search: ``limit`` trials in a row failed."""

    def __init__(self, message: str, *, limit: int, hint: str | None = None):
        self.limit = limit
        super().__init__(message, hint=hint)


def stopped(limit: int, trial_id: str, error: str | None) -> SearchStopped:
    """keras-tuner stopped the search after ``limit`` failed trials in a row, the last
    ``trial_id`` (failed with ``error``)."""
    return SearchStopped(
        f"the search stopped: {limit} trials in a row failed (keras-tuner's limit, "
        f"max_consecutive_failed_trials); the last, trial {trial_id}: {error or 'no error recorded'}",
        limit=limit, hint="each failed trial's error is in its archspec.json; fix the cause and start afresh "
                          "with --overwrite (keras-tuner stops a resumed search with such a run at once)")


#: the longest error text kept in a trial's record
ERROR_CHARS = 600


def error_text(err: BaseException) -> str:
    """An exception as a trial's record keeps it: archspec's own errors as the CLI prints them
    (location, message, hint), others as ``Type: message``; at most :data:`ERROR_CHARS`."""
    from archspec.tune.isolate import TrialProcessError

    if isinstance(err, ArchspecError):
        text = err.format().strip()
    elif isinstance(err, TrialProcessError):  # the child's own reason, already as a record keeps it
        text = str(err)
    else:
        message = _without_stack(str(err))
        text = f"{type(err).__name__}: {message}" if message else type(err).__name__
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 3] + "..."


def _without_stack(message: str) -> str:
    """A TensorFlow error's message without the Python stack it holds ("Graph execution error:
    Detected at node ... defined at (most recent call last): File ..."), blank lines dropped; a
    first line that only announces the next one ("...error:") joined to it."""
    lines = message.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Detected at node")), None)
    files = [i for i, line in enumerate(lines) if line.strip().startswith('File "')]
    if start is not None and files and files[-1] > start:
        lines = lines[:start] + lines[files[-1] + 1:]
    lines = [line.rstrip().replace("\t", " ") for line in lines if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines[:2] = [f"{lines[0]} {lines[1].strip()}"]
    return "\n".join(lines)


def _no_exception(trial, objective: str) -> str:
    """Why keras-tuner failed a trial that raised nothing in archspec's hands."""
    score = trial.score
    if isinstance(score, float) and math.isnan(score):
        return f"the objective `{objective}` is NaN: the training diverged"
    lines = [line for line in (trial.message or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "keras-tuner marked the trial failed"


def failures_in_a_row(oracle) -> int | None:
    """keras-tuner's ``max_consecutive_failed_trials`` when the last trials the oracle ended reach
    it (keras-tuner then stops the search), else None. None for an oracle in another process."""
    limit = getattr(oracle, "max_consecutive_failed_trials", None)
    order, trials = getattr(oracle, "end_order", None), getattr(oracle, "trials", None)
    if not limit or not isinstance(order, list) or not isinstance(trials, dict):
        return None
    run = 0
    for trial_id in reversed(order):
        if trials[trial_id].status != kt.engine.trial.TrialStatus.FAILED:
            break
        run += 1
    return limit if run >= limit else None


@contextlib.contextmanager
def _quiet_failures():
    """keras-tuner prints the traceback of every failed trial (``keras_tuner.src.config.DEBUG``),
    and numpy warns of a NaN objective it ranks: both off inside the block. The trial's line says
    what failed; the traceback stays in its trial.json (``message``)."""
    try:
        from keras_tuner.src import config
    except ImportError:  # another keras-tuner layout: its tracebacks are printed
        config = None
    debug = getattr(config, "DEBUG", False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN (slice|axis) encountered", category=RuntimeWarning)
        if config is not None:
            config.DEBUG = False
        try:
            yield
        finally:
            if config is not None:
                config.DEBUG = debug
