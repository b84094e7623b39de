"""Resuming a search directory: the files keras-tuner reads, checked before it reads them.

Pure Python (no TensorFlow): :func:`search` runs it before importing keras-tuner, so that a
directory that cannot be resumed is named at once.

What keras-tuner 1.4.8 reads when it resumes (``overwrite=False``): nothing unless the tuner's own
file ``trials/<KERASTUNER_TUNER_ID or tuner0>.json`` exists; then the process that owns the oracle
(a standalone search, or the chief of a distributed one) reads every ``trials/trial_*/trial.json``
and ``trials/oracle.json``, and every process reads its tuner file. Later it reads a completed
trial's ``build_config.json`` (to load the best model; Hyperband, to continue a trial).
keras-tuner writes these files in place, not atomically: a process killed mid-write leaves one
truncated, and keras-tuner would stop with a JSONDecodeError traceback. :func:`prepare_resume`
names that file instead (:class:`~archspec.errors.FileError`, exit 2).

Removing a trial's folder runs that trial again, the other trials kept. keras-tuner itself does
not allow it: its oracle still names the trial (a KeyError at the next trial's end), and counts
trials to number the next one, so that a new trial would take the number of an existing one and
overwrite its folder. :func:`prepare_resume` gives each removed trial a ``trial.json`` of a trial
waiting to run again (:data:`REMOVED` as its message, no values yet) and puts it in the oracle's
retry queue; once keras-tuner has reloaded the search, the tuner asks its oracle for values for
it as for a new trial (:func:`archspec.tune.trials.refill_removed`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from archspec.errors import FileError
from archspec.train.artifacts import atomic_write
from archspec.tune.layout import PROJECT

ORACLE = "oracle.json"
TRIAL = "trial.json"
BUILD_CONFIG = "build_config.json"
#: the message of a trial whose folder was removed, until the tuner gives it values to run again
REMOVED = "archspec: its folder was removed; it runs again"
#: keras-tuner's statuses of a trial that has not ended
UNFINISHED = ("RUNNING", "IDLE")


def tuner_id() -> str:
    """This process's keras-tuner id (``KERASTUNER_TUNER_ID``; keras-tuner's default ``tuner0``)."""
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def owns_oracle() -> bool:
    """Whether this process's tuner holds the oracle (keras-tuner's test: not a worker of a
    distributed search, i.e. no ``KERASTUNER_ORACLE_IP``, or an id that says ``chief``)."""
    return not os.environ.get("KERASTUNER_ORACLE_IP") or "chief" in tuner_id()


def read_object(path: Path, hint: str) -> dict:
    """The JSON object in ``path``; a FileError naming the file when it is not one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileError(path, "missing", hint=hint) from None
    except OSError as exc:
        raise FileError(path, f"cannot be read ({exc.strerror or exc})", hint=hint) from None
    except ValueError as exc:  # not UTF-8
        raise FileError(path, f"truncated or corrupt JSON ({exc})", hint=hint) from None
    if not text.strip():
        raise FileError(path, "truncated or corrupt JSON (the file is empty)", hint=hint)
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise FileError(path, f"truncated or corrupt JSON ({exc})", hint=hint) from None
    if not isinstance(obj, dict):
        raise FileError(path, f"truncated or corrupt JSON (a JSON {type(obj).__name__}, not an object)",
                        hint=hint)
    return obj


def trial_hint(trial_dir: Path) -> str:
    return (f"remove the folder {trial_dir} to run that trial again (with values the tuner draws anew; "
            "the other trials are kept), or start the search over with --overwrite")


def prepare_resume(directory: str | Path) -> list[str]:
    """Check every JSON file keras-tuner will read to resume the search in ``directory``
    (a FileError naming the first that is not a JSON object), and make each trial whose
    folder was removed a trial to run again. Returns those trials' ids. Does nothing when
    keras-tuner will not resume (no tuner file): then it starts a new search."""
    project = Path(directory) / PROJECT
    tuner_file = project / f"{tuner_id()}.json"
    if not tuner_file.exists() and owns_oracle() and (project / ORACLE).exists():
        # keras-tuner reloads a search only from this process's own tuner file (tuner0.json, or
        # chief.json for --parallel's chief); it holds no state (``{}``): a search begun by the other
        # role resumes instead of starting over on top of the trials there
        from archspec.train.artifacts import write_json

        write_json(tuner_file, {})
    if not tuner_file.exists():
        return []
    trials: dict[str, dict] = {}
    oracle = None
    if owns_oracle():
        for tdir in sorted(project.glob("trial_*")):
            path = tdir / TRIAL
            if not path.exists():  # keras-tuner globs trial_*/trial.json: a folder without one is unread
                continue
            state = read_object(path, trial_hint(tdir))
            if state.get("status") == "COMPLETED" and (tdir / BUILD_CONFIG).exists():
                read_object(tdir / BUILD_CONFIG, trial_hint(tdir))
            trials[str(state.get("trial_id", tdir.name[len("trial_"):]))] = state
        oracle = read_object(project / ORACLE, "the oracle's state is lost: start the search over with "
                             "--overwrite")
    read_object(tuner_file, "it holds no state of archspec's tuners: write `{}` into it to resume the "
                "search, or start the search over with --overwrite")
    if oracle is None:
        return []
    return _requeue(project, oracle, trials)


def _requeue(project: Path, oracle: dict, trials: dict[str, dict]) -> list[str]:
    """Put removed trials (named by the oracle, with no trial.json) and trials that never started
    (a trial.json the oracle's state does not have yet: killed between keras-tuner's two writes)
    in the oracle's retry queue; rewrite oracle.json (atomically) if anything changed."""
    try:
        ongoing = set(oracle["ongoing_trials"].values())
        retry, ended = oracle["retry_queue"], oracle["end_order"]
        named = (set(oracle["start_order"]) | set(ended) | ongoing | set(retry)
                 | set(oracle.get("run_times", {})) | set(oracle.get("id_to_hash", {})))
        space = oracle["hyperparameters"]["space"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise FileError(project / ORACLE, f"not the state of a keras-tuner oracle (no {exc})",
                        hint="start the search over with --overwrite") from None
    removed = sorted(named - set(trials), key=_order)
    for trial_id in removed:
        state = {"trial_id": trial_id, "hyperparameters": {"space": space, "values": {}},
                 "metrics": {"metrics": {}}, "score": None, "best_step": 0, "status": "RUNNING",
                 "message": REMOVED}
        path = project / f"trial_{trial_id}" / TRIAL
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(state))
        if trial_id in ended:
            ended.remove(trial_id)
        oracle.get("run_times", {}).pop(trial_id, None)
        for bracket in oracle.get("brackets", []):  # Hyperband: the slot is filled again
            bracket["rounds"] = [[info for info in rnd if info.get("id") != trial_id]
                                 for rnd in bracket["rounds"]]
    unstarted = [t for t, s in trials.items() if s.get("status") in UNFINISHED and t not in named]
    for trial_id in removed + sorted(unstarted, key=_order):
        if trial_id not in ongoing and trial_id not in retry:
            retry.append(trial_id)
    if removed or unstarted:
        atomic_write(project / ORACLE, json.dumps(oracle))
    return removed


def _order(trial_id: str):
    return (0, int(trial_id), "") if trial_id.isdigit() else (1, 0, trial_id)
