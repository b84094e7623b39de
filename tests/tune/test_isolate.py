"""``--isolate``: each trial in a process of its own; a trial that raises, diverges to NaN or is
killed with SIGKILL fails with its reason and the search goes on, and the search's process never
builds a model.

One small grid search (four trials of a two-layer model on the UCI digits, one epoch each) in real
child processes: trial 0's process raises (``ARCHSPEC_FAULT=...:enospc``, an OSError), trial 1
trains with a learning rate of 1e30 (its loss is NaN), trial 2 trains, trial 3's process is killed
with SIGKILL (``ARCHSPEC_FAULT=...:kill``). The faults fire before the child imports TensorFlow.
The model holds a layer registered from the search's ``__main__`` (as a user's script registers
it): each child receives it with its job (archspec.tune.shipping), or could not build the model."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")
import h5py  # noqa: E402

import archspec.faults as faults  # noqa: E402
import archspec.ops  # noqa: E402
from archspec.tune import search  # noqa: E402
from archspec.tune.hypermodel import HyperModel  # noqa: E402
from archspec.tune.isolate import LOG, RESULT, TrialProcessError, best_epoch  # noqa: E402
from archspec.tune.layout import PROJECT, RECORD  # noqa: E402

SPEC = """\
name: tiny_isolate
input: {shape: [8, 8, 1]}
body:
  - flatten
  - gain
  - dense: {units: {hp: choice, values: [4, 8], default: 8, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: sklearn:digits
  optimizer:
    name: sgd
    learning_rate: {hp: choice, values: [0.01, 1.0e+30], default: 0.01, name: lr}
  batch_size: 256
  epochs: 1
"""
SEED = 5
#: the user's script: one layer, defined and registered in its __main__
SCRIPT = """
import keras

from archspec.ops import register_layer


class Gain(keras.layers.Layer):
    def build(self, input_shape):
        self.g = self.add_weight(shape=(1,), initializer="ones")

    def call(self, x):
        return x * self.g


register_layer(Gain)
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The search (grid order: (8, 0.01), (8, 1e30), (4, 0.01), (4, 1e30)), with the faults, run
    by a process whose HyperModel.build fails: a model built here would fail its trial."""
    root = tmp_path_factory.mktemp("isolate")
    spec = root / "tiny_isolate.yaml"
    spec.write_text(SPEC)
    mp = pytest.MonkeyPatch()
    mp.setenv(faults.ENV, "tune.isolate.trial_0:1:enospc,tune.isolate.trial_3:1:kill")

    declare = HyperModel.build

    def build(self, hp):  # declaring the space (keras-tuner's first "build") makes no model
        if self.declare_only:
            return declare(self, hp)
        raise AssertionError("the search's process built a model")

    mp.setattr(HyperModel, "build", build)
    archspec.ops.registry.cache_clear()
    exec(compile(SCRIPT, "<script>", "exec"), {"__name__": "__main__"})
    try:
        result = search(spec, directory=root / "run", tuner="grid", max_trials=4, seed=SEED, isolate=True,
                        objective="val_loss", write_model=False, log=False, hparams=False)
    finally:
        mp.undo()
        archspec.ops.registry.cache_clear()
    return root / "run", {r["trial_id"]: r for r in result.rows}


def test_each_failure_is_recorded_and_the_search_finishes(searched):
    directory, rows = searched
    assert {k: (r["status"], r["values"]) for k, r in rows.items()} == {
        "0": ("failed", {"units": 8, "lr": 0.01}), "1": ("failed", {"units": 8, "lr": 1e30}),
        "2": ("completed", {"units": 4, "lr": 0.01}), "3": ("failed", {"units": 4, "lr": 1e30})}
    assert rows["0"]["error"].startswith("OSError: [Errno 28] No space left on device")
    assert rows["1"]["error"] == "the objective `val_loss` is NaN: the training diverged"
    assert rows["3"]["error"] == "the trial's process was killed by SIGKILL (killed: out of memory?)"
    assert rows["2"]["error"] is None and 0 < rows["2"]["objective"] < 3  # ten classes: ln 10 = 2.30 at chance


def test_the_child_wrote_the_trial_files(searched):
    directory, rows = searched
    trial = directory / PROJECT / "trial_2"
    child = json.loads((trial / RESULT).read_text())
    assert child["history"]["val_loss"] == [pytest.approx(rows["2"]["objective"])]
    with h5py.File(trial / "checkpoint.weights.h5") as weights:  # keras-tuner's best epoch, as in-process
        assert weights["layers/gain/vars/0"].shape == (1,)  # the child's model had the script's layer
    assert rows["2"]["params"] == (64 * 4 + 4) + 1 + (4 * 10 + 10)
    record = json.loads((trial / RECORD).read_text())
    assert record["curve"] == child["curve"] and record["fit_seconds"] == child["fit_seconds"] > 0
    assert record["pid"] == child["pid"] != os.getpid()  # the trial's process, not the search's
    assert not (directory / PROJECT / "trial_3" / RESULT).exists()
    assert (directory / PROJECT / "trial_3" / LOG).is_file()


def test_best_epoch_follows_keras_tuner():
    history = {"val_loss": [0.9, None, 0.4, 0.6], "val_accuracy": [0.1, 0.2, 0.7, 0.5]}
    assert best_epoch(history, "val_loss", "min") == {"val_loss": 0.4, "val_accuracy": 0.7}
    assert best_epoch(history, "val_accuracy", "max") == {"val_loss": 0.4, "val_accuracy": 0.7}
    nan = best_epoch({"val_loss": [None, None]}, "val_loss", "min")
    assert math.isnan(nan["val_loss"])


def test_the_reason_is_kept_as_given():
    from archspec.tune.trials import error_text

    assert error_text(TrialProcessError("the trial's process was killed by SIGSEGV")) == \
        "the trial's process was killed by SIGSEGV"


def test_a_trial_process_exits_when_its_search_is_killed(tmp_path):
    """A search killed (SIGKILL) while a trial's process trains leaves no orphan: the child exits
    within a second or so, before the search started again runs the trial again."""
    import os
    import subprocess
    import sys
    import time

    child = ("import time; from archspec.tune.isolate import die_with_parent; "
             "die_with_parent(poll=0.05); time.sleep(60)")
    parent = (f"import os, signal, subprocess, sys; p = subprocess.Popen([sys.executable, '-c', {child!r}], "
              "env=dict(os.environ, ARCHSPEC_TRIAL_PARENT=str(os.getpid())), stdout=subprocess.DEVNULL); "
              "print(p.pid, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    run = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    pid = int(run.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the trial's process outlived its search")


def test_a_layer_that_cannot_reach_the_trials_processes_stops_the_search(tmp_path):
    """At the first trial, before its process starts: not one failed trial after another."""
    import threading

    import keras

    from archspec.tune.shipping import UnshippableOp

    class Locked(keras.layers.Layer):
        lock = threading.Lock()  # cloudpickle refuses a lock

        def call(self, x):
            return x

    Locked.__module__ = "__main__"  # as a class of the user's script
    spec = tmp_path / "tiny_isolate.yaml"
    spec.write_text(SPEC.replace("- gain", "- locked"))
    archspec.ops.registry.cache_clear()
    archspec.ops.register_layer(Locked)
    try:
        with pytest.raises(UnshippableOp, match=r"at `--isolate`: error: the layer `locked` .* cannot be sent to the "
                           r"trials' processes"):
            search(spec, directory=tmp_path / "run", tuner="grid", max_trials=4, seed=SEED, isolate=True,
                   write_model=False, log=False, hparams=False)
    finally:
        archspec.ops.registry.cache_clear()
    assert not list((tmp_path / "run" / PROJECT).glob("trial_*/" + LOG))  # no trial's process started
