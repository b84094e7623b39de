"""The zoo's MobileNet V1/V2/V3 and EfficientNet B0-B7 / V2 specs equal keras.applications.

One spec per family, the size by parameters (`alpha`, `model_type`, `minimalistic`,
`variant`). The smallest variant is built at the smallest input keras.applications accepts
(32 px) and compared with it layer by layer (names, classes, configurations, shapes,
parameters, identical outputs after copying the weights); every variant's full-size parameter
count, layer count and layer names are the analyzer's, checked against keras.applications' own
without building the big models.

MobileNetV3 has two layers per squeeze-and-excite block that keras.applications has not: Keras
writes the hard sigmoid as `ReLU(6.0)(x + 3.0) * (1.0 / 6.0)`, whose `+` and `*` are operations,
not layers; the spec writes them as `Rescaling(scale=1, offset=3)` (`*_squeeze_excite_hs_offset`)
and `Rescaling(1 / 6)` (`*_squeeze_excite_hs_scale`), the same float32 arithmetic.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

import archspec
from archspec.errors import SpecError
from tests.conftest import ZOO
from tests.kerascheck import assert_analyzer_equals_keras
from tests.zoo.test_keras_apps import _transfer_and_compare

HARD_SIGMOID = re.compile(r"_squeeze_excite_hs_(offset|scale)$")  # mobilenet_v3.yaml's extra layers


def _same_configs(model, reference):
    """Every layer of `reference` has its twin in `model` with the same configuration (name
    aside): initializers, momenta, epsilons, dropout rates and noise shapes, paddings."""
    for layer in reference.layers:
        ours = model.get_layer(layer.name).get_config()
        theirs = layer.get_config()
        ours.pop("name"), theirs.pop("name")
        assert ours == theirs, layer.name


def _transfer_and_compare_but_hard_sigmoid(model, reference):
    """`_transfer_and_compare` for MobileNetV3: the same, once the spec's hard-sigmoid
    Rescaling layers (two per squeeze-and-excite block, no weights) are set aside."""
    extra = [l for l in model.layers if HARD_SIGMOID.search(l.name)]
    gates = [l for l in reference.layers if l.name.endswith("_squeeze_excite_mul")]
    assert gates and len(extra) == 2 * len(gates)
    assert {type(l).__name__ for l in extra} == {"Rescaling"} and not any(l.weights for l in extra)
    extra_names = {l.name for l in extra}
    assert sorted(l.name for l in model.layers if l.name not in extra_names) \
        == sorted(l.name for l in reference.layers)
    for layer in reference.layers:
        ours = model.get_layer(layer.name)
        assert type(ours).__name__ == type(layer).__name__, layer.name
        assert tuple(ours.output.shape) == tuple(layer.output.shape), layer.name
        if layer.weights:
            ours.set_weights(layer.get_weights())
    x = np.random.default_rng(0).random((2, *reference.input.shape[1:]), dtype=np.float32) * 255
    # exactly equal: x * 1 + 3 is x + 3, and x * (1/6) + 0 is x * (1/6), in float32
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  np.asarray(reference(x, training=False)))


@pytest.mark.parametrize("stem, overrides, factory, kwargs", [
    ("mobilenet", {"alpha": 0.25}, "MobileNet", {"alpha": 0.25}),
    ("mobilenet_v2", {"alpha": 0.35}, "MobileNetV2", {"alpha": 0.35}),
    ("mobilenet_v3", {"model_type": "small", "alpha": 0.75}, "MobileNetV3Small", {"alpha": 0.75}),
    ("efficientnet", {"variant": "b0"}, "EfficientNetB0", {}),
    ("efficientnet_v2", {"variant": "b0"}, "EfficientNetV2B0", {}),
])
def test_smallest_variant_equals_keras_applications(keras, stem, overrides, factory, kwargs):
    # Both models start from a fresh Keras state: keras.applications' unnamed layers (the
    # stems' Rescaling and Normalization, MobileNetV3's ReLUs and hard-swish Activations) take
    # their names from Keras' global counters, archspec's from its own deterministic ones.
    size = 32
    keras.backend.clear_session()
    try:
        spec = archspec.load(ZOO / f"{stem}.yaml", input_shape=[size, size, 3], **overrides)
        model = archspec.build(spec)
        assert_analyzer_equals_keras(spec, model)
        reference = getattr(keras.applications, factory)(weights=None, input_shape=(size, size, 3),
                                                         **kwargs)
        assert model.count_params() == reference.count_params() == spec.analyze().total_params
        _same_configs(model, reference)
        if stem == "mobilenet_v3":
            _transfer_and_compare_but_hard_sigmoid(model, reference)
        else:
            _transfer_and_compare(model, reference)
        assert archspec.summary(spec).fallback_layers == []
    finally:
        keras.backend.clear_session()


def _digest(names) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


# Full-size counts from keras.applications itself, e.g. EfficientNetB7(weights=None): its
# count_params(), len(.layers) (the input layer included) and the first 16 hex digits of the
# SHA-256 of its sorted layer names (the input layer excluded, "\n"-joined), at each model's
# default resolution (224 px; EfficientNet B1-B7 and V2 B1-L their own, 240 ... 600 px).
# MobileNetV3's layer counts and names are keras.applications' plus the spec's hard-sigmoid
# Rescaling layers (set aside here).
@pytest.mark.parametrize("stem, overrides, params, layers, names", [
    ("mobilenet", {"alpha": 0.25}, 475_544, 91, "a4a252a903278332"),
    ("mobilenet", {"alpha": 0.5}, 1_342_536, 91, "a4a252a903278332"),
    ("mobilenet", {"alpha": 0.75}, 2_601_976, 91, "a4a252a903278332"),
    ("mobilenet", {"alpha": 1.0}, 4_253_864, 91, "a4a252a903278332"),
    ("mobilenet", {"depth_multiplier": 2}, 7_457_928, 91, "a4a252a903278332"),
    ("mobilenet_v2", {"alpha": 0.35}, 1_691_208, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v2", {"alpha": 0.5}, 1_987_224, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v2", {"alpha": 0.75}, 2_663_064, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v2", {"alpha": 1.0}, 3_538_984, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v2", {"alpha": 1.3}, 5_431_048, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v2", {"alpha": 1.4}, 6_156_712, 156, "b9e67c8ef99f0b6f"),
    ("mobilenet_v3", {"model_type": "large", "alpha": 0.75}, 4_012_616, 194, "840d8ca1ad30edc1"),
    ("mobilenet_v3", {"model_type": "large", "alpha": 1.0}, 5_507_432, 194, "840d8ca1ad30edc1"),
    ("mobilenet_v3", {"model_type": "large", "alpha": 0.75, "minimalistic": True}, 3_069_400, 146,
     "7511df74e70dc48e"),
    ("mobilenet_v3", {"model_type": "large", "alpha": 1.0, "minimalistic": True}, 3_948_688, 146,
     "7511df74e70dc48e"),
    ("mobilenet_v3", {"model_type": "small", "alpha": 0.75}, 2_051_552, 164, "84d9c30361ffbccc"),
    ("mobilenet_v3", {"model_type": "small", "alpha": 1.0}, 2_554_968, 164, "84d9c30361ffbccc"),
    ("mobilenet_v3", {"model_type": "small", "alpha": 0.75, "minimalistic": True}, 1_742_192, 110,
     "3d952d9ae780969f"),
    ("mobilenet_v3", {"model_type": "small", "alpha": 1.0, "minimalistic": True}, 2_056_848, 110,
     "3d952d9ae780969f"),
    ("efficientnet", {"variant": "b0"}, 5_330_571, 240, "e183f31bb52a35bd"),
    ("efficientnet", {"variant": "b1"}, 7_856_239, 342, "3c6dcb1d29bde04e"),
    ("efficientnet", {"variant": "b2"}, 9_177_569, 342, "3c6dcb1d29bde04e"),
    ("efficientnet", {"variant": "b3"}, 12_320_535, 387, "934e1aaa59a1b40e"),
    ("efficientnet", {"variant": "b4"}, 19_466_823, 477, "18442e9aa6334411"),
    ("efficientnet", {"variant": "b5"}, 30_562_527, 579, "6cca725c31c82d0f"),
    ("efficientnet", {"variant": "b6"}, 43_265_143, 669, "f9227f9e32ccbb4e"),
    ("efficientnet", {"variant": "b7"}, 66_658_687, 816, "1e69aa839e0fcb8c"),
    ("efficientnet_v2", {"variant": "b0"}, 7_200_312, 273, "2688e7839d0d2a6c"),
    ("efficientnet_v2", {"variant": "b1"}, 8_212_124, 337, "86ecb7f57a5fe2bd"),
    ("efficientnet_v2", {"variant": "b2"}, 10_178_374, 352, "2f385c846dd90c3c"),
    ("efficientnet_v2", {"variant": "b3"}, 14_467_622, 412, "4b79db4af5315fa5"),
    ("efficientnet_v2", {"variant": "s"}, 21_612_360, 516, "38464a77a20d238a"),
    ("efficientnet_v2", {"variant": "m"}, 54_431_388, 743, "9522cd46e30f7e16"),
    ("efficientnet_v2", {"variant": "l"}, 119_027_848, 1031, "250ffb1da61655d9"),
])
def test_every_variant_has_keras_applications_counts(stem, overrides, params, layers, names):
    spec = archspec.load(ZOO / f"{stem}.yaml", **overrides)
    summary = archspec.summary(spec)
    assert summary.total_params == params
    ours = [n.name for n in spec.graph.nodes if n.op != "input" and not HARD_SIGMOID.search(n.name)]
    assert len(ours) + 1 == layers
    assert _digest(ours) == names
    assert summary.fallback_layers == []


class _Shape:
    """What imagenet_utils.correct_pad reads of a tensor: its shape."""

    def __init__(self, shape):
        self.shape = shape


# The strided depthwise convolutions' zero-paddings depend on the parity of the feature map's
# size (keras.applications.imagenet_utils.correct_pad); the specs compute the sizes from
# `input_shape`. Every padding equals correct_pad of its input's (analyzed) shape, at odd and
# mixed sizes and at Keras' unknown size (None, None).
@pytest.mark.parametrize("stem, overrides", [
    ("mobilenet_v2", {}),
    ("mobilenet_v3", {"model_type": "large"}),
    ("mobilenet_v3", {"model_type": "small"}),
    ("efficientnet", {"variant": "b1"}),
])
@pytest.mark.parametrize("size", [[33, 33, 3], [32, 35, 3], [None, None, 3]])
def test_paddings_are_keras_correct_pad_at_any_size(keras, stem, overrides, size):
    from keras.src.applications.imagenet_utils import correct_pad

    graph = archspec.load(ZOO / f"{stem}.yaml", input_shape=size, **overrides).graph
    pads = [node for node in graph.nodes if node.op == "zero_padding2d"]
    assert len(pads) == (5 if stem == "efficientnet" else 4)  # the stem's and the strided blocks'
    for pad in pads:
        conv = next(node for node in graph.nodes if pad.name in node.inputs)
        expected = correct_pad(_Shape((None, *graph[pad.inputs[0]].shape)), conv.args["kernel_size"])
        assert tuple(tuple(p) for p in pad.args["padding"]) == expected, pad.name


@pytest.mark.parametrize("stem, param, value", [
    ("efficientnet", "variant", "b8"),
    ("efficientnet_v2", "variant", "xl"),
    ("mobilenet_v3", "model_type", "medium"),
])
def test_unknown_variant_is_a_located_error(stem, param, value):
    with pytest.raises(SpecError, match=rf"{stem}\.yaml:\d+:\d+: .*cannot index: '{value}'"):
        archspec.summary(ZOO / f"{stem}.yaml", **{param: value})
