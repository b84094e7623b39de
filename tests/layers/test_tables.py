"""Connection tables (archspec.layers.tables.TableConv2D): the layer is a full convolution with the
unconnected kernels held at zero, its parameters are exactly the connected kernels and the
biases, the analyzer's rule agrees with it, and the zoo's 1989 zip-code network and LeNet-5 have
their papers' counts (LeCun et al. 1989: 9,760 free parameters; LeCun et al. 1998, Table I: 1,516
in C3)."""

from __future__ import annotations

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import archspec  # noqa: E402
from archspec.errors import SpecError  # noqa: E402
from archspec.ops import get_op  # noqa: E402
from tests.kerascheck import assert_analyzer_equals_keras, random_inputs, train_step  # noqa: E402

#: LeNet-5's Table I: the S2 maps each C3 map reads.
LENET5_C3 = [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],
             [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],
             [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]


def _full_kernel(kernel: np.ndarray, table, in_maps: int) -> np.ndarray:
    """The layer's (kh, kw, connections) kernel placed in a full Conv2D kernel, zeros elsewhere."""
    full = np.zeros((*kernel.shape[:2], in_maps, len(table)), "float32")
    c = 0
    for j, inputs in enumerate(table):
        for i in inputs:
            full[:, :, i, j] = kernel[:, :, c]
            c += 1
    return full


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_a_masked_full_convolution(keras, seed):
    from archspec.layers import TableConv2D

    rng = random.Random(seed)
    cin = rng.randint(1, 5)
    table = [rng.sample(range(cin), rng.randint(1, cin)) for _ in range(rng.randint(1, 6))]
    k, s, padding = rng.choice([1, 2, 3, [3, 2]]), rng.choice([1, 2, [2, 1]]), rng.choice(["valid", "same"])
    layer = TableConv2D(table, k, strides=s, padding=padding, bias_initializer="random_normal")
    x = random_inputs([(7, 6, cin)], seed=seed)[0]
    y = np.asarray(layer(x))
    full = keras.layers.Conv2D(len(table), k, strides=s, padding=padding)
    full.build(x.shape)
    full.set_weights([_full_kernel(np.asarray(layer.kernel), table, cin), np.asarray(layer.bias)])
    np.testing.assert_allclose(y, np.asarray(full(x)), rtol=1e-5, atol=1e-5)
    connections = sum(map(len, table))
    kh, kw = (k, k) if isinstance(k, int) else k
    assert layer.count_params() == kh * kw * connections + len(table)
    keras.backend.clear_session()


def test_unit_bias_is_one_bias_per_output_unit(keras):
    from archspec.layers import TableConv2D

    layer = TableConv2D([[0], [0, 1]], 3, padding="same", strides=2, unit_bias=True,
                        bias_initializer="random_normal")
    x = random_inputs([(5, 6, 2)])[0]
    y = np.asarray(layer(x))
    assert layer.bias.shape == (3, 3, 2) and layer.count_params() == 9 * 3 + 3 * 3 * 2
    plain = TableConv2D([[0], [0, 1]], 3, padding="same", strides=2, use_bias=False)
    plain.build(x.shape)
    plain.kernel.assign(layer.kernel)
    np.testing.assert_allclose(y, np.asarray(plain(x)) + np.asarray(layer.bias), rtol=1e-5, atol=1e-5)
    keras.backend.clear_session()


def test_trains_only_the_connected_kernels(keras):
    from archspec.layers import TableConv2D

    layer = TableConv2D([[1], [0, 2]], 2, activation="tanh")
    before = np.asarray(_full_kernel(np.ones((2, 2, 3)), layer.table, 3))  # the connection pattern
    y = train_step(layer, random_inputs([(4, 4, 3)])[0])
    assert y.shape == (2, 3, 3, 2)
    full = np.asarray(layer.full_kernel())
    assert np.all(full[before == 0] == 0) and np.all(full[before == 1] != 0)
    keras.backend.clear_session()


@pytest.mark.parametrize("seed", range(6))
def test_rule_equals_the_layer_on_random_configurations(keras, seed):
    from archspec.layers import TableConv2D

    rng = random.Random(100 + seed)
    cin = rng.randint(1, 6)
    table = [rng.sample(range(cin), rng.randint(1, cin)) for _ in range(rng.randint(1, 8))]
    args = {"table": table, "kernel_size": rng.choice([1, 3, [2, 3]]), "strides": rng.choice([1, 2, [1, 3]]),
            "padding": rng.choice(["valid", "same"]), "use_bias": rng.choice([True, False])}
    if args["use_bias"]:
        args["unit_bias"] = rng.choice([True, False])
    shape = (rng.randint(3, 9), rng.randint(3, 9), cin)
    result = get_op("table_conv2d").rule(dict(args), [shape])
    layer = TableConv2D(**args)
    assert layer.compute_output_shape((None, *shape)) == (None, *result.shape)
    layer.build((None, *shape))
    assert (layer.count_params(), result.non_trainable) == (result.params, 0)
    keras.backend.clear_session()


def test_keras_file_round_trip(keras, tmp_path):
    from archspec.layers import TableConv2D

    inputs = keras.Input((8, 8, 6))
    outputs = TableConv2D(LENET5_C3, 5, unit_bias=True, activation="tanh", name="c3")(inputs)
    model = keras.Model(inputs, outputs)
    x = random_inputs([(8, 8, 6)])[0]
    model.save(tmp_path / "table.keras")
    again = keras.saving.load_model(tmp_path / "table.keras")
    assert again.get_layer("c3").table == model.get_layer("c3").table
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6)
    assert again.count_params() == 25 * 60 + 4 * 4 * 16
    keras.backend.clear_session()


# --------------------------------------------------------------------------- the papers
def test_zipcode_1989_is_exact_to_the_paper(keras):
    spec = archspec.load("zipcode1989")
    a = spec.analyze()
    assert [a[n].trainable_params for n in ("h1", "h2", "h3", "output")] == [1_068, 2_592, 5_790, 310]
    assert a.total_params == 9_760  # "9760 independent parameters"
    units = sum(int(np.prod(r.output_shape)) for r in a.layers if r.op != "flatten")
    assert units == 1_256
    biases = 768 + 192 + 30 + 10
    assert a.macs + biases == 64_660  # "64,660 connections"
    model = archspec.build(spec)
    assert model.count_params() == 9_760
    assert_analyzer_equals_keras(spec, model)
    keras.backend.clear_session()


def test_lenet5_c3_follows_table_one(keras):
    spec = archspec.load("lenet5")
    a = spec.analyze()
    assert a["c3"].op == "table_conv2d" and a["c3"].trainable_params == 1_516  # the paper, sec. II.B
    assert a.total_params == 60_806 == 61_706 - 2_416 + 1_516
    assert a["c3"].macs == 10 * 10 * 25 * 60
    model = archspec.build(spec)
    assert model.count_params() == 60_806
    assert_analyzer_equals_keras(spec, model)
    assert [list(t) for t in model.get_layer("c3").table] == LENET5_C3
    keras.backend.clear_session()
    full = archspec.summary("lenet5", c3_table=False)
    assert (full["c3"].op, full["c3"].trainable_params, full.total_params) == ("conv2d", 2_416, 61_706)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("table, match", [
    ([], r"must be a non-empty list"),
    ([[0], []], r"`table\[1\]` \(the input maps of output map 1\) must be a non-empty list"),
    ([[0, 0]], r"`table\[0\]` lists an input map twice"),
    ([[0, -1]], r"input-map indices >= 0"),
    ("all", r"must be a non-empty list"),
])
def test_layer_refuses_bad_tables(keras, table, match):
    from archspec.layers import TableConv2D

    with pytest.raises(ValueError, match=match):
        TableConv2D(table, 3)


def test_layer_refuses_maps_the_input_lacks_and_unit_bias_without_bias(keras):
    from archspec.layers import TableConv2D

    with pytest.raises(ValueError, match=r"`table\[1\]` reads input map 3, but the input has 3 maps"):
        TableConv2D([[0], [1, 3]], 3).build((None, 5, 5, 3))
    with pytest.raises(ValueError, match=r"`unit_bias=True` needs `use_bias=True`"):
        TableConv2D([[0]], 3, use_bias=False, unit_bias=True)
    with pytest.raises(ValueError, match=r"`unit_bias=True` needs a known input size"):
        TableConv2D([[0]], 3, unit_bias=True).build((None, None, 5, 1))


SPEC = """input: {{shape: [{rows}, 8, 3]}}
body:
  - table_conv2d: {{kernel_size: 3, {extra}
                   table: {table}}}
"""


@pytest.mark.parametrize("table, extra, rows, match", [
    ("[[0, 1], [2, 3]]", "", 8, r"TableConv2D: table\[1\] reads input map 3, but the input has 3 maps \(0 to 2\)"),
    ("[[0], [1, 1]]", "", 8, r"table\[1\] lists an input map twice: \[1, 1\]"),
    ("[[0], []]", "", 8, r"table\[1\] \(the input maps of output map 1\) must be a non-empty list"),
    ("[[0], [true]]", "", 8, r"table\[1\] .* must be a non-empty list of input-map indices >= 0, got \[True\]"),
    ("3", "", 8, r"`table` must be a non-empty list with one list of input maps per output map, got 3"),
])
def test_spec_errors_are_located_at_the_table(table, extra, rows, match):
    with pytest.raises(SpecError, match=match) as info:
        archspec.loads(SPEC.format(table=table, extra=extra, rows=rows))
    assert (info.value.loc.line, info.value.loc.path) == (4, "body[0].table_conv2d.table")


def test_spec_unit_bias_needs_a_known_size_and_a_bias():
    with pytest.raises(SpecError, match=r"`unit_bias: true` gives every output position its own bias") as info:
        archspec.loads(SPEC.format(table="[[0]]", extra="unit_bias: true,", rows="null"))
    assert info.value.loc.path == "body[0].table_conv2d.unit_bias"
    with pytest.raises(SpecError, match=r"`unit_bias: true` needs `use_bias: true`"):
        archspec.loads(SPEC.format(table="[[0]]", extra="unit_bias: true, use_bias: false,", rows=8))
    with pytest.raises(SpecError, match=r"`unit_bias` must be true or false, got 'yes'") as info:
        archspec.loads(SPEC.format(table="[[0]]", extra='unit_bias: "yes",', rows=8))
    assert info.value.loc.path == "body[0].table_conv2d.unit_bias"
