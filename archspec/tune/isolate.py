"""Isolated trials (``--isolate``): each trial builds and trains in a process of its own.

The search's process keeps keras-tuner's oracle and never builds a trial's model: for each trial it
writes the job (the hypermodel, the trial's values and seed, the fit's arguments) to
``trials/trial_N/isolate.job``, runs ``python -m archspec.tune.isolate JOB`` and reads back
``trials/trial_N/isolate.json`` (the history of the fit, its timings, the objective's curve and the
pruner's decision); the child also writes keras-tuner's best-epoch checkpoint into the trial's
folder, as a trial run in-process does, and its output goes to ``trials/trial_N/isolate.log``.
The data are written once per search, to ``isolate/data.pkl`` in the search directory.

A child whose search is killed exits too (:func:`die_with_parent`); its trial, run again by the
search started again, resumes from its epoch checkpoint (:mod:`archspec.tune.checkpoint`).
A child that raises, is killed (SIGKILL, the kernel's out-of-memory killer), crashes (SIGSEGV) or
exits without its result makes the trial fail with that reason (:class:`TrialProcessError`), and
the search goes on; a NaN objective fails the trial as in-process. The job and data files are
pickles that archspec writes and reads back itself, never files from a user. The job carries the
ops registered in the search's process, a layer of the user's script included
(:mod:`archspec.tune.shipping`); the child registers them before it builds the trial's model.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

JOB = "isolate.job"        # in the trial's folder: what the child runs
RESULT = "isolate.json"    # in the trial's folder: what the child did
LOG = "isolate.log"        # in the trial's folder: the child's stdout and stderr
DATA = "isolate/data.pkl"  # in the search directory: the fit's arrays, once per search
PARENT = "ARCHSPEC_TRIAL_PARENT"  # the search's pid, in the child's environment
#: the last lines of a child's log kept in the reason of a trial whose child died without a result
LOG_LINES = 3


class TrialProcessError(RuntimeError):
    """A trial's process failed: its message is the trial's reason, as its record keeps it."""


def run_isolated(tuner, trial, seed: int, curve, args: tuple, kwargs: dict) -> dict:
    """Run ``trial`` of ``tuner`` (an archspec tuner) in a child process; its metrics at the best
    epoch (keras-tuner's rule), for keras-tuner's oracle. ``curve`` (the tuner's objective
    callback) gets the child's curve and pruning decision; ``hypermodel.fit_seconds`` and
    ``latency_ms`` the child's. Raises :class:`TrialProcessError` when the child fails, and
    :class:`~archspec.tune.shipping.UnshippableOp` (which stops the search) before starting it
    when an op registered here cannot be sent to it."""
    from archspec.tune.shipping import pack_ops

    hm = tuner.hypermodel
    trial_dir = Path(tuner.get_trial_dir(trial.trial_id))
    trial_dir.mkdir(parents=True, exist_ok=True)
    data = _data_file(tuner, args, kwargs)
    objective = tuner.oracle.objective
    kwargs = {k: v for k, v in kwargs.items() if k not in ("callbacks", "validation_data")}
    job = {"hypermodel": hm, "hp": trial.hyperparameters.get_config(), "trial_id": str(trial.trial_id),
           "seed": seed, "objective": (objective.name, objective.direction), "data": str(data),
           "checkpoint": tuner._get_checkpoint_fname(trial.trial_id), "fit": kwargs,
           "pruner": tuner.pruner, "curves": {k: v for k, v in tuner.curves.items() if k != str(trial.trial_id)},
           "ops": tuner.shipped_ops if hasattr(tuner, "shipped_ops") else pack_ops("--isolate")}
    job_path, result_path = trial_dir / JOB, trial_dir / RESULT
    result_path.unlink(missing_ok=True)
    with open(job_path, "wb") as f:
        pickle.dump(job, f)
    with open(trial_dir / LOG, "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "archspec.tune.isolate", str(job_path)],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, PARENT: str(os.getpid())})
        hm.trial_pid = child.pid  # the trial's record names the process that ran it
        code = child.wait()
    result = _read_result(result_path)
    if result is None:
        raise TrialProcessError(_death(code, trial_dir / LOG))
    curve.curve = [math.nan if v is None else v for v in result.get("curve", [])]
    curve.pruned = result.get("pruned")
    hm.fit_seconds = result.get("fit_seconds") or 0.0
    hm.latency_ms = result.get("latency_ms")
    hm.resumed_epoch = result.get("resumed_epoch") or 0
    if result.get("error"):
        raise TrialProcessError(result["error"])
    return best_epoch(result["history"], objective.name, objective.direction)


def best_epoch(history: dict, name: str, direction: str) -> dict:
    """The metrics of the epoch with the best objective (NaN epochs skipped; all NaN: the last)."""
    values = [math.nan if v is None else v for v in history.get(name, [])]
    finite = [i for i, v in enumerate(values) if not math.isnan(v)]
    if not values:
        return {name: math.nan}
    pick = max if direction == "max" else min
    epoch = pick(finite, key=lambda i: values[i]) if finite else len(values) - 1
    return {k: (math.nan if v[epoch] is None else float(v[epoch])) for k, v in history.items() if len(v) > epoch}


def _data_file(tuner, args: tuple, kwargs: dict) -> Path:
    """Write the fit's arrays once per search (the same objects each trial)."""
    path = Path(tuner.project_dir).parent / DATA
    key = (id(args[0]) if args else None, id(kwargs.get("validation_data")))
    if getattr(tuner, "_isolate_data", None) != key or not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"args": args, "validation_data": kwargs.get("validation_data")}, f, protocol=5)
        os.replace(tmp, path)
        tuner._isolate_data = key
    return path


def _read_result(path: Path) -> dict | None:
    import json

    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


def _death(code: int, log: Path) -> str:
    """Why a child left no result: its signal or exit status, and the end of its log."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": " (killed: out of memory?)", "SIGSEGV": " (a crash in native code)"}.get(name, "")
        text = f"the trial's process was killed by {name}{why}"
    else:
        text = f"the trial's process exited with status {code} without a result"
    try:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-LOG_LINES:]
    except OSError:
        tail = []
    return text + ("; its log ends: " + " | ".join(t.strip() for t in tail) if tail and code >= 0 else "")


def die_with_parent(parent: int | None = None, poll: float = 0.5) -> None:
    """Exit when ``parent`` (the search's pid, :data:`PARENT` in the environment; else this
    process's parent now) is no longer this process's parent: a search killed while its trial's
    process runs leaves no orphan training on (the search, started again, runs the trial again
    from its epoch checkpoint; two processes must never train one trial). The pid is handed down,
    not read here: a search killed before this runs has already made another process the parent."""
    import threading
    import time

    if parent is None:
        parent = int(os.environ.get(PARENT) or os.getppid())
    if sys.platform.startswith("linux"):  # the kernel's own: SIGKILL the moment the parent goes
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(3)

    threading.Thread(target=watch, name="archspec-die-with-parent", daemon=True).start()


def _child(job_path: str) -> int:
    """The child: build, fit, write the result; an exception is the result's ``error``."""
    die_with_parent()
    import archspec.faults as faults
    from archspec._env import quiet_tensorflow
    from archspec.train.artifacts import write_json

    out = Path(job_path).with_name(RESULT)
    result: dict = {"pid": os.getpid()}
    try:
        # crash tests: one trial's process (ARCHSPEC_FAULT=tune.isolate.trial_2:1:kill), before TensorFlow
        faults.point("tune.isolate." + Path(job_path).parent.name, out)
        quiet_tensorflow()
        with open(job_path, "rb") as f:
            job = pickle.load(f)
        import keras
        import keras_tuner as kt
        from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

        from archspec.tune.shipping import unpack_ops
        from archspec.tune.trials import _Curve, _plain

        unpack_ops(job.get("ops"))  # the search's custom ops, before the trial's spec is resolved
        with open(job["data"], "rb") as f:
            data = pickle.load(f)
        hm = job["hypermodel"]
        hm.trial_dir = Path(job_path).parent  # the epoch checkpoint: a trial killed mid-way resumes
        hp = kt.HyperParameters.from_config(job["hp"])
        keras.utils.set_random_seed(job["seed"])
        name, direction = job["objective"]
        stub = SimpleNamespace(oracle=SimpleNamespace(objective=SimpleNamespace(name=name, direction=direction)),
                               pruner=job["pruner"], curves=job["curves"])
        curve = _Curve(stub, job["trial_id"])
        save = SaveBestEpoch(objective=kt.Objective(name, direction), filepath=job["checkpoint"])
        try:
            model = hm.build(hp)
            fit = dict(job["fit"], callbacks=[curve, save])
            if data["validation_data"] is not None:
                fit["validation_data"] = data["validation_data"]
            history = hm.fit(hp, model, *data["args"], **fit)
        finally:
            result.update(curve=_plain(curve.curve), pruned=curve.pruned, fit_seconds=hm.fit_seconds,
                          latency_ms=hm.latency_ms, resumed_epoch=hm.resumed_epoch)
        result["history"] = {k: _plain([float(x) for x in v]) for k, v in history.history.items()}
    except Exception as err:  # the trial's reason, as an in-process trial's record keeps it
        if "archspec.tune.failures" in sys.modules:  # (not imported: an error before TensorFlow)
            result["error"] = sys.modules["archspec.tune.failures"].error_text(err)
        else:
            result["error"] = f"{type(err).__name__}: {err}"
    write_json(out, result)
    return 0


if __name__ == "__main__":  # pragma: no cover  (run as the child of run_isolated)
    sys.exit(_child(sys.argv[1]))
