"""Hints that fix (checked with the analyzer before they are printed) and data errors that come
before TensorFlow is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError
from archspec.train.config import TrainConfig
from archspec.train.checks import check_fit
from archspec.train.data import load_data, preflight
from archspec.train.hints import spec_suggester

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "architectures"


def _check(spec, train: dict | None = None):
    """check_fit of the default data (digits, 8x8x1, 10 classes) against ``spec``."""
    cfg = TrainConfig.from_sources(train or {})
    data = load_data(cfg.data, cfg, cfg.loc("data"))
    return check_fit(data, spec.input_shapes[0], spec.output_shapes[0][-1], cfg, spec.name,
                     suggest=spec_suggester(spec))


def test_lenet5_on_digits_is_told_to_resize_not_to_set_an_input_it_cannot_take():
    spec = archspec.load(ZOO / "lenet5.yaml")
    with pytest.raises(SpecError, match=r"has examples of shape \(8, 8, 1\) but the model `lenet5` takes inputs "
                                        r"of shape \(32, 32, 1\)") as err:
        _check(spec)
    # LeNet-5 has an input_shape parameter, but at 8x8 its 5x5 convolutions do not fit: not offered
    assert err.value.hint == ("resize the examples to the model's input: `train: {fit_input: resize}` in the spec, "
                              "or --set train.fit_input=resize")
    with pytest.raises(SpecError):
        spec.with_params(input_shape=[8, 8, 1]).analyze()
    assert _check(spec, {"fit_input": "resize"}) == "resize"  # and the hint is the whole fix


def test_vgg16_hint_fixes_the_whole_chain():
    spec = archspec.load(ZOO / "vgg16.yaml")
    with pytest.raises(SpecError) as err:
        _check(spec)
    assert err.value.hint == ("the data has 1 channel(s) and the model takes 3: give the model 1 input channel(s) "
                              "and resize the examples: --set input_shape=[224,224,1] --set train.fit_input=resize; "
                              "then give the model 10 outputs: --set classes=10")
    # following it: no further error
    fixed = spec.with_params(input_shape=[224, 224, 1], classes=10)
    assert _check(fixed, {"fit_input": "resize"}) == "resize"


def test_a_model_input_change_is_offered_only_when_it_analyzes():
    # resnet20 analyzes at 8x8: offered, and it is exactly the data's shape
    spec = archspec.load(ZOO / "resnet20.yaml")
    with pytest.raises(SpecError) as err:
        _check(spec)
    assert "--set input_shape=[32,32,1]" in err.value.hint
    suggest = spec_suggester(spec)
    assert suggest("input_shape", (8, 8, 1)) == "--set input_shape=[8,8,1]"
    assert archspec.load(ZOO / "resnet20.yaml", input_shape=[8, 8, 1]).input_shapes == [(8, 8, 1)]
    # a spec without a parameter for its input: no --set in the hint
    plain = archspec.loads("name: p\ninput: {shape: [16, 16, 3]}\nbody:\n  - flatten\n  - dense: {units: 10}\n")
    with pytest.raises(SpecError) as err:
        _check(plain)
    assert "--set input_shape" not in err.value.hint and "use data with 3 channel(s)" in err.value.hint
    assert spec_suggester(plain)("classes", 5) is None


def test_a_size_given_as_one_number_is_found():
    spec = archspec.loads("name: s\nparams: {size: 32, classes: 7}\ninput: {shape: [$size, $size, 1]}\nbody:\n"
                          "  - conv2d: {filters: 4, kernel_size: 3}\n  - flatten\n  - dense: {units: $classes}\n")
    with pytest.raises(SpecError) as err:
        _check(spec)
    assert err.value.hint.endswith("or give the model their shape: --set size=8; then give the model 10 outputs: "
                                   "--set classes=10")


def test_preflight_reads_numpy_sources_and_checks_names_without_tensorflow(tmp_path):
    spec = archspec.load(ZOO / "lenet5.yaml")
    cfg = TrainConfig.from_sources(spec.train)
    data = preflight(cfg, spec.input_shapes[0], 10, spec.name)
    assert data.train.x.shape[1:] == (8, 8, 1) and data.test.n == 360
    for name, message in (("sklearn:digit", r"unknown scikit-learn data set `digit`"),
                          (f"npz:{tmp_path / 'missing.npz'}", "the npz file does not exist"),
                          ("keras:mnst", "unknown Keras data set `mnst`"),
                          (f"images:{tmp_path / 'nothing'}", "the image directory does not exist")):
        cfg = TrainConfig.from_sources(spec.train, {"data": (name, None)})
        with pytest.raises(SpecError, match=message):
            preflight(cfg, spec.input_shapes[0], 10, spec.name)
    # a source read by TensorFlow later: its name checked now, nothing loaded
    cfg = TrainConfig.from_sources(spec.train, {"data": ("keras:mnist", None)})
    assert preflight(cfg, spec.input_shapes[0], 10, spec.name) is None


@pytest.mark.parametrize("data,message", [
    ("sklearn:digit", "unknown scikit-learn data set `digit`"),
    ("npz:missing.npz", "the npz file does not exist"),
    ("keras:mnst", "unknown Keras data set `mnst`"),
])
def test_data_mistakes_are_reported_before_tensorflow_is_imported(tmp_path, data, message):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "archspec", "train", str(ZOO / "lenet5.yaml"),
                           "--data", data, "-o", str(tmp_path / "run")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {"tensorflow", "keras"} & imported
    assert not (tmp_path / "run").exists()


def test_evaluate_checks_the_data_name_before_tensorflow(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "archspec", "evaluate", str(run),
                           "--data", "sklearn:digit"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "unknown scikit-learn data set `digit`" in proc.stderr
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not {"tensorflow", "keras"} & imported
