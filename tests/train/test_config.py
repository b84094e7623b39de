"""The train section: defaults, overrides, located errors with hints; data-source errors."""

from __future__ import annotations

import numpy as np
import pytest

from archspec.errors import FileError, Loc, RunError, SpecError
from archspec.spec import loads
from archspec.cli._common import parse_sets
from archspec.cli.train import make_parser, overrides_from_args
from archspec.train.config import EarlyStopping, Metric, Optimizer, Schedule, TrainConfig

TINY = """\
name: tiny
params: {classes: 10, lr: 0.05}
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: 4, kernel_size: 3, activation: relu}
  - flatten
  - dense: {units: $classes, activation: softmax}
"""


def spec_with(train: str):
    return loads(TINY + "train:\n" + train, file="tiny.yaml")


def test_defaults_and_spec_values_with_expressions():
    spec = spec_with("  epochs: 3\n  optimizer: {name: sgd, learning_rate: \"${lr * 2}\", momentum: 0.9}\n")
    cfg = TrainConfig.from_sources(spec.train)
    assert cfg.epochs == 3 and cfg.batch_size == 32 and cfg.data == "sklearn:digits"
    assert cfg.optimizer == Optimizer("sgd", 0.1, {"momentum": 0.9})
    assert cfg.loc("optimizer.momentum").line == 10
    assert cfg.loc("epochs").file == "tiny.yaml"


def test_unknown_field_is_located_with_a_hint():
    with pytest.raises(SpecError, match="unknown train field `epocs`") as err:
        TrainConfig.from_sources(spec_with("  batch_size: 16\n  epocs: 3\n").train)
    assert err.value.loc.line == 10 and err.value.loc.file == "tiny.yaml"
    assert "did you mean `epochs`" in err.value.hint


@pytest.mark.parametrize("text, message, hint", [
    ("  strategy: mirored\n", "unknown strategy `mirored`", "`mirrored`"),
    ("  precision: bfloat16\n", "unknown precision", "mixed_bfloat16"),
    ("  schedule: {name: cosin}\n", "unknown learning-rate schedule `cosin`", "`cosine`"),
    ("  schedule: {name: cosine, warmup_epoch: 2}\n", "unknown field `warmup_epoch`", "`warmup_epochs`"),
    ("  schedule: {name: piecewise, boundaries: [2], values: [0.1]}\n", "one more `values`", None),
    ("  early_stopping: {monitor: val_loss, patiense: 3}\n", "unknown field `patiense`", "`patience`"),
    ("  epochs: 0\n", "`epochs` must be an integer >= 1", None),
    ("  validation_split: 1.5\n", "fraction", None),
])
def test_bad_values(text, message, hint):
    with pytest.raises(SpecError, match=message) as err:
        TrainConfig.from_sources(spec_with(text).train)
    assert err.value.loc.file == "tiny.yaml" and err.value.loc.line == 9
    if hint:
        assert hint in err.value.hint


def test_command_line_overrides_the_spec():
    spec = spec_with("  epochs: 3\n  optimizer: {name: sgd, learning_rate: 0.1}\n")
    args = make_parser().parse_args(["train", "x.yaml", "--epochs", "5", "--lr", "0.5",
                                     "--set", "train.optimizer.momentum=0.9", "--set", "classes=10"])
    params, sets = parse_sets(args.set)
    assert params == {"classes": 10}
    cfg = TrainConfig.from_sources(spec.train, {**sets, **overrides_from_args(args)})
    assert cfg.epochs == 5
    assert cfg.optimizer == Optimizer("sgd", 0.5, {"momentum": 0.9})
    assert cfg.loc("epochs").file == "<command line>" and cfg.loc("epochs").path == "--epochs"


def test_values_are_typed_once_and_round_trip():
    """from_sources checks each value into its type; to_dict writes a section that reads back the same."""
    cfg = TrainConfig.from_sources(spec_with(
        "  optimizer: sgd\n  metrics: [accuracy, {name: auc, num_thresholds: 10}]\n  early_stopping: true\n"
        "  schedule: {name: step, boundaries: [1], values: [0.1, 0.01]}\n").train)
    assert cfg.optimizer == Optimizer("sgd", None, {})  # None: the Keras class's own learning rate
    assert cfg.metrics == (Metric("accuracy"), Metric("auc", {"num_thresholds": 10}))
    assert cfg.early_stopping == EarlyStopping(monitor="val_loss", patience=5)
    assert cfg.schedule == Schedule("piecewise", 0, (1,), (0.1, 0.01))
    assert TrainConfig.from_sources(cfg.to_dict()) == cfg
    with pytest.raises(SpecError, match="`learning_rate` must be a number") as err:
        TrainConfig.from_sources(spec_with("  optimizer: {name: sgd, learning_rate: fast}\n").train)
    assert err.value.loc.line == 9
    with pytest.raises(SpecError, match="unknown early stopping mode `maximum`"):
        TrainConfig.from_sources({"early_stopping": {"mode": "maximum"}})


def test_set_of_unknown_train_field():
    _, sets = parse_sets(["train.bach_size=8"])
    with pytest.raises(SpecError, match="unknown train field `bach_size`") as err:
        TrainConfig.from_sources(None, sets)
    assert err.value.loc.file == "<command line>" and "`batch_size`" in err.value.hint


# ------------------------------------------------------------------ Keras objects (import keras)
def test_optimizer_names_and_arguments(keras):
    from archspec.train.compile import make_optimizer

    cfg = TrainConfig.from_sources(spec_with("  optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}\n").train)
    opt = make_optimizer(cfg, 10)
    assert type(opt).__name__ == "SGD" and float(opt.momentum) == pytest.approx(0.9)
    cfg = TrainConfig.from_sources(spec_with("  optimizer: {name: adamm}\n").train)
    with pytest.raises(SpecError, match="unknown optimizer `adamm`") as err:
        make_optimizer(cfg, 10)
    assert "`adam`" in err.value.hint and err.value.loc.line == 9
    cfg = TrainConfig.from_sources(spec_with("  optimizer: {name: sgd, momentun: 0.9}\n").train)
    with pytest.raises(SpecError, match="`SGD` has no argument `momentun`") as err:
        make_optimizer(cfg, 10)
    assert "`momentum`" in err.value.hint


def test_schedules_count_epochs_in_steps(keras):
    from archspec.train.compile import make_optimizer

    cfg = TrainConfig.from_sources(spec_with(
        "  optimizer: {name: sgd, learning_rate: 0.1}\n"
        "  schedule: {name: piecewise, boundaries: [2, 3], values: [0.1, 0.01, 0.001]}\n").train)
    sched = make_optimizer(cfg, 10)._learning_rate
    assert [float(sched(s)) for s in (0, 19, 21, 31)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    cfg = TrainConfig.from_sources(spec_with(
        "  epochs: 10\n  optimizer: {name: sgd, learning_rate: 0.1}\n  schedule: {name: cosine, warmup_epochs: 1}\n").train)
    sched = make_optimizer(cfg, 10)._learning_rate
    assert float(sched(0)) < 0.02 and float(sched(10)) == pytest.approx(0.1, rel=1e-3)
    assert float(sched(100)) == pytest.approx(0.0, abs=1e-4)
    cfg = TrainConfig.from_sources(spec_with("  schedule: {name: constant, warmup_epochs: 2}\n").train)
    sched = make_optimizer(cfg, 10)._learning_rate
    assert float(sched(9)) == pytest.approx(0.0005) and float(sched(50)) == pytest.approx(0.001)


def test_loss_and_metric_names(keras):
    from archspec.train.compile import make_loss, make_metrics

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    loss = make_loss(TrainConfig(), model)
    assert type(loss).__name__ == "SparseCategoricalCrossentropy" and not loss.from_logits
    with pytest.raises(SpecError, match="unknown loss `categorical_crossentropyy`") as err:
        make_loss(TrainConfig.from_sources({"loss": "categorical_crossentropyy"}), model)
    assert "`categorical_crossentropy`" in err.value.hint
    with pytest.raises(SpecError, match="unknown metric `acuracy`"):
        make_metrics(TrainConfig.from_sources({"metrics": ["acuracy"]}), loss)
    names = [m.name for m in make_metrics(TrainConfig.from_sources({"metrics": ["accuracy", "top5"]}), loss)]
    assert names == ["accuracy", "top5"]
    # the accuracy class follows the labels the loss takes (an explicit table, not the class name)
    metrics = make_metrics(TrainConfig.from_sources({"metrics": ["accuracy", "top5"]}), keras.losses.BinaryCrossentropy())
    assert type(metrics[0]).__name__ == "BinaryAccuracy"
    metrics = make_metrics(TrainConfig.from_sources({"metrics": ["accuracy", "top5"]}), keras.losses.MeanSquaredError())
    assert [type(m).__name__ for m in metrics] == ["CategoricalAccuracy", "TopKCategoricalAccuracy"]


def test_monitored_metric_directions():
    from archspec.train.compile import direction

    assert [direction(n) for n in ("val_loss", "loss", "val_mae", "mean_squared_error")] == ["min"] * 4
    assert [direction(n) for n in ("val_accuracy", "acc", "val_auc", "top5")] == ["max"] * 4
    assert direction("val_my_metric") is None  # the caller's default (min for the best epoch)


# ------------------------------------------------------------------ data sources
def test_digits_source_and_fit_checks():
    from archspec.train.checks import check_fit
    from archspec.train.data import load_data

    cfg = TrainConfig()
    data = load_data("sklearn:digits", cfg, Loc())
    assert data.shape == (8, 8, 1) and data.num_classes == 10
    assert data.train.n + data.val.n + data.test.n == 1797 and data.test.n == 360
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0
    assert check_fit(data, (8, 8, 1), 10, cfg, "m") is None
    # no guessing by default: the spec asks for resizing (lenet5.yaml: train.fit_input: resize)
    with pytest.raises(SpecError, match=r"shape \(8, 8, 1\) but the model `lenet5` takes inputs of "
                                        r"shape \(32, 32, 1\)") as err:
        check_fit(data, (32, 32, 1), 10, cfg, "lenet5")
    assert "fit_input: resize" in err.value.hint
    assert check_fit(data, (32, 32, 1), 10, TrainConfig(fit_input="resize"), "lenet5") == "resize"
    assert check_fit(data, (32, 32, 1), 10, TrainConfig(fit_input="auto"), "lenet5") == "resize"
    assert check_fit(data, (64,), 10, TrainConfig(fit_input="reshape"), "mlp") == "reshape"
    with pytest.raises(SpecError, match=r"has examples of shape \(8, 8, 1\) but the model `vgg` takes "
                                        r"inputs of shape \(224, 224, 3\)"):
        check_fit(data, (224, 224, 3), 10, cfg, "vgg")
    with pytest.raises(SpecError, match="has 10 classes but the model `vgg` has 1000 outputs") as err:
        check_fit(data, (8, 8, 1), 1000, cfg, "vgg")
    # without the spec (tests/train/test_hints.py) no `--set` is guessed: the model may have no such parameter
    assert err.value.hint == "give the model 10 outputs (its last layer's units)"


def test_npz_source(tmp_path):
    from archspec.train.data import load_data

    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (50, 6, 6), dtype=np.uint8), y_train=rng.integers(0, 3, 50),
             x_test=np.zeros((10, 6, 6), np.uint8), y_test=np.zeros(10, np.int64))
    data = load_data(f"npz:{path}", TrainConfig(), Loc())
    assert data.shape == (6, 6, 1) and data.test.n == 10 and data.train.x.dtype == np.float32
    assert data.train.n + data.val.n == 50
    np.savez(path, x=np.zeros(3))
    with pytest.raises(FileError, match=r"d\.npz: error: the npz file lacks x_train, y_train") as err:
        load_data(f"npz:{path}", TrainConfig(), Loc())
    assert err.value.message == "the npz file lacks x_train, y_train; it holds ['x']"
    assert err.value.path == str(path) and "x_train, y_train" in err.value.hint
    with pytest.raises(SpecError, match="does not exist"):
        load_data(f"npz:{tmp_path}/nope.npz", TrainConfig(), Loc())
    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04 not a zip file")  # the file's fault: a FileError naming it
    with pytest.raises(FileError, match=r"torn\.npz: error: the file is a truncated or corrupt \.npz archive") as err:
        load_data(f"npz:{tmp_path}/torn.npz", TrainConfig(), Loc())
    assert err.value.path == str(tmp_path / "torn.npz") and "write or copy it again" in err.value.hint


def test_unknown_sources():
    from archspec.train.data import load_data

    with pytest.raises(SpecError, match="unknown data source `skleran:digits`") as err:
        load_data("skleran:digits", TrainConfig(), Loc("tiny.yaml", 3, 9))
    assert "sklearn" in err.value.hint
    with pytest.raises(SpecError, match="unknown Keras data set `cifar1O`") as err:
        load_data("keras:cifar1O", TrainConfig(), Loc())
    assert "`cifar10`" in err.value.hint


def test_keras_dataset_offline_names_the_cache(tmp_path, monkeypatch):
    """Offline and not cached: a RunError (no mistake in the spec) naming the cache path (no traceback)."""
    from archspec.train.data import load_data

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    import keras

    def offline(*args, **kwargs):  # what urlretrieve does with no network
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] "
                        "Temporary failure in name resolution")

    monkeypatch.setattr("keras.src.datasets.fashion_mnist.get_file", offline)
    with pytest.raises(RunError, match="not in the Keras cache") as err:
        load_data("keras:fashion_mnist", TrainConfig(), Loc())
    assert str(tmp_path / "kh" / "datasets") in err.value.format()


def test_images_source(tmp_path):
    from PIL import Image

    from archspec.train.data import load_data

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_data(f"images:{tmp_path}", TrainConfig.from_sources({"validation_split": 0}), Loc(),
                     model_input=(16, 16, 3))
    assert data.num_classes == 2 and data.shape == (16, 16, 3)
    assert data.train.n + data.test.n == 12
    x, y = next(iter(data.train.dataset()))
    assert tuple(x.shape) == (16, 16, 3) and float(x.numpy().max()) <= 1.0


def test_validate_finds_a_typo_in_the_train_section_without_tensorflow(tmp_path, capsys):
    """docs/training.md promises "did you mean" for train fields: `validate` (and archspec.load)
    check the section, not only `archspec train`."""
    import archspec
    from archspec.cli import main

    text = "input: {shape: [4]}\nbody:\n  - dense: {units: 2}\ntrain:\n  epochs: 3\n  batchsize: 8\n"
    with pytest.raises(SpecError, match=r"unknown train field `batchsize`") as err:
        archspec.loads(text, file="net.yaml")
    assert (err.value.loc.line, err.value.loc.col, err.value.hint) == (6, 3, "did you mean `batch_size`?")
    (tmp_path / "net.yaml").write_text(text)
    assert main(["validate", str(tmp_path / "net.yaml")]) == 2
    assert "net.yaml:6:3: at `train.batchsize`: error: unknown train field `batchsize`" in capsys.readouterr().err
