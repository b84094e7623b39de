"""Training end to end in-process (small nets on sklearn digits): artifacts, both loops, NaN, evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from archspec.train import TrainConfig, evaluate_run, fit, train

SPEC = """\
name: tiny
params: {classes: 10}
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: 8, kernel_size: 3, activation: relu}
  - flatten
  - dense: {units: $classes, activation: softmax}
train:
  epochs: 2
  batch_size: 64
  precision: float32
  optimizer: {name: adam, learning_rate: 0.01}
"""


def tiny_net():
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def cfg(**fields) -> TrainConfig:
    base = {"epochs": 2, "batch_size": 64, "precision": "float32", "optimizer": {"name": "adam", "learning_rate": 0.01}}
    return TrainConfig.from_sources({**base, **fields})


def quiet(_msg):
    pass


def test_spec_run_writes_every_artifact(tmp_path, keras):
    from archspec.spec import loads

    spec = loads(SPEC, file="tiny.yaml")
    result = fit(spec, output=tmp_path, verbose=0, log=quiet)
    assert result.status == "completed" and result.loop == "fit" and result.replicas == 1
    for name in ("model.keras", "best.keras", "spec.yaml", "history.csv", "history.json", "metrics.json",
                 "curves.png", "run.json", "tensorboard", "backup"):
        assert (tmp_path / name).exists(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "loss"} and metrics["accuracy"] > 0.8
    rows = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["seed"] == 0 and info["status"] == "completed" and info["versions"]["keras"].startswith("3.")
    assert info["per_replica_batch_size"] == 64 and info["train"]["validation_split"] == 0.1
    import yaml

    resolved = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    assert resolved["train"]["epochs"] == 2 and resolved["train"]["seed"] == 0 and "body" in resolved
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files left behind"
    # evaluate reloads the model and finds the same numbers
    again = evaluate_run(tmp_path, log=quiet)
    assert again["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_custom_step_follows_fit(tmp_path, keras):
    """The custom distributed step (used for multi-worker) trains like model.fit."""
    a = train(tiny_net, cfg(loop="fit"), output=tmp_path / "fit", verbose=0, log=quiet)
    b = train(tiny_net, cfg(loop="custom"), output=tmp_path / "custom", verbose=0, log=quiet)
    assert b.loop == "custom"
    for key in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose([r[key] for r in b.history], [r[key] for r in a.history], rtol=2e-3, atol=2e-3)
    assert b.test_metrics["accuracy"] == pytest.approx(a.test_metrics["accuracy"], abs=0.01)
    for name in ("model.keras", "history.json", "metrics.json", "curves.png", "backup"):
        assert (tmp_path / "custom" / name).exists()


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, keras, loop):
    # epoch 1 at a sane learning rate, then an absurd one: the loss becomes NaN in epoch 2
    c = cfg(loop=loop, epochs=4, optimizer={"name": "sgd", "learning_rate": 0.01},
            schedule={"name": "piecewise", "boundaries": [1], "values": [0.01, 1e30]})
    result = train(tiny_net, c, output=tmp_path, verbose=0, log=quiet)
    assert result.status == "nan"
    assert [r["epoch"] for r in result.history] == [1]
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "nan" and info["nan_at"]["epoch"] == 2
    model = keras.saving.load_model(tmp_path / "model.keras")
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert not (tmp_path / "metrics.json").exists()


def test_early_stopping_and_augmentation(tmp_path, keras):
    c = cfg(epochs=30, early_stopping={"monitor": "val_loss", "patience": 0, "min_delta": 10.0},
            augmentation=[{"random_translation": {"height_factor": 0.1, "width_factor": 0.1}}])
    result = train(tiny_net, c, output=tmp_path, verbose=0, log=quiet)
    assert result.status == "early_stopped" and len(result.history) < 30


def test_mixed_bfloat16_keeps_the_output_float32(tmp_path, keras):
    result = train(tiny_net, cfg(precision="mixed_bfloat16", epochs=1), output=tmp_path, verbose=0, log=quiet)
    assert str(result.model.outputs[0].dtype) == "float32"
    assert result.model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    assert result.test_metrics["accuracy"] > 0.5


def test_cli_errors_exit_2(tmp_path, capsys):
    from archspec.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC.replace("  epochs: 2", "  epocs: 2"))
    assert main(["train", str(spec), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:9:3" in err and "unknown train field `epocs`" in err and "did you mean `epochs`" in err
    spec.write_text(SPEC.replace("classes: 10}", "classes: 1000}"))
    assert main(["train", str(spec), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "has 10 classes but the model `tiny` has 1000 outputs" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
