"""The TF-free analyzer rules of archspec's layers agree with the layers themselves (Keras)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import archspec.layers  # noqa: E402
from archspec.ops.rules import custom as custom_rules  # noqa: E402
from archspec.ops.rules import LAYER_OPS  # noqa: E402
from archspec.ops.base import NoRule, ShapeError  # noqa: E402
from archspec.ops.opdef import BASE_ARGS  # noqa: E402
from archspec.layers.fixed_filter import KERNELS  # noqa: E402
from archspec.ops import get_op, snake_case  # noqa: E402
from tests.kerascheck import random_inputs, train_step  # noqa: E402

# (op name, spec arguments, input shape without batch)
CONFIGS = [
    ("local_response_normalization", {}, (5, 5, 8)),
    ("local_response_normalization", {"size": 3, "alpha": 1.0}, (7, 3)),
    ("local_response_normalization", {"size": 1}, (2, 3, 4, 2)),
    ("stochastic_pooling2d", {}, (5, 5, 1)),
    ("stochastic_pooling2d", {"pool_size": 2}, (8, 8, 3)),
    ("stochastic_pooling2d", {"pool_size": [3, 2], "strides": [2, 1]}, (9, 7, 4)),
    ("stochastic_pooling2d", {"pool_size": 3, "strides": 2}, (13, 13, 2)),
    ("locally_connected2d", {"filters": 2, "kernel_size": 3}, (5, 5, 1)),
    ("locally_connected2d", {"filters": 4, "kernel_size": [2, 3], "strides": 2, "padding": "same"},
     (7, 8, 3)),
    ("locally_connected2d", {"filters": 3, "kernel_size": 1, "use_bias": False}, (4, 6, 5)),
    ("tiled_conv2d", {"filters": 4, "kernel_size": 3, "tile_size": 2}, (6, 6, 3)),
    ("tiled_conv2d", {"filters": 2, "kernel_size": [3, 2], "tile_size": [1, 3], "strides": 2,
                      "padding": "same", "use_bias": False}, (9, 8, 2)),
    ("tiled_conv2d", {"filters": 5, "kernel_size": 1, "tile_size": 1}, (3, 3, 2)),
    ("fixed_filter2d", {"kernel": "sobel_x"}, (5, 5, 3)),
    ("fixed_filter2d", {"kernel": "LAPLACIAN", "padding": "same"}, (5, 4, 2)),
    ("fixed_filter2d", {"kernel": [[1, 2, 3]], "channels": "sum", "strides": 2, "padding": "same"},
     (6, 7, 4)),
    ("fixed_filter2d", {"kernel": [[1, 0], [0, -1]], "strides": [1, 2]}, (6, 7, 1)),
    ("full_conv2d", {"filters": 2, "kernel_size": 3}, (5, 5, 1)),
    ("full_conv2d", {"filters": 4, "kernel_size": [3, 2], "dilation_rate": 2, "use_bias": False}, (6, 6, 2)),
    ("full_conv2d", {"filters": 4, "kernel_size": 3, "strides": 2, "groups": 2}, (5, 6, 2)),
    ("zero_pad_shortcut", {"filters": 32, "strides": 2}, (32, 32, 16)),
    ("zero_pad_shortcut", {"filters": 5, "strides": [2, 1]}, (5, 5, 3)),
    ("zero_pad_shortcut", {"filters": 4}, (3, 3, 4)),
]


#: op name -> its definition in archspec.ops.rules.custom
OPS = {op.name: op for op in LAYER_OPS}  # archspec.layers' ops, every family module's
RULES = {name: op.rule for name, op in OPS.items()}


def _ids(config):
    name, args, shape = config
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in args.items())}-{shape}".replace(" ", "")


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_rule_matches_keras(config):
    name, args, shape = config
    result = RULES[name](dict(args), [shape])
    layer = getattr(archspec.layers, OPS[name].cls)(**args)
    assert layer.compute_output_shape((None, *shape)) == (None, *result.shape)
    # builds, runs forward and takes one gradient step on this machine: "valid" means trainable
    y = train_step(layer, random_inputs([shape])[0])
    assert tuple(y.shape) == (2, *result.shape)
    assert _count(layer.trainable_weights) == result.params
    assert _count(layer.non_trainable_weights) == result.non_trainable
    assert layer.count_params() == result.params + result.non_trainable


@pytest.mark.parametrize(
    "name, args, shape, out, params, non_trainable, macs",
    [
        # LRN: size (5) multiply-accumulates per value.
        ("local_response_normalization", {}, (5, 5, 8), (5, 5, 8), 0, 0, 5 * 200),
        # Inference-time weighted average: 4 MACs per output value.
        ("stochastic_pooling2d", {}, (8, 8, 3), (4, 4, 3), 0, 0, 4 * 4 * 3 * 4),
        # 9 positions x (3x3x1x2 weights + 2 biases) = 180; MACs as a convolution.
        ("locally_connected2d", {"filters": 2, "kernel_size": 3}, (5, 5, 1), (3, 3, 2), 180, 0, 9 * 2 * 9),
        # 4 tiles x (3x3x3x4 + 4) = 448; MACs of the tiled convolution itself.
        ("tiled_conv2d", {"filters": 4, "kernel_size": 3, "tile_size": 2}, (6, 6, 3), (4, 4, 4), 448, 0,
         16 * 4 * 27),
        ("fixed_filter2d", {"kernel": "sobel_x"}, (5, 5, 3), (3, 3, 3), 0, 9, 9 * 3 * 9),
        # Seed 003: full convolution gives m + k - 1 = 5 + 3 - 1.
        ("full_conv2d", {"filters": 1, "kernel_size": 3}, (5, 5, 1), (7, 7, 1), 10, 0, 49 * 9),
        ("zero_pad_shortcut", {"filters": 32, "strides": 2}, (32, 32, 16), (16, 16, 32), 0, 0, 0),
    ],
)
def test_rule_numbers_by_hand(name, args, shape, out, params, non_trainable, macs):
    result = RULES[name](args, [shape])
    got = (result.shape, result.params, result.non_trainable, result.macs)
    assert got == (out, params, non_trainable, macs)


def test_locally_connected_on_lecture_443x592x3_needs_258_thousand_times_the_conv_weights():
    """Seed 004's Conv2D(6, 5x5) example (450 weights) without weight sharing (seed 003)."""
    result = RULES["locally_connected2d"]({"filters": 6, "kernel_size": 5}, [(443, 592, 3)])
    assert result.shape == (439, 588, 6)
    assert result.params == 439 * 588 * (450 + 6) == 117_708_192


def test_receptive_field_fields():
    pool = RULES["stochastic_pooling2d"]({"pool_size": 3, "strides": 2}, [(13, 13, 2)])
    assert (pool.window, pool.strides, pool.rf) == ((3, 3), (2, 2), "window")
    full = RULES["full_conv2d"]({"filters": 1, "kernel_size": 3, "dilation_rate": 2}, [(5, 5, 1)])
    assert (full.window, full.strides, full.rf) == ((5, 5), (1, 1), "window")
    shortcut = RULES["zero_pad_shortcut"]({"filters": 8, "strides": 2}, [(8, 8, 4)])
    assert (shortcut.window, shortcut.strides, shortcut.rf) == ((1, 1), (2, 2), "window")
    assert RULES["local_response_normalization"]({}, [(4, 4, 8)]).rf == "same"


def test_unknown_spatial_sizes_stay_unknown():
    assert RULES["full_conv2d"]({"filters": 2, "kernel_size": 3}, [(None, 5, 1)]).shape == (None, 7, 2)
    shortcut = RULES["zero_pad_shortcut"]({"filters": 4, "strides": 2}, [(None, None, 2)])
    assert shortcut.shape == (None, None, 4)
    lrn = RULES["local_response_normalization"]({}, [(None, None, 8)])
    assert lrn.shape == (None, None, 8) and lrn.macs is None


@pytest.mark.parametrize(
    "name, args, shape, match",
    [
        ("local_response_normalization", {"size": 4}, (4, 4, 8), r"positive odd integer, got 4"),
        ("local_response_normalization", {}, (4, 4, None), r"known last \(channel\) dimension"),
        ("stochastic_pooling2d", {"pool_size": 3}, (2, 5, 1),
         r"pooling window \(3\) is larger than its input \(2\)"),
        ("locally_connected2d", {"filters": 2, "kernel_size": 3}, (None, 5, 1),
         r"rows and cols must be known"),
        ("locally_connected2d", {"filters": 0, "kernel_size": 3}, (5, 5, 1),
         r"`filters` must be a positive integer, got 0"),
        ("locally_connected2d", {"filters": 2, "kernel_size": 3, "padding": "full"}, (5, 5, 1),
         r"`padding` must be one of valid, same"),
        ("tiled_conv2d", {"filters": 2, "kernel_size": 3}, (5, 5, 1),
         r"missing required argument `tile_size`"),
        ("fixed_filter2d", {"kernel": "sobel"}, (5, 5, 1), r"unknown fixed kernel 'sobel'"),
        ("fixed_filter2d", {"kernel": [[1, 2], [3]]}, (5, 5, 1), r"rectangular 2D list"),
        ("full_conv2d", {"filters": 2, "kernel_size": 3, "padding": "same"}, (5, 5, 1),
         r"takes no `padding`"),
        ("zero_pad_shortcut", {"filters": 8}, (4, 4, 16),
         r"can only add channels: the input has 16, `filters` is 8"),
        ("zero_pad_shortcut", {"filters": 8}, (4, 16), r"expects an input of rank 4"),
    ],
)
def test_rule_rejects(name, args, shape, match):
    with pytest.raises(ShapeError, match=match):
        RULES[name](args, [shape])


def test_full_conv_channels_first_falls_back_to_keras():
    with pytest.raises(NoRule):
        RULES["full_conv2d"]({"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, [(1, 5, 5)])


# --------------------------------------------------------------------------- the op definitions
def test_one_definition_per_layer():
    assert len(OPS) == len(LAYER_OPS)
    assert sorted(op.cls for op in OPS.values()) == sorted(archspec.layers.__all__)
    assert all(op.rule is not None and op.module == "archspec.layers" for op in OPS.values())


@pytest.mark.parametrize("name", sorted(OPS))
def test_definition_matches_the_layer_class(name):
    op = OPS[name]
    cls = getattr(archspec.layers, op.cls)
    assert snake_case(cls.__name__) == name
    params = inspect.signature(cls.__init__).parameters
    own = {p for p in params if p not in ("self", "kwargs")}
    assert own <= set(op.args) and set(op.args) - own <= set(BASE_ARGS) | set(op.call_args)
    assert len(op.args) == len(set(op.args))
    assert list(op.required) == [p for p in params if p in own and params[p].default is inspect.Parameter.empty]
    assert keras.saving.get_registered_object(f"archspec>{cls.__name__}") is cls


def test_registry_serves_the_custom_layers():
    for name, defined in OPS.items():
        op = get_op(name)
        assert op is defined and get_op(defined.cls) is op
        assert (op.cls, op.module, op.rule) == (defined.cls, "archspec.layers", RULES[name])
    assert get_op("lrn").name == "local_response_normalization"


def test_fixed_kernel_names_match_the_layer():
    assert custom_rules.FIXED_KERNEL_NAMES == tuple(KERNELS)


def test_rules_module_is_pure_python():
    script = (
        "import sys\n"
        "from archspec.ops.rules.custom import OPS\n"
        "rule = {op.name: op.rule for op in OPS}['tiled_conv2d']\n"
        "rule({'filters': 2, 'kernel_size': 3, 'tile_size': 2}, [(6, 6, 3)])\n"
        "print([m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
