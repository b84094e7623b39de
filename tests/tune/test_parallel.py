"""``--parallel N``: N workers started, watched and restarted by one command; each worker's share
of the machine; the mistakes refused before TensorFlow.

The search test is one real run (a chief and two worker processes on 127.0.0.1, keras-tuner's
oracle served over gRPC): each worker is killed with SIGKILL after its first trial's first epoch
(``ARCHSPEC_FAULT``, which a restarted worker does not inherit), started again by the chief, and
its trial resumes from that epoch; every trial ends exactly once. A second run registers a layer in
its script's ``__main__``: the worker receives it. A worker's error, and a layer that cannot be
sent, are tested in this process, with a shell script for the worker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")
from archspec.errors import SpecError  # noqa: E402
from archspec.tune.layout import PROJECT, RECORD  # noqa: E402
from archspec.tune.parallel import WorkerPlan, check_parallel, plan_workers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: tiny_parallel
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: {hp: choice, values: [4, 8, 16], default: 8, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: sklearn:digits
  optimizer: {name: adam, learning_rate: 0.01}
  batch_size: 64
  epochs: 2
"""


def test_cores_are_divided_and_gpus_given_one_each():
    assert plan_workers(2, [0, 1], []) == [WorkerPlan("tuner0", [0]), WorkerPlan("tuner1", [1])]
    assert [p.cpus for p in plan_workers(3, list(range(8)), [])] == [[0, 1], [2, 3, 4], [5, 6, 7]]
    assert [p.threads for p in plan_workers(3, list(range(8)), [])] == [2, 3, 3]
    assert [p.cpus for p in plan_workers(3, [4, 5], [])] == [[4], [5], [4]]  # more workers than cores
    gpus = plan_workers(3, list(range(16)), ["0", "1"])
    assert [p.gpu for p in gpus] == ["0", "1", "0"] and [len(p.cpus) for p in gpus] == [5, 5, 6]
    with pytest.raises(ValueError, match="at least 1"):
        plan_workers(0, [0], [])


@pytest.mark.parametrize("n, strategy, env, match", [
    (0, None, {}, r"at `--parallel`: error: `--parallel` takes the number of trials.*\n  Received: 0"),
    (2, "mirrored", {}, r"does not combine with `--strategy`"),
    (2, None, {"KERASTUNER_TUNER_ID": "tuner0"}, r"already keras-tuner's `tuner0`"),
])
def test_mistakes_are_refused_before_anything_runs(n, strategy, env, match, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SpecError, match=match):
        check_parallel(n, strategy)


@pytest.mark.slow
def test_two_workers_killed_mid_trial_are_restarted_and_no_trial_is_lost_or_run_twice(tmp_path):
    spec = tmp_path / "tiny_parallel.yaml"
    spec.write_text(SPEC)
    directory = tmp_path / "search"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("KERASTUNER_", "TF_CONFIG"))}
    env["ARCHSPEC_FAULT"] = "tune.trial_epoch:1:kill"  # each worker, after its first trial's first epoch
    run = subprocess.run([sys.executable, "-m", "archspec", "tune", str(spec), "--directory", str(directory),
                          "--tuner", "grid", "--max-trials", "3", "--seed", "5", "--parallel", "2", "--no-model"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert re.search(r"^2 workers: tuner0 on cores? [\d,]+, tuner1 on cores? [\d,]+$", out, re.M), out
    for worker in ("tuner0", "tuner1"):
        assert f"worker {worker} was killed by SIGKILL: started again (its trial runs again from its last epoch)" \
            in out, out
    lines = re.findall(r"^trial (\d): val_accuracy=\S+ completed(.*)$", out, re.M)
    assert sorted(t for t, _ in lines) == ["0", "1", "2"], out  # each trial ended once
    records = {p.parent.name: json.loads(p.read_text()) for p in (directory / PROJECT).glob("trial_*/" + RECORD)}
    assert sorted(records) == ["trial_0", "trial_1", "trial_2"]
    assert {r["status"] for r in records.values()} == {"completed"}
    # the two trials the kills interrupted went on from their first epoch; the third ran whole
    assert sorted(r.get("resumed_epoch", 0) for r in records.values()) == [0, 1, 1]
    assert all(len(r["curve"]) == 2 for r in records.values())
    assert sorted(r["values"]["units"] for r in json.loads((directory / "results.json").read_text())) == [4, 8, 16]
    assert not list((directory / PROJECT).glob("trial_*/epochs"))


CUSTOM = """\
import json
import sys

import keras

import archspec
from archspec.ops import register_layer
from archspec.ops.base import Result


@keras.saving.register_keras_serializable("parallel_test")
class Gain(keras.layers.Layer):
    def build(self, input_shape):
        self.g = self.add_weight(shape=(1,), initializer="ones")

    def call(self, x):
        return x * self.g


def gain_rule(args, shapes):
    return Result(tuple(shapes[0]), params=1)


register_layer(Gain, rule=gain_rule)
spec = sys.argv[1].replace("- flatten", "- flatten\\n  - gain")
result = archspec.search(archspec.loads(spec), directory=sys.argv[2], tuner="grid", max_trials=2, parallel=1,
                         log=False, write_model=False, hparams=False)
print(json.dumps([[r["values"]["units"], r["status"], r["params"]] for r in result.rows]))
"""


@pytest.mark.slow
def test_a_layer_registered_in_the_script_s_main_reaches_the_workers(tmp_path):
    """A layer (and its rule) defined and registered in the calling script's __main__ travels to
    the worker, a new Python process, with its job (archspec.tune.shipping): its trials build,
    train and count the layer's weight."""
    script = tmp_path / "custom.py"
    script.write_text(CUSTOM)
    run = subprocess.run([sys.executable, str(script), SPEC, str(tmp_path / "search")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(run.stdout.splitlines()[-1])
    assert len(rows) == 2 and {status for _, status, _ in rows} == {"completed"}, rows
    for units, _, params in rows:  # flatten (64) -> gain (1 weight) -> dense(units) -> dense(10)
        assert params == 1 + (64 * units + units) + (units * 10 + 10)
    log = (tmp_path / "search" / "workers" / "tuner0.log").read_text()
    assert not re.search(r"^error", log, re.M), log


@pytest.fixture
def fake_workers(tmp_path, monkeypatch):
    """An in-process search whose workers are a shell script instead of Python: ``sys.executable``
    runs it (``-m archspec.tune.parallel JOB tunerI``), so no worker imports TensorFlow."""
    from archspec._env import quiet_tensorflow
    from archspec.tune import parallel

    quiet_tensorflow()  # (its first call starts a process of sys.executable)
    monkeypatch.setattr(parallel, "gpus_for_workers", lambda: [])
    worker = tmp_path / "worker.sh"
    worker.write_text('#!/bin/sh\necho "error: worker $4: the worker\'s own error"\nexit 4\n')  # (FAILED)
    worker.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(worker))
    spec = tmp_path / "tiny_parallel.yaml"
    spec.write_text(SPEC)
    return spec


def test_a_worker_that_cannot_run_the_spec_stops_the_search_with_its_error(fake_workers, tmp_path):
    """A worker that reports an error (and exits with FAILED) is not started again; with no
    worker left the search stops, saying why the worker went."""
    from archspec.errors import RunError
    from archspec.tune import search

    with pytest.raises(RunError, match=r"^error: the search stopped before its end: no worker was left after 0 "
                       r"trial\(s\) \(tuner0: the worker's own error\)"):
        search(fake_workers, directory=tmp_path / "search", max_trials=2, parallel=1, log=False)
    assert (tmp_path / "search" / "workers" / "tuner0.log").read_text() == \
        "error: worker tuner0: the worker's own error\n"  # started once


def test_a_layer_that_cannot_reach_the_workers_stops_the_search_before_they_start(fake_workers, tmp_path):
    import threading

    import keras

    import archspec.ops
    from archspec.tune import search
    from archspec.tune.shipping import UnshippableOp

    class Locked(keras.layers.Layer):
        lock = threading.Lock()  # cloudpickle refuses a lock

        def call(self, x):
            return x

    Locked.__module__ = "__main__"  # as a class of the user's script
    archspec.ops.registry.cache_clear()
    archspec.ops.register_layer(Locked)
    try:
        with pytest.raises(UnshippableOp, match=r"at `--parallel`: error: the layer `locked` \(class __main__\."
                           r"test_a_layer_that_cannot_reach_the_workers.*\.Locked\) cannot be sent to the worker "
                           r"processes(?s:.*)Hint: define `locked`'s class in a module of its own"):
            search(fake_workers, directory=tmp_path / "search", max_trials=2, parallel=1, log=False)
    finally:
        archspec.ops.registry.cache_clear()
    assert not (tmp_path / "search" / "workers" / "tuner0.log").exists()
