"""``--parallel N``: N trials at once on this machine, one device each, started by one command.

The search's process becomes keras-tuner's chief (:mod:`archspec.tune.chief`): it serves the
oracle on 127.0.0.1, on a port the kernel gives, and runs no trial. It starts N worker processes
(``python -m archspec.tune.parallel JOB tunerI``), each the same search as keras-tuner worker
``tunerI``: each asks the oracle for a trial, runs it, reports it, asks again. Devices
(:func:`plan_workers`): with GPUs, worker ``i`` sees GPU ``i mod G`` alone
(``CUDA_VISIBLE_DEVICES``; GPUs shared by several workers grow their memory as needed) and the
chief none; the CPU cores are divided into N groups, each worker pinned to its own
(``sched_setaffinity``, Linux) with TensorFlow's thread pools sized to it. The workers' trial
lines are printed by the chief as they come and kept in ``DIR/workers/tunerI.log``.

A worker that dies while the search runs (killed, out of memory, a crash) is started again with
its id: keras-tuner's oracle gives a worker its running trial again, which resumes from its last
epoch (:mod:`archspec.tune.checkpoint`), so no trial is lost or run twice. A worker that died
twice runs its trials isolated from then on (each in a process of its own,
:mod:`archspec.tune.isolate`; not with Hyperband, whose trials continue from earlier ones): a
trial that kills whatever runs it fails alone, with its reason. A worker is started again at most
:data:`RESTARTS` times in a row (a trial it ends clears the count); after that its running trial ends ``failed`` with the reason
(:func:`archspec.tune.chief.abandon`), and when no worker is left the chief writes the results
of what ran and says so (the same command resumes the rest). Workers never outlive the chief.
The job carries the ops registered in the chief's process, a layer of the user's script included
(:mod:`archspec.tune.shipping`); a worker registers them before it resolves the spec.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from archspec.tune.isolate import PARENT, die_with_parent

RESTARTS = 3              # times in a row a worker is started again after dying (a trial it ends: 0 again)
JOB = "workers/job.pkl"   # in the search directory: what every worker runs
LOGS = "workers"          # in the search directory: tunerI.log, each worker's output
FAILED = 4                # a worker's exit status for an error it reported: not started again
LOG_LINES = 3             # the last lines of a dead worker's log shown with its death


@dataclass
class WorkerPlan:
    """One worker's share of the machine."""

    tuner_id: str
    cpus: list = field(default_factory=list)  # the cores it is pinned to (empty: not pinned)
    gpu: str | None = None                    # the one GPU it sees (None: no GPU)

    @property
    def threads(self) -> int:
        return max(1, len(self.cpus))


def plan_workers(n: int, cpus: list[int], gpus: list[str]) -> list[WorkerPlan]:
    """Divide ``cpus`` (core ids) into ``n`` contiguous groups as even as can be (more workers
    than cores: one core each, shared in turn) and give worker ``i`` GPU ``gpus[i % len(gpus)]``."""
    if n < 1:
        raise ValueError("n must be at least 1")
    cpus = sorted(cpus)
    plans = []
    for i in range(n):
        if not cpus:
            mine = []
        elif n <= len(cpus):
            lo, hi = i * len(cpus) // n, (i + 1) * len(cpus) // n
            mine = cpus[lo:hi]
        else:
            mine = [cpus[i % len(cpus)]]
        plans.append(WorkerPlan(f"tuner{i}", mine, gpus[i % len(gpus)] if gpus else None))
    return plans


def gpus_for_workers() -> list[str]:
    """The GPUs the workers share out (``CUDA_VISIBLE_DEVICES`` when set, else every GPU
    TensorFlow finds), hidden from this process, the chief, which trains nothing: TensorFlow
    would otherwise take their memory here for the whole search."""
    import tensorflow as tf

    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        gpus = [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    else:
        gpus = [str(i) for i in range(len(tf.config.list_physical_devices("GPU")))]
    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):  # already initialized here (a caller used the GPU first)
        pass
    return gpus


def available_cpus() -> list[int]:
    """The cores this process may run on, to divide; empty where they cannot be pinned (not Linux)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []


def check_parallel(n, strategy) -> None:
    """``--parallel``'s mistakes, before TensorFlow: a SpecError at ``--parallel``."""
    from archspec.errors import SpecError, command_line

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SpecError("`--parallel` takes the number of trials to run at once", command_line("--parallel"),
                        received=n, hint="a whole number >= 1, e.g. --parallel 2")
    if strategy is not None:
        raise SpecError("`--parallel` gives each worker one device of its own: it does not combine with "
                        "`--strategy`", command_line("--parallel"), received=n,
                        hint="drop --strategy (each trial then trains on its worker's GPU or CPU cores)")
    if os.environ.get("KERASTUNER_ORACLE_IP") or os.environ.get("KERASTUNER_TUNER_ID"):
        raise SpecError("`--parallel` starts keras-tuner's chief and workers itself: this process is already "
                        f"keras-tuner's `{os.environ.get('KERASTUNER_TUNER_ID')}`", command_line("--parallel"),
                        received=n, hint="unset KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
                                         "KERASTUNER_ORACLE_PORT, or run the chief and workers yourself "
                                         "without --parallel")


@contextlib.contextmanager
def chief_environment():
    """This process as keras-tuner's chief on 127.0.0.1 for the block (the port: set once the
    server is bound, :func:`archspec.tune.chief.start_server`)."""
    keys = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT="0")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_workers(directory, n: int, spec, kwargs: dict, gpus: list[str], env: dict, *,
                  log: bool = True) -> "Workers":
    """Start ``n`` workers of the search in ``directory`` (this process is its chief, serving at
    ``env``'s ``KERASTUNER_ORACLE_IP``/``PORT``), each running ``search(spec, directory=directory,
    **kwargs)`` as keras-tuner worker ``tunerI``, on the devices of :func:`plan_workers`. The job
    carries the ops registered in this process (:mod:`archspec.tune.shipping`): a layer registered
    in the user's script reaches the workers; one that cannot be sent raises a SpecError
    (:class:`~archspec.tune.shipping.UnshippableOp`) here, before any worker starts."""
    from archspec.tune.shipping import pack_ops

    plans = plan_workers(n, available_cpus(), gpus)
    job = {"spec": spec, "kwargs": dict(kwargs, directory=str(directory), overwrite=False, write_model=False,
                                        log=True, hparams=False), "ops": pack_ops("--parallel")}
    if gpus and n > len(gpus):  # GPUs shared: each worker takes memory as it needs it, not all of it
        env = dict(env, TF_FORCE_GPU_ALLOW_GROWTH="true")
    workers = Workers(directory, job, plans, env, log=log)
    if log:
        print(f"{n} workers: " + ", ".join(
            f"{p.tuner_id} on " + (f"GPU {p.gpu} and " if p.gpu is not None else "")
            + (f"core{'s' if len(p.cpus) > 1 else ''} {','.join(map(str, p.cpus))}" if p.cpus else "the CPU")
            for p in plans), flush=True)
    workers.start_all()
    return workers


class Workers:
    """The chief's worker processes: started, watched, started again (see the module docstring)."""

    def __init__(self, directory: str | Path, job: dict, plans: list[WorkerPlan], env: dict, *, log: bool = True):
        self.directory = Path(directory)
        self.plans = {p.tuner_id: p for p in plans}
        self.env = env
        self.log = log
        self.isolate_allowed = job["kwargs"].get("tuner") != "hyperband"
        self.procs: dict[str, subprocess.Popen] = {}
        self.deaths: dict[str, list[str]] = {p.tuner_id: [] for p in plans}
        self.finished: set[str] = set()
        self.errors: dict[str, str] = {}  # a worker's last `error: worker ...` line (printed before it stopped)
        self._threads: list[threading.Thread] = []
        self.job_path = self.directory / JOB
        self.job_path.parent.mkdir(parents=True, exist_ok=True)  # (LOGS too: the same folder)
        tmp = self.job_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(job, f)
        os.replace(tmp, self.job_path)

    def start_all(self) -> None:
        try:
            for tuner_id in self.plans:
                self._start(tuner_id)
        except BaseException:
            self.stop()
            raise

    def _start(self, tuner_id: str) -> None:
        plan = self.plans[tuner_id]
        again = bool(self.deaths[tuner_id])
        env = {**os.environ, **self.env, "KERASTUNER_TUNER_ID": tuner_id, PARENT: str(os.getpid()),
               "ARCHSPEC_WORKER_CPUS": ",".join(map(str, plan.cpus))}
        if plan.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = plan.gpu
        cmd = [sys.executable, "-m", "archspec.tune.parallel", str(self.job_path), tuner_id]
        if again:
            env.pop("ARCHSPEC_FAULT", None)  # crash tests: a fault fires in a worker's first life only
            _reset_tuner_file(self.directory, tuner_id)
            if len(self.deaths[tuner_id]) >= 2 and self.isolate_allowed:
                cmd.append("--isolate")
        log = open(self.directory / LOGS / f"{tuner_id}.log", "a" if again else "w")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)
        self.procs[tuner_id] = proc
        thread = threading.Thread(target=self._relay, args=(tuner_id, proc, log), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _relay(self, tuner_id: str, proc: subprocess.Popen, log) -> None:
        """Copy a worker's output to its log (and its trial lines to this process's output) until
        it ends; never stops reading before that (a full pipe would block the worker)."""
        with proc.stdout, log:
            for line in proc.stdout:
                if line.startswith(f"error: worker {tuner_id}: "):
                    self.errors[tuner_id] = line[len(f"error: worker {tuner_id}: "):].strip()
                elif line.startswith("trial "):  # a trial ended: its deaths before were not its trials'
                    self.deaths[tuner_id] = []
                try:
                    log.write(line)
                    log.flush()
                    if self.log and line.startswith(("trial ", "warning", "error")):
                        print(line, end="", flush=True)
                except (OSError, ValueError):  # a full disk, a closed stdout: keep draining the pipe
                    pass

    def poll(self, *, stopping: bool = False, busy: set | None = None) -> list[tuple[str, str]]:
        """Start again each worker that died (a signal, or an exit status other than 0 and
        :data:`FAILED`) -- unless the search is ``stopping`` and it holds no trial (``busy``: the
        workers holding one). Returns the workers given up now, with why."""
        given_up = []
        for tuner_id, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or tuner_id in self.finished:
                continue
            if code in (0, FAILED) or (stopping and tuner_id not in (busy or set())):
                self.finished.add(tuner_id)  # done, stopped by an error it printed, or nothing left to do
                continue
            why = _death(code, self.directory / LOGS / f"{tuner_id}.log")
            self.deaths[tuner_id].append(why)
            if len(self.deaths[tuner_id]) > RESTARTS:
                self.finished.add(tuner_id)
                given_up.append((tuner_id, f"died {len(self.deaths[tuner_id])} times, last: {why}"))
                if self.log:
                    print(f"worker {tuner_id} {why}: not started again (it died "
                          f"{len(self.deaths[tuner_id])} times)", flush=True)
                continue
            if self.log:
                isolating = len(self.deaths[tuner_id]) >= 2 and self.isolate_allowed
                print(f"worker {tuner_id} {why}: started again (its trial runs again from its last epoch"
                      + (", each of its trials now in a process of its own)" if isolating else ")"), flush=True)
            self._start(tuner_id)
        return given_up

    def done(self) -> bool:
        """Every worker has exited for good."""
        return set(self.procs) <= self.finished

    def gone(self) -> list[str]:
        """Why each worker that did not finish its part is gone: given up after dying too often,
        or stopped by an error it printed."""
        why = [f"{t}: {self.deaths[t][-1]}" for t in self.procs if len(self.deaths[t]) > RESTARTS]
        return why + [f"{t}: {self.errors[t]}" for t in self.procs if t in self.errors]

    def stop(self) -> None:
        """Stop the workers still running (the chief is stopping)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)


def _reset_tuner_file(directory: Path, tuner_id: str) -> None:
    """A worker's keras-tuner file (``trials/tunerI.json``) holds no state (``{}``); one a kill
    left torn would stop the worker started again: it is written anew."""
    from archspec.train.artifacts import write_json
    from archspec.tune.layout import PROJECT

    path = directory / PROJECT / f"{tuner_id}.json"
    try:
        if not path.exists() or isinstance(json.loads(path.read_text()), dict):
            return
    except (OSError, ValueError):
        pass
    write_json(path, {})


def _death(code: int, log: Path) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    try:
        tail = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()][-LOG_LINES:]
    except OSError:
        tail = []
    return f"exited with status {code}" + (" (its log ends: " + " | ".join(tail) + ")" if tail else "")


def _worker(job_path: str, tuner_id: str, isolate: bool) -> int:
    """A worker: pinned to its cores, the same search as keras-tuner worker ``tuner_id``."""
    die_with_parent()
    cpus = [int(c) for c in os.environ.get("ARCHSPEC_WORKER_CPUS", "").split(",") if c]
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    from archspec._env import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    if cpus:  # before any TensorFlow op
        tf.config.threading.set_intra_op_parallelism_threads(len(cpus))
        tf.config.threading.set_inter_op_parallelism_threads(min(2, len(cpus)))
    from archspec.errors import ArchspecError
    from archspec.tune.search import search
    from archspec.tune.shipping import unpack_ops

    kwargs = dict(job["kwargs"], isolate=job["kwargs"].get("isolate") or isolate)
    try:
        unpack_ops(job.get("ops"))  # the search's custom ops, before the spec is resolved here
        search(job["spec"], **kwargs)
    except ArchspecError as err:
        print(f"error: worker {tuner_id}: {err}", flush=True)
        return FAILED
    return 0


if __name__ == "__main__":  # pragma: no cover  (run as a worker of a --parallel search)
    sys.exit(_worker(sys.argv[1], sys.argv[2], "--isolate" in sys.argv[3:]))
