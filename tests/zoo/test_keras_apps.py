"""archspec's zoo equals keras.applications: names, shapes, parameters and outputs."""

from __future__ import annotations


import numpy as np
import pytest

import archspec
from tests.kerascheck import assert_analyzer_equals_keras
from tests.conftest import ZOO


def _transfer_and_compare(model, reference):
    assert sorted(l.name for l in model.layers) == sorted(l.name for l in reference.layers)
    for layer in reference.layers:
        ours = model.get_layer(layer.name)
        assert type(ours).__name__ == type(layer).__name__, layer.name
        assert tuple(ours.output.shape) == tuple(layer.output.shape), layer.name
        if type(layer).__module__.startswith("keras.src.layers"):
            # Keras' own class, as in keras.applications' model: the saved file reloads as theirs
            # does, with plain Keras (tests/test_reload.py need not rebuild these big nets)
            assert type(ours) is type(layer), layer.name
        if layer.weights:
            ours.set_weights(layer.get_weights())
    x = np.random.default_rng(0).random((2, *reference.input.shape[1:]), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  np.asarray(reference(x, training=False)))


# Same layers, names, shapes and outputs as keras.applications, at a small input (the smallest
# these nets take, 32 px for VGG, 64 for the ResNets, keeps the suite fast; the layers are those
# of 224 px, only VGG's fc1 is smaller). The full-size parameter counts (VGG16 138,357,544 ...)
# are the analyzer's, checked against the papers in test_zoo.py.
@pytest.mark.parametrize("stem, factory, size, full_params", [
    ("vgg16", "VGG16", 32, 138_357_544),
    ("vgg19", "VGG19", 32, 143_667_240),
    ("resnet50", "ResNet50", 64, 25_636_712),
    ("resnet101", "ResNet101", 64, 44_707_176),
    ("resnet152", "ResNet152", 64, 60_419_944),
])
def test_zoo_equals_keras_applications(keras, stem, factory, size, full_params):
    # keras.applications names its input from Keras' global counter ("input_layer_983" after
    # other tests); archspec's names are deterministic. Start both from a fresh Keras state.
    keras.backend.clear_session()
    try:
        spec = archspec.load(ZOO / f"{stem}.yaml", input_shape=[size, size, 3])
        model = archspec.build(spec)
        assert_analyzer_equals_keras(spec, model)
        reference = getattr(keras.applications, factory)(weights=None, input_shape=(size, size, 3))
        assert model.count_params() == reference.count_params() == spec.analyze().total_params
        _transfer_and_compare(model, reference)
        assert archspec.summary(ZOO / f"{stem}.yaml").total_params == full_params
    finally:
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
