"""Fine-tuning in ``train:``: freeze, freeze_bn, lr_groups (exact per-group rates), unfreeze."""

from __future__ import annotations

import json

import numpy as np
import pytest

from archspec.errors import SpecError
from archspec.train import TrainConfig, fit

SPEC = """\
name: ft
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: 8, kernel_size: 3, name: conv1}
  - batch_normalization: {name: bn1}
  - relu
  - conv2d: {filters: 8, kernel_size: 3, name: conv2}
  - flatten
  - dense: {units: 10, activation: softmax, name: head}
train:
  epochs: 1
  batch_size: 64
  precision: float32
  validation_split: 0
  optimizer: {name: adam, learning_rate: 0.01}
"""


def quiet(_msg):
    pass


def spec(**train):
    import yaml

    from archspec.spec import loads

    doc = yaml.safe_load(SPEC)
    doc["train"].update(train)
    return loads(yaml.safe_dump(doc), file="ft.yaml")


class Snapshots:
    """A callback keeping every layer's weights at the start and at each epoch's end."""

    def __new__(cls):
        import keras

        class _Snap(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.at = []

            def grab(self):
                self.at.append({layer.name: [val(w) for w in layer.weights] for layer in self.model.layers})

            def on_train_begin(self, logs=None):
                self.grab()

            def on_epoch_end(self, epoch, logs=None):
                self.grab()

        return _Snap()


def val(v):
    import keras

    return keras.ops.convert_to_numpy(v)


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------ the config (no TensorFlow)
def test_config_fields_typed_and_round_trip():
    cfg = TrainConfig.from_sources({"freeze": ["conv1*", "conv[2-4]_block*"], "freeze_bn": True,
                                    "lr_groups": [{"layers": "conv*", "lr_mult": 0.1}],
                                    "unfreeze": [{"epoch": 3, "layers": ["conv2"]}]})
    assert cfg.freeze == ("conv1*", "conv[2-4]_block*") and cfg.freeze_bn is True
    assert cfg.lr_groups[0].layers == ("conv*",) and cfg.lr_groups[0].lr_mult == 0.1
    assert cfg.unfreeze[0].epoch == 3 and cfg.unfreeze[0].layers == ("conv2",)
    again = TrainConfig.from_sources(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()
    assert TrainConfig.from_sources(None, {"freeze": ("conv1", None)}).freeze == ("conv1",)


@pytest.mark.parametrize("section, where, text", [
    ({"freeze": [3]}, "train.freeze", "layer-name globs"),
    ({"freeze_bn": "yes"}, "train.freeze_bn", "true or false"),
    ({"lr_groups": [{"layers": "c*", "lr_mul": 0.1}]}, "train.lr_groups[0]", "lr_mult"),
    ({"lr_groups": [{"layers": "c*", "lr_mult": -1}]}, "train.lr_groups[0]", ">= 0"),
    ({"lr_groups": {"layers": "c*"}}, "train.lr_groups", "list of mappings"),
    ({"unfreeze": [{"epoch": 0, "layers": ["c"]}]}, "train.unfreeze[0]", ">= 1"),
    ({"unfreeze": [{"epoch": 2}]}, "train.unfreeze[0]", "needs `layers`"),
])
def test_config_errors_are_located(section, where, text):
    with pytest.raises(SpecError) as e:
        TrainConfig.from_sources(section)
    assert e.value.loc.path == where and text in str(e.value), str(e.value)


def test_glob_matching_no_layer_is_located_with_did_you_mean():
    with pytest.raises(SpecError) as e:
        fit(spec(freeze=["conv1", "conb2*"]), output="/nonexistent/never-written", log=quiet)
    assert e.value.loc.path == "train.freeze[1]" and "matches no layer" in str(e.value)
    assert "conv2" in str(e.value)
    with pytest.raises(SpecError) as e:
        fit(spec(lr_groups=[{"layers": "haed", "lr_mult": 0.1}]), output="/nonexistent/never-written", log=quiet)
    assert e.value.loc.path == "train.lr_groups[0].layers" and "head" in str(e.value)


# ------------------------------------------------------------------ freezing in a run
def test_freeze_and_freeze_bn_keep_weights_and_statistics(tmp_path, keras):
    snap, lines = Snapshots(), []
    result = fit(spec(freeze=["conv1*"], freeze_bn=True), output=tmp_path, verbose=0, log=lines.append,
                 callbacks=[snap])
    before, after = snap.at[0], snap.at[-1]
    assert same(before["conv1"], after["conv1"])  # bit-identical
    assert same(before["bn1"], after["bn1"])      # gamma, beta and the moving mean and variance
    assert not same(before["conv2"], after["conv2"]) and not same(before["head"], after["head"])
    assert not result.model.get_layer("bn1").trainable
    info = json.loads((tmp_path / "run.json").read_text())
    conv1 = 3 * 3 * 1 * 8 + 8
    assert info["frozen"]["names"] == ["conv1", "bn1"] and info["frozen"]["layers"] == 2
    assert info["frozen"]["parameters"] == conv1 + 16 and info["frozen"]["globs"] == ["conv1*"]
    assert f"frozen: 2 layers, {conv1 + 16} parameters" in lines
    assert info["train"]["freeze"] == ["conv1*"]


def test_bn_trainable_moves_statistics(tmp_path, keras):
    """The control for the test above: without freeze_bn the moving statistics change."""
    snap = Snapshots()
    fit(spec(), output=tmp_path, verbose=0, log=quiet, callbacks=[snap])
    assert not same(snap.at[0]["bn1"], snap.at[-1]["bn1"])


# ------------------------------------------------------------------ exact per-group learning rates
def two_dense(keras, seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="body")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


@pytest.mark.parametrize("name", ["adam", "sgd", "adamw"])
def test_lr_groups_exact_one_step(keras, name):
    from archspec.train.finetune import group_rates

    lr = 0.01
    cfg = TrainConfig.from_sources({"optimizer": {"name": name, "learning_rate": lr},
                                    "lr_groups": [{"layers": "body", "lr_mult": 0.1}]})
    cls = {"adam": keras.optimizers.Adam,
           "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
           "adamw": lambda learning_rate: keras.optimizers.AdamW(learning_rate, weight_decay=0.5)}[name]
    model = two_dense(keras)
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    start = [val(v) for v in model.trainable_variables]
    opt = group_rates(cls(learning_rate=lr), model, cfg)
    for _ in range(2):  # two steps: the moments take part too
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_variables))
    got = [val(v) for v in model.trainable_variables]
    for rate, which in ((lr * 0.1, slice(0, 2)), (lr, slice(2, 4))):
        ref = [keras.Variable(s) for s in start[which]]
        ref_opt = cls(learning_rate=rate)
        for _ in range(2):
            ref_opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads[which]], ref))
        for r, g in zip(ref, got[which]):
            np.testing.assert_allclose(val(r), g, rtol=0, atol=1e-6)
    assert not np.allclose(got[0], start[0])


def test_lr_groups_under_loss_scale_optimizer(keras):
    from archspec.train.finetune import group_rates

    cfg = TrainConfig.from_sources({"lr_groups": [{"layers": "body", "lr_mult": 0.0}]})
    model = two_dense(keras)
    start = [val(v) for v in model.trainable_variables]
    opt = keras.optimizers.LossScaleOptimizer(group_rates(keras.optimizers.Adam(0.01), model, cfg))
    grads = [keras.ops.ones(v.shape) for v in model.trainable_variables]
    opt.apply_gradients(zip(grads, model.trainable_variables))
    now = [val(v) for v in model.trainable_variables]
    assert same(start[:2], now[:2]) and not np.allclose(start[2], now[2])


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_lr_groups_in_a_run_and_model_reloads(tmp_path, keras, loop):
    snap = Snapshots()
    result = fit(spec(lr_groups=[{"layers": "conv*", "lr_mult": 0}], loop=loop), output=tmp_path, verbose=0,
                 log=quiet, callbacks=[snap])
    assert same(snap.at[0]["conv1"], snap.at[-1]["conv1"]) and same(snap.at[0]["conv2"], snap.at[-1]["conv2"])
    assert not same(snap.at[0]["head"], snap.at[-1]["head"])
    loaded = keras.saving.load_model(tmp_path / "model.keras")  # the plain Keras optimizer
    assert type(loaded.optimizer).__name__ == "Adam"
    assert result.status == "completed"


# ------------------------------------------------------------------ staged unfreezing
@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_unfreeze_at_epoch(tmp_path, keras, loop):
    snap, lines = Snapshots(), []
    fit(spec(freeze=["conv*"], unfreeze=[{"epoch": 2, "layers": ["conv2"]}], epochs=2, loop=loop),
        output=tmp_path, verbose=0, log=lines.append, callbacks=[snap])
    start, one, two = snap.at
    assert same(start["conv2"], one["conv2"]) and not same(one["conv2"], two["conv2"])
    assert same(start["conv1"], two["conv1"])
    assert not same(start["head"], one["head"])
    assert any(line.startswith("unfrozen at epoch 2: 1 layers (conv2)") for line in lines), lines


def test_unfreeze_after_resume(tmp_path, keras):
    """A run stopped before its unfreezing epoch resumes with the optimizer's state intact and
    unfreezes on time (the optimizer holds every variable that will train, from the start)."""
    fit(spec(freeze=["conv*"], unfreeze=[{"epoch": 2, "layers": ["conv2"]}], epochs=1), output=tmp_path,
        verbose=0, log=quiet)
    snap = Snapshots()
    result = fit(spec(freeze=["conv*"], unfreeze=[{"epoch": 2, "layers": ["conv2"]}], epochs=2),
                 output=tmp_path, verbose=0, log=quiet, callbacks=[snap])
    assert result.initial_epoch == 1 and result.status == "completed"
    start, two = snap.at
    assert not same(start["conv2"], two["conv2"]) and same(start["conv1"], two["conv1"])


def test_docs_fine_tuning_example_is_a_valid_train_section():
    import re

    import yaml

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "transfer.md").read_text()
    section = text[text.index("## Fine-tuning"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    cfg = TrainConfig.from_sources(yaml.safe_load(block)["train"])
    assert cfg.freeze and cfg.freeze_bn and cfg.lr_groups and cfg.unfreeze


# a mixed_float16 model reloads without its LossScaleOptimizer's own variables: Keras' warning, with or
# without fine-tuning (measured), not this feature's
@pytest.mark.filterwarnings("ignore:Skipping variable loading")
def test_command_line_and_mixed_float16(tmp_path, keras, capsys):
    """`--set train.freeze=[...]` from the command line; lr_groups inside the LossScaleOptimizer
    that mixed_float16 wraps around the optimizer, in a run."""
    from archspec.cli import main

    path = tmp_path / "ft.yaml"
    path.write_text(SPEC)
    rc = main(["train", str(path), "-o", str(tmp_path / "run"), "--verbose", "0", "--precision", "mixed_float16",
               "--set", "train.freeze=[conv1*]", "--set", "train.lr_groups=[{layers: conv2, lr_mult: 0}]"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "frozen: 1 layers, 80 parameters" in out
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["precision"] == "mixed_float16" and info["frozen"]["names"] == ["conv1"]
    assert info["train"]["lr_groups"] == [{"layers": ["conv2"], "lr_mult": 0.0}]
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert not model.get_layer("conv1").trainable and model.get_layer("conv2").trainable


MIRRORED = r"""
import json, sys
import numpy as np
from archspec.train import fit
from archspec.train.strategy import configure_logical_cpus
configure_logical_cpus(2)
import keras
from tests.train.test_finetune import spec, Snapshots, same
out = {}
for loop in ("custom", "fit"):
    snap = Snapshots()
    r = fit(spec(strategy="mirrored", loop=loop, epochs=2, freeze=["conv1"], unfreeze=[{"epoch": 2, "layers": ["conv1"]}],
                 lr_groups=[{"layers": "conv2", "lr_mult": 0}]),
            output=sys.argv[1] + "/" + loop, verbose=0, log=lambda m: None, callbacks=[snap])
    start, one, two = snap.at
    out[loop] = {"replicas": r.replicas, "conv1_epoch1": same(start["conv1"], one["conv1"]),
                 "conv1_epoch2": same(one["conv1"], two["conv1"]), "conv2": same(start["conv2"], two["conv2"]),
                 "head": same(start["head"], two["head"])}
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_mirrored_two_replicas_freeze_groups_unfreeze(tmp_path):
    """Under MirroredStrategy (2 logical CPUs), the custom distributed step and Keras' fit: the
    frozen layer stays until its epoch, a group at lr_mult 0 never moves, the rest trains."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], capture_output=True, text=True,
                          timeout=240, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    for loop in ("custom", "fit"):
        assert out[loop] == {"replicas": 2, "conv1_epoch1": True, "conv1_epoch2": False, "conv2": True,
                             "head": False}, (loop, out)


def three_dense(keras, seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="low")(inputs)
    x = keras.layers.Dense(3, name="mid")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def test_layer_decay_is_exact_per_layer_and_combines_with_groups(keras):
    """layer_decay 0.5 over 3 weighted layers: low 0.25x, mid 0.5x, head 1x; mid also in a 0.1 group."""
    from archspec.train.finetune import group_rates

    lr = 0.01
    cfg = TrainConfig.from_sources({"optimizer": {"name": "adam", "learning_rate": lr}, "layer_decay": 0.5,
                                    "lr_groups": [{"layers": "mid", "lr_mult": 0.1}]})
    model = three_dense(keras)
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    start = [val(v) for v in model.trainable_variables]
    opt = group_rates(keras.optimizers.Adam(lr), model, cfg)
    for _ in range(2):
        opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_variables))
    got = [val(v) for v in model.trainable_variables]
    for rate, which in ((lr * 0.25, slice(0, 2)), (lr * 0.5 * 0.1, slice(2, 4)), (lr, slice(4, 6))):
        ref = [keras.Variable(s) for s in start[which]]
        ref_opt = keras.optimizers.Adam(rate)
        for _ in range(2):
            ref_opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads[which]], ref))
        for r, g in zip(ref, got[which]):
            np.testing.assert_allclose(val(r), g, rtol=0, atol=1e-6)
    with pytest.raises(SpecError, match=r"`layer_decay` must be a number in \(0, 1\]"):
        TrainConfig.from_sources({"layer_decay": 1.5})
