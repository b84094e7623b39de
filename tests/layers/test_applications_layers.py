"""archspec's copies of the layers keras.applications keeps to itself (CustomScaleLayer,
LayerScale, StochasticDepth): the same computation and weights as Keras' own classes, the
analyzer's rules agree with them, drop path trains as Keras' does, and models reload."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras.src.applications import convnext as keras_convnext  # noqa: E402
from keras.src.applications import inception_resnet_v2 as keras_irv2  # noqa: E402

import archspec  # noqa: E402
from archspec.errors import SpecError  # noqa: E402
from archspec.layers import CustomScaleLayer, LayerScale, StochasticDepth  # noqa: E402
from archspec.ops import get_op  # noqa: E402
from archspec.ops.base import ShapeError  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3, 5, 6)).astype("float32")
R = RNG.normal(size=(4, 3, 5, 6)).astype("float32")


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("ours, theirs, args, inputs", [
    (CustomScaleLayer, keras_irv2.CustomScaleLayer, {"scale": 0.17}, [X, R]),
    (LayerScale, keras_convnext.LayerScale, {"init_values": 0.5, "projection_dim": 6}, X),
    (StochasticDepth, keras_convnext.StochasticDepth, {"drop_path_rate": 0.3}, X),
])
def test_layer_equals_keras_applications_and_its_rule(ours, theirs, args, inputs):
    mine, ref = ours(**args), theirs(**args)
    y, y_ref = mine(inputs), ref(inputs)
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in ref.weights]
    if ref.weights:  # LayerScale: a trained gamma, copied over
        ref.set_weights([RNG.normal(size=w.shape) for w in ref.weights])
        mine.set_weights(ref.get_weights())
        y, y_ref = mine(inputs), ref(inputs)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))
    assert mine.get_config() | {"name": ""} == ref.get_config() | {"name": ""}
    shapes = [x.shape[1:] for x in inputs] if isinstance(inputs, list) else [inputs.shape[1:]]
    result = get_op(ours.__name__).rule(dict(args), shapes)
    assert result.shape == tuple(y.shape[1:])
    assert (result.params, result.non_trainable) == (_count(mine.trainable_weights),
                                                     _count(mine.non_trainable_weights))
    assert result.params == {"LayerScale": 6}.get(ours.__name__, 0)


def test_custom_scale_layer_is_shortcut_plus_scaled_residual():
    y = CustomScaleLayer(0.1)([np.ones((1, 2), "float32"), np.full((1, 2), 3.0, "float32")])
    np.testing.assert_allclose(np.asarray(y), [[1.3, 1.3]], rtol=1e-6)
    assert get_op("custom_scale_layer").multi_input


def test_stochastic_depth_is_the_identity_at_inference_and_drops_samples_in_training():
    layer = StochasticDepth(0.25)
    x = np.ones((4000, 2, 3), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    keras.utils.set_random_seed(1)
    y = np.asarray(layer(x, training=True))
    # each sample is dropped whole (0) or kept and scaled by 1 / (1 - 0.25)
    per_sample = y.reshape(len(y), -1)
    assert set(np.unique(per_sample)) == {0.0, np.float32(1 / 0.75)}
    assert (per_sample.min(axis=1) == per_sample.max(axis=1)).all()
    kept = (per_sample[:, 0] > 0).mean()
    assert 0.72 < kept < 0.78  # 3000 of 4000 expected; sd 0.007
    np.testing.assert_array_equal(np.asarray(StochasticDepth(0.0)(x, training=True)), x)


def test_saved_model_reloads_with_the_same_outputs(tmp_path):
    inp = keras.Input((4, 4, 8))
    x = keras.layers.Conv2D(8, 1, name="conv")(inp)
    x = LayerScale(1e-2, 8, name="scale")(x)
    x = StochasticDepth(0.2, name="drop")(x)
    out = CustomScaleLayer(0.3, name="sum")([inp, x])
    model = keras.Model(inp, out)
    x = RNG.normal(size=(2, 4, 4, 8)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert [type(l).__name__ for l in loaded.layers[2:]] == ["LayerScale", "StochasticDepth", "CustomScaleLayer"]
    assert loaded.get_layer("drop").drop_path_rate == 0.2
    assert loaded.get_layer("sum").scale == 0.3


@pytest.mark.parametrize("name, args, shapes, match", [
    ("custom_scale_layer", {"scale": 0.1}, [(3, 3, 8), (3, 3, 4)], "must have the same shape"),
    ("custom_scale_layer", {"scale": "big"}, [(3, 3, 8), (3, 3, 8)], "`scale` must be a number"),
    ("layer_scale", {"init_values": 1e-6, "projection_dim": 4}, [(3, 3, 8)],
     r"`projection_dim` \(4\) must be the input's last dimension"),
    ("layer_scale", {"init_values": 1e-6, "projection_dim": 0}, [(3, 8)], "positive integer"),
    ("stochastic_depth", {"drop_path_rate": 1.0}, [(3, 8)], r"must be in \[0, 1\)"),
])
def test_rules_refuse(name, args, shapes, match):
    with pytest.raises(ShapeError, match=match):
        get_op(name).rule(args, shapes)


def test_a_spec_mistake_is_located():
    text = """
name: bad
input: {shape: [8, 8, 16]}
body:
  - conv2d: {filters: 16, kernel_size: 1}
  - layer_scale: {init_values: 1.0e-6, projection_dim: 32}
"""
    with pytest.raises(SpecError, match=r"bad.yaml:6:\d+: .*projection_dim.*\(32\) must be the input's last"):
        archspec.loads(text, file="bad.yaml")


@pytest.mark.parametrize("cls, args, match", [
    (StochasticDepth, {"drop_path_rate": 1.0}, r"must be in \[0, 1\)"),
    (LayerScale, {"init_values": 1.0, "projection_dim": -1}, "positive integer"),
    (CustomScaleLayer, {"scale": "x"}, "must be a number"),
])
def test_layers_refuse_bad_arguments(cls, args, match):
    with pytest.raises(ValueError, match=match):
        cls(**args)
