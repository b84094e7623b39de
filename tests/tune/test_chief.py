"""archspec's chief (archspec.tune.chief), in-process on a real keras-tuner oracle, its gRPC
handlers called directly: keras-tuner's limit of failed trials in a row stops every worker cleanly
(not an RPC error per worker) and frees the oracle's lock; a worker given up ends its trial failed
with the reason, so that the oracle stops waiting for it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

kt = pytest.importorskip("keras_tuner")
from keras_tuner.src import protos  # noqa: E402
from keras_tuner.src.distribute.oracle_chief import exit_chief  # noqa: E402
from keras_tuner.src.engine.oracle import LOCKS  # noqa: E402
from keras_tuner.src.engine.trial import Trial, TrialStatus  # noqa: E402

from archspec.tune.chief import _servicer_class, abandon  # noqa: E402
from archspec.tune.layout import RECORD  # noqa: E402


def _oracle(tmp_path, failures: int = 2):
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), max_trials=10, seed=3,
                                           max_consecutive_failed_trials=failures)
    oracle._set_project_dir(str(tmp_path), "trials")
    hp = kt.HyperParameters()
    hp.Int("x", 0, 100)
    oracle.update_space(hp)
    return oracle


def _create(servicer, tuner_id: str) -> Trial:
    response = servicer.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=tuner_id), None)
    return Trial.from_proto(response.trial)


def _end(servicer, trial: Trial, status) -> None:
    trial.status = status
    servicer.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()), None)


def test_failures_in_a_row_stop_every_worker_and_free_the_lock(tmp_path):
    oracle = _oracle(tmp_path)
    servicer = _servicer_class()(oracle)
    first, second = _create(servicer, "tuner0"), _create(servicer, "tuner1")
    _end(servicer, first, TrialStatus.FAILED)
    assert servicer.stopped_at is None
    _end(servicer, second, TrialStatus.FAILED)  # keras-tuner's end_trial raises here: answered, not passed on
    assert servicer.stopped_at == (2, second.trial_id)
    assert not oracle.ongoing_trials and oracle.trials[second.trial_id].status == TrialStatus.FAILED
    assert LOCKS[oracle].acquire(blocking=False)  # keras-tuner's `synchronized` left it held: released
    LOCKS[oracle].release()
    assert not exit_chief(oracle)  # the workers have not been told yet
    assert _create(servicer, "tuner0").status == TrialStatus.STOPPED
    assert _create(servicer, "tuner1").status == TrialStatus.STOPPED
    assert servicer.stop_triggered and exit_chief(oracle)
    saved = json.loads((tmp_path / "trials" / f"trial_{second.trial_id}" / "trial.json").read_text())
    assert saved["status"] == "FAILED"


def test_a_given_up_worker_s_trial_ends_failed_with_the_reason(tmp_path):
    oracle = _oracle(tmp_path)
    servicer = _servicer_class()(oracle)
    trial = _create(servicer, "tuner1")
    tuner = SimpleNamespace(oracle=oracle, hypermodel=None,
                            get_trial_dir=lambda trial_id: str(tmp_path / "trials" / f"trial_{trial_id}"))
    abandon(tuner, "tuner1", "died 4 times, last: was killed by SIGKILL")
    assert oracle.trials[trial.trial_id].status == TrialStatus.FAILED
    assert not oracle.ongoing_trials and "tuner1" not in oracle.tuner_ids
    record = json.loads((Path(tuner.get_trial_dir(trial.trial_id)) / RECORD).read_text())
    assert record["status"] == "failed"
    assert record["error"] == "its worker tuner1 died 4 times, last: was killed by SIGKILL"
    abandon(tuner, "tuner0", "never held a trial")  # nothing to end: nothing happens
    assert len(oracle.trials) == 1
