"""``--parallel N``: N trials at once on this machine, one device each, started by one command.

The search's process becomes keras-tuner's chief: it serves the oracle on 127.0.0.1 (a free port,
keras-tuner's ``KERASTUNER_*`` variables) and runs no trial. It starts N worker processes
(``python -m archspec.tune.parallel JOB tunerI``), each the same search as keras-tuner worker
``tunerI``: each asks the oracle for a trial, runs it, reports it, asks again. Devices
(:func:`plan_workers`): with GPUs, worker ``i`` sees GPU ``i mod G`` alone
(``CUDA_VISIBLE_DEVICES``); the CPU cores are divided into N groups, each worker pinned to its own
(``sched_setaffinity``) with TensorFlow's thread pools sized to it. The workers' trial lines are
printed by the chief as they come and kept in ``DIR/workers/tunerI.log``.

A worker that dies before the search has ended (killed, out of memory, a crash) is started again
with its id: keras-tuner's oracle gives a worker its running trial again, which resumes from its
last epoch (:mod:`archspec.tune.checkpoint`), so no trial is lost or run twice. A worker that died
twice runs its trials isolated from then on (each in a process of its own,
:mod:`archspec.tune.isolate`): a trial that kills whatever runs it fails alone, with its reason. A worker that died
:data:`RESTARTS` times is not started again; when no worker is left the chief writes the results of
what ran and says so (the same command resumes the rest). Workers never outlive the chief.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from archspec.tune.isolate import PARENT, die_with_parent

RESTARTS = 3              # times a worker is started again after dying
JOB = "workers/job.pkl"   # in the search directory: what every worker runs
LOGS = "workers"          # in the search directory: tunerI.log, each worker's output
POLL = 0.2                # seconds between the chief's looks at the oracle and the workers
FAILED = 4                # a worker's exit status for an error it reported: not started again


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


def visible_gpus() -> list[str]:
    """The GPUs this process may use, without importing TensorFlow: ``CUDA_VISIBLE_DEVICES`` when
    set, else one per line of ``nvidia-smi -L``."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


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
    """This process as keras-tuner's chief on 127.0.0.1 (a free port) for the block."""
    keys = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1",
                      KERASTUNER_ORACLE_PORT=str(free_port()))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_workers(directory, n: int, spec, kwargs: dict, *, log: bool = True) -> "Workers":
    """Start ``n`` workers of the search in ``directory`` (this process is its chief), each
    running ``search(spec, directory=directory, **kwargs)`` as keras-tuner worker ``tunerI``."""
    plans = plan_workers(n, available_cpus(), visible_gpus())
    job = {"spec": spec, "kwargs": dict(kwargs, directory=str(directory), overwrite=False, write_model=False,
                                        log=True, hparams=False)}
    env = {k: os.environ[k] for k in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")}
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
        self.procs: dict[str, subprocess.Popen] = {}
        self.deaths: dict[str, list[str]] = {p.tuner_id: [] for p in plans}
        self.finished: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.job_path = self.directory / JOB
        self.job_path.parent.mkdir(parents=True, exist_ok=True)  # (LOGS too: the same folder)
        tmp = self.job_path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(job, f)
        os.replace(tmp, self.job_path)

    def start_all(self) -> None:
        for tuner_id in self.plans:
            self._start(tuner_id)

    def _start(self, tuner_id: str) -> None:
        plan = self.plans[tuner_id]
        again = bool(self.deaths[tuner_id])
        isolate = len(self.deaths[tuner_id]) >= 2
        env = {**os.environ, **self.env, "KERASTUNER_TUNER_ID": tuner_id, PARENT: str(os.getpid()),
               "ARCHSPEC_WORKER_CPUS": ",".join(map(str, plan.cpus))}
        if plan.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = plan.gpu
        if again:  # crash tests: a fault fires in a worker's first life only
            env.pop("ARCHSPEC_FAULT", None)
        cmd = [sys.executable, "-m", "archspec.tune.parallel", str(self.job_path), tuner_id]
        if isolate:
            cmd.append("--isolate")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self.procs[tuner_id] = proc
        thread = threading.Thread(target=self._relay, args=(tuner_id, proc), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _relay(self, tuner_id: str, proc: subprocess.Popen) -> None:
        path = self.directory / LOGS / f"{tuner_id}.log"
        with open(path, "a") as f:
            for line in proc.stdout:
                f.write(line)
                f.flush()
                if self.log and line.startswith(("trial ", "warning", "error")):
                    print(line, end="", flush=True)

    def poll(self) -> None:
        """Start again each worker that died (a signal, or an exit status other than 0)."""
        for tuner_id, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or tuner_id in self.finished:
                continue
            if code in (0, FAILED):  # done, or stopped by an error it printed (not a death)
                self.finished.add(tuner_id)
                continue
            why = _death(code)
            self.deaths[tuner_id].append(why)
            if len(self.deaths[tuner_id]) > RESTARTS:
                self.finished.add(tuner_id)
                if self.log:
                    print(f"worker {tuner_id} {why} {len(self.deaths[tuner_id])} times: not started again",
                          flush=True)
                continue
            if self.log:
                print(f"worker {tuner_id} {why}: started again (its trial runs again from its last epoch"
                      + (", each of its trials now in a process of its own)" if len(self.deaths[tuner_id]) >= 2
                         else ")"), flush=True)
            self._start(tuner_id)

    def done(self) -> bool:
        """Every worker has exited for good."""
        return set(self.procs) <= self.finished

    def given_up(self) -> list[str]:
        """The workers not started again after dying too often, with why."""
        return [f"{t}: {self.deaths[t][-1]}" for t in self.procs if len(self.deaths[t]) > RESTARTS]

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


def _death(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def serve(oracle, workers: Workers | None = None) -> None:
    """Serve keras-tuner's ``oracle`` to its workers until the search has ended: every worker
    was told to stop and no trial runs (keras-tuner's rule), or, with ``workers``, every worker
    has exited for good. keras-tuner's own server looks every 20 s once the trials are all given
    out; this one every :data:`POLL` s, and watches the workers meanwhile."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}")
    server.start()
    try:
        while True:
            time.sleep(POLL)
            if workers is not None:
                workers.poll()
            if servicer.stop_triggered and exit_chief(oracle):
                break
            if workers is not None and workers.done():
                break
    finally:
        server.stop(grace=1)


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

    kwargs = dict(job["kwargs"], isolate=job["kwargs"].get("isolate") or isolate)
    try:
        search(job["spec"], **kwargs)
    except ArchspecError as err:
        print(f"error: worker {tuner_id}: {err}", flush=True)
        return FAILED
    return 0


if __name__ == "__main__":  # pragma: no cover  (run as a worker of a --parallel search)
    sys.exit(_worker(sys.argv[1], sys.argv[2], "--isolate" in sys.argv[3:]))
