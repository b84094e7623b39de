"""Training batch norms with TensorFlow's fused kernel (archspec/train/execution.py): Keras'
numbers, a plain Keras model when saved, and only where the kernel applies."""

from __future__ import annotations

import numpy as np
import pytest

from archspec.train import execution


@pytest.fixture
def fresh(keras):
    keras.backend.clear_session()
    yield keras
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")


def _net(keras, **bn):
    L = keras.layers
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = L.BatchNormalization(momentum=0.8, name="bn", **bn)(L.Conv2D(4, 3, use_bias=False, name="conv")(inputs))
    x = L.BatchNormalization(center=False, scale=False, name="bn_plain")(L.ReLU()(x))
    x = L.BatchNormalization(name="bn_dense")(L.GlobalAveragePooling2D()(x))  # 2-D: not fusable
    return keras.Model(inputs, L.Dense(2, name="fc")(x))


def _step(keras, model, x):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_sum(y * y)
    return np.asarray(y), [np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)]


@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_fused_training_step_equals_keras(fresh, epsilon):
    keras = fresh
    plain, fused = _net(keras, epsilon=epsilon), _net(keras, epsilon=epsilon)
    assert execution.fuse_batch_norms(fused) == 2  # bn and bn_plain; bn_dense is 2-D
    assert "call" not in vars(fused.get_layer("bn_dense"))
    x = np.random.default_rng(0).normal(2.0, 3.0, (8, 6, 6, 3)).astype("float32")
    for _ in range(2):  # the second step starts from the updated moving averages
        (y0, g0), (y1, g1) = _step(keras, plain, x), _step(keras, fused, x)
        np.testing.assert_allclose(y1, y0, atol=1e-5)
        for a, b in zip(g1, g0):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    for a, b in zip(fused.non_trainable_weights, plain.non_trainable_weights):  # biased variance, momentum 0.8
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5, err_msg=a.path)
    assert not np.allclose(np.asarray(fused.get_layer("bn").moving_variance), 1.0)
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(plain(x, training=False)), atol=1e-5)


def test_saved_model_is_plain_keras_and_unfuse_restores(fresh, tmp_path):
    keras = fresh
    model = _net(keras)
    execution.fuse_batch_norms(model)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is keras.layers.BatchNormalization
    assert "call" not in vars(loaded.get_layer("bn"))
    execution.unfuse_batch_norms(model)
    assert not any("call" in vars(layer) for layer in model.layers)


def test_what_is_not_fused(fresh, monkeypatch):
    keras = fresh
    assert not execution.fusable(_net(keras, axis=1).get_layer("bn"))  # channels-first
    assert not execution.fusable(_net(keras, epsilon=1e-6).get_layer("bn"))  # far below the kernel's minimum
    assert execution.fusable(_net(keras, epsilon=1e-5).get_layer("bn"))  # PyTorch's: trains as 1.001e-5
    assert not execution.fusable(_net(keras, synchronized=True).get_layer("bn"))
    monkeypatch.setenv(execution.FUSED_BN_ENV, "0")
    assert execution.fuse_batch_norms(_net(keras)) == 0


def test_frozen_and_mixed_precision(fresh):
    keras = fresh
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = _net(keras)
    assert execution.fuse_batch_norms(model) == 2
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 3)).astype("float32")
    assert model(x, training=True).dtype.name == "bfloat16"
    bn = model.get_layer("bn")
    bn.trainable = False  # frozen (freeze_bn): Keras' inference path, statistics unchanged
    before = np.asarray(bn.moving_mean)
    model(x, training=True)
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), before)
