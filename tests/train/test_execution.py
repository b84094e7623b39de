"""Steps per execution (grouping small steps) and the checkpoint/best-model files of a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from archspec.errors import FileError, SpecError
from archspec.train import TrainConfig, execution, train
from tests.train.test_loop import quiet, tiny_net

ROOT = Path(__file__).resolve().parents[2]


def cfg(**fields) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 64, "precision": "float32", "seed": 3,
            "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}}
    return TrainConfig.from_sources({**base, **fields})


def test_largest_divisor():
    assert execution.largest_divisor(45, 16) == 15
    assert execution.largest_divisor(80, 16) == 16
    assert execution.largest_divisor(47, 16) == 1
    assert execution.largest_divisor(3, 16) == 3
    assert execution.largest_divisor(1, 16) == 1


def test_macs_count_equals_the_analyzer_on_the_zoo(keras):
    import archspec

    for name, macs in (("lenet5", 326_520), ("resnet20", 40_551_040)):
        model = archspec.build(ROOT / "architectures" / f"{name}.yaml")
        assert archspec.summary(ROOT / "architectures" / f"{name}.yaml").macs == macs
        assert execution.macs_per_example(model) == macs


def test_macs_count_depthwise_and_separable_convolutions(keras):
    import archspec

    spec = archspec.loads("""
name: dw
input: {shape: [16, 16, 8]}
body:
  - depthwise_conv2d: {kernel_size: 3, padding: same, depth_multiplier: 2}
  - separable_conv2d: {filters: 32, kernel_size: 3, strides: 2, padding: same}
  - global_average_pooling2d
  - dense: {units: 10}
""")
    macs = archspec.summary(spec).macs
    assert macs == 16 * 16 * 3 * 3 * 8 * 2 + 8 * 8 * (3 * 3 * 16 + 16 * 32) + 32 * 10
    assert execution.macs_per_example(archspec.build(spec)) == macs


def test_auto_groups_small_steps_only(keras):
    import archspec

    lenet = archspec.build(ROOT / "architectures" / "lenet5.yaml")  # 0.33 M MACs: 42 M a step of 128
    resnet = archspec.build(ROOT / "architectures" / "resnet20.yaml")  # 40.6 M MACs: 5.2 G a step
    assert execution.choose("auto", lenet, batch=128, steps=80) == 16
    assert execution.choose("auto", lenet, batch=128, steps=45) == 15  # a divisor of the epoch
    assert execution.choose("auto", lenet, batch=128, steps=80, vsteps=6) == 2  # ... and of validation
    assert execution.choose("auto", resnet, batch=128, steps=80) == 1
    assert execution.choose(8, resnet, batch=128, steps=45) == 5  # a given count is lowered too


def test_steps_per_execution_must_be_auto_or_a_positive_integer():
    with pytest.raises(SpecError, match=r"`steps_per_execution` must be `auto` or an integer >= 1"):
        TrainConfig.from_sources({"steps_per_execution": 0})
    with pytest.raises(SpecError, match=r"`steps_per_execution` must be `auto` or an integer >= 1"):
        TrainConfig.from_sources({"steps_per_execution": "fast"})
    assert TrainConfig.from_sources({"steps_per_execution": 4}).steps_per_execution == 4


def test_grouped_steps_train_the_same_model(tmp_path, keras):
    """3 steps per call (auto, on digits: 21 steps and 3 validation steps an epoch) = 1 per call."""
    grouped = train(tiny_net, cfg(), output=tmp_path / "grouped", verbose=0, log=quiet)
    single = train(tiny_net, cfg(steps_per_execution=1), output=tmp_path / "single", verbose=0, log=quiet)
    run = json.loads((tmp_path / "grouped" / "run.json").read_text())
    assert run["steps_per_execution"] == 3
    assert json.loads((tmp_path / "single" / "run.json").read_text())["steps_per_execution"] == 1
    # no group straddles an epoch: exactly epochs x steps optimizer steps
    assert int(grouped.model.optimizer.iterations.numpy()) == 3 * 21
    assert int(single.model.optimizer.iterations.numpy()) == 3 * 21
    for a, b in zip(grouped.model.get_weights(), single.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for ra, rb in zip(grouped.history, single.history):
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-4)
    assert grouped.test_metrics["accuracy"] == pytest.approx(single.test_metrics["accuracy"], abs=1e-6)
    # the saved model does not carry the grouping into someone else's fit
    saved = keras.saving.load_model(tmp_path / "grouped" / "model.keras")
    assert grouped.model.steps_per_execution == 3 and saved.steps_per_execution == 1


def test_best_keras_holds_the_best_epochs_weights(tmp_path, keras):
    """best.keras = the weights at the epoch of the lowest val_loss, not the last epoch's."""
    seen = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(([w.copy() for w in self.model.get_weights()], logs["val_loss"]))

    # a learning rate high enough that validation loss goes up and down
    result = train(tiny_net, cfg(epochs=6, optimizer={"name": "sgd", "learning_rate": 0.6}),
                   output=tmp_path, verbose=0, log=quiet, callbacks=[Snapshot()])
    losses = [v for _, v in seen]
    assert [r["val_loss"] for r in result.history] == pytest.approx(losses)
    best_epoch = int(np.argmin(losses))
    best = keras.saving.load_model(tmp_path / "best.keras")
    for a, b in zip(best.get_weights(), seen[best_epoch][0]):
        np.testing.assert_array_equal(a, b)
    last = keras.saving.load_model(tmp_path / "model.keras")
    for a, b in zip(last.get_weights(), seen[-1][0]):
        np.testing.assert_array_equal(a, b)
    with np.load(tmp_path / "backup" / "state.npz") as state:
        assert int(state["epoch"]) == 6
    with np.load(tmp_path / "backup" / "best.npz") as state:
        assert int(state["epoch"]) == best_epoch + 1
    # best.keras holds that epoch's optimizer state too (21 steps an epoch)
    assert int(best.optimizer.iterations.numpy()) == 21 * (best_epoch + 1)
    assert int(last.optimizer.iterations.numpy()) == 21 * 6


def test_a_checkpoint_of_another_model_is_refused_naming_the_change(tmp_path, keras):
    train(tiny_net, cfg(epochs=1), output=tmp_path, verbose=0, log=quiet)

    def other():
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Flatten()(inputs)
        return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

    with pytest.raises(FileError, match=r"cannot resume: the checkpoint of epoch 1 here is of a run with other "
                                         r"settings \(the model \(its spec\) changed\)") as e:
        train(other, cfg(epochs=2), output=tmp_path, verbose=0, log=quiet)
    assert "--fresh" in e.value.hint and "--resume-with-changes" in e.value.hint
    # told to go on: the variables still do not fit
    with pytest.raises(FileError, match=r"the checkpoint is of another model or optimizer") as e:
        train(other, cfg(epochs=2), output=tmp_path, verbose=0, log=quiet, resume_with_changes=True)
    assert e.value.path.endswith("state.npz")


def test_an_unreadable_checkpoint_without_a_previous_one_is_a_file_error(tmp_path, keras):
    train(tiny_net, cfg(epochs=1), output=tmp_path, verbose=0, log=quiet)
    (tmp_path / "backup" / "state.npz").write_bytes(b"PK\x03\x04 not a zip file")
    with pytest.raises(FileError, match=r"no usable checkpoint: state\.npz: not a readable \.npz archive") as e:
        train(tiny_net, cfg(epochs=2), output=tmp_path, verbose=0, log=quiet)
    assert "--fresh" in e.value.hint and e.value.path == str(tmp_path / "backup")
