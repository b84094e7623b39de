"""``--parallel N``: N workers started, watched and restarted by one command; each worker's share
of the machine; the mistakes refused before TensorFlow.

The search test is one real run (a chief and two worker processes on 127.0.0.1, keras-tuner's
oracle served over gRPC): each worker is killed with SIGKILL after its first trial's first epoch
(``ARCHSPEC_FAULT``, which a restarted worker does not inherit), started again by the chief, and
its trial resumes from that epoch; every trial ends exactly once."""

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


CUSTOM = '''\
import sys

import keras

import archspec
from archspec.ops import register_layer


class Halve(keras.layers.Layer):
    def call(self, x):
        return x * 0.5


register_layer(Halve)
spec = sys.argv[1].replace("- flatten", "- flatten\\n  - halve")
try:
    archspec.search(archspec.loads(spec), directory=sys.argv[2], max_trials=2, parallel=1, log=False)
except archspec.RunError as err:
    print(err)
'''


@pytest.mark.slow
def test_a_worker_that_cannot_run_the_spec_stops_the_search_with_its_error(tmp_path):
    """A layer registered in the calling script's __main__ does not reach a worker (a new Python
    process): the worker prints why and stops, and the search says so, with the way out."""
    script = tmp_path / "custom.py"
    script.write_text(CUSTOM)
    run = subprocess.run([sys.executable, str(script), SPEC, str(tmp_path / "search")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r"error: the search stopped before its end: no worker was left after 0 trial\(s\) \(tuner0: "
                     r".*unknown layer or block `halve`", out), out
    assert "register it in a module they import" in out
