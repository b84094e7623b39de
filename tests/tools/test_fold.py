"""Batch-norm folding (archspec/tools/fold.py): same outputs in inference, fewer layers' work."""

from __future__ import annotations

import numpy as np
import pytest

from archspec.tools.fold import ATOL, fold_batchnorm


def _randomize_bn(model, seed=0):
    """Moving statistics, gamma and beta far from their initial values (else folding is trivial)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype("float32"))
        elif "moving_mean" in w.path or "beta" in w.path:
            w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))


@pytest.fixture
def fresh(keras):
    keras.backend.clear_session()
    yield keras
    keras.backend.clear_session()


def test_conv_dense_depthwise_fold_with_equal_outputs(fresh):
    keras = fresh
    L = keras.layers
    x = inputs = keras.Input((8, 8, 3))
    x = L.BatchNormalization(name="bn1")(L.Conv2D(4, 3, use_bias=False, name="conv")(x))
    x = L.ReLU()(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, name="dw")(x)
    x = L.BatchNormalization(name="bn2", center=False)(x)
    x = L.Flatten()(x)
    x = L.BatchNormalization(name="bn3", scale=False, epsilon=1e-3)(L.Dense(5, name="fc")(x))
    model = keras.Model(inputs, x)
    _randomize_bn(model)
    for name in ("dw", "fc"):
        bias = model.get_layer(name).bias
        bias.assign(np.random.default_rng(4).normal(size=bias.shape).astype("float32"))
    folded, report = fold_batchnorm(model)
    assert sorted(report.folded) == [("conv", "bn1"), ("dw", "bn2"), ("fc", "bn3")]
    assert report.kept == []
    assert [type(l).__name__ for l in folded.layers if l.name.startswith("bn")] == ["Identity"] * 3
    # the batch norms' weights go (4 per channel, 3 without beta or gamma); conv gains a bias,
    # dw and fc keep theirs (with their randomized biases folded in)
    assert folded.count_params() == model.count_params() - (4 * 4 + 3 * 8 + 3 * 5) + 4 == 837
    assert folded.get_layer("conv").use_bias
    x = np.random.default_rng(1).random((3, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(folded(x, training=False)), np.asarray(model(x, training=False)),
                               atol=ATOL)


def test_unfoldable_batch_norms_are_kept_with_the_reason(fresh):
    keras = fresh
    L = keras.layers
    inputs = keras.Input((6, 6, 2))
    a = L.Conv2D(2, 1, activation="relu", name="conv_relu")(inputs)
    a = L.BatchNormalization(name="after_activation")(a)
    b = L.Conv2D(2, 1, name="shared_out")(inputs)
    c = L.BatchNormalization(name="after_shared")(b)
    d = L.BatchNormalization(name="after_add")(L.Add()([a, c, b]))
    e = L.BatchNormalization(axis=1, name="axis1")(L.Conv2D(2, 1, name="conv_axis1")(d))
    model = keras.Model(inputs, e)
    _randomize_bn(model)
    folded, report = fold_batchnorm(model)
    assert report.folded == []
    assert dict(report.kept) == {
        "after_activation": "conv_relu has an activation",
        "after_shared": "shared_out is shared or feeds other layers",
        "after_add": "after Add",
        "axis1": "normalizes axis 1, not the channels-last axis",
    }
    x = np.random.default_rng(2).random((2, 6, 6, 2), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(folded(x, training=False)), np.asarray(model(x, training=False)))


def test_zoo_resnet20_folds_every_batch_norm(fresh):
    import archspec

    model = archspec.build("resnet20")
    _randomize_bn(model)
    folded, report = fold_batchnorm(model)
    bns = [l.name for l in model.layers if type(l).__name__ == "BatchNormalization"]
    assert len(report.folded) == len(bns) == 19 and report.kept == []
    assert not any(type(l).__name__ == "BatchNormalization" for l in folded.layers)
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(folded(x, training=False)), np.asarray(model(x, training=False)),
                               atol=ATOL)
