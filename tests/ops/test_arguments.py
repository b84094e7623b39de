"""Argument values: what the analyzer accepts, Keras builds and trains (archspec.ops.arguments).

Names (activations, initializers, regularizers, constraints, dtypes, resize interpolations) are
compared with Keras' own getters, on every name Keras knows and on generated strings; every
boolean argument of every op refuses a string; every range is probed on both sides of each
boundary with the real layer, built and taken through one gradient step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.ops.arguments import RANGES, check_arguments, keras_names, keras_names_by_class
from archspec.ops.base import ShapeError
from archspec.ops import registry


def accepts(cls: str, args: dict, bools: tuple = ()) -> bool:
    try:
        check_arguments(cls, args, bools)
        return True
    except ShapeError:
        return False


# --------------------------------------------------------------------------- names
def keras_accepts(family: str, value) -> bool:
    """Does Keras' getter for ``family`` accept ``value`` (and make a usable object)?"""
    import keras

    try:
        if family == "dtypes":
            keras.layers.Dense(2, dtype=value).build((None, 3))
        elif family == "resize_interpolations":
            keras.layers.UpSampling2D(interpolation=value)(np.ones((1, 2, 2, 1), "float32"))
        else:
            getter = {"activations": keras.activations.get, "initializers": keras.initializers.get,
                      "regularizers": keras.regularizers.get, "constraints": keras.constraints.get}[family]
            if getter(value) is None:
                return False
    except Exception:  # noqa: BLE001 - any refusal
        return False
    return True


ARG = {"activations": "activation", "initializers": "kernel_initializer",
       "regularizers": "kernel_regularizer", "constraints": "kernel_constraint", "dtypes": "dtype",
       "resize_interpolations": "interpolation"}
CLS = {"resize_interpolations": "UpSampling2D"}


def analyzer_accepts_name(family: str, value) -> bool:
    return accepts(CLS.get(family, "Dense"), {ARG[family]: value})


@pytest.mark.parametrize("family", sorted(ARG))
def test_every_name_keras_knows_is_accepted_and_keras_agrees(family, keras):
    names = keras_names()[family]
    assert len(names) >= {"activations": 30, "initializers": 34, "regularizers": 8, "constraints": 8,
                          "dtypes": 8, "resize_interpolations": 6}[family]
    for name in names:
        assert analyzer_accepts_name(family, name), name
        assert keras_accepts(family, name), name


# near misses of real names (a letter dropped, doubled, swapped; another case) and random text
@st.composite
def near_misses(draw, family):
    name = draw(st.sampled_from(keras_names()[family]))
    i = draw(st.integers(0, len(name) - 1))
    kind = draw(st.sampled_from(["drop", "double", "upper", "suffix"]))
    return {"drop": name[:i] + name[i + 1:], "double": name[:i] + name[i] + name[i:],
            "upper": name.upper(), "suffix": name + "x"}[kind]


@pytest.mark.parametrize("family", sorted(ARG))
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data())
def test_generated_names_analyzer_accepts_exactly_what_keras_accepts(family, data):
    value = data.draw(st.one_of(near_misses(family), st.text("abcdefghijklmnopqrstuvwxyz_0123456789", max_size=12)))
    assert analyzer_accepts_name(family, value) == keras_accepts(family, value), value


# the random transforms: each class' own interpolation and fill-mode lists, captured from it
PER_CLASS = [(fam, cls) for fam in ("transform_interpolations", "fill_modes")
             for cls in sorted(keras_names_by_class()[fam])]


@pytest.mark.parametrize("fam, cls", PER_CLASS, ids=[f"{c}.{f}" for f, c in PER_CLASS])
def test_random_transforms_take_the_names_their_class_takes(keras, fam, cls):
    arg = "interpolation" if fam == "transform_interpolations" else "fill_mode"
    base = {"RandomRotation": {"factor": 0.1}, "RandomZoom": {"height_factor": 0.1},
            "RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1},
            "RandomShear": {"x_factor": 0.1}}.get(cls, {})
    known = keras_names_by_class()[fam][cls]
    assert "nearest" in known
    for value in [*known, "bicubic", "area", "lanczos3", "Nearest", "nearst", "mirror", "reflect"]:
        try:
            getattr(keras.layers, cls)(**base, **{arg: value})
            keras_ok = True
        except (ValueError, NotImplementedError):  # Keras raises the latter for these
            keras_ok = False
        assert accepts(cls, {arg: value}) == keras_ok, (cls, arg, value)
    with pytest.raises(ShapeError, match=rf"unknown (fill mode|interpolation) `nearst` for `{arg}`"):
        check_arguments(cls, {arg: "nearst"})


# Softmax and UnitNormalization check their axes only when they run: the analyzer, before
AXES = [-5, -4, -1, 0, 3, 4, 5, [1, 2], [1, 5], [2, -2], 1.0]


@pytest.mark.parametrize("layer", ["Softmax", "UnitNormalization"])
def test_axes_beyond_the_rank_are_refused_where_keras_fails_when_run(keras, layer):
    x = np.ones((2, 3, 4, 5), "float32")
    for axis in AXES:
        try:
            getattr(keras.layers, layer)(axis=axis)(x)
            keras_ok = True
        except Exception:  # noqa: BLE001 - TensorFlow's InvalidArgumentError, TypeError, ...
            keras_ok = False
        try:
            archspec.loads(
                f"input: {{shape: [3, 4, 5]}}\nbody:\n  - {layer}: {{axis: {axis!r}}}\n".replace("True", "true"))
            ours = True
        except archspec.SpecError as err:
            assert "invalid `axis`" in str(err) and err.loc.path == f"body[0].{layer}.axis"
            ours = False
        assert ours == keras_ok, (layer, axis)
    # Keras takes `axis: true` as 1; a boolean axis is a mistake, refused
    with pytest.raises(archspec.SpecError, match="invalid `axis` True"):
        archspec.loads(f"input: {{shape: [3, 4, 5]}}\nbody:\n  - {layer}: {{axis: true}}\n")


def test_config_mappings_and_none():
    assert accepts("Dense", {"kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.1}}})
    assert not accepts("Dense", {"kernel_regularizer": {"class_name": "L3", "config": {}}})
    assert not accepts("Dense", {"kernel_regularizer": {"l2": 0.1}})
    assert not accepts("Dense", {"kernel_regularizer": 0.01})
    assert accepts("Dense", {"activation": None, "kernel_constraint": None})
    # `constant` works only with its value: by name Keras fails (KeyError 'value'), as a config it builds
    assert not accepts("Dense", {"kernel_initializer": "constant"})
    assert accepts("Dense", {"kernel_initializer": {"class_name": "Constant", "config": {"value": 0.5}}})


def test_a_misspelled_activation_is_located_with_a_hint():
    text = "input: {shape: [8, 8, 3]}\nbody:\n  - conv2d: {filters: 4, kernel_size: 3, activation: relu6x}\n"
    with pytest.raises(archspec.SpecError, match=r"Conv2D: unknown activation `relu6x` for `activation`") as err:
        archspec.loads(text, file="net.yaml")
    assert (err.value.loc.line, err.value.loc.col, err.value.loc.path) == (3, 54, "body[0].conv2d.activation")
    assert err.value.hint == "did you mean `relu6`?"


# --------------------------------------------------------------------------- booleans
def test_every_boolean_argument_of_every_op_refuses_a_string():
    seen = 0
    for name in registry().names():
        op = registry().get(name)
        for arg in op.bools:
            assert accepts(op.cls, {arg: True}, op.bools) and accepts(op.cls, {arg: False}, op.bools)
            assert not accepts(op.cls, {arg: "false"}, op.bools), (op.cls, arg)
            assert not accepts(op.cls, {arg: 0}, op.bools), (op.cls, arg)
            seen += 1
    assert seen > 300  # use_bias, center, scale, ... trainable and autocast of every layer


def test_a_quoted_false_is_an_error_at_its_line():
    text = 'input: {shape: [4]}\nbody:\n  - dense: {units: 2, use_bias: "false"}\n'
    with pytest.raises(archspec.SpecError, match=r"`use_bias` must be true or false, got 'false'") as err:
        archspec.loads(text)
    assert (err.value.loc.line, err.value.loc.path) == (3, "body[0].dense.use_bias")


def test_a_model_name_with_a_slash_is_refused():
    with pytest.raises(archspec.SpecError, match=r"`name` may not contain `/`") as err:
        archspec.loads("name: my/net\ninput: {shape: [4]}\nbody:\n  - dense: {units: 2}\n")
    assert err.value.loc.line == 1


# --------------------------------------------------------------------------- ranges
BASE = {"Embedding": {"input_dim": 5, "output_dim": 3}, "Resizing": {"height": 2, "width": 2}}
INPUT = {"Embedding": np.zeros((1, 3), "float32"), "Resizing": np.ones((1, 4, 4, 1), "float32"),
         "SpatialDropout2D": np.ones((2, 4, 4, 3), "float32"),
         "SpatialDropout3D": np.ones((2, 3, 4, 4, 3), "float32")}


def keras_trains(cls: str, args: dict) -> bool:
    """Keras constructs the layer, runs it forward in training mode, and takes a gradient step
    with finite results."""
    import keras
    from tests.kerascheck import train_step

    try:
        layer = getattr(keras.layers, cls)(**args)
        y = train_step(layer, INPUT.get(cls, np.random.default_rng(0).random((2, 4, 3), dtype=np.float32)))
    except Exception:  # noqa: BLE001 - any refusal
        return False
    return bool(np.isfinite(y).all())


def _probes(low, high) -> list:
    """Values on both sides of each boundary, and between."""
    ints = isinstance(low, int)
    eps = 1 if ints else 1e-3
    values = [low - eps, low, low + eps]
    values += [high - eps, high, high + eps] if high != math.inf else [10 ** 6 if ints else 1e6]
    return values


@pytest.mark.parametrize("cls, arg", sorted(RANGES), ids=[f"{c}.{a}" for c, a in sorted(RANGES)])
def test_ranges_on_both_sides_of_each_boundary(keras, cls, arg):
    low, high, high_ok = RANGES[(cls, arg)]
    for value in _probes(low, high):
        args = {**BASE.get(cls, {}), arg: value}
        inside = low <= value <= high and (value < high or high_ok)
        assert accepts(cls, args) == inside, (cls, arg, value)
        if inside:  # what the analyzer accepts, Keras builds and trains
            assert keras_trains(cls, args), (cls, arg, value)
    assert not accepts(cls, {**BASE.get(cls, {}), arg: "1"}) and not accepts(cls, {**BASE.get(cls, {}), arg: True})


def test_rate_of_one_builds_in_keras_but_cannot_train_and_is_refused(keras):
    assert not keras_trains("GaussianDropout", {"rate": 1.0})  # divides by zero in training
    assert not accepts("Dropout", {"rate": 1.0})
    with pytest.raises(archspec.SpecError, match=r"`rate` of Dropout must be between 0.0 and 1.0 \(1.0 excluded\)"):
        archspec.loads("input: {shape: [4]}\nbody:\n  - dropout: {rate: 1.5}\n")
