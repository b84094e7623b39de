"""keras-tuner's chief, served by archspec: the oracle over gRPC to the workers of a search.

keras-tuner's own server (``keras_tuner/src/distribute/oracle_chief.start_server``) looks every
20 s whether its workers are done once every trial is given out, binds the port it is told (a
port picked free beforehand can be taken meanwhile; grpc binds with ``SO_REUSEPORT``), raises in
its ``EndTrial`` handler when keras-tuner's limit of failed trials in a row is reached (each worker
then gets an RPC error, not the stop) and leaves the oracle's lock held after that error. This one:

- binds before the workers start: ``--parallel`` asks for port 0 (without ``SO_REUSEPORT``) and
  hands the port the kernel gave to its workers (:func:`start_server`); a hand-started chief binds
  ``KERASTUNER_ORACLE_PORT`` as keras-tuner does;
- looks every :data:`POLL` s, watching ``--parallel``'s worker processes meanwhile
  (:class:`archspec.tune.parallel.Workers`);
- on keras-tuner's limit of failed trials in a row, answers the trial's end, saves it, tells every
  worker to stop at its next request and raises :class:`~archspec.tune.failures.SearchStopped`
  once they have, as a search in one process does;
- when a worker is given up (it died too often) while it held a trial, ends that trial ``failed``
  with the reason (:func:`abandon`), so that grid and Hyperband, which wait for running trials,
  do not wait for it forever.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

POLL = 0.2  # seconds between the chief's looks at the oracle and the workers


@contextlib.contextmanager
def holding(oracle):
    """Hold the oracle's lock as keras-tuner's ``synchronized`` methods do (its lock is not
    reentrant: they skip it in the thread named as its holder), so they can be called inside."""
    from keras_tuner.src.engine.oracle import LOCKS, THREADS

    LOCKS[oracle].acquire()
    THREADS[oracle] = threading.current_thread().name
    try:
        yield oracle
    finally:
        THREADS[oracle] = None
        LOCKS[oracle].release()


def _servicer_class():
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer
    from keras_tuner.src.engine import trial as trial_module
    from keras_tuner.src.engine.oracle import LOCKS, THREADS

    from archspec.tune.failures import failures_in_a_row

    class Servicer(OracleServicer):
        """keras-tuner's servicer; its limit of failures in a row stops the workers cleanly."""

        def __init__(self, oracle):
            super().__init__(oracle)
            self.stopped_at: tuple[int, str] | None = None  # (limit, the last trial's id)

        def EndTrial(self, request, context):
            trial = trial_module.Trial.from_proto(request.trial)
            try:
                self.oracle.end_trial(trial)
            except RuntimeError:
                limit = failures_in_a_row(self.oracle)
                if limit is None:
                    raise
                if THREADS[self.oracle] == threading.current_thread().name:  # keras-tuner's
                    THREADS[self.oracle] = None                               # `synchronized` kept it
                    LOCKS[self.oracle].release()
                with holding(self.oracle):
                    for tuner_id, running in list(self.oracle.ongoing_trials.items()):
                        if running.trial_id == trial.trial_id:
                            self.oracle.ongoing_trials.pop(tuner_id)
                    self.oracle._save_trial(self.oracle.get_trial(trial.trial_id))
                    self.oracle.save()
                self.stopped_at = (limit, trial.trial_id)
            return protos.get_service().EndTrialResponse()

        def CreateTrial(self, request, context):
            if self.stopped_at is None:
                return super().CreateTrial(request, context)
            with holding(self.oracle):
                self.oracle.tuner_ids.discard(request.tuner_id)
            self.stop_triggered = True
            trial = trial_module.Trial(self.oracle.get_space(), status=trial_module.TrialStatus.STOPPED)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    return Servicer


def start_server(oracle, port: int | None = None):
    """Serve ``oracle`` on 127.0.0.1: ``port`` (None: ``KERASTUNER_ORACLE_*``'s address), else
    a port the kernel picks (0). Returns ``(server, servicer, port)``."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos

    servicer = _servicer_class()(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if port is None:
        address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    else:
        address = f"127.0.0.1:{port}"
    bound = server.add_insecure_port(address)
    if not bound:
        from archspec.errors import RunError

        raise RunError(f"keras-tuner's oracle cannot be served at {address} (the port is taken?)",
                       hint="set KERASTUNER_ORACLE_PORT to a free port")
    server.start()
    return server, servicer, bound


def serve(tuner, workers=None, server=None) -> None:
    """Serve ``tuner``'s oracle until the search has ended: every worker was told to stop and no
    trial runs (keras-tuner's rule), or, with ``workers``, every worker has exited for good
    (``tuner.ended`` says which). Raises SearchStopped after keras-tuner's limit of failed trials
    in a row."""
    from keras_tuner.src.distribute.oracle_chief import exit_chief

    from archspec.tune.failures import stopped

    oracle = tuner.oracle
    server, servicer, _ = server or start_server(oracle)
    try:
        while True:
            time.sleep(POLL)
            if workers is not None:
                for tuner_id, why in workers.poll(stopping=servicer.stop_triggered):
                    abandon(tuner, tuner_id, why)
            if servicer.stop_triggered and exit_chief(oracle):
                break
            if workers is not None and workers.done():
                break
    finally:
        server.stop(grace=1).wait()  # no handler still changing the oracle after this
    tuner.ended = servicer.stop_triggered  # False: the workers were gone before the oracle said stop
    if servicer.stopped_at is not None:
        limit, trial_id = servicer.stopped_at
        record = _record(tuner, trial_id)
        raise stopped(limit, trial_id, record.get("error"))


def abandon(tuner, tuner_id: str, why: str) -> None:
    """Worker ``tuner_id`` is gone for good (``why``): its running trial, if any, ends failed
    with that reason (in the oracle and in its record), and the oracle stops waiting for it."""
    from keras_tuner.src.engine import trial as trial_module

    from archspec.train.artifacts import write_json
    from archspec.tune.layout import RECORD
    from archspec.tune.trials import static_record

    oracle = tuner.oracle
    with holding(oracle):
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is None:
            return
        trial.status = trial_module.TrialStatus.FAILED
        trial.message = f"its worker {tuner_id} {why}"
        oracle.end_order.append(trial.trial_id)
        oracle._save_trial(trial)
        oracle.save()
    record = _record(tuner, trial.trial_id)
    if not record:
        try:
            record = static_record(tuner.hypermodel, trial)
        except Exception:  # values the analyzer refuses: the reason below is what matters
            record = {"trial_id": trial.trial_id, "params": None, "macs": None, "memory": None, "rejected": False}
    record.update(status="failed", error=trial.message)
    write_json(Path(tuner.get_trial_dir(trial.trial_id)) / RECORD, record)


def back_off_when_idle(oracle, wait: float = 0.5) -> None:
    """A worker's oracle client: after an IDLE answer (grid and Hyperband wait for running
    trials) ask again in ``wait`` s, not at once (keras-tuner's loop would spin a core)."""
    from keras_tuner.src.engine import trial as trial_module

    create = oracle.create_trial

    def create_trial(tuner_id):
        trial = create(tuner_id)
        if trial.status == trial_module.TrialStatus.IDLE:
            time.sleep(wait)
        return trial

    oracle.create_trial = create_trial


def _record(tuner, trial_id: str) -> dict:
    """The trial's archspec record ({} when absent or unreadable)."""
    from archspec.tune.layout import RECORD
    from archspec.tune.trials import _read_record

    return _read_record(Path(tuner.get_trial_dir(trial_id)) / RECORD)
