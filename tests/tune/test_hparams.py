"""TensorBoard HParams: a search writes every trial's values, seed and metrics under
``DIRECTORY/hparams``, read back here with TensorFlow's event reader and TensorBoard's protos.

One small in-process search (three trials of a two-layer model on the UCI digits, one epoch each);
the costs bound (--max-params) rejects one value, so a trial without an objective is there too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")
pytest.importorskip("tensorboard")
from archspec.tune import Budget, search  # noqa: E402
from archspec.tune.hparams import HPARAMS  # noqa: E402
from archspec.tune.layout import PROJECT, RECORD  # noqa: E402
from archspec.tune.trials import trial_seed  # noqa: E402

SPEC = """\
name: tiny_hparams
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: {hp: choice, values: [4, 64], default: 4, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: sklearn:digits
  optimizer:
    name: adam
    learning_rate: {hp: choice, values: [0.01, 0.001], default: 0.01, name: lr}
  batch_size: 256
  epochs: 1
"""
SEED = 3


def _events(run: Path) -> tuple[dict, dict]:
    """The hparams plugin's session start (``{name: value}``) and the scalars of one run."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    values, scalars = {}, {}
    for path in run.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        for name, value in data.session_start_info.hparams.items():
                            kind = value.WhichOneof("kind")
                            values[name] = getattr(value, kind)
                elif v.metadata.plugin_data.plugin_name == "scalars":
                    scalars[v.tag] = float(tf.make_ndarray(v.tensor))
    return values, scalars


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("hparams")
    spec = root / "tiny_hparams.yaml"
    spec.write_text(SPEC)
    result = search(spec, directory=root / "run", tuner="grid", max_trials=4, seed=SEED, write_model=False,
                    log=False, budget=Budget(max_params=1000))  # units=64: 4,810 params, rejected
    return root / "run", result


def test_every_trial_is_a_run_with_its_values_seed_and_metrics(searched):
    directory, result = searched
    assert result.paths["hparams"] == directory / HPARAMS
    assert [(r["values"], r["rejected"]) for r in result.rows] == [
        ({"lr": 0.01, "units": 4}, False), ({"lr": 0.001, "units": 4}, False),
        ({"lr": 0.01, "units": 64}, True), ({"lr": 0.001, "units": 64}, True)]
    for row in result.rows:
        values, scalars = _events(directory / HPARAMS / f"trial_{row['trial_id']}")
        record = json.loads((directory / PROJECT / f"trial_{row['trial_id']}" / RECORD).read_text())
        expected = {**row["values"], "status": row["status"]}
        if not row["rejected"]:
            expected["seed"] = trial_seed(SEED, row["trial_id"])
            assert record["seed"] == expected["seed"]
        assert {k: v for k, v in values.items()} == pytest.approx(expected)
        assert scalars["params"] == row["params"] and scalars["macs"] == row["macs"]
        if row["rejected"]:
            assert "val_accuracy" not in scalars
        else:
            assert scalars["val_accuracy"] == pytest.approx(row["objective"])


def test_the_experiment_declares_every_hyperparameter_and_metric(searched):
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    directory, _ = searched
    (path,) = (directory / HPARAMS).glob("events.out.tfevents.*")
    experiments = [plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content).experiment
                   for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value
                   if v.metadata.plugin_data.plugin_name == "hparams"]
    (experiment,) = experiments
    assert [h.name for h in experiment.hparam_infos] == ["lr", "units", "seed", "status"]
    assert [m.name.tag for m in experiment.metric_infos] == ["val_accuracy", "params", "macs", "latency_ms"]
