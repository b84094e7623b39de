"""The zoo's DenseNet, ResNetV2, Xception and InceptionV3 specs equal keras.applications.

One spec per family, the size by a parameter (`depth`). The smallest variant is built at the
smallest input keras.applications accepts and compared with it layer by layer (names, classes,
shapes, parameters, identical outputs after copying the weights); every variant's full-size
parameter and layer counts are the analyzer's, checked against keras.applications' own
counts without building the big models.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import SpecError
from tests.conftest import ZOO
from tests.kerascheck import assert_analyzer_equals_keras
from tests.zoo.test_keras_apps import _transfer_and_compare


@pytest.mark.parametrize("stem, overrides, factory, size", [
    ("densenet", {"depth": 121}, "DenseNet121", 32),
    ("resnet_v2", {"depth": 50}, "ResNet50V2", 32),
    ("xception", {}, "Xception", 71),
    ("inception_v3", {}, "InceptionV3", 75),
])
def test_smallest_variant_equals_keras_applications(keras, stem, overrides, factory, size):
    # Both models start from a fresh Keras state: keras.applications' unnamed layers (paddings,
    # shortcut poolings, Xception's projections, InceptionV3's conv/bn/relu units) take their
    # names from Keras' global counters, archspec's from its own deterministic ones.
    keras.backend.clear_session()
    try:
        spec = archspec.load(ZOO / f"{stem}.yaml", input_shape=[size, size, 3], **overrides)
        model = archspec.build(spec)
        assert_analyzer_equals_keras(spec, model)
        reference = getattr(keras.applications, factory)(weights=None, input_shape=(size, size, 3))
        assert model.count_params() == reference.count_params() == spec.analyze().total_params
        _transfer_and_compare(model, reference)
    finally:
        keras.backend.clear_session()


# Full-size parameter and layer counts (the input layer included), from keras.applications
# itself: DenseNet121(weights=None).count_params(), len(....layers) and so on, at the default
# 224 px (299 px for Xception and InceptionV3).
@pytest.mark.parametrize("stem, overrides, params, layers", [
    ("densenet", {"depth": 121}, 8_062_504, 429),
    ("densenet", {"depth": 169}, 14_307_880, 597),
    ("densenet", {"depth": 201}, 20_242_984, 709),
    ("resnet_v2", {"depth": 50}, 25_613_800, 192),
    ("resnet_v2", {"depth": 101}, 44_675_560, 379),
    ("resnet_v2", {"depth": 152}, 60_380_648, 566),
    ("xception", {}, 22_910_480, 134),
    ("inception_v3", {}, 23_851_784, 313),
])
def test_every_variant_has_keras_applications_counts(stem, overrides, params, layers):
    summary = archspec.summary(ZOO / f"{stem}.yaml", **overrides)
    assert summary.total_params == params
    assert len(summary.layers) == layers
    assert summary.fallback_layers == []


@pytest.mark.parametrize("stem, depth", [("densenet", 150), ("resnet_v2", 34)])
def test_unknown_depth_is_a_located_error(stem, depth):
    with pytest.raises(SpecError, match=rf"{stem}\.yaml:\d+:\d+: .*cannot index: {depth}"):
        archspec.summary(ZOO / f"{stem}.yaml", depth=depth)
