"""Every layer keras.applications uses has a TF-free analyzer rule (issue #17): summarizing an
EfficientNet never imports TensorFlow. ``archspec/data/applications_layers.json``
(``scripts/gen_applications_layers.py``) records, per family, the layer classes of its models and
each distinct configuration of options with the shapes and counts Keras gave it; the rules must
answer each one as Keras did, and the file must be current."""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from archspec.analyze.infer import analyze_node  # noqa: E402
from archspec.errors import Loc  # noqa: E402
from archspec.ops import get_op  # noqa: E402
from archspec.ops.base import ShapeError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = json.loads((ROOT / "archspec" / "data" / "applications_layers.json").read_text())

#: (family, class, record) for every recorded configuration
RECORDS = [(family, cls, record) for family, entry in DATA["families"].items()
           for cls, layer in entry["layers"].items() for record in layer["configs"]]
STANDARD = sorted({cls for family, entry in DATA["families"].items()
                   for cls, layer in entry["layers"].items() if layer["standard"]})

#: the classes keras.applications defines itself (archspec.layers.applications writes them)
NOT_IN_KERAS_LAYERS = {"CustomScaleLayer": "inception_resnet_v2", "LayerScale": "convnext"}


def _gen():
    spec = importlib.util.spec_from_file_location("gen_applications_layers",
                                                  ROOT / "scripts" / "gen_applications_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_model_and_family_is_recorded():
    models = {name for entry in DATA["families"].values() for name in entry["models"]}
    assert len(models) == 40 and {"EfficientNetB0", "ConvNeXtTiny", "NASNetMobile", "Xception"} <= models
    assert "Normalization" in DATA["families"]["efficientnet"]["layers"]


def test_classes_outside_keras_layers_are_the_known_ones():
    outside = {cls: family for family, entry in DATA["families"].items()
               for cls, layer in entry["layers"].items() if not layer["standard"]}
    assert outside == NOT_IN_KERAS_LAYERS


@pytest.mark.parametrize("cls", STANDARD)
def test_every_standard_class_has_a_rule(cls):
    op = get_op(cls)
    assert op is not None and op.module == "keras.layers" and op.rule is not None, f"{cls}: no TF-free rule"


def _id(item) -> str:
    family, cls, record = item
    return f"{family}-{cls}-{RECORDS.index(item)}"


@pytest.mark.parametrize("item", RECORDS, ids=[_id(r) for r in RECORDS])
def test_each_recorded_configuration_is_answered_by_the_rule_as_keras_did(item):
    family, cls, record = item
    op = get_op(cls)
    if op is None or op.rule is None:
        pytest.skip(f"{cls}: archspec.layers.applications' own test")
    args = {k: v for k, v in record["config"].items() if k in op.args}
    multi = isinstance(record["input_shape"][0], list)
    shapes = [tuple(s) for s in record["input_shape"]] if multi else [tuple(record["input_shape"])]
    result, by_keras = analyze_node(op, args, shapes, Loc("<test>", 1, 1))
    assert not by_keras, f"{cls} {args}: Keras answered"
    assert (list(result.shape), result.params, result.non_trainable) == (
        record["output_shape"], record["params"], record["non_trainable"])


def test_the_file_is_current(keras):
    """MobileNet at 32 px (its family's only model), regenerated, is what the file holds."""
    gen = _gen()
    assert DATA["families"]["mobilenet"]["models"] == {"MobileNet": 32}
    model, size = gen.build("MobileNet", sizes=(32,))
    assert gen.layer_records(model) == DATA["families"]["mobilenet"]["layers"]
    assert DATA["keras"] == keras.__version__
    keras.backend.clear_session()


# --------------------------------------------------------------------------- Normalization vs Keras
def _normalization_configs():
    rng = random.Random(17)
    out = []
    for _ in range(12):
        shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
        ndim = len(shape) + 1
        axis = rng.choice([-1, None, rng.randint(1, ndim - 1), -rng.randint(1, ndim - 1),
                           sorted(rng.sample(range(1, ndim), rng.randint(1, ndim - 1)))])
        args = {} if axis == -1 and rng.random() < 0.3 else {"axis": axis}
        if rng.random() < 0.3:
            args["mean"], args["variance"] = 0.5, 2.0
        out.append((args, shape))
    out += [({"axis": [1, 3]}, (4, 5, 3)), ({"axis": 2, "mean": [1.0] * 5, "variance": [2.0] * 5}, (4, 5, 3)),
            ({"axis": [1, 2], "mean": [[0.0], [1.0]], "variance": [[1.0], [1.0]]}, (2, 3))]
    return out


@pytest.mark.parametrize("args, shape", _normalization_configs())
def test_normalization_rule_equals_keras(keras, args, shape):
    import numpy as np

    result = get_op("normalization").rule(dict(args), [shape])
    layer = keras.layers.Normalization(**args)
    layer.build((None, *shape))
    count = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    assert layer.compute_output_shape((None, *shape)) == (None, *result.shape)
    assert (count(layer.trainable_weights), count(layer.non_trainable_weights)) == (0, result.non_trainable)
    y = layer(np.ones((2, *shape), "float32"))
    assert tuple(y.shape) == (2, *result.shape)


@pytest.mark.parametrize("args, shape, match", [
    ({"axis": 0}, (4, 3), r"cannot keep the batch axis"),
    ({"axis": 3}, (4, 3), r"invalid `axis` 3 for an input of rank 3"),
    ({"axis": 1}, (None, 3), r"the kept `axis` 1 of Normalization must have a known size"),
    ({"mean": 1.0}, (4, 3), r"give both `mean` and `variance`, or neither"),
    ({"mean": [1.0, 2.0], "variance": [1.0]}, (4, 3), r"`mean` and `variance` must have the same shape"),
    ({"mean": [1.0, 2.0], "variance": [1.0, 1.0]}, (4, 3),
     r"`mean` of shape \(2,\) does not fit the kept axis sizes \(3,\)"),
])
def test_normalization_refuses_what_keras_refuses(keras, args, shape, match):
    with pytest.raises(ShapeError, match=match):
        get_op("normalization").rule(dict(args), [shape])
    import numpy as np

    with pytest.raises(Exception):  # noqa: B017 - Keras refuses it too: a ValueError, or TensorFlow's InvalidArgumentError
        layer = keras.layers.Normalization(**args)
        layer.build((None, *shape))
        layer(np.ones((2, *(size or 2 for size in shape)), "float32"))


EFFICIENTNET_STEM = """
name: efficientnet_stem
input: {shape: [32, 32, 3]}
body:
  - rescaling: {scale: 0.00392156862745098}
  - normalization: {axis: 3}
  - rescaling: {scale: [2.0, 2.0, 2.0]}
  - zero_padding2d: {padding: [[0, 1], [0, 1]]}
  - conv2d: {filters: 8, kernel_size: 3, strides: 2, use_bias: false}
  - batch_normalization: {axis: 3}
  - activation: {activation: swish, as: x}
  - depthwise_conv2d: {kernel_size: 3, padding: same, use_bias: false}
  - global_average_pooling2d: {keepdims: true}
  - conv2d: {filters: 8, kernel_size: 1, activation: sigmoid}
  - multiply: {from: [x, _]}
  - dropout: {rate: 0.2, noise_shape: [null, 1, 1, 1]}
"""


def test_a_summary_of_an_efficientnet_stem_imports_no_tensorflow():
    """The issue's example: `archspec summary` of EfficientNet's layers stays TensorFlow-free, and
    its Normalization counts Keras' mean, variance and count."""
    import subprocess
    import sys

    script = ("import sys, archspec\n"
              f"a = archspec.summary(archspec.loads({EFFICIENTNET_STEM!r}))\n"
              "assert not a.fallback_layers, a.fallback_layers\n"
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
              "print(a['normalization'].non_trainable_params, a.total_params)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["7", str(7 + 216 + 32 + 72 + 72)]


def test_the_text_summary_says_which_layers_keras_answered(keras):
    import archspec
    from archspec.analyze.table import format_table

    spec = archspec.loads("inputs: {a: {shape: [4]}, b: {shape: [4]}}\n"
                          "body:\n  - dot: {axes: 1, from: [a, b], name: similarity}\n  - dense: {units: 2}\n")
    a = archspec.summary(spec)
    assert a.to_dict()["layers"][2]["analyzed_by"] == "keras" and a.fallback_layers == ["similarity"]
    assert a.to_dict()["layers"][3]["analyzed_by"] == "archspec"
    text = format_table(a)
    assert "similarity (dot) *" in text
    assert ("* analyzed by Keras (1 layer without an archspec rule: TensorFlow was imported for it; "
            "MACs unknown): similarity") in text
