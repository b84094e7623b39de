"""archspec's custom Keras layers, checked against hand computations and the lectures' examples.

Lecture seeds (``/work/shared/seeds``): 001 (Jeong, ITM528: the 5x5 convolution example, 2x2
max-pooling, channel parameter counts, AlexNet's LRN), 003 (Yang: special kernels, full /
unshared / tiled convolution, stochastic pooling), 004 (Pitie, TCD 4C16: the Laplacian example,
Conv2D on 443x592x3 and 2000x2000x3, max / average / stochastic pooling of a 4x4 block).
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from archspec.ops import get_op  # noqa: E402
from archspec.layers import (  # noqa: E402
    FixedFilter2D,
    FullConv2D,
    LocallyConnected2D,
    LocalResponseNormalization,
    StochasticPooling2D,
    TiledConv2D,
    ZeroPadShortcut,
)
from archspec.layers.fixed_filter import KERNELS  # noqa: E402

# Seed 001: the 5x5 input and the 3x3 kernel of the "Convolution" slides, and their output.
CONV_INPUT = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
CONV_KERNEL = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
CONV_OUTPUT = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
# Seed 004: the Laplacian over "pixel values in previous layer", and the logits.
LAPLACIAN_INPUT = [[0, 10, 9, 3, 4], [4, 3, 2, 1, 5], [10, 2, 10, 3, 0], [3, -1, -3, -3, -4],
                   [-4, -10, -8, -1, -2]]
LAPLACIAN_OUTPUT = [[6, 15, 9], [14, -36, -4], [-4, 10, 7]]
# Seed 004: the 4x4 block of the max / average / stochastic pooling slides.
POOL_INPUT = [[0, 10, 9, 3], [4, 3, 2, 1], [10, 2, 10, 3], [3, -1, -3, -3]]


def image(rows, channels: int = 1) -> np.ndarray:
    """A (1, H, W, channels) float32 batch from a 2D list (copied into every channel)."""
    x = np.asarray(rows, dtype="float32")[None, :, :, None]
    return np.repeat(x, channels, axis=-1)


def plane(y) -> np.ndarray:
    """The first sample's first channel as a 2D array."""
    return keras.ops.convert_to_numpy(y)[0, :, :, 0]


# --------------------------------------------------------------------------- standard Keras
def test_lecture_conv_example_is_keras_cross_correlation():
    conv = keras.layers.Conv2D(1, 3, use_bias=False)
    conv.build((None, 5, 5, 1))
    conv.kernel.assign(np.asarray(CONV_KERNEL, "float32")[:, :, None, None])
    np.testing.assert_array_equal(plane(conv(image(CONV_INPUT))), CONV_OUTPUT)


def test_conv2d_6_filters_on_443x592x3_has_450_weights():
    """Seed 004: Conv2D(6, [5, 5], padding='valid') on 443x592x3 gives 439x588x6, 3x6x5x5 = 450."""
    conv = keras.layers.Conv2D(6, (5, 5), padding="valid")
    assert conv.compute_output_shape((None, 443, 592, 3)) == (None, 439, 588, 6)
    conv.build((None, 443, 592, 3))
    assert int(np.prod(conv.kernel.shape)) == 450
    assert conv.count_params() == 450 + 6
    rule = get_op("conv2d").rule({"filters": 6, "kernel_size": [5, 5]}, [(443, 592, 3)])
    assert rule.shape == (439, 588, 6) and rule.params == 456


@pytest.mark.parametrize(
    "cin, filters, kernel, weights",
    [
        (128, 256, 3, 294_912),  # seed 001: 128 x 256 x 3 x 3
        (128, 64, 3, 73_728),  # seed 001: 3 x 3 x 128 x 64
        (128, 128, 5, 409_600),  # seed 001: one 5x5 layer, vs two 3x3 = 2 x 147,456 = 294,912
        (3, 16, 5, 1_200),  # seed 004: Conv2D(16, (5, 5)) on 2000x2000x3
    ],
)
def test_lecture_conv_weight_counts(cin, filters, kernel, weights):
    conv = keras.layers.Conv2D(filters, kernel, use_bias=False)
    conv.build((None, 32, 32, cin))
    assert conv.count_params() == weights
    rule = get_op("conv2d").rule({"filters": filters, "kernel_size": kernel, "use_bias": False},
                                    [(32, 32, cin)])
    assert rule.params == weights


def test_conv2d_16_on_2000x2000_makes_64_million_units():
    """Seed 004: 1,200 weights but 2000 x 2000 x 16 = 64 million units (padding same)."""
    shape = keras.layers.Conv2D(16, (5, 5), padding="same").compute_output_shape((None, 2000, 2000, 3))
    assert shape == (None, 2000, 2000, 16)
    assert int(np.prod(shape[1:])) == 64_000_000


@pytest.mark.parametrize("stride, size", [(2, 7), (3, 5), (4, 4)])
def test_lecture_stride_examples_on_16x16(stride, size):
    """Seed 004: a 3x3 valid conv on 16x16 keeps 14x14 positions; stride 2 gives 7x7."""
    conv = keras.layers.Conv2D(1, (3, 3), padding="valid", strides=stride)
    assert conv.compute_output_shape((None, 16, 16, 1)) == (None, size, size, 1)
    args = {"filters": 1, "kernel_size": 3, "strides": stride}
    assert get_op("conv2d").rule(args, [(16, 16, 1)]).shape == (size, size, 1)


def test_lecture_2x2_max_pooling_of_3x3():
    """Seed 001: 2x2 max pooling (stride 1) of [[0,1,2],[3,4,5],[6,7,8]] is [[4,5],[7,8]]."""
    y = keras.layers.MaxPooling2D(pool_size=2, strides=1)(image([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))
    np.testing.assert_array_equal(plane(y), [[4, 5], [7, 8]])


@pytest.mark.parametrize(
    "layer, expected",
    [
        (keras.layers.MaxPooling2D(pool_size=(2, 2)), [[10, 9], [10, 10]]),
        (keras.layers.AveragePooling2D(pool_size=(2, 2)), [[4.25, 3.75], [3.5, 1.75]]),
        (keras.layers.AdaptiveMaxPooling2D(output_size=2), [[10, 9], [10, 10]]),
        (keras.layers.AdaptiveAveragePooling2D(output_size=2), [[4.25, 3.75], [3.5, 1.75]]),
    ],
    ids=["max", "average", "adaptive_max", "adaptive_average"],
)
def test_lecture_4x4_pooling_examples(layer, expected):
    """Seed 004's max and average pooling slides; Keras 3's adaptive pooling agrees."""
    np.testing.assert_array_equal(plane(layer(image(POOL_INPUT))), expected)


def test_lecture_32x32_conv_then_pool_shapes():
    """Seed 004: 32x32x3 -> Conv2D(16, 5, same) -> 32x32x16 -> MaxPooling2D(2) -> 16x16x16."""
    x = keras.Input((32, 32, 3))
    y = keras.layers.Conv2D(16, [5, 5], padding="same")(x)
    assert y.shape == (None, 32, 32, 16)
    assert keras.layers.MaxPooling2D(pool_size=(2, 2))(y).shape == (None, 16, 16, 16)


# --------------------------------------------------------------------------- LRN
def lrn_formula(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    """AlexNet sec. 3.3, literally:
    b^i = a^i / (k + alpha sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} (a^j)^2)^beta."""
    a = np.asarray(a, dtype="float64")
    big_n = a.shape[-1]
    b = np.empty_like(a)
    for i in range(big_n):
        lo, hi = max(0, i - n // 2), min(big_n - 1, i + n // 2)
        b[..., i] = a[..., i] / (k + alpha * np.sum(a[..., lo : hi + 1] ** 2, axis=-1)) ** beta
    return b


def test_lrn_by_hand():
    # size 3, k = alpha = beta = 1, channels [1, 2, 3]: 1/(1+1+4), 2/(1+1+4+9), 3/(1+4+9).
    layer = LocalResponseNormalization(size=3, alpha=1.0, beta=1.0, bias=1.0)
    y = keras.ops.convert_to_numpy(layer(np.array([[1.0, 2.0, 3.0]], "float32")))
    np.testing.assert_allclose(y, [[1 / 6, 2 / 15, 3 / 14]], rtol=1e-6)


def test_lrn_equals_alexnet_formula_and_tf_with_alexnet_constants():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 40.0, size=(2, 3, 3, 7)).astype("float32")  # alpha * sum of squares ~ 0.8
    expected = lrn_formula(a)  # k=2, n=5, alpha=1e-4, beta=0.75 (AlexNet)
    y = keras.ops.convert_to_numpy(LocalResponseNormalization()(a))
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    # The normalization matters at this scale (the test can fail): not just a / k^beta.
    assert np.max(np.abs(expected - a / 2.0**0.75)) > 1.0
    # TF's LRN does not divide alpha by n either: depth_radius = n // 2 gives the same numbers.
    tf_y = tf.nn.local_response_normalization(a, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(tf_y.numpy(), expected, rtol=1e-5)
    # Caffe / PyTorch style (alpha / n) is a different layer.
    assert not np.allclose(lrn_formula(a, alpha=1e-4 / 5), expected, rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 4}, r"positive odd integer .*Received: size=4"),
        ({"size": 0}, r"Received: size=0"),
        ({"bias": 0}, r"`bias` argument must be > 0.0. Received: bias=0"),
        ({"alpha": -1.0}, r"Received: alpha=-1.0"),
        ({"beta": "x"}, r"must be a number. Received: beta='x'"),
    ],
)
def test_lrn_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalResponseNormalization(**kwargs)


# --------------------------------------------------------------------------- stochastic pooling
def test_stochastic_pooling_inference_is_probability_weighted_average_3x3():
    """2x2 windows, stride 1, over seed 001's [[0..8]]: sum a^2 / sum a per window."""
    y = StochasticPooling2D(pool_size=2, strides=1)(image([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))
    expected = [[(0 + 1 + 9 + 16) / 8, (1 + 4 + 16 + 25) / 12],
                [(9 + 16 + 36 + 49) / 20, (16 + 25 + 49 + 64) / 24]]
    np.testing.assert_allclose(plane(y), expected, rtol=1e-6)


def test_stochastic_pooling_inference_on_lecture_4x4():
    """Seed 004's block; negative activations get probability 0 (Zeiler & Fergus assume ReLU)."""
    y = StochasticPooling2D(pool_size=2)(image(POOL_INPUT), training=False)
    expected = [[(100 + 16 + 9) / 17, (81 + 9 + 4 + 1) / 15],
                [(100 + 4 + 9) / 15, (100 + 9) / 13]]
    np.testing.assert_allclose(plane(y), expected, rtol=1e-6)


def test_stochastic_pooling_training_picks_window_elements():
    x = np.repeat(image(POOL_INPUT, channels=3), 100, axis=0)
    y = keras.ops.convert_to_numpy(StochasticPooling2D(pool_size=2, seed=0)(x, training=True))
    windows = {(0, 0): {10, 4, 3}, (0, 1): {9, 3, 2, 1}, (1, 0): {10, 2, 3}, (1, 1): {10, 3}}
    for (i, j), allowed in windows.items():  # the positive elements only (p = 0 otherwise)
        assert set(np.unique(y[:, i, j, :]).tolist()) == allowed
    # The lecture's sample [[3, 2], [-1, 3]] picked -1: under Zeiler & Fergus its probability is 0.
    assert not np.any(y[:, 1, 0, :] == -1)


def test_stochastic_pooling_sampling_frequency_is_proportional_to_activation():
    x = np.tile(image([[1, 2], [3, 4]]), (4000, 1, 1, 1))
    y = keras.ops.convert_to_numpy(StochasticPooling2D(pool_size=2, seed=1)(x, training=True))
    freq = [np.mean(y == v) for v in (1, 2, 3, 4)]
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.03)


def test_stochastic_pooling_is_seeded():
    x = np.tile(image([[1, 2], [3, 4]]), (50, 1, 1, 1))
    a = StochasticPooling2D(seed=3)(x, training=True)
    b = StochasticPooling2D(seed=3)(x, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_stochastic_pooling_window_without_positive_values_is_uniform():
    x = np.tile(image([[-1, -2], [-3, 0]]), (400, 1, 1, 1))
    pool = StochasticPooling2D(seed=2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pool(x[:1]))[0, 0, 0, 0], -1.5)
    y = keras.ops.convert_to_numpy(pool(x, training=True))
    assert set(np.unique(y).tolist()) == {-3.0, -2.0, -1.0, 0.0}


def test_stochastic_pooling_overlapping_windows_shape():
    """AlexNet-style overlapping windows (3x3, stride 2): 13 -> 6."""
    assert StochasticPooling2D(3, strides=2)(np.ones((1, 13, 13, 2), "float32")).shape == (1, 6, 6, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pool_size": 0}, r"must be positive. Received: pool_size=0"),
        ({"pool_size": (2, 2, 2)}, r"tuple of 2 integers. Received: pool_size=\(2, 2, 2\)"),
        ({"strides": 1.5}, r"Received: strides=1.5"),
        ({"seed": "a"}, r"Received: seed='a'"),
    ],
)
def test_stochastic_pooling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StochasticPooling2D(**kwargs)


# --------------------------------------------------------------------------- locally connected
def test_locally_connected_with_lecture_kernel_everywhere_is_the_lecture_convolution():
    lc = LocallyConnected2D(1, 3, use_bias=False)
    lc.build((None, 5, 5, 1))
    lc.kernel.assign(np.tile(np.asarray(CONV_KERNEL, "float32").reshape(1, 9, 1), (9, 1, 1)))
    np.testing.assert_array_equal(plane(lc(image(CONV_INPUT))), CONV_OUTPUT)


def test_locally_connected_uses_one_kernel_and_bias_per_position():
    lc = LocallyConnected2D(1, 3)
    lc.build((None, 5, 5, 1))
    scale = np.arange(1, 10, dtype="float32")  # position p = 3 i + j uses (p + 1) * kernel
    kernel = np.asarray(CONV_KERNEL, "float32").reshape(1, 9, 1) * scale[:, None, None]
    bias = np.array([[100, 200, 300], [400, 500, 600], [700, 800, 900]], "float32")[:, :, None]
    lc.set_weights([kernel, bias])
    expected = np.asarray(CONV_OUTPUT) * scale.reshape(3, 3) + bias[:, :, 0]
    np.testing.assert_array_equal(plane(lc(image(CONV_INPUT))), expected)


@pytest.mark.parametrize("strides, padding", [(1, "valid"), (2, "same")])
def test_locally_connected_with_shared_weights_equals_conv2d(strides, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 7, 2)).astype("float32")
    conv = keras.layers.Conv2D(3, (3, 2), strides=strides, padding=padding)
    y_conv = keras.ops.convert_to_numpy(conv(x))
    lc = LocallyConnected2D(3, (3, 2), strides=strides, padding=padding)
    lc.build(x.shape)
    positions = y_conv.shape[1] * y_conv.shape[2]
    kernel, bias = conv.get_weights()
    lc.set_weights([np.tile(kernel.reshape(1, -1, 3), (positions, 1, 1)),
                    np.tile(bias, (*y_conv.shape[1:3], 1))])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lc(x)), y_conv, rtol=1e-5, atol=1e-5)


def test_locally_connected_needs_known_spatial_size():
    with pytest.raises(ValueError, match=r"rows and cols must be known. Received: input_shape=\(None, None"):
        LocallyConnected2D(2, 3).build((None, None, None, 3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": 0, "kernel_size": 3}, r"positive integer. Received: filters=0"),
        ({"filters": 2, "kernel_size": 3, "padding": "full"},
         r"one of \"valid\", \"same\". Received: padding='full'"),
        ({"filters": 2, "kernel_size": [3]}, r"Received: kernel_size=\[3\]"),
    ],
)
def test_locally_connected_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocallyConnected2D(**kwargs)


# --------------------------------------------------------------------------- tiled convolution
def test_tiled_conv_cycles_kernels_over_positions_by_hand():
    tc = TiledConv2D(1, 1, tile_size=2, use_bias=False)
    tc.build((None, 4, 5, 1))
    # Tiles (0, 0), (0, 1), (1, 0), (1, 1) multiply by 1, 10, 100, 1000.
    tc.kernel.assign(np.array([1, 10, 100, 1000], "float32").reshape(1, 1, 1, 4))
    y = plane(tc(np.ones((1, 4, 5, 1), "float32")))
    np.testing.assert_array_equal(y, [[1, 10, 1, 10, 1], [100, 1000, 100, 1000, 100]] * 2)


def test_tiled_conv_with_lecture_kernel_in_every_tile_is_the_lecture_convolution():
    tc = TiledConv2D(1, 3, tile_size=2, use_bias=False)
    tc.build((None, 5, 5, 1))
    tc.kernel.assign(np.tile(np.asarray(CONV_KERNEL, "float32")[:, :, None, None], (1, 1, 1, 4)))
    np.testing.assert_array_equal(plane(tc(image(CONV_INPUT))), CONV_OUTPUT)


def test_tiled_conv_with_one_tile_equals_conv2d():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 7, 6, 2)).astype("float32")
    conv = keras.layers.Conv2D(3, 3, strides=2, padding="same", bias_initializer="ones")
    y_conv = keras.ops.convert_to_numpy(conv(x))
    tc = TiledConv2D(3, 3, tile_size=1, strides=2, padding="same")
    tc.build(x.shape)
    kernel, bias = conv.get_weights()
    tc.set_weights([kernel, bias.reshape(1, 1, 3)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tc(x)), y_conv, rtol=1e-5, atol=1e-5)


def test_tiled_conv_with_output_sized_tiles_equals_locally_connected():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 4, 2)).astype("float32")
    lc = LocallyConnected2D(3, 2, bias_initializer="random_normal")
    y_lc = keras.ops.convert_to_numpy(lc(x))  # (2, 4, 3, 3): 12 positions
    tc = TiledConv2D(3, 2, tile_size=(4, 3))
    tc.build(x.shape)
    lc_kernel, lc_bias = lc.get_weights()  # (12, 2 * 2 * 2, 3), (4, 3, 3)
    kernel = lc_kernel.reshape(12, 2, 2, 2, 3).transpose(1, 2, 3, 0, 4).reshape(2, 2, 2, 36)
    tc.set_weights([kernel, lc_bias])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tc(x)), y_lc, rtol=1e-5, atol=1e-5)


def test_tiled_conv_rejects_bad_tile_size():
    with pytest.raises(ValueError, match=r"must be positive. Received: tile_size=\(2, 0\)"):
        TiledConv2D(4, 3, tile_size=(2, 0))


# --------------------------------------------------------------------------- fixed filters
def test_fixed_kernels_are_the_lecture_tables():
    """Seed 003's "special kernels" and seed 004's Laplacian, as printed."""
    assert KERNELS == {
        "vertical_edge": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
        "horizontal_edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
        "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
        "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        "scharr_x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
        "scharr_y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
        "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    }


def test_fixed_laplacian_on_lecture_example():
    """Seed 004: the Laplacian over the 5x5 'pixel values in previous layer'."""
    np.testing.assert_array_equal(plane(FixedFilter2D("laplacian")(image(LAPLACIAN_INPUT))), LAPLACIAN_OUTPUT)


def test_fixed_explicit_kernel_on_lecture_convolution_example():
    np.testing.assert_array_equal(plane(FixedFilter2D(CONV_KERNEL)(image(CONV_INPUT))), CONV_OUTPUT)


STEP = [[0, 0, 0, 1, 1]] * 5  # a vertical edge between columns 2 and 3


@pytest.mark.parametrize(
    "name, transpose, row",
    [
        ("vertical_edge", False, [0, -3, -3]),
        ("horizontal_edge", False, [0, 0, 0]),
        ("horizontal_edge", True, [0, -3, -3]),
        ("sobel_x", False, [0, 4, 4]),
        ("sobel_y", False, [0, 0, 0]),
        ("sobel_y", True, [0, 4, 4]),
        ("scharr_x", False, [0, 16, 16]),
        ("scharr_y", True, [0, 16, 16]),
        ("laplacian", False, [0, 1, -1]),
    ],
)
def test_fixed_kernels_on_a_step_edge(name, transpose, row):
    x = np.asarray(STEP, "float32")
    y = plane(FixedFilter2D(name)(image(x.T if transpose else x)))
    expected = np.tile(row, (3, 1))
    np.testing.assert_array_equal(y.T if transpose else y, expected)


def test_fixed_filter_channels_depthwise_and_sum():
    x = np.concatenate([image(LAPLACIAN_INPUT), 2 * image(LAPLACIAN_INPUT)], axis=-1)
    depthwise = keras.ops.convert_to_numpy(FixedFilter2D("laplacian")(x))
    np.testing.assert_array_equal(depthwise[0, :, :, 0], LAPLACIAN_OUTPUT)
    np.testing.assert_array_equal(depthwise[0, :, :, 1], 2 * np.asarray(LAPLACIAN_OUTPUT))
    summed = keras.ops.convert_to_numpy(FixedFilter2D("laplacian", channels="sum")(x))
    assert summed.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(summed[0, :, :, 0], 3 * np.asarray(LAPLACIAN_OUTPUT))


def test_fixed_filter_is_not_trainable():
    layer = FixedFilter2D("sobel_x", trainable=True)
    x = tf.constant(image(LAPLACIAN_INPUT, channels=3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) ** 2)
    assert layer.trainable_weights == []
    assert layer.count_params() == 9 and len(layer.non_trainable_weights) == 1
    assert tape.gradient(loss, x) is not None  # gradients still flow to the input
    layer.trainable = True
    assert layer.trainable_weights == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": "sobel"}, r"Unknown fixed kernel name.*Received: kernel='sobel'"),
        ({"kernel": [[1, 2], [3]]}, r"rectangular 2D list of numbers. Received: kernel=\[\[1, 2\], \[3\]\]"),
        ({"kernel": []}, r"Received: kernel=\[\]"),
        ({"kernel": "laplacian", "channels": "mean"}, r"Received: channels='mean'"),
    ],
)
def test_fixed_filter_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FixedFilter2D(**kwargs)


# --------------------------------------------------------------------------- full convolution
def test_full_conv_by_hand():
    conv = FullConv2D(1, 2, use_bias=False, kernel_initializer="ones")
    np.testing.assert_array_equal(plane(conv(image([[1, 2], [3, 4]]))), [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_full_conv_on_lecture_example_contains_the_valid_result():
    conv = FullConv2D(1, 3, use_bias=False)
    conv.build((None, 5, 5, 1))
    conv.kernel.assign(np.asarray(CONV_KERNEL, "float32")[:, :, None, None])
    y = plane(conv(image(CONV_INPUT)))
    assert y.shape == (7, 7)  # m + k - 1 (seed 003)
    np.testing.assert_array_equal(y[2:5, 2:5], CONV_OUTPUT)
    assert y[0, 0] == 3 * 2 and y[6, 6] == 1 * 0  # corners see one input pixel


def test_full_conv_equals_transposed_conv_with_flipped_kernel():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 4, 5, 2)).astype("float32")
    full = FullConv2D(3, (3, 2), use_bias=False)
    y = keras.ops.convert_to_numpy(full(x))
    transposed = keras.layers.Conv2DTranspose(3, (3, 2), use_bias=False)
    transposed.build(x.shape)
    transposed.set_weights([full.get_weights()[0][::-1, ::-1].transpose(0, 1, 3, 2)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(transposed(x)), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, out",
    [({"kernel_size": 3}, (7, 7)), ({"kernel_size": 3, "dilation_rate": 2}, (9, 9)),
     ({"kernel_size": (5, 1)}, (9, 5)), ({"kernel_size": 3, "strides": 2}, (4, 4))],
)
def test_full_conv_output_size(kwargs, out):
    conv = FullConv2D(2, **kwargs)
    assert conv(np.ones((1, 5, 5, 1), "float32")).shape == (1, *out, 2)
    assert conv.compute_output_shape((None, 5, 5, 1)) == (None, *out, 2)


def test_full_conv_rejects_padding():
    with pytest.raises(ValueError, match=r"no `padding` argument. Received: padding='same'"):
        FullConv2D(2, 3, padding="same")


# --------------------------------------------------------------------------- ZeroPadShortcut
def test_zero_pad_shortcut_by_hand():
    x = np.arange(32, dtype="float32").reshape(1, 4, 4, 2)
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(5, strides=2)(x))
    expected = [[[0, 1, 0, 0, 0], [4, 5, 0, 0, 0]], [[16, 17, 0, 0, 0], [20, 21, 0, 0, 0]]]
    np.testing.assert_array_equal(y[0], expected)


def test_zero_pad_shortcut_matches_strided_same_conv_shape():
    x = np.ones((1, 5, 5, 16), "float32")  # odd size: ceil(5 / 2) = 3, like the residual body
    body = keras.layers.Conv2D(32, 3, strides=2, padding="same")(x)
    shortcut = ZeroPadShortcut(32, strides=[2, 2])
    assert shortcut(x).shape == body.shape == (1, 3, 3, 32)
    assert shortcut.count_params() == 0


def test_zero_pad_shortcut_identity_when_nothing_changes():
    x = np.random.default_rng(5).normal(size=(1, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ZeroPadShortcut(4)(x)), x)


def test_zero_pad_shortcut_cannot_remove_channels():
    with pytest.raises(ValueError, match=r"can only add channels.*Received: filters=8"):
        ZeroPadShortcut(8)(np.ones((1, 4, 4, 16), "float32"))
    with pytest.raises(ValueError, match=r"Received: filters=-1"):
        ZeroPadShortcut(-1)


# --------------------------------------------------------------------------- serialization
FACTORIES = {
    "lrn": lambda: LocalResponseNormalization(size=3, alpha=2e-4, beta=0.5, bias=1.0, name="lrn"),
    "stochastic": lambda: StochasticPooling2D(pool_size=(3, 2), strides=(2, 1), seed=7),
    "locally_connected": lambda: LocallyConnected2D(3, (2, 3), strides=(1, 2), padding="same",
                                                    activation="relu", use_bias=False),
    "tiled": lambda: TiledConv2D(2, 3, tile_size=(2, 3), strides=1, padding="same",
                                 kernel_regularizer="l2"),
    "fixed_named": lambda: FixedFilter2D("scharr_y", channels="sum", strides=2, padding="same"),
    "fixed_list": lambda: FixedFilter2D([[1, 2], [3, 4]]),
    "full": lambda: FullConv2D(4, 3, dilation_rate=2, activation="tanh"),
    "shortcut": lambda: ZeroPadShortcut(6, strides=(2, 1)),
}
BASE_CONFIG = {"name", "trainable", "dtype"}


@pytest.mark.parametrize("key", list(FACTORIES))
def test_get_config_round_trip_and_mirrors_init(key):
    layer = FACTORIES[key]()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    params = set(inspect.signature(type(layer).__init__).parameters) - {"self", "kwargs"}
    assert set(config) - BASE_CONFIG == params
    x = np.random.default_rng(6).normal(size=(1, 6, 6, 4)).astype("float32")
    y = layer(x)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(y))


def test_keras_file_round_trip_with_every_custom_layer(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = FixedFilter2D("sobel_x")(inputs)  # 6x6x3
    x = LocalResponseNormalization()(x)
    x = LocallyConnected2D(4, 3)(x)  # 4x4x4
    x = TiledConv2D(4, 3, tile_size=2, padding="same")(x)
    x = FullConv2D(4, 2)(x)  # 5x5x4
    x = StochasticPooling2D(2, seed=1)(x)  # 2x2x4
    outputs = ZeroPadShortcut(6, strides=2)(x)  # 1x1x6
    model = keras.Model(inputs, outputs)
    path = tmp_path / "custom.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == [
        "FixedFilter2D", "LocalResponseNormalization", "LocallyConnected2D", "TiledConv2D",
        "FullConv2D", "StochasticPooling2D", "ZeroPadShortcut",
    ]
    for original, restored in zip(model.layers, loaded.layers):
        assert original.get_config() == restored.get_config()
    x = np.random.default_rng(7).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
    assert loaded.count_params() == model.count_params()


def test_one_training_step_with_variable_input_size():
    """Every layer trains (or stays fixed) inside fit, with unknown rows and cols."""
    inputs = keras.Input((None, None, 3))
    x = FixedFilter2D("sobel_x", padding="same", name="fixed")(inputs)
    x = LocalResponseNormalization()(x)
    x = TiledConv2D(4, 3, tile_size=2, padding="same", name="tiled")(x)
    x = FullConv2D(4, 2, name="full")(x)
    x = StochasticPooling2D(2, seed=1)(x)
    x = ZeroPadShortcut(6, strides=2)(x)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    before = {w.path: w.numpy().copy() for w in model.weights}
    rng = np.random.default_rng(8)
    model.train_on_batch(rng.random((4, 9, 11, 3), dtype="float32"), rng.random((4, 2), dtype="float32"))
    changed = {w.path for w in model.weights if not np.array_equal(w.numpy(), before[w.path])}
    assert changed == {"tiled/kernel", "tiled/bias", "full/kernel", "full/bias", "head/kernel", "head/bias"}
    assert model.predict(rng.random((1, 7, 5, 3)), verbose=0).shape == (1, 2)
