"""The op registry: its Keras catalog is current, its rule table names real layers, lookups and
user registrations work."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.util
import itertools
import json
from pathlib import Path

import keras
import numpy as np
import pytest

import archspec
import archspec.ops
from archspec.ops import get_op, register_layer
from archspec.ops.rules import OPS as STANDARD_OPS

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "archspec" / "data" / "keras_layers.json"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_keras_catalog", ROOT / "scripts" / "gen_keras_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- (a) the catalog
def test_catalog_matches_installed_keras():
    stored = json.loads(CATALOG.read_text())
    fresh = _generator().catalog()
    regenerate = "regenerate it: python scripts/gen_keras_catalog.py"
    assert sorted(stored["layers"]) == sorted(fresh), regenerate
    for name, info in fresh.items():
        assert stored["layers"][name] == info, f"{name}: {regenerate}"
    assert stored["keras_version"] == keras.__version__, regenerate


def test_argument_names_match_installed_keras():
    """keras_names.json: the activation, initializer, ... names Keras accepts, captured from it."""
    stored = json.loads((CATALOG.parent / "keras_names.json").read_text())
    assert stored == {"keras_version": keras.__version__, **_generator().names()}, \
        "regenerate it: python scripts/gen_keras_catalog.py"


# --------------------------------------------------------------------------- (b) the op entries
def test_op_entries_name_catalog_classes():
    """Each hand-written entry names a class of Keras' catalog, by its canonical name, once."""
    layers = json.loads(CATALOG.read_text())["layers"]
    missing = sorted(op.cls for op in STANDARD_OPS if op.cls not in layers)
    assert not missing, f"op entries name classes Keras does not have: {missing}"
    synonyms = sorted(op.cls for op in STANDARD_OPS if layers[op.cls]["class"] != op.cls)
    assert not synonyms, f"write the entry for Keras' own class name instead: {synonyms}"
    classes = [op.cls for op in STANDARD_OPS]
    assert len(classes) == len(set(classes))


def test_registry_serves_the_op_entries():
    """Every catalog name of a class (``MaxPool2D`` for ``MaxPooling2D``) gets its entry's facts,
    with the arguments from the catalog."""
    layers = json.loads(CATALOG.read_text())["layers"]
    facts = {op.cls: op for op in STANDARD_OPS}
    served = 0
    for cls, info in layers.items():
        op = get_op(cls)
        assert (op.cls, op.module) == (cls, "keras.layers")
        entry = facts.get(info["class"])
        calls = entry.call_args if entry else ()  # the layer's call arguments a spec may give
        assert (op.args, op.required, op.bools) == (tuple(info["args"]) + calls, tuple(info["required"]),
                                                    tuple(info.get("bools", ())) + calls)
        if entry is None:
            assert op.rule is None and not op.multi_input, cls
            continue
        served += 1
        assert op.rule is entry.rule and op.multi_input == entry.multi_input, cls
        assert op.aliases == (entry.aliases if cls == entry.cls else ()), cls
    assert served > len(STANDARD_OPS)  # Keras' other names share their class' entry


# --------------------------------------------------------------------------- (c) lookups
def test_lookups():
    assert get_op("Conv2D") is get_op("conv2d") is not None
    assert get_op("Conv2D").cls == "Conv2D"
    assert get_op("MaxPool2D").rule is not None
    assert get_op("MaxPool2D").rule is get_op("MaxPooling2D").rule
    assert get_op("bn") is get_op("BatchNormalization")
    assert get_op("fc") is get_op("dense")
    assert get_op("no_such_layer_xyz") is None
    assert "conv2d" in archspec.ops.registry()
    assert "no_such_layer_xyz" not in archspec.ops.registry()


def test_keras_classes_resolve():
    for name in ("conv2d", "max_pool2d", "batch_normalization", "concatenate", "add"):
        op = get_op(name)
        assert op.keras_class() is getattr(keras.layers, op.cls), name


# --------------------------------------------------------------------------- (d) user layers
_names = (f"ArchspecTestLayer{i}" for i in itertools.count())


@pytest.fixture
def fresh_registry():
    """A registry rebuilt after the test, so user registrations do not leak into others."""
    archspec.ops.registry.cache_clear()
    yield archspec.ops.registry()
    archspec.ops.registry.cache_clear()


def _scale_layer(with_output_shape: bool = True):
    """A tiny layer with one weight per channel: ``x * w * factor``."""

    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w * self.factor

    if with_output_shape:
        Scale.compute_output_shape = lambda self, input_shape: input_shape
    Scale.__name__ = Scale.__qualname__ = next(_names)
    return Scale


SPEC = """
name: custom
input: {{shape: [6, 6, 3]}}
body:
  - conv2d: {{filters: 4, kernel_size: 3}}
  - {op}: {{factor: 0.5, name: scaled}}
  - flatten
  - dense: {{units: 2}}
"""


def _check_registered(cls):
    op = register_layer(cls)
    assert op.name == archspec.ops.snake_case(cls.__name__)
    assert get_op(op.name) is op and get_op(cls.__name__) is op
    assert "factor" in op.args and "name" in op.args
    spec = archspec.loads(SPEC.format(op=op.name))
    analysis = archspec.summary(spec)
    assert analysis.fallback_layers == ["scaled"]  # no rule: analyzed by Keras
    assert analysis["scaled"].fallback
    assert analysis["scaled"].output_shape == (4, 4, 4)
    assert analysis["scaled"].trainable_params == 4
    model = archspec.build(spec)
    layer = model.get_layer("scaled")
    assert isinstance(layer, cls) and layer.factor == 0.5
    assert tuple(layer.output.shape) == (None, 4, 4, 4)
    assert model.count_params() == analysis.total_params == (27 * 4 + 4) + 4 + (64 * 2 + 2)
    y = model.predict(np.zeros((1, 6, 6, 3), np.float32), verbose=0)
    assert y.shape == (1, 2)
    keras.backend.clear_session()


def test_register_layer_makes_it_usable_in_specs(fresh_registry):
    _check_registered(_scale_layer())


def test_register_layer_without_compute_output_shape(fresh_registry):
    _check_registered(_scale_layer(with_output_shape=False))


def test_register_layer_refuses_a_name_twice(fresh_registry):
    cls = _scale_layer()
    register_layer(cls)
    with pytest.raises(ValueError, match="already registered"):
        register_layer(cls)
    with pytest.raises(ValueError, match="already registered"):
        register_layer(_scale_layer(), name="conv2d")  # nor a standard op's name


def test_registrations_are_cleaned_up(fresh_registry):
    cls = _scale_layer()
    register_layer(cls)
    archspec.ops.registry.cache_clear()
    assert get_op(cls.__name__) is None
