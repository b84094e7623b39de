"""archspec's zoo equals keras.applications: names, shapes, parameters and outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import archspec
from tests.conftest import ZOO


def _transfer_and_compare(model, reference, input_shape):
    assert sorted(l.name for l in model.layers) == sorted(l.name for l in reference.layers)
    for layer in reference.layers:
        ours = model.get_layer(layer.name)
        assert type(ours).__name__ == type(layer).__name__, layer.name
        assert tuple(ours.output.shape) == tuple(layer.output.shape), layer.name
        if layer.weights:
            ours.set_weights(layer.get_weights())
    x = np.random.default_rng(0).random((2, *input_shape), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reference.predict(x, verbose=0))


@pytest.mark.parametrize("spec, factory, params", [
    ("vgg16.yaml", "VGG16", 138_357_544),
    ("resnet50.yaml", "ResNet50", 25_636_712),
])
def test_zoo_equals_keras_applications(keras, spec, factory, params):
    # keras.applications names its input from Keras' global counter ("input_layer_983" after
    # other tests); archspec's names are deterministic. Start both from a fresh Keras state.
    keras.backend.clear_session()
    model = archspec.build(ZOO / spec)
    reference = getattr(keras.applications, factory)(weights=None)
    assert model.count_params() == reference.count_params() == params
    assert archspec.summary(ZOO / spec).total_params == params
    _transfer_and_compare(model, reference, (224, 224, 3))
    keras.backend.clear_session()


def test_vgg16_layer_names_follow_the_lecture_code(keras):
    spec = archspec.load(ZOO / "vgg16.yaml")
    expected = [f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for c in range(1, n + 1)]
    convs = [n.name for n in spec.graph.layers if n.op == "conv2d"]
    assert convs == expected
    assert [n.name for n in spec.graph.layers][-4:] == ["flatten", "fc1", "fc2", "predictions"]


def test_inception_3a_module_maps_28x28x192_to_28x28x256(keras):
    model = archspec.build(ZOO / "inception_3a.yaml")
    assert tuple(model.input.shape) == (None, 28, 28, 192)
    assert tuple(model.output.shape) == (None, 28, 28, 256)
    # hand count: 1x1 64; 1x1 96 -> 3x3 128; 1x1 16 -> 5x5 32; pool -> 1x1 32 (weights + biases)
    by_hand = (192 * 64 + 64) + (192 * 96 + 96) + (9 * 96 * 128 + 128) \
        + (192 * 16 + 16) + (25 * 16 * 32 + 32) + (192 * 32 + 32)
    assert model.count_params() == by_hand == 163_696
    naive = archspec.summary(ZOO / "inception_3a.yaml", naive=True)
    assert naive.total_params == (192 * 64 + 64) + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32)
    assert naive.layers[-1].output_shape == (28, 28, 64 + 128 + 32 + 192)
    keras.backend.clear_session()


def test_keras_file_reloads_with_plain_keras_without_archspec(keras, tmp_path):
    model = archspec.build(ZOO / "lenet5.yaml")
    path = tmp_path / "lenet5.keras"
    model.save(path)
    x = np.random.default_rng(1).random((3, 32, 32, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    script = textwrap.dedent(f"""
        import os, sys
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, keras
        m = keras.saving.load_model({str(path)!r})
        y = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
        np.testing.assert_allclose(y, np.load({str(tmp_path / 'y.npy')!r}), rtol=0, atol=0)
        assert "archspec" not in sys.modules, "archspec was imported"
        print("reloaded", m.count_params())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "reloaded 61706" in out.stdout
