"""Backbones (issue #16, point 4): ``archspec.build(spec, features=[...])``, the spec's
``features:``, ``Spec.feature_info`` (channels and reduction, like timm's ``feature_info``), and
``--features`` on ``archspec build`` and ``archspec summary``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import archspec
from archspec.analyze import feature_info
from archspec.cli import main
from archspec.spec.document import ZOO

STAGES = ["conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]
SHAPES = [(None, 16, 16, 256), (None, 8, 8, 512), (None, 4, 4, 1024), (None, 2, 2, 2048)]
TYPO = """\
<command line>: at `--features`: error: no layer `conv5_block3_ot` for `features`
  Received: 'conv5_block3_ot'
  Hint: did you mean `conv5_block3_out`?"""


@pytest.fixture(scope="module")
def backbone(keras):
    return archspec.build("resnet50", input_shape=[64, 64, 3], features=STAGES)


@pytest.fixture(scope="module")
def twin(keras):
    """keras.applications' ResNet50 without its top, its variables randomized (BatchNorm
    statistics positive), so that a copy by name is told from a fresh initialization."""
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    for v in model.weights:
        if len(v.shape) == 1:
            v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype(v.dtype))
    return model


def test_resnet50_backbone_has_the_stages_of_keras_applications(backbone, twin):
    assert backbone.name == "resnet50_features"
    assert [tuple(t.shape) for t in backbone.outputs] == SHAPES
    assert [tuple(twin.get_layer(n).output.shape) for n in STAGES] == SHAPES
    assert "predictions" not in {layer.name for layer in backbone.layers}  # the head is not built
    assert {layer.name for layer in backbone.layers} <= {layer.name for layer in twin.layers}


def test_backbone_loads_the_twins_weights_by_name_and_computes_the_same(backbone, twin, keras, tmp_path):
    path = tmp_path / "twin.weights.h5"
    twin.save_weights(path)
    report = archspec.load_weights(backbone, path, strict=True)
    assert report.transferred == report.total and not report.missed and not report.unused
    x = np.random.default_rng(1).uniform(0, 1, size=(2, 64, 64, 3)).astype("float32")
    ours = backbone(x, training=False)
    truncated = keras.Model(twin.input, [twin.get_layer(n).output for n in STAGES])
    theirs = truncated(x, training=False)
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))


def test_feature_info_channels_reduction_and_shape_without_tensorflow():
    spec = archspec.load("resnet50", input_shape=[64, 64, 3])
    infos = spec.feature_info(STAGES)
    assert [(f.name, f.channels, f.reduction, f.shape) for f in infos] == [
        (n, s[-1], r, s[1:]) for n, s, r in zip(STAGES, SHAPES, (4, 8, 16, 32))]
    assert infos == feature_info(spec, STAGES) == feature_info(spec.graph, STAGES)
    # 224 (the reductions of timm's resnet50), an odd size (from the strides), any size
    for size in (224, 225, None):
        spec = archspec.load("resnet50", input_shape=[size, size, 3])
        assert [f.reduction for f in spec.feature_info(STAGES)] == [4, 8, 16, 32]
    assert [f.reduction for f in spec.feature_info(["conv1_conv", "avg_pool"])] == [2, None]


def test_the_spec_key_builds_the_same(tmp_path, keras, backbone):
    path = tmp_path / "backbone.yaml"
    path.write_text(f"extends: {ZOO / 'resnet50.yaml'}\nfeatures: [" + ", ".join(STAGES) + "]\n")
    spec = archspec.load(path, input_shape=[64, 64, 3])
    assert spec.features == STAGES
    assert [f.channels for f in spec.analyze().features] == [256, 512, 1024, 2048]
    model = archspec.build(spec)
    assert model.name == "resnet50_features" and len(model.layers) == len(backbone.layers)
    assert [tuple(t.shape) for t in model.outputs] == SHAPES
    # the argument wins over the key, in its order
    two = archspec.build(spec, features=["conv3_block4_out", "conv2_block3_out"])
    assert [tuple(t.shape) for t in two.outputs] == [SHAPES[1], SHAPES[0]]


def test_an_unknown_name_says_did_you_mean():
    with pytest.raises(archspec.SpecError) as err:
        archspec.build("resnet50", features=["conv2_block3_out", "conv5_block3_ot"])
    assert str(err.value) == TYPO.replace("<command line>", "<arguments>").replace("--features", "features")
    with pytest.raises(archspec.SpecError, match="names a layer twice"):
        archspec.load("resnet50").feature_names(["conv1_conv", "conv1_conv"])


@pytest.mark.parametrize("command", [["summary", "resnet50"], ["build", "resnet50", "-o", "m.keras"]])
def test_an_unknown_name_on_the_command_line_exits_2(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--features", "conv2_block3_out,conv5_block3_ot"]) == 2
    assert TYPO in capsys.readouterr().err
    assert not (tmp_path / "m.keras").exists()


def test_summary_prints_the_feature_table_and_json(capsys):
    args = ["summary", "resnet50", "--set", "input_shape=[64,64,3]", "--features", ",".join(STAGES)]
    assert main(args) == 0
    table = capsys.readouterr().out.split("Features (4 outputs):\n")[1].splitlines()
    assert table[1].split() == ["Feature", "Channels", "Reduction", "Shape"]
    assert table[3].split() == ["conv2_block3_out", "256", "4", "(None,", "16,", "16,", "256)"]
    assert table[6].split()[:3] == ["conv5_block3_out", "2,048", "32"]
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["features"] == [
        {"name": n, "channels": s[-1], "reduction": r, "shape": list(s)}
        for n, s, r in zip(STAGES, SHAPES, (4, 8, 16, 32))]
    assert main(["summary", "resnet50", "--json"]) == 0
    assert "features" not in json.loads(capsys.readouterr().out)  # only when asked for


def test_build_features_writes_a_multi_output_model(tmp_path, capsys, keras):
    out = tmp_path / "backbone.keras"
    assert main(["build", "resnet50", "--set", "input_shape=[64,64,3]", "--features", ",".join(STAGES),
                 "-o", str(out)]) == 0
    assert "4 feature outputs" in capsys.readouterr().out
    model = keras.saving.load_model(out)
    assert model.name == "resnet50_features"
    assert [tuple(t.shape) for t in model.outputs] == SHAPES
