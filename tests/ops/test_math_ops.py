"""Element-wise math ops (archspec.layers.math, archspec.ops.rules.math): the rules agree with
Keras' own shape inference (keras.ops on symbolic tensors) and with the layers; the layers compute
what NumPy computes; specs using them build, save and reload; mistakes are located."""

from __future__ import annotations

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import archspec  # noqa: E402
import archspec.layers  # noqa: E402
from archspec.layers import math as math_layers  # noqa: E402
from archspec.ops import get_op  # noqa: E402
from archspec.ops.base import ShapeError  # noqa: E402
from archspec.ops.rules.math import LAYER_OPS  # noqa: E402
from tests.kerascheck import assert_analyzer_equals_keras, random_inputs, train_step  # noqa: E402

INF = float("inf")

# (op name, spec arguments, input shapes without batch)
CONFIGS = [
    ("abs", {}, [(5,)]),
    ("abs", {}, [(3, 4, 2)]),
    ("square", {}, [(2, 3)]),
    ("sqrt", {}, [(4, 4, 2)]),
    ("exp", {}, [(6,)]),
    ("log", {}, [(3, 3)]),
    ("negative", {}, [(2, 2, 2, 2)]),
    ("sign", {}, [(5,)]),
    ("reciprocal", {}, [(4,)]),
    ("clip", {"x_min": -0.5, "x_max": 0.5}, [(3, 4)]),
    ("clip", {"x_min": 0, "x_max": INF}, [(6,)]),
    ("power", {"exponent": 3}, [(2, 5)]),
    ("power", {"exponent": 0.5}, [(4,)]),
    ("power", {"exponent": -2}, [(3, 2)]),
    ("mean", {"axis": -1}, [(4, 5, 6)]),
    ("mean", {"axis": [1, 2]}, [(4, 5, 6)]),
    ("mean", {"axis": [1, -1], "keepdims": True}, [(4, 5, 6)]),
    ("sum", {"axis": 1}, [(3, 7)]),
    ("sum", {"axis": [-1, -2, -3]}, [(2, 3, 4)]),
    ("max", {"axis": 2, "keepdims": True}, [(3, 4, 5)]),
    ("min", {"axis": [2, 1]}, [(3, 4, 5)]),
    ("std", {"axis": -1}, [(8,)]),
    ("var", {"axis": [1, 3], "keepdims": True}, [(2, 3, 4)]),
    ("normalize", {}, [(6,)]),
    ("normalize", {"axis": 1}, [(3, 4)]),
    ("normalize", {"order": 1}, [(2, 5)]),
    ("normalize", {"axis": -2, "order": 3, "epsilon": 1e-3}, [(4, 3, 2)]),
    ("cosine_similarity", {}, [(5,), (5,)]),
    ("cosine_similarity", {"axis": 1}, [(3, 4), (3, 4)]),
    ("cosine_similarity", {"axis": -1, "keepdims": True}, [(2, 3, 4), (2, 3, 4)]),
]

#: ops whose domain is the positive numbers (random inputs are made positive for them)
POSITIVE = {"sqrt", "log", "reciprocal", "power"}


def _axis(args: dict, default=None):
    axis = args.get("axis", default)
    return tuple(axis) if isinstance(axis, list) else axis


def _numpy(name: str, args: dict, xs: list) -> np.ndarray:
    """What the op computes, written with NumPy (float64)."""
    x = xs[0].astype("float64")
    keepdims = args.get("keepdims", False)
    if name in ("abs", "square", "sqrt", "exp", "log", "negative", "sign", "reciprocal"):
        return {"abs": np.abs, "square": np.square, "sqrt": np.sqrt, "exp": np.exp, "log": np.log,
                "negative": np.negative, "sign": np.sign, "reciprocal": np.reciprocal}[name](x)
    if name == "clip":
        return np.clip(x, args["x_min"], args["x_max"])
    if name == "power":
        return x ** args["exponent"]
    if name in ("mean", "sum", "max", "min", "std", "var"):
        return getattr(np, name)(x, axis=_axis(args), keepdims=keepdims)
    if name == "normalize":
        order, axis = args.get("order", 2), args.get("axis", -1)
        norm = np.sum(np.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
        return x / np.maximum(norm, args.get("epsilon") or 1e-7)
    a, b = x, xs[1].astype("float64")  # cosine_similarity
    axis = args.get("axis", -1)
    norms = np.linalg.norm(a, axis=axis, keepdims=True) * np.linalg.norm(b, axis=axis, keepdims=True)
    return np.sum(a * b, axis=axis, keepdims=keepdims) / (norms if keepdims else np.squeeze(norms, axis))


def _keras_ops(name: str, args: dict, xs: list):
    """The op written with keras.ops (on arrays: computed; on symbolic tensors: Keras' shape
    inference). Cosine similarity, which keras.ops lacks, is the sum of the normalized product."""
    x = xs[0]
    if name == "clip":
        y = keras.ops.clip(x, args["x_min"], args["x_max"])
    elif name == "power":
        y = keras.ops.power(x, args["exponent"])
    elif name in ("mean", "sum", "max", "min", "std", "var"):
        y = getattr(keras.ops, name)(x, axis=_axis(args), keepdims=args.get("keepdims", False))
    elif name == "normalize":
        y = keras.ops.normalize(x, axis=args.get("axis", -1), order=args.get("order", 2))
    elif name == "cosine_similarity":
        axis = args.get("axis", -1)
        y = keras.ops.sum(keras.ops.normalize(xs[0], axis) * keras.ops.normalize(xs[1], axis), axis=axis,
                          keepdims=args.get("keepdims", False))
    else:
        y = getattr(keras.ops, name)(x)
    return y


def _keras_symbolic(name: str, args: dict, shapes: list) -> tuple:
    """The output shape Keras' own ops infer for symbolic inputs (batch included)."""
    return tuple(_keras_ops(name, args, [keras.KerasTensor((None, *s)) for s in shapes]).shape)


def _layer(name: str, args: dict):
    return getattr(archspec.layers, get_op(name).cls)(**args)


def _ids(config):
    name, args, shapes = config
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in args.items())}-{shapes}".replace(" ", "")


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_rule_matches_keras_and_numpy(config):
    name, args, shapes = config
    result = get_op(name).rule(dict(args), shapes)
    assert (result.params, result.non_trainable) == (0, 0)
    assert _keras_symbolic(name, args, shapes) == (None, *result.shape)
    layer = _layer(name, args)
    batch_shapes = [(None, *s) for s in shapes]
    assert layer.compute_output_shape(batch_shapes if len(shapes) > 1 else batch_shapes[0]) == (
        None, *result.shape)
    xs = random_inputs(shapes, seed=len(CONFIGS))
    if name in POSITIVE:
        xs = [np.abs(x) + 0.5 for x in xs]
    # builds, runs forward and takes one gradient step: "valid" means trainable
    y = train_step(layer, xs if len(xs) > 1 else xs[0])
    assert y.shape == (2, *result.shape)
    np.testing.assert_allclose(y, _numpy(name, args, xs), rtol=1e-5, atol=1e-6)
    expected = keras.ops.convert_to_numpy(_keras_ops(name, args, xs))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
    assert layer.count_params() == 0  # (no model built: no clear_session, which costs ~0.7 s)


def test_unknown_sizes_stay_unknown():
    cases = [
        ("mean", {"axis": -1}, [(None, None, 3)], (None, None)),
        ("sum", {"axis": [1, 2], "keepdims": True}, [(None, None, 3)], (1, 1, 3)),
        ("normalize", {"axis": 1}, [(None, 4)], (None, 4)),
        ("cosine_similarity", {"axis": 1}, [(None, 4), (3, None)], (4,)),  # the sizes merge: (3, 4)
        ("cosine_similarity", {}, [(None, 4), (3, None)], (3,)),
    ]
    for name, args, shapes, out in cases:
        assert get_op(name).rule(args, shapes).shape == out
        assert _keras_symbolic(name, args, shapes) == (None, *out)
        layer = _layer(name, args)
        batch = [(None, *s) for s in shapes]
        assert layer.compute_output_shape(batch if len(batch) > 1 else batch[0]) == (None, *out)


def test_cosine_similarity_and_normalize_equal_keras_layers():
    """Keras' own layers for the same computations: Dot(normalize=True) is the cosine similarity of
    two vectors, UnitNormalization the L2 normalization (both with epsilon 1e-12, not 1e-7)."""
    a, b = random_inputs([(6,), (6,)], batch=3, seed=2)
    cosine = math_layers.CosineSimilarity(keepdims=True)([a, b])
    dot = keras.layers.Dot(axes=1, normalize=True)([a, b])
    np.testing.assert_allclose(np.asarray(cosine), np.asarray(dot), rtol=1e-5)
    x = random_inputs([(4, 5)], seed=3)[0]
    np.testing.assert_allclose(np.asarray(math_layers.Normalize(axis=1)(x)),
                               np.asarray(keras.layers.UnitNormalization(axis=1)(x)), rtol=1e-5)


@pytest.mark.parametrize(
    "name, args, shapes, macs, rf",
    [
        ("abs", {}, [(4, 5, 6)], 0, "same"),
        ("power", {"exponent": 2}, [(4, 5, 6)], 0, "same"),
        ("mean", {"axis": -1}, [(4, 5, 6)], 0, "same"),
        ("max", {"axis": [1, 2]}, [(4, 5, 6)], 0, "global"),  # global max pooling
        ("std", {"axis": -1}, [(4, 5, 6)], 120, "same"),  # one per value: sum of squared deviations
        ("var", {"axis": 1}, [(4, 5, 6)], 120, "global"),
        ("std", {"axis": -1}, [(None, 5, 6)], None, "same"),  # depends on the input size
        ("normalize", {}, [(4, 5, 6)], 120, "same"),  # the norm's sum of squares
        ("normalize", {"axis": 2}, [(4, 5, 6)], 120, "global"),
        ("cosine_similarity", {}, [(10, 64), (10, 64)], 3 * 640, "same"),  # a.b, a.a, b.b
        ("cosine_similarity", {}, [(None, 64), (None, 64)], None, "same"),
    ],
)
def test_macs_and_receptive_field_by_hand(name, args, shapes, macs, rf):
    result = get_op(name).rule(args, shapes)
    assert (result.macs, result.rf) == (macs, rf)


@pytest.mark.parametrize(
    "name, args, shapes, match, at",
    [
        ("mean", {"axis": 0}, [(4, 5)], r"axis 0 is the batch axis", "axis"),
        ("mean", {"axis": -3}, [(4, 5)], r"axis -3 is the batch axis", "axis"),
        ("sum", {"axis": 3}, [(4, 5)], r"axis 3 is out of range for an input of rank 3: \(batch, 4, 5\)",
         "axis"),
        ("max", {"axis": -4}, [(4, 5)], r"axis -4 is out of range", "axis"),
        ("min", {"axis": [1, -2]}, [(4, 5)], r"`axis` names axis -2 twice", "axis"),
        ("std", {"axis": []}, [(4, 5)],
         r"`axis` must be an integer or a non-empty list of integers, got \[\]", "axis"),
        ("var", {"axis": True}, [(4, 5)], r"`axis` must be an integer or a non-empty list", "axis"),
        ("mean", {"axis": "channels"}, [(4, 5)], r"got 'channels'", "axis"),
        ("mean", {"axis": 1, "keepdims": "yes"}, [(4, 5)], r"`keepdims` must be true or false", "keepdims"),
        ("mean", {}, [(4, 5)], r"missing required argument `axis`", None),
        ("normalize", {"axis": [1, 2]}, [(4, 5)], r"`axis` must be an integer, got \[1, 2\]", "axis"),
        ("normalize", {"axis": 0}, [(4, 5)], r"batch axis", "axis"),
        ("normalize", {"order": 0}, [(4, 5)], r"`order` must be an integer >= 1, got 0", "order"),
        ("normalize", {"order": 1.5}, [(4, 5)], r"`order` must be an integer >= 1, got 1.5", "order"),
        ("normalize", {"epsilon": 0}, [(4, 5)], r"`epsilon` must be a number > 0", "epsilon"),
        ("clip", {"x_min": 1, "x_max": 0}, [(4,)], r"`x_min` \(1\) is larger than `x_max` \(0\)", "x_min"),
        ("clip", {"x_min": "low", "x_max": 0}, [(4,)], r"`x_min` must be a number, got 'low'", "x_min"),
        ("power", {"exponent": float("nan")}, [(4,)], r"`exponent` must be a number, got nan", "exponent"),
        ("cosine_similarity", {}, [(4,)], r"compares exactly 2 inputs, got 1", None),
        ("cosine_similarity", {}, [(4,), (4,), (4,)], r"compares exactly 2 inputs, got 3", None),
        ("cosine_similarity", {}, [(4, 8), (4, 6)],
         r"same shape, got \(batch, 4, 8\), \(batch, 4, 6\)", None),
        ("cosine_similarity", {}, [(8,), (4, 8)], r"same shape", None),
        ("cosine_similarity", {"axis": 2}, [(8,), (8,)], r"axis 2 is out of range", "axis"),
    ],
)
def test_rule_rejects(name, args, shapes, match, at):
    with pytest.raises(ShapeError, match=match) as info:
        get_op(name).rule(args, shapes)
    assert info.value.arg == at


@pytest.mark.parametrize(
    "cls, args, match",
    [
        ("Mean", {"axis": 0}, r"must not name the batch axis"),
        ("Sum", {"axis": []}, r"must be an integer or a non-empty list"),
        ("Max", {"axis": 1, "keepdims": 1}, r"`keepdims` argument must be True or False"),
        ("Normalize", {"axis": [1, 2]}, r"`axis` argument must be an integer\."),
        ("Normalize", {"order": 0}, r"`order` argument must be an integer >= 1"),
        ("Normalize", {"epsilon": 0.0}, r"`epsilon` argument must be > 0"),
        ("Clip", {"x_min": 2, "x_max": 1}, r"`x_min` argument must be at most `x_max`"),
        ("Power", {"exponent": "2"}, r"`exponent` argument must be a number"),
        ("Power", {"exponent": float("nan")}, r"must not be NaN"),
    ],
)
def test_layer_refuses_bad_arguments(cls, args, match):
    with pytest.raises(ValueError, match=match):
        getattr(archspec.layers, cls)(**args)


def test_layer_refuses_an_axis_its_input_lacks():
    with pytest.raises(ValueError, match=r"Mean: axis 3 is out of range for an input of rank 3"):
        math_layers.Mean(axis=3).compute_output_shape((None, 4, 5))
    with pytest.raises(ValueError, match=r"Sum: axis -3 is the batch axis"):
        math_layers.Sum(axis=[-1, -3]).compute_output_shape((None, 4, 5))
    with pytest.raises(ValueError, match=r"an axis is named twice"):
        math_layers.Min(axis=[2, -1]).compute_output_shape((None, 4, 5))
    with pytest.raises(ValueError, match=r"two inputs of the same shape"):
        math_layers.CosineSimilarity().compute_output_shape([(None, 4), (None, 5)])


ROUND_TRIPS = CONFIGS[::3] + CONFIGS[-4:]  # every op with arguments, and some without


@pytest.mark.parametrize("config", ROUND_TRIPS, ids=[_ids(c) for c in ROUND_TRIPS])
def test_config_round_trips(config):
    name, args, _ = config
    layer = _layer(name, {**args, "name": "x"})
    config = layer.get_config()
    assert {k: config[k] for k in args} == args
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_definitions():
    """One OpDef per class of archspec.layers.math, each multi-input only for cosine similarity."""
    assert sorted(op.cls for op in LAYER_OPS) == sorted(math_layers.__all__)
    assert [op.name for op in LAYER_OPS if op.multi_input] == ["cosine_similarity"]
    assert get_op("l2_normalize") is get_op("normalize") is get_op("Normalize")
    assert get_op("mean").required == ("axis",) and get_op("mean").bools == ("keepdims",)
    assert get_op("clip").required == ("x_min", "x_max")
    # keras.ops' element-wise maximum/minimum of two tensors stay Keras' merge layers
    assert get_op("maximum").module == "keras.layers" and get_op("max").module == "archspec.layers"


# --------------------------------------------------------------------------- specs
DISTANCE = """
name: distance
inputs:
  a: {shape: [16]}
  b: {shape: [16]}
body:
  - subtract: {from: [a, b]}
  - abs: {name: l1}                       # |a - b|, written directly
  - dense: {units: 1, activation: sigmoid}
"""


def test_absolute_difference_of_two_inputs():
    spec = archspec.loads(DISTANCE)
    assert spec.graph["l1"].shape == (16,) and spec.analyze().total_params == 17
    model = archspec.build(spec)
    assert_analyzer_equals_keras(spec, model)
    a, b = random_inputs([(16,), (16,)], batch=3)
    l1 = keras.Model(model.inputs, model.get_layer("l1").output)
    np.testing.assert_allclose(np.asarray(l1([a, b])), np.abs(a - b), rtol=1e-6)
    keras.backend.clear_session()


EVERY_OP = """
name: every_math_op
inputs:
  a: {shape: [4, 8]}
  b: {shape: [4, 8]}
body:
  - subtract: {from: [a, b]}
  - abs: {as: d}
  - square
  - sqrt
  - power: {exponent: 1.5}
  - clip: {x_min: 0.01, x_max: 10}
  - log
  - exp
  - reciprocal
  - negative
  - sign
  - mean: {from: d, axis: -1, name: per_row}           # (4,)
  - sum: {from: d, axis: 1, keepdims: true}            # (1, 8)
  - max: {from: d, axis: [1, 2], name: largest}        # ()
  - min: {from: d, axis: -2}                           # (8,)
  - std: {from: d, axis: -1}
  - var: {from: d, axis: 1}
  - l2_normalize: {from: a, name: unit}                # (4, 8), rows of norm 1
  - normalize: {from: b, axis: 1, order: 1}
  - cosine_similarity: {from: [a, b], name: cosine}    # (4,)
outputs: [sign, per_row, sum, largest, min, std, var, unit, normalize, cosine]
"""


def test_spec_with_every_op_builds_saves_and_reloads(tmp_path):
    spec = archspec.loads(EVERY_OP)
    shapes = dict(zip(spec.graph.outputs, spec.output_shapes))
    assert shapes == {"sign": (4, 8), "per_row": (4,), "sum": (1, 8), "largest": (), "min": (8,),
                      "std": (4,), "var": (8,), "unit": (4, 8), "normalize": (4, 8), "cosine": (4,)}
    analysis = spec.analyze()
    assert analysis.total_params == 0
    used = {node.op for node in spec.graph.nodes}
    assert {op.name for op in LAYER_OPS} <= used
    model = archspec.build(spec)
    assert_analyzer_equals_keras(spec, model)
    a, b = random_inputs([(4, 8), (4, 8)], batch=2, seed=1)
    before = [np.asarray(y) for y in model([a, b])]
    path = tmp_path / "every.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert {type(layer).__module__ for layer in again.layers} >= {"archspec.layers.math"}
    for x, y in zip(before, again([a, b])):
        np.testing.assert_allclose(x, np.asarray(y), rtol=1e-6)
    unit, cosine = before[7], before[9]
    np.testing.assert_allclose(np.linalg.norm(unit, axis=-1), 1.0, rtol=1e-5)
    want = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    np.testing.assert_allclose(cosine, want, rtol=1e-5, atol=1e-6)
    keras.backend.clear_session()


def _error(text: str) -> str:
    with pytest.raises(archspec.SpecError) as info:
        archspec.loads(text, file="net.yaml")
    return info.value.format()


@pytest.mark.parametrize(
    "step, shown",
    [
        ("- mean: {axis: 0}",
         r"^net\.yaml:4:18: at `body\[0\]\.mean\.axis`: error: Mean: axis 0 is the batch axis"),
        ("- sum: {axis: [1, 3]}",
         r"^net\.yaml:4:17: at `body\[0\]\.sum\.axis`: error: Sum: axis 3 is out of range"),
        ("- max: {axis: 1, keepdims: 'yes'}",
         r"^net\.yaml:4:30: at `body\[0\]\.max\.keepdims`: error: Max: `keepdims` must be true or false"),
        ("- clip: {x_min: 1, x_max: 0}",
         r"^net\.yaml:4:19: at `body\[0\]\.clip\.x_min`: error: Clip: `x_min` \(1\) is larger than `x_max`"),
        ("- normalize: {order: 0}",
         r"^net\.yaml:4:24: at `body\[0\]\.normalize\.order`: error: Normalize: `order` must be an integer"),
        ("- mean", r"^net\.yaml:4:5: at `body\[0\]`: error: `Mean` is missing its argument `axis`"),
        ("- cosine_similarity", r"`CosineSimilarity` merges several inputs: give them with `from: \[a, b\]`"),
    ],
)
def test_spec_errors_are_located(step, shown):
    text = f"name: net\ninput: {{shape: [4, 8]}}\nbody:\n  {step}\n"
    assert re.search(shown, _error(text), re.M)
