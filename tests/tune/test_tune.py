"""archspec.tune: spaces -> keras-tuner, budget, conditional spaces, results, freeze, resume,
chief/worker. Small models on the UCI digits, 1-2 epochs; multi-process tests bounded in time."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError

kt = pytest.importorskip("keras_tuner")
from archspec import tune  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "architectures" / "search" / "lenet_search.yaml"
CLI = [sys.executable, "-m", "archspec"]

BLOCKS = """
name: blocks
params:
  block: {hp: choice, values: [basic, bottleneck], default: basic}
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: {hp: int, min: 4, max: 8, step: 4, default: 4}, kernel_size: 3, when: "${block == 'basic'}"}
  - conv2d: {filters: 4, kernel_size: 1, when: "${block == 'bottleneck'}"}
  - conv2d: {filters: {hp: choice, values: [2, 6], default: 2, name: neck}, kernel_size: 3, when: "${block == 'bottleneck'}"}
  - flatten
  - dense: {units: 10, activation: softmax}
"""


def small_data(n=400):
    (x, y), (xv, yv) = tune.load_data("sklearn:digits", spec=archspec.load(LENET))
    return (x[:n], y[:n]), (xv[:120], yv[:120])


# ------------------------------------------------------------------------------ spaces -> hp
def test_names_come_from_the_yaml_path_or_name_and_defaults_build_the_same_model():
    hm = tune.HyperModel(LENET)
    hp = kt.HyperParameters()
    spec = hm.resolve(hp)
    assert hp.values == {"filters": 16, "depth": 1, "units": 64, "dropout": True,
                         "dropout_rate": 0.2, "learning_rate": 0.001}
    assert spec.analyze().total_params == archspec.load(LENET).analyze().total_params == 38_282
    blocks = tune.HyperModel(archspec.loads(BLOCKS))
    hp = kt.HyperParameters()
    blocks.resolve(hp)
    assert list(hp.values) == ["params.block", "body[0].conv2d.filters"]


def test_hp_choices_drive_depth_width_and_training_fields():
    hm = tune.HyperModel(LENET)
    spec = hm.with_values({"filters": 8, "depth": 2, "units": 32, "dropout": False,
                           "learning_rate": 0.005})
    assert [n.name for n in spec.graph.layers] == ["c1", "c2", "c3", "s2", "flatten", "f", "predictions"]
    assert spec.graph["c3"].args["filters"] == 16
    assert spec.train["optimizer"]["learning_rate"] == 0.005


def test_a_space_under_a_choice_is_conditional():
    hm = tune.HyperModel(LENET)
    assert hm.conditions == {"dropout_rate": ("dropout", [True])}
    blocks = tune.HyperModel(archspec.loads(BLOCKS))
    assert blocks.conditions == {"body[0].conv2d.filters": ("params.block", ["basic"]),
                                 "neck": ("params.block", ["bottleneck"])}
    hp = kt.HyperParameters()
    blocks.resolve(hp)  # declares block; its sub-spaces live in conditional scopes
    hp.values["params.block"] = "bottleneck"
    spec = blocks.resolve(hp)
    assert hp.is_active("neck") and not hp.is_active("body[0].conv2d.filters")
    assert [n.op for n in spec.graph.layers][:2] == ["conv2d", "conv2d"]
    # the tuner finds every conditional space at start, without building a Keras model
    hp = kt.HyperParameters()
    blocks.declare_only = True
    assert blocks.build(hp) is None


def test_a_trial_compiles_as_archspec_train_does(keras):
    """One compile route: a trial's optimizer, schedule and steps per execution come from its
    resolved `train:` section through archspec.train.compile.compile_model."""
    spec = archspec.loads(BLOCKS + "train:\n"
                          "  optimizer: {name: sgd, momentum: 0.9,\n"
                          "              learning_rate: {hp: float, min: 0.01, max: 0.1, default: 0.05}}\n"
                          "  schedule: {name: constant, warmup_epochs: 1}\n"
                          "  steps_per_execution: 2\n")
    hm = tune.HyperModel(spec)
    hm.steps_per_epoch = 10
    hp = kt.HyperParameters()
    hp.Float("train.optimizer.learning_rate", 0.01, 0.1, default=0.05)
    hp.values["train.optimizer.learning_rate"] = 0.08
    model = hm.build(hp)
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and float(opt.momentum) == pytest.approx(0.9)
    assert type(opt._learning_rate).__name__ == "LinearWarmup"  # the schedule applies in a search
    assert float(opt._learning_rate(100)) == pytest.approx(0.08)  # the trial's learning rate
    assert model.steps_per_execution == 2


@pytest.mark.parametrize("space, match", [
    ("{hp: int, min: 8, max: 4}", r"`min` \(8\) is greater than `max` \(4\)"),
    ("{hp: choice, values: []}", "non-empty list `values`"),
    ("{hp: int, min: 1, max: 4, default: 9}", r"default \(9\) is outside \[1, 4\]"),
    ("{hp: float, min: 0, max: 1, sampling: log}", "log sampling needs `min` > 0"),
])
def test_malformed_spaces_are_located_errors(space, match):
    text = f"input: {{shape: [4]}}\nbody:\n  - dense: {{units: {space}}}\n"
    with pytest.raises(SpecError, match=match) as err:
        archspec.loads(text)
    assert err.value.loc.line == 3 and err.value.loc.path == "body[0].dense.units"


# ------------------------------------------------------------------------------ budget
def test_budget_numbers_and_sizes():
    a = archspec.load(LENET).analyze()
    assert tune.Budget(max_params=10_000).check(a) == "rejected: params 38.3k > 10k"
    assert tune.Budget(max_params=50_000).check(a) is None
    assert tune.memory_bytes(a) == a.activation_bytes + 4 * 38_282
    assert tune.Budget(max_memory=tune.memory_bytes(a) - 1).check(a).startswith("rejected: memory")
    assert tune.parse_size("1.5M", "max-params") == 1_500_000
    assert tune.parse_size("64MiB", "max-memory") == 64 * 2**20
    with pytest.raises(SpecError, match="--max-params"):
        tune.parse_size("lots", "max-params")


def test_a_choice_past_the_size_limits_is_a_rejected_trial_not_an_error():
    """One value of a space may take the model past archspec's limits (here 5e9 parameters in
    one layer): the search rejects that trial with the reason and goes on."""
    text = ("input: {shape: [8]}\nbody:\n  - dense: {units: {hp: choice, values: [4, 5000000000]}}\n"
            "  - dense: {units: 2}\n")
    hm = tune.HyperModel(archspec.loads(text))
    ok, reason = tune.Budget().check_spec(hm.with_values({}))
    assert reason is None and ok.total_params == 4 * 8 + 4 + 4 * 2 + 2
    with pytest.raises(SpecError, match="more than the limit"):
        hm.with_values({"body[0].dense.units": 5_000_000_000}).analyze()
    big, reason = tune.Budget().check_spec(hm.with_values({"body[0].dense.units": 5_000_000_000}))
    assert big.total_params == 5_000_000_000 * 9 + 5_000_000_000 * 2 + 2
    assert reason.startswith("rejected: past the size limits (layer `dense` has 45,000,000,000 parameters")


def test_over_budget_trials_are_rejected_before_keras_and_do_not_fail_the_search(tmp_path, monkeypatch):
    import archspec.builder

    def no_build(*a, **k):
        raise AssertionError("a Keras model was built for an over-budget trial")

    monkeypatch.setattr(archspec.builder, "build", no_build)
    hm = tune.HyperModel(LENET)
    tuner = tune.make_tuner(hm, "random", directory=tmp_path, max_trials=5,
                            budget=tune.Budget(max_params=1_000), seed=1)
    (x, y), val = small_data()
    tuner.search(x, y, validation_data=val, epochs=1, verbose=0)  # > 3 in a row: not failures
    rows = tune.results_table(tmp_path)
    assert len(rows) == 5
    assert all(r["status"].startswith("rejected: params ") and r["status"].endswith("> 1k")
               for r in rows)
    assert {t.status for t in tuner.oracle.trials.values()} == {"COMPLETED"}


# ------------------------------------------------------------------------------ search + results
@pytest.fixture(scope="module")
def search(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    hm = tune.HyperModel(LENET)
    tuner = tune.make_tuner(hm, "random", directory=out, max_trials=3, seed=3,
                            budget=tune.Budget(max_params=90_000))
    (x, y), val = small_data()
    from archspec.train.graphs import custom_gradient_names

    names = custom_gradient_names()
    tuner.search(x, y, validation_data=val, epochs=1, verbose=0)
    tuner.kept_gradients = custom_gradient_names() - names
    paths = tune.write_results(tuner, out, epochs=1)
    return out, tuner, paths


def test_a_search_keeps_no_trials_graphs(search):
    """TensorFlow would keep each trial's traced training step for good (archspec.train.graphs)."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    _, tuner, _ = search
    assert tuner.kept_gradients == set()
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, FuncGraph) and o.name == "one_step_on_data"
                and "lenet_search" in str([op.name for op in o.get_operations()[:50]])]


def test_bayesian_search_runs_and_records_its_trials(tmp_path):
    tuner = tune.make_tuner(tune.HyperModel(LENET), "bayesian", directory=tmp_path, max_trials=3, seed=5)
    (x, y), val = small_data(200)
    tuner.search(x, y, validation_data=val, epochs=1, verbose=0)
    assert isinstance(tuner.oracle, kt.oracles.BayesianOptimizationOracle)
    rows = tune.results_table(tmp_path)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"completed"}
    assert all(0 <= r["objective"] <= 1 and r["params"] > 0 for r in rows)
    assert len({json.dumps(r["values"], sort_keys=True) for r in rows}) == 3  # three different configurations


def test_results_table_csv_json_and_plot(search):
    out, tuner, paths = search
    rows = json.loads((out / "results.json").read_text())
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0])[:5] == ["trial_id", "status", "objective", "params", "macs"]
    assert {"filters", "depth", "learning_rate"} <= set(table[0])
    for r in rows:
        assert r["params"] > 0 and r["macs"] > 0
        assert r["status"] == "completed" or r["status"].startswith("rejected")
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_frozen_best_yaml_builds_the_best_trials_model(search, keras):
    out, tuner, paths = search
    text = (out / "best.yaml").read_text()
    assert "hp:" not in text
    assert "filters: \"${filters * 2}\"" in text  # source-level: expressions and repeats kept
    assert "epochs: 1" in text
    best = tuner.oracle.get_best_trials(1)[0]
    record = json.loads((Path(tuner.get_trial_dir(best.trial_id)) / tune.RECORD).read_text())
    frozen = archspec.loads(text)
    assert frozen.spaces == []
    model = archspec.build(frozen)
    saved = keras.saving.load_model(out / "best.keras")
    assert model.count_params() == saved.count_params() == record["params"]
    assert [(l.name, l.output.shape) for l in model.layers] == \
        [(l.name, l.output.shape) for l in saved.layers]
    assert frozen.train["optimizer"]["learning_rate"] == pytest.approx(best.hyperparameters.values["learning_rate"])


def test_summary_prints_the_table(search, capsys):
    from archspec.cli import main

    out, _, _ = search
    assert main(["tune", "--summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:6] == ["trial", "status", "objective", "params", "MACs", "epochs"]
    assert "3 trials:" in text
    assert main(["tune", "--summary", str(out / "nope")]) == 2


def test_summary_does_not_import_tensorflow(search):
    out, _, _ = search
    script = ("import sys\nfrom archspec.cli import main\ncode = main(['tune', '--summary', sys.argv[1]])\n"
              "print('TF' if 'tensorflow' in sys.modules or 'keras_tuner' in sys.modules else 'noTF', code)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "3 trials:" in proc.stdout and proc.stdout.strip().endswith("noTF 0")


def test_freeze_falls_back_to_resolved_yaml_for_specs_from_a_string():
    hm = tune.HyperModel(archspec.loads(BLOCKS))
    text, spec = tune.freeze(hm, {"params.block": "bottleneck", "neck": 6})
    frozen = archspec.loads(text)
    assert frozen.spaces == [] and frozen.analyze().total_params == spec.analyze().total_params


# ------------------------------------------------------------------------------ processes
def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), **extra)
    return env


def _tune_cmd(directory, *extra):
    return CLI + ["tune", str(LENET), "--tuner", "random", "--directory", str(directory),
                  "--epochs", "2", "--seed", "5", "--no-model", *extra]


def _records(directory):
    out = {}
    for p in (Path(directory) / tune.PROJECT).glob("trial_*/" + tune.RECORD):
        out[p.parent.name] = json.loads(p.read_text())
    return out


def _statuses(directory):
    return {p.parent.name: json.loads(p.read_text())["status"]
            for p in (Path(directory) / tune.PROJECT).glob("trial_*/trial.json")}


# One search, killed again and again at the instants where a kill used to lose a trial's record
# or could tear a file, each time resumed by the same command: after keras-tuner marked a trial
# completed (the record used to be written only then), in the middle of a trial (it resumes from
# its last epoch; a kill after it trained, before its record, is tests/tune/test_tune_faults.py's),
# and while the results are written. ARCHSPEC_FAULT kills the process exactly there
# (archspec.faults), so no timer races the run.
KILLS = [  # (fault, extra arguments, the trials keras-tuner has completed after the kill)
    ("tune.trial_ended:1", [], {"trial_0"}),
    ("tune.trial_epoch:1", [], {"trial_0"}),  # trial_1 killed mid-way: after its first epoch's state
    # ... here, under a MirroredStrategy over two logical CPUs (a trial may run under any strategy):
    # trial_1 resumes from that state, trains its second epoch, is recorded
    ("tune.results:1", ["--strategy", "mirrored:2"], {"trial_0", "trial_1"}),
]


@pytest.mark.slow
def test_a_kill_at_any_point_loses_at_most_the_running_trial(tmp_path):
    from archspec.train.checkpoint import Checkpoints

    cmd = _tune_cmd(tmp_path, "--max-trials", "2")  # two epochs a trial
    kept: dict = {}  # records of completed trials: never rewritten by a later run
    saved = None
    for fault, extra, completed in KILLS:
        run = subprocess.run(cmd + extra, env=_env(ARCHSPEC_FAULT=fault), cwd=ROOT, capture_output=True,
                             text=True, timeout=240)
        assert run.returncode == -signal.SIGKILL, f"{fault}: {run.stderr[-2000:]}"
        statuses = _statuses(tmp_path)
        records = _records(tmp_path)
        assert {n for n, s in statuses.items() if s == "COMPLETED"} == completed, fault
        assert completed <= set(records), f"{fault}: a completed trial without its record"
        for name, rec in kept.items():
            assert records[name] == rec, f"{fault}: {name} was run again"
        kept.update({n: records[n] for n in completed})
        epochs = tmp_path / tune.PROJECT / "trial_1" / "epochs"
        if fault.startswith("tune.trial_epoch"):  # the state of trial_1's first epoch, nothing more
            saved = Checkpoints(epochs).load()
            assert saved.epoch == 1 and len(saved.meta["curve"]) == 1 and "trial_1" not in records
    assert re.search(r"^trial 1: val_accuracy=\S+ completed \(resumed after epoch 1\)", run.stdout, re.M), run.stdout
    resumed = kept["trial_1"]
    assert resumed["resumed_epoch"] == 1 and len(resumed["curve"]) == 2
    assert resumed["curve"][0] == saved.meta["curve"][0]  # epoch 1 as the killed run measured it: not retrained
    assert not epochs.exists()  # the trial ended: its epoch states are gone
    # an older archspec could be killed between keras-tuner's save and its own record: a resumed
    # search re-derives the lost record (params, MACs, memory, status are static)
    lost = tmp_path / tune.PROJECT / "trial_0" / tune.RECORD
    lost.unlink()
    # the same command once more, in this process (TensorFlow is loaded): no trial left to run
    from archspec.cli import main

    assert main(cmd[3:]) == 0
    after = _records(tmp_path)
    repaired = after.pop("trial_0")
    static = ("trial_id", "params", "macs", "memory", "status")
    assert {k: repaired[k] for k in static} == {k: kept["trial_0"][k] for k in static}
    assert repaired["repaired"] is True and repaired["trial_seconds"] is None
    assert after == {"trial_1": kept["trial_1"]}
    assert kept["trial_0"]["pid"] != kept["trial_1"]["pid"]  # trial_1 by the run after the second kill
    assert set(_statuses(tmp_path).values()) == {"COMPLETED"}
    rows = json.loads((tmp_path / "results.json").read_text())
    assert len(rows) == 2 and all(r["params"] > 0 and r["macs"] > 0 for r in rows)
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_chief_and_a_worker_started_by_hand_on_localhost(tmp_path):
    """keras-tuner's chief/worker variables set by hand (``--parallel`` sets them itself: see
    tests/tune/test_parallel.py): the worker runs the trials, the chief writes the results; started
    together (the worker waits for the chief's server)."""
    port = str(_free_port())
    cmd = _tune_cmd(tmp_path, "--max-trials", "2", "--epochs", "1")
    base = dict(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
    procs = {role: subprocess.Popen(cmd, env=_env(KERASTUNER_TUNER_ID=role, **base), cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for role in ("chief", "tuner0")}
    outs = {}
    try:
        for name, p in procs.items():
            outs[name] = p.communicate(timeout=300)[0]
            assert p.returncode == 0, f"{name}:\n{outs[name][-3000:]}"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    records = _records(tmp_path)
    assert len(records) == 2
    assert {r["pid"] for r in records.values()} == {procs["tuner0"].pid}
    assert "best: trial" in outs["chief"] and (tmp_path / "results.csv").exists()
    assert "worker tuner0: done" in outs["tuner0"]
