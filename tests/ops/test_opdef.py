"""One OpDef is the only edit a new op needs: registered once, it is validated, analyzed by its
rule, built, listed in the JSON Schema and in `archspec ops`."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import archspec  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.errors import SpecError  # noqa: E402
from archspec.ops import BASE_ARGS, OpDef, get_op, register_op, registry  # noqa: E402
from archspec.ops.base import Result, ShapeError, arg, prod  # noqa: E402
from archspec.tools.schema import make_schema  # noqa: E402


class GainLayerForOpdefTest(keras.layers.Layer):
    """``x * w * factor`` with one trainable weight per channel."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w * self.factor


def gain_rule(args: dict, shapes) -> Result:
    """Same shape; one weight per channel; one multiply-add per value."""
    (shape,) = shapes
    factor = arg(args, "factor", 2.0)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
        raise ShapeError(f"`factor` must be a number > 0, got {factor!r}", arg="factor")
    return Result(tuple(shape), shape[-1], 0, prod(shape), rf="same")


GAIN = OpDef("gain", "GainLayerForOpdefTest", "user", args=("factor", *BASE_ARGS), rule=gain_rule,
             aliases=("channel_gain",), factory=GainLayerForOpdefTest)

SPEC = """\
name: gained
input: {{shape: [6, 6, 3]}}
body:
  - conv2d: {{filters: 4, kernel_size: 3}}
  - {op}: {{{args}, name: scaled}}
  - flatten
  - dense: {{units: 2}}
"""


@pytest.fixture
def gain():
    """GAIN registered for one test, then removed: other tests never see it."""
    op = register_op(GAIN)
    yield op
    registry().remove(op.name)
    assert get_op("gain") is None and get_op("channel_gain") is None


def test_lookups_by_every_spelling(gain):
    assert get_op("gain") is get_op("GainLayerForOpdefTest") is get_op("CHANNEL_GAIN") is gain
    assert gain.keras_class() is GainLayerForOpdefTest


def test_validation_locates_a_misspelled_argument_and_suggests(gain):
    with pytest.raises(SpecError, match=r"unknown argument `factr` for `GainLayerForOpdefTest`") as info:
        archspec.loads(SPEC.format(op="gain", args="factr: 0.5"), file="net.yaml")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == ("net.yaml", 5, 12)
    assert err.loc.path == "body[1].gain.factr"
    assert "did you mean `factor`?" in err.hint


def test_validation_locates_the_rules_complaint_at_the_value(gain):
    with pytest.raises(SpecError, match=r"GainLayerForOpdefTest: `factor` must be a number > 0, got -1"
                       ) as info:
        archspec.loads(SPEC.format(op="channel_gain", args="factor: -1"))
    loc = info.value.loc
    assert (loc.line, loc.col, loc.path) == (5, 28, "body[1].channel_gain.factor")


def test_summary_uses_the_rule(gain):
    analysis = archspec.summary(archspec.loads(SPEC.format(op="gain", args="factor: 0.5")))
    row = analysis["scaled"]
    assert not row.fallback and analysis.fallback_layers == []
    assert (row.output_shape, row.trainable_params, row.macs) == ((4, 4, 4), 4, 64)
    assert analysis.total_params == (27 * 4 + 4) + 4 + (64 * 2 + 2)


def test_build_places_the_layer_and_agrees_on_parameters(gain):
    spec = archspec.loads(SPEC.format(op="GainLayerForOpdefTest", args="factor: 0.5"))
    model = archspec.build(spec)
    layer = model.get_layer("scaled")
    assert isinstance(layer, GainLayerForOpdefTest) and layer.factor == 0.5
    assert layer.count_params() == spec.analyze()["scaled"].trainable_params == 4
    assert model.count_params() == spec.analyze().total_params
    assert model.predict(np.zeros((1, 6, 6, 3), np.float32), verbose=0).shape == (1, 2)
    keras.backend.clear_session()


def test_json_schema_lists_the_op_and_its_arguments(gain):
    import jsonschema
    import yaml

    schema = make_schema()
    props = schema["$defs"]["op.gain"]["properties"]
    assert "factor" in props and "name" in props and "from" in props
    assert schema["$defs"]["op.GainLayerForOpdefTest"] == {"$ref": "#/$defs/op.gain"}
    validator = jsonschema.Draft202012Validator(schema)
    ok = yaml.safe_load(SPEC.format(op="gain", args="factor: 0.5"))
    assert list(validator.iter_errors(ok)) == []
    typo = yaml.safe_load(SPEC.format(op="gain", args="factr: 0.5"))
    assert any("factr" in e.message or any("factr" in c.message for c in e.context or ())
               for e in validator.iter_errors(typo))


def test_ops_table_lists_the_op_with_its_rule(gain, capsys):
    assert main(["ops", "gain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["gain", "user.GainLayerForOpdefTest"]]


def test_registration_refuses_taken_names(gain):
    with pytest.raises(ValueError, match="already registered"):
        register_op(GAIN)
    with pytest.raises(ValueError, match="`conv2d` is already registered"):
        register_op(OpDef("conv2d", "Other", "user", args=("name",)))
    with pytest.raises(ValueError, match="`channel_gain` is already registered"):
        register_op(OpDef("gain2", "Other", "user", args=("name",), aliases=("channel_gain",)))
    assert get_op("gain2") is None and get_op("Other") is None


def test_no_leak_without_the_fixture():
    assert get_op("gain") is None and "op.gain" not in make_schema()["$defs"]
