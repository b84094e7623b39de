"""The zoo's Inception-ResNet-v2, NASNet and ConvNeXt equal keras.applications: names, shapes,
parameters and outputs.

Each family's smallest variant is built at the smallest input keras.applications accepts (75 px
for InceptionResNetV2, 32 px for NASNetMobile and ConvNeXtTiny) and compared with Keras' own
model layer by layer, with weights copied by name; every size variant's parameter count at its
default resolution is the analyzer's (nothing big is built). keras.applications has no RegNet
in Keras 3 (tf.keras 2.x had one), so the zoo has none to compare.
"""

from __future__ import annotations

import numpy as np
import pytest

import archspec
from tests.conftest import ZOO
from tests.kerascheck import assert_analyzer_equals_keras
from tests.zoo.test_keras_apps import _transfer_and_compare


def _build_both(keras, stem, factory, size, **params):
    spec = archspec.load(ZOO / f"{stem}.yaml", input_shape=[size, size, 3], **params)
    model = archspec.build(spec)
    assert_analyzer_equals_keras(spec, model)
    reference = getattr(keras.applications, factory)(weights=None, input_shape=(size, size, 3))
    assert model.count_params() == reference.count_params() == spec.analyze().total_params
    return model, reference


# the two biggest graphs of the suite (782 and 771 layers, each built twice): 20-45 s each on 2 cores
@pytest.mark.slow
@pytest.mark.parametrize("stem, factory, size", [
    ("inception_resnet_v2", "InceptionResNetV2", 75),
    ("nasnet", "NASNetMobile", 32),
])
def test_zoo_equals_keras_applications(keras, stem, factory, size):
    # fresh Keras state: most of these layers have Keras' automatic names (conv2d_41 ...)
    keras.backend.clear_session()
    try:
        model, reference = _build_both(keras, stem, factory, size)
        _transfer_and_compare(model, reference)
    finally:
        keras.backend.clear_session()


def _flat(layers):
    """Keras' layers with the nested Sequentials (ConvNeXt's stem and downsampling blocks)
    replaced by their own layers."""
    out = []
    for layer in layers:
        out += _flat(layer.layers) if hasattr(layer, "layers") else [layer]
    return out


def test_convnext_equals_keras_applications(keras):
    keras.backend.clear_session()
    try:
        model, reference = _build_both(keras, "convnext", "ConvNeXtTiny", 32)
        ours = {layer.name: layer for layer in model.layers}
        theirs = _flat(reference.layers)
        # the two differences of form (convnext.yaml's header): Keras' nested Sequentials are
        # flat here, and its `inputs + x` (an op, not a layer) is an Add layer without weights
        assert {"convnext_tiny_stem", "convnext_tiny_downsampling_block_0"} <= {l.name for l in reference.layers}
        extra = sorted(set(ours) - {l.name for l in theirs})
        blocks = [f"convnext_tiny_stage_{s}_block_{j}" for s, n in enumerate((3, 3, 9, 3)) for j in range(n)]
        assert extra == sorted(f"{b}_add" for b in blocks)
        assert all(type(ours[n]).__name__ == "Add" and not ours[n].weights for n in extra)
        for layer in theirs:
            mine = ours[layer.name]
            assert type(mine).__name__ == type(layer).__name__, layer.name
            assert tuple(mine.output.shape) == tuple(layer.output.shape), layer.name
            assert [w.shape for w in mine.weights] == [w.shape for w in layer.weights], layer.name
            if layer.weights:
                mine.set_weights(layer.get_weights())
        x = 255 * np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
        np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                      np.asarray(reference(x, training=False)))
    finally:
        keras.backend.clear_session()


# keras.applications' own counts (count_params() of each factory with weights=None; they do not
# depend on the input size: every head pools globally), measured with Keras 3.15 and written
# here so that the test builds none of the big models.
@pytest.mark.parametrize("stem, params, total", [
    ("inception_resnet_v2", {}, 55_873_736),           # InceptionResNetV2, 299 px
    ("nasnet", {"variant": "mobile"}, 5_326_716),       # NASNetMobile, 224 px
    ("nasnet", {"variant": "large"}, 88_949_818),       # NASNetLarge, 331 px
    ("convnext", {"variant": "tiny"}, 28_589_128),      # ConvNeXtTiny, 224 px
    ("convnext", {"variant": "small"}, 50_223_688),     # ConvNeXtSmall
    ("convnext", {"variant": "base"}, 88_591_464),      # ConvNeXtBase
    ("convnext", {"variant": "large"}, 197_767_336),    # ConvNeXtLarge
    ("convnext", {"variant": "xlarge"}, 350_196_968),   # ConvNeXtXLarge
])
def test_every_variant_has_keras_applications_parameter_count(stem, params, total):
    summary = archspec.summary(ZOO / f"{stem}.yaml", **params)
    assert summary.total_params == total
    assert summary.fallback_layers == []


def test_nasnet_large_layout_at_its_default_size():
    spec = archspec.load(ZOO / "nasnet.yaml", variant="large")
    shapes = {n.name: tuple(n.shape) for n in spec.graph.nodes}
    # 331 -> 165 (stem) -> 83 -> 42 (stem cells) -> 21 -> 11 (reductions); 4032 channels last
    assert shapes["stem_bn1"] == (165, 165, 96)
    assert shapes["reduction_concat_stem_2"] == (42, 42, 336)
    assert shapes["normal_concat_5"] == (42, 42, 1008)
    assert shapes["reduction_concat_reduce_12"] == (11, 11, 2688)
    assert shapes["normal_concat_18"] == (11, 11, 4032)
    assert spec.graph.nodes[-1].shape == (1000,)


def test_convnext_drop_path_rates_rise_linearly_as_in_keras():
    # keras.applications.convnext.ConvNeXt: np.linspace(0, drop_path_rate, sum(depths)) per
    # block; a block whose rate is 0 gets Keras' linear Activation NAME_identity instead
    spec = archspec.load(ZOO / "convnext.yaml", drop_path_rate=0.1)
    nodes = spec.graph.nodes
    rates = [n.args["drop_path_rate"] for n in nodes if n.op == "stochastic_depth"]
    assert rates == [float(r) for r in np.linspace(0.0, 0.1, 18)][1:]
    assert [n.name for n in nodes if n.name.endswith("_identity")] == ["convnext_tiny_stage_0_block_0_identity"]
    assert spec.analyze().total_params == 28_589_128
    default = archspec.load(ZOO / "convnext.yaml")
    assert not [n for n in default.graph.nodes if n.op == "stochastic_depth"]
