"""archspec.weights: weights from a file by layer name, the transfer report, adapt_input, and
``--weights`` on ``archspec build`` and ``archspec train``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import archspec
from archspec.cli import main
from archspec.errors import FileError
from archspec.weights import load_weights, read_weights

SMALL = """\
name: small
params: {classes: 10, input_shape: [8, 8, 3]}
input: {shape: $input_shape}
body:
  - conv2d: {filters: 4, kernel_size: 3, name: stem}
  - batch_normalization: {name: stem_bn}
  - flatten: {name: flatten}
  - dense: {units: $classes, activation: softmax, name: predictions}
train: {epochs: 1, batch_size: 128, precision: float32}
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def _randomized(model, seed=1):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(size=v.shape).astype(v.dtype))
    return model


def _values(model):
    return [v.numpy() for v in model.weights]


@pytest.fixture
def source(spec, tmp_path, keras):
    """A randomized 5-class model of the same names, saved as .keras."""
    model = _randomized(archspec.build(spec, classes=5))
    path = tmp_path / "five.keras"
    model.save(path)
    return path, model


def test_keras_applications_resnet50_loads_all_but_the_classifier(tmp_path, keras):
    ka = _randomized(keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3)))
    ka.save(tmp_path / "r.keras")
    ka.save_weights(tmp_path / "r.weights.h5")
    model = archspec.build("resnet50", classes=10, input_shape=[32, 32, 3])
    for name in ("r.keras", "r.weights.h5"):
        report = load_weights(model, tmp_path / name)
        assert str(report) == (f"transferred 318 of 320 tensors from {tmp_path / name}; not loaded: predictions/kernel "
                               "(2048x1000 in the file, 2048x10 here), predictions/bias (1000 in the file, 10 here)")
        assert report.to_dict()["not_loaded"][0] == {"name": "predictions/kernel", "here": [2048, 10],
                                                      "file": [2048, 1000]}
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    features = [np.asarray(keras.Model(m.input, m.get_layer("conv5_block3_out").output)(x)) for m in (ka, model)]
    np.testing.assert_array_equal(*features)
    with pytest.raises(FileError, match=r"strict: 2 tensor\(s\) of the model not loaded: predictions/kernel "
                                        r"\(2048x1000 in the file, 2048x10 here\), predictions/bias"):
        load_weights(model, tmp_path / "r.keras", strict=True)


def test_same_architecture_loads_everything_and_the_outputs_agree(spec, source, keras):
    path, five = source
    model = archspec.build(spec, classes=5)
    report = load_weights(model, path, strict=True)
    assert (report.transferred, report.total, report.missed, report.unused) == (8, 8, [], [])
    x = np.ones((1, 8, 8, 3), "float32")
    np.testing.assert_array_equal(model(x), five(x))


def test_strict_names_the_missed_tensors_and_loads_nothing(spec, source, keras):
    model = archspec.build(spec)
    before = _values(model)
    with pytest.raises(FileError, match=r"five.keras: error: strict: 2 tensor\(s\) of the model not loaded: "
                                        r"predictions/kernel \(144x5 in the file, 144x10 here\), "
                                        r"predictions/bias \(5 in the file, 10 here\)"):
        load_weights(model, source[0], strict=True)
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(model)))
    report = load_weights(model, source[0])
    assert report.loaded == ["stem/kernel", "stem/bias", "stem_bn/gamma", "stem_bn/beta", "stem_bn/moving_mean",
                             "stem_bn/moving_variance"]
    np.testing.assert_array_equal(model.get_layer("stem").kernel, source[1].get_layer("stem").kernel)


def test_unreadable_files_are_file_errors_and_change_nothing(spec, source, tmp_path, keras):
    model = archspec.build(spec, classes=5)
    before = _values(model)
    data = source[0].read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    source[1].save_weights(tmp_path / "w.weights.h5")
    h5 = (tmp_path / "w.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(h5[: len(h5) // 2])
    (tmp_path / "notes.keras").write_text("not a model\n")
    (tmp_path / "empty").mkdir()
    cases = {"cut.keras": r"cut.keras: error: truncated or damaged",
             "cut.weights.h5": r"cut.weights.h5: error: not a readable weights file: truncated or damaged HDF5",
             "notes.keras": r"notes.keras: error: not a Keras model or weights file \(neither a .keras archive nor HDF5\)",
             "empty": r"empty: error: a directory without model.keras: not an archspec run directory",
             "missing.keras": r"missing.keras: error: cannot read the weights"}
    for name, match in cases.items():
        with pytest.raises(FileError, match=match):
            load_weights(model, tmp_path / name)
    assert all(np.array_equal(a, b) for a, b in zip(before, _values(model)))


def test_a_file_without_a_matching_layer_name_is_refused(source, tmp_path, keras):
    other = archspec.loads("name: other\ninput: {shape: [8, 8, 3]}\nbody:\n  - conv2d: {filters: 4, kernel_size: 3}\n"
                           "  - flatten\n  - dense: {units: 5}\n")
    model = archspec.build(other)
    with pytest.raises(FileError, match=r"(?s)no layer of this model has weights in the file .*"
                                        r"Hint: layers in the file: predictions, stem, stem_bn; here: conv2d, dense"):
        load_weights(model, source[0])


def test_adapt_input_converts_the_first_convolution_as_timm_does(spec, source, keras):
    kernel = np.asarray(source[1].get_layer("stem").kernel)  # 3x3x3x4
    gray = archspec.build(spec, classes=5, input_shape=[8, 8, 1])
    report = load_weights(gray, source[0])
    assert [str(m) for m in report.missed] == ["stem/kernel (3x3x3x4 in the file, 3x3x1x4 here)"]
    report = load_weights(gray, source[0], adapt_input=True, strict=True)
    assert report.adapted == ["stem/kernel (3x3x3x4 in the file -> 3x3x1x4)"] and report.transferred == 8
    np.testing.assert_allclose(gray.get_layer("stem").kernel, kernel.sum(axis=2, keepdims=True), rtol=1e-6)
    rgba = archspec.build(spec, classes=5, input_shape=[8, 8, 4])
    load_weights(rgba, source[0], adapt_input=True)
    expected = np.concatenate([kernel, kernel[:, :, :1]], axis=2) * 3 / 4
    np.testing.assert_allclose(rgba.get_layer("stem").kernel, expected, rtol=1e-6)


def test_a_run_directory_and_a_keras2_h5_are_sources(spec, source, tmp_path, keras):
    import h5py

    run = tmp_path / "run"
    run.mkdir()
    source[1].save(run / "model.keras")
    assert archspec.load_weights(archspec.build(spec, classes=5), run).transferred == 8  # the facade
    with h5py.File(tmp_path / "legacy.h5", "w") as f:  # the layout of keras.applications' downloads
        f.attrs["layer_names"] = [b"stem", b"pool"]
        group = f.create_group("stem")
        group.attrs["weight_names"] = [b"stem/kernel:0", b"stem/bias:0"]
        group["stem/kernel:0"] = np.full((3, 3, 3, 4), 0.5, "float32")
        group["stem/bias:0"] = np.arange(4, dtype="float32")
        f.create_group("pool").attrs["weight_names"] = []
    assert set(read_weights(tmp_path / "legacy.h5").layers) == {"stem"}
    model = archspec.build(spec, classes=5)
    assert load_weights(model, tmp_path / "legacy.h5").transferred == 2
    np.testing.assert_array_equal(model.get_layer("stem").bias, np.arange(4))


def test_cli_build_prints_the_report(spec, source, tmp_path, capsys, keras):
    out = tmp_path / "m.keras"
    assert main(["build", str(spec), "--weights", str(source[0]), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"transferred 6 of 8 tensors from {source[0]}; not loaded: predictions/kernel (144x5 in the file, " \
           "144x10 here), predictions/bias (5 in the file, 10 here)" in printed
    np.testing.assert_array_equal(keras.saving.load_model(out).get_layer("stem").kernel,
                                  source[1].get_layer("stem").kernel)
    assert main(["build", str(spec), "--weights", str(source[0]), "--strict", "-o", str(tmp_path / "s.keras")]) == 2
    assert "error: strict: 2 tensor(s) of the model not loaded" in capsys.readouterr().err
    assert not (tmp_path / "s.keras").exists()


def test_cli_train_loads_a_fresh_run_and_records_the_report(spec, source, tmp_path, capsys, keras):
    run = tmp_path / "run"
    bad = tmp_path / "bad.keras"
    bad.write_text("nope")
    assert main(["train", str(spec), "--set", "input_shape=[8,8,1]", "--weights", str(bad), "-o", str(run),
                 "--verbose", "0"]) == 2
    assert "bad.keras: error: not a Keras model or weights file" in capsys.readouterr().err
    assert not (run / "run.json").exists()
    assert main(["train", str(spec), "--set", "input_shape=[8,8,1]", "--weights", str(source[0]), "--adapt-input",
                 "-o", str(run), "--verbose", "0"]) == 0
    assert "weights: transferred 6 of 8 tensors" in capsys.readouterr().out
    weights = json.loads((run / "run.json").read_text())["weights"]
    assert weights["transferred"] == 6 and weights["total"] == 8 and len(weights["adapted"]) == 1
    assert [m["name"] for m in weights["not_loaded"]] == ["predictions/kernel", "predictions/bias"]
    assert main(["train", str(spec), "--set", "input_shape=[8,8,1]", "--set", "train.epochs=2", "--weights",
                 str(source[0]), "--adapt-input", "-o", str(run), "--verbose", "0"]) == 0
    assert "not loaded: resuming, the checkpoint's weights win" in capsys.readouterr().out
    assert json.loads((run / "run.json").read_text())["weights"] == weights


def test_the_spec_init_key_loads_weights_confined_like_includes(spec, source, tmp_path, capsys, keras):
    path, trained = source
    spec.write_text(SMALL + f"init: {{weights: {path.name}, adapt_input: true}}\n")  # relative to the spec's folder
    model = archspec.build(spec, classes=5)  # the facade applies init:
    for a, b in zip(_values(model), _values(trained)):
        np.testing.assert_array_equal(a, b)
    assert main(["build", str(spec), "--set", "classes=5", "-o", str(tmp_path / "m.keras")]) == 0
    assert capsys.readouterr().out.startswith(f"transferred 8 of 8 tensors from {path}")
    assert main(["train", str(spec), "--set", "input_shape=[8,8,1]", "-o", str(tmp_path / "run"),
                 "--verbose", "0"]) == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    # 10 classes and 1 channel here, 5 and 3 in the file: all but the head, the stem adapted
    assert info["weights"]["transferred"] == 6 and len(info["weights"]["adapted"]) == 1
    # checked like includes: a file outside the spec's folder (and the zoo) is refused, located
    outside = tmp_path.parent / f"{tmp_path.name}_outside.keras"
    outside.write_bytes(path.read_bytes())
    spec.write_text(SMALL + f"init: {{weights: {outside}}}\n")
    with pytest.raises(archspec.SpecError, match=r"`init.weights` names a file outside the allowed folders"):
        archspec.load(spec)
    for bad, message in (("init: {weights: missing.keras}", "file not found"),
                         ("init: {weights: five.keras, adapt: true}", r"unknown init field `adapt`"),
                         ("init: {weights: five.keras, strict: 1}", r"`init.strict` must be true or false")):
        spec.write_text(SMALL + bad + "\n")
        with pytest.raises(archspec.SpecError, match=message) as err:
            archspec.load(spec)
        assert err.value.loc.line == 10
    outside.unlink()


def test_the_spec_features_key_names_existing_layers(spec):
    spec.write_text(SMALL + "features: [stem_bn, stem]\n")
    assert archspec.load(spec).features == ["stem_bn", "stem"]
    spec.write_text(SMALL + "features: [stem_b]\n")
    with pytest.raises(archspec.SpecError, match=r"no layer `stem_b` for `features`") as err:
        archspec.load(spec)
    assert "did you mean `stem_bn`" in err.value.hint


def test_evaluate_takes_weights(spec, source, tmp_path, capsys, keras):
    path, _ = source
    out = tmp_path / "run"
    assert main(["train", str(spec), "--set", "input_shape=[8,8,1]", "-o", str(out), "--verbose", "0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--weights", str(path), "--adapt-input"]) == 0
    assert "weights: transferred 6 of 8 tensors" in capsys.readouterr().out
