"""The analyzer agrees with Keras: shapes and parameter counts, on the zoo and on random layers.

Three checks:

- ``test_rule_agrees_with_keras``: hypothesis draws a layer configuration (op, arguments, input
  shapes) from the conv / transposed / depthwise / separable / pooling / dense / normalization /
  padding / cropping / upsampling / flatten / reshape / merge families, runs archspec's pure-Python
  rule and builds the same layer on symbolic ``keras.Input`` tensors (what a functional model
  really gives). Where Keras accepts the configuration, output shape and trainable /
  non-trainable parameter counts must be equal, and the layer must run forward and take one
  gradient step on real data on this machine ("valid" means trainable); where the rule rejects
  it, Keras must reject it too (an error or a non-positive dimension), unless the rule rejects it
  as unportable (a TensorFlow kernel that some CPUs or GPUs lack: ``Unportable``).
- MACs on hand-computed cases (numbers worked out here, not by the code under test).
- every ``architectures/*.yaml``: built into Keras, each layer's analyzed shape and parameter
  counts equal the model's -- that check is part of the zoo smoke test in ``tests/zoo/test_zoo.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import archspec
from archspec.ops.base import NoRule, ShapeError, Unportable
from archspec.ops import get_op
from tests.kerascheck import random_inputs, train_step

ZOO = Path(__file__).resolve().parents[2] / "architectures"


# --------------------------------------------------------------------------- cases
class Case(NamedTuple):
    op: str  # Keras class name
    args: dict  # as a spec would write them (lists, not tuples; defaults left out)
    shapes: list  # input shapes without the batch dimension

    def __repr__(self) -> str:
        return f"Case({self.op!r}, {self.args!r}, {self.shapes!r})"


def _weights(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def keras_outcome(case: Case):
    """(output shape, trainable, non-trainable, the layer) of the layer called on symbolic inputs."""
    layer = getattr(keras.layers, case.op)(**case.args)
    inputs = [keras.Input(shape=tuple(s)) for s in case.shapes]
    out = layer(inputs if get_op(case.op).multi_input else inputs[0])
    shape = tuple(None if d is None else int(d) for d in out.shape[1:])
    return shape, _weights(layer.trainable_weights), _weights(layer.non_trainable_weights), layer


#: the size a variable (None) dimension gets for the forward pass: large enough for every window
#: the strategies draw (kernel 4, dilation 3; cropping 4 on each side)
CONCRETE = 12


def rule_outcome(case: Case):
    op = get_op(case.op)
    assert op is not None and op.rule is not None, case.op
    return op.rule(dict(case.args), [tuple(s) for s in case.shapes])


def _concrete(case: Case) -> list | None:
    """The input shapes with every variable (None) size made concrete, or None for multi-input
    cases with variable sizes (which concrete sizes broadcast is checked symbolically)."""
    if len(case.shapes) > 1 and any(d is None for s in case.shapes for d in s):
        return None
    return [tuple(CONCRETE if d is None else d for d in s) for s in case.shapes]


def train_error(case: Case, layer) -> Exception | None:
    """What TensorFlow raises when the built layer runs forward and takes a gradient step on
    concrete data on this machine (None: it trains)."""
    shapes = _concrete(case)
    if shapes is None:
        return None
    inputs = random_inputs(shapes)
    try:
        y = train_step(layer, inputs if get_op(case.op).multi_input else inputs[0])
    except Exception as exc:  # noqa: BLE001 - whatever the kernels raise
        return exc
    layer.concrete_output = y
    return None


def check_trainable(case: Case, layer) -> None:
    """The accepted configuration runs forward and takes a gradient step on this machine, and the
    analyzer's shape for the concrete input is the real output's."""
    exc = train_error(case, layer)
    if exc is not None:
        raise AssertionError(f"the analyzer accepts a configuration this machine cannot train: "
                             f"{case}\n  {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    shapes = _concrete(case)
    if shapes is not None:
        expected = tuple(rule_outcome(Case(case.op, case.args, shapes)).shape)
        assert layer.concrete_output.shape[1:] == expected, f"concrete: {case}"


# --------------------------------------------------------------------------- strategies
SPATIAL = st.sampled_from([None, *range(1, 13)])  # None: a variable-size dimension
CHANNELS = st.integers(1, 8)


def _spatial(draw, rank: int, known: bool = False) -> tuple:
    return tuple(draw(st.integers(1, 12) if known else SPATIAL) for _ in range(rank))


def _int_or_list(draw, rank: int, lo: int, hi: int, *, as_int=None):
    """An int, or a list of ``rank`` ints (the two forms Keras accepts)."""
    if as_int if as_int is not None else draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(rank)]


def _maybe(draw, args: dict, key: str, value_strategy) -> None:
    """Set ``args[key]`` half the time (the other half the rule must apply Keras' default)."""
    if draw(st.booleans()):
        args[key] = draw(value_strategy)


def _strides_dilation(draw, rank: int, args: dict, *, max_stride=3) -> None:
    mode = draw(st.sampled_from(["default", "strides", "strides", "dilation", "both"]))
    if mode in ("strides", "both"):
        args["strides"] = _int_or_list(draw, rank, 1, max_stride)
    if mode in ("dilation", "both"):  # "both" > 1 is rejected by Keras and by the rule
        args["dilation_rate"] = _int_or_list(draw, rank, 1, 3)


@st.composite
def conv_cases(draw):
    rank = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 8 // groups))
    args = {"filters": groups * draw(st.integers(1, 3)), "kernel_size": _int_or_list(draw, rank, 1, 4)}
    if groups > 1 or draw(st.booleans()):
        args["groups"] = groups
    _strides_dilation(draw, rank, args)
    _maybe(draw, args, "padding", st.sampled_from(["valid", "same", "causal"] if rank == 1 else ["valid", "same"]))
    _maybe(draw, args, "use_bias", st.booleans())
    cls = draw(st.sampled_from([f"Conv{rank}D", f"Convolution{rank}D"]))
    return Case(cls, args, [_spatial(draw, rank) + (cin,)])


@st.composite
def transpose_cases(draw):
    rank = draw(st.integers(1, 3))
    args = {"filters": draw(st.integers(1, 6)), "kernel_size": _int_or_list(draw, rank, 1, 4)}
    _strides_dilation(draw, rank, args)
    _maybe(draw, args, "padding", st.sampled_from(["valid", "same"]))
    if draw(st.booleans()):  # output_padding must be < stride along each axis (now and then not)
        s = args.get("strides", 1)
        s = s if isinstance(s, list) else [s] * rank
        over = int(draw(st.integers(0, 7)) == 0)
        args["output_padding"] = [draw(st.integers(0, si - 1 + over)) for si in s]
        if len(set(args["output_padding"])) == 1 and draw(st.booleans()):
            args["output_padding"] = args["output_padding"][0]
    _maybe(draw, args, "use_bias", st.booleans())
    return Case(f"Conv{rank}DTranspose", args, [_spatial(draw, rank) + (draw(CHANNELS),)])


@st.composite
def depthwise_cases(draw):
    rank = draw(st.integers(1, 2))
    separable = draw(st.booleans())
    args = {"kernel_size": _int_or_list(draw, rank, 1, 4)}
    if separable:
        args["filters"] = draw(st.integers(1, 6))
    _strides_dilation(draw, rank, args)
    _maybe(draw, args, "depth_multiplier", st.integers(1, 3))
    _maybe(draw, args, "padding", st.sampled_from(["valid", "same"]))
    _maybe(draw, args, "use_bias", st.booleans())
    cls = f"SeparableConv{rank}D" if separable else f"DepthwiseConv{rank}D"
    return Case(cls, args, [_spatial(draw, rank) + (draw(CHANNELS),)])


@st.composite
def pool_cases(draw):
    rank = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["MaxPooling", "AveragePooling", "MaxPool", "AvgPool"]))
    if draw(st.integers(0, 4)) == 0:  # global pooling
        args: dict = {}
        _maybe(draw, args, "keepdims", st.booleans())
        return Case(f"Global{kind}{rank}D", args, [_spatial(draw, rank) + (draw(CHANNELS),)])
    args = {}
    if draw(st.booleans()):
        args["pool_size"] = _int_or_list(draw, rank, 1, 4, as_int=True if rank == 1 else None)
    _maybe(draw, args, "strides", st.one_of(
        st.none(), st.integers(1, 3),
        *([] if rank == 1 else [st.lists(st.integers(1, 3), min_size=rank, max_size=rank)])))
    _maybe(draw, args, "padding", st.sampled_from(["valid", "same"]))
    return Case(f"{kind}{rank}D", args, [_spatial(draw, rank) + (draw(CHANNELS),)])


@st.composite
def dense_cases(draw):
    args = {"units": draw(st.integers(1, 8))}
    _maybe(draw, args, "use_bias", st.booleans())
    lead = () if draw(st.booleans()) else _spatial(draw, 2)  # rank 1 or rank 3 inputs
    return Case("Dense", args, [lead + (draw(CHANNELS),)])


@st.composite
def norm_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    axes = [*range(1, rank + 1), *range(-rank, 0)]
    args: dict = {}
    cls = draw(st.sampled_from(["BatchNormalization", "LayerNormalization"]))
    if cls == "LayerNormalization" and rank > 1 and draw(st.booleans()):
        args["axis"] = sorted(set(draw(st.lists(st.integers(1, rank), min_size=1, max_size=rank))))
    else:
        _maybe(draw, args, "axis", st.sampled_from(axes))
    _maybe(draw, args, "center", st.booleans())
    _maybe(draw, args, "scale", st.booleans())
    return Case(cls, args, [shape])


def _pad_arg(draw, rank: int, hi: int):
    """Every form ZeroPadding/Cropping take: int, per-axis ints, per-axis pairs (1D: a pair)."""
    form = draw(st.sampled_from(["int", "axes", "pairs"]))
    n = st.integers(0, hi)
    if form == "int":
        return draw(n)
    if rank == 1:
        return [draw(n), draw(n)]
    if form == "axes":
        return [draw(n) for _ in range(rank)]
    return [[draw(n), draw(n)] for _ in range(rank)]


@st.composite
def reshaping_cases(draw):
    rank = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["ZeroPadding", "Cropping", "UpSampling"]))
    args: dict = {}
    if kind == "ZeroPadding":
        if draw(st.booleans()):
            args["padding"] = _pad_arg(draw, rank, 3)
    elif kind == "Cropping":
        if draw(st.booleans()):
            args["cropping"] = _pad_arg(draw, rank, 4)
    else:
        _maybe(draw, args, "size", st.one_of(  # UpSampling1D takes only an int
            st.integers(1, 3), st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
        if rank == 2:  # "area" has no gradient: refused as unportable
            _maybe(draw, args, "interpolation", st.sampled_from(["nearest", "bilinear", "area"]))
    return Case(f"{kind}{rank}D", args, [_spatial(draw, rank) + (draw(CHANNELS),)])


@st.composite
def flatten_reshape_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    if draw(st.booleans()):
        return Case("Flatten", {}, [shape])
    total = math.prod(shape)
    target = []
    rest = total
    for _ in range(draw(st.integers(1, 3))):  # factor `total` into 1-3 dims
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        target.append(draw(st.sampled_from(divisors)))
        rest //= target[-1]
    target[-1] *= rest
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    if draw(st.integers(0, 5)) == 0:  # an impossible target: both must refuse it
        target.append(2)
    return Case("Reshape", {"target_shape": target}, [shape])


@st.composite
def merge_cases(draw):
    rank = draw(st.integers(1, 3))
    base = [draw(st.integers(1, 6)) for _ in range(rank)]
    n = draw(st.integers(2, 3))

    def unknown(s: list) -> list:  # now and then a variable-size (None) dimension
        return [None if draw(st.integers(0, 9)) == 0 else v for v in s]

    if draw(st.booleans()):
        args: dict = {}
        _maybe(draw, args, "axis", st.sampled_from([*range(-rank - 1, rank + 1)]))  # 0: batch
        axis = args.get("axis", -1)
        ax = None if axis in (0, -rank - 1) else (axis - 1 if axis > 0 else rank + axis)
        shapes = []
        for _ in range(n):
            s = list(base)
            if ax is not None:
                s[ax] = draw(st.integers(1, 6))
            if draw(st.integers(0, 7)) == 0:  # a mismatch elsewhere: both must refuse it
                other = draw(st.integers(0, rank - 1))
                if other != ax:
                    s[other] += 1
            shapes.append(tuple(unknown(s)))
        return Case("Concatenate", args, shapes)
    cls = draw(st.sampled_from(["Add", "Multiply", "Average", "Maximum", "Minimum", "Subtract"]))
    if cls == "Subtract":  # exactly 2 inputs (the shared rule does not check it)
        n = 2
    shapes = []
    for _ in range(n):
        s = list(base)
        if draw(st.integers(0, 5)) == 0:  # a broadcast dimension (1) or a mismatch
            i = draw(st.integers(0, rank - 1))
            s[i] = draw(st.sampled_from([1, s[i] + 1]))
        if draw(st.integers(0, 7)) == 0:  # a lower rank: Keras aligns the trailing axes
            s = s[draw(st.integers(1, rank)):]
        shapes.append(tuple(unknown(s)))
    return Case(cls, {}, shapes)


FAMILIES = {
    "conv": conv_cases(),
    "transpose": transpose_cases(),
    "depthwise_separable": depthwise_cases(),
    "pool": pool_cases(),
    "dense": dense_cases(),
    "norm": norm_cases(),
    "pad_crop_upsample": reshaping_cases(),
    "flatten_reshape": flatten_reshape_cases(),
    "merge": merge_cases(),
}
EXAMPLES_PER_FAMILY = {
    "conv": 150, "transpose": 100, "depthwise_separable": 80, "pool": 100, "dense": 30,
    "norm": 60, "pad_crop_upsample": 80, "flatten_reshape": 60, "merge": 100,
}  # 760 in all

ACCEPTED_ERRORS = (ShapeError, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError)


def check_case(case: Case) -> None:
    # a missing required argument (AveragePooling's pool_size) is refused by the resolver first
    assume(all(r in case.args for r in get_op(case.op).required))
    try:
        rule = rule_outcome(case)
        rule_error = None
    except NoRule:
        rule, rule_error = None, "no rule"
    except ACCEPTED_ERRORS as exc:  # ShapeError; the resolver also turns the others into SpecError
        rule, rule_error = None, exc
    assume(rule_error != "no rule")
    assume(not isinstance(rule_error, Unportable))  # refused on purpose, whatever this CPU runs
    try:
        keras_shape, trainable, non_trainable, layer = keras_outcome(case)
        keras_error = None
        if any(d is not None and d <= 0 for d in keras_shape):
            keras_error = f"non-positive output dimension {keras_shape}"
    except Exception as exc:  # noqa: BLE001 - whatever Keras raises is a refusal
        keras_error = exc
    if rule_error is not None:
        if keras_error is None:  # built: then it must fail to run (or train) on real data
            keras_error = train_error(case, layer)
        assert keras_error is not None, (
            f"the rule rejects a configuration Keras accepts: {case}\n  rule: {rule_error!r}\n"
            f"  keras: shape {keras_shape}, params {trainable} + {non_trainable}")
        assume(False)  # both refuse it: nothing more to compare
    # and the analyzer catches what the build would refuse, before any Keras is imported
    assert keras_error is None, (
        f"Keras refuses a configuration the rule accepts: {case}\n  keras: {keras_error!r}\n"
        f"  rule: shape {rule.shape}, params {rule.params} + {rule.non_trainable}")
    assert tuple(rule.shape) == keras_shape, f"shape: {case}"
    assert (rule.params, rule.non_trainable) == (trainable, non_trainable), f"params: {case}"
    check_trainable(case, layer)


#: Configurations that once disagreed (kept as explicit examples of their family's test).
REGRESSIONS: dict[str, list[Case]] = {
    # Cropping3D's default cropping is ((1, 1),) * 3 (the rule assumed 0, as in Cropping2D)
    "pad_crop_upsample": [Case("Cropping3D", {}, [(None, None, 3, 1)]),
                          Case("UpSampling1D", {"size": [2]}, [(4, 1)])],  # an int only
    # strides > 1 with dilation > 1: Keras refuses it for transposed convolutions ...
    "transpose": [Case("Conv2DTranspose", {"filters": 1, "kernel_size": 2, "strides": 3,
                                           "dilation_rate": 2}, [(4, 4, 1)]),
                  # output_padding must be smaller than strides (the rule did not check)
                  Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "output_padding": 1},
                       [(4, 4, 1)]),
                  # an even kernel, padding same, output_padding 0: Keras' symbolic length is one
                  # short of what TensorFlow's kernel computes, and the forward pass fails
                  Case("Conv1DTranspose", {"filters": 1, "kernel_size": [2], "padding": "same",
                                           "output_padding": [0]}, [(None, 1)]),
                  Case("Conv2DTranspose", {"filters": 1, "kernel_size": [2, 3], "strides": 2,
                                           "padding": "same", "output_padding": [1, 0]}, [(5, 5, 1)])],
    # ... but not for depthwise / separable ones
    "depthwise_separable": [
        Case("DepthwiseConv1D", {"kernel_size": [1], "strides": [2], "dilation_rate": [2]}, [(None, 1)]),
        Case("SeparableConv2D", {"filters": 2, "kernel_size": 2, "strides": 2, "dilation_rate": 2},
             [(8, 8, 3)]),
        # unequal strides run when a dilation is > 1 too (Keras goes around the depthwise kernel)
        Case("DepthwiseConv2D", {"kernel_size": 3, "strides": [1, 2], "dilation_rate": 2}, [(9, 9, 2)]),
        Case("DepthwiseConv1D", {"kernel_size": 3, "strides": 2}, [(9, 2)]),
    ],
    "merge": [
        Case("Add", {}, [(None, 3), (4, 3)]),  # an unknown size stays unknown
        Case("Add", {}, [(None, 3), (1, 3)]),  # (the rule said (1, 3))
        Case("Multiply", {}, [(2, 3), (3,)]),  # lower-rank inputs broadcast on trailing axes
        Case("Concatenate", {"axis": -1}, [(None, 3), (4, 3)]),  # other dims: the first input's
        Case("Concatenate", {"axis": 0}, [(4, 3), (4, 3)]),  # along the batch axis
    ],
}


def _family_test(family: str):
    @settings(max_examples=EXAMPLES_PER_FAMILY[family], deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(case=FAMILIES[family])
    def test(case):
        check_case(case)

    for case in REGRESSIONS.get(family, []):
        test = example(case=case)(test)
    return test


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_rule_agrees_with_keras(family):
    _family_test(family)()


# --------------------------------------------------------------------------- not portable
# Configurations Keras builds but TensorFlow cannot run or train on every machine (measured on a
# 2-core AMD EPYC, TF 2.21: the forward pass or the gradient fails). `validate` refuses them
# everywhere, at the argument, naming the limitation.
UNPORTABLE = [
    ("depthwise_conv2d: {kernel_size: 3, strides: [1, 2]}", "strides",
     r"not portable: DepthwiseConv2D with unequal strides \[1, 2\]: TensorFlow's depthwise kernel "
     r"refuses unequal row and column strides on some machines"),
    ("separable_conv2d: {filters: 4, kernel_size: 3, strides: [2, 1], padding: same}", "strides",
     r"not portable: SeparableConv2D with unequal strides \[2, 1\]"),
    ("conv2d_transpose: {filters: 4, kernel_size: 3, dilation_rate: 2}", "dilation_rate",
     r"not portable: Conv2DTranspose with dilation_rate \[2, 2\]: TensorFlow has no CPU kernel"),
    ("conv1d_transpose: {filters: 4, kernel_size: 3, dilation_rate: [2]}", "dilation_rate",
     r"not portable: Conv1DTranspose with dilation_rate \[2\]"),
    ("up_sampling2d: {size: 2, interpolation: area}", "interpolation",
     r"not portable: UpSampling2D with interpolation 'area': .* has no gradient"),
]


@pytest.mark.parametrize("step, arg, match", UNPORTABLE, ids=[u[0].split(":")[0] for u in UNPORTABLE])
def test_unportable_configurations_are_located_errors(step, arg, match):
    rank1 = "conv1d" in step
    text = (f"name: n\ninput: {{shape: {[12, 4] if rank1 else [12, 12, 4]}}}\nbody:\n"
            f"  - conv{'1' if rank1 else '2'}d: {{filters: 4, kernel_size: 1}}\n  - {step}\n")
    with pytest.raises(archspec.SpecError, match=match) as err:
        archspec.loads(text, file="net.yaml")
    assert err.value.loc.line == 5 and err.value.loc.path.endswith(f".{arg}"), err.value.loc


# --------------------------------------------------------------------------- MACs, by hand
def _macs(op: str, args: dict, shape: tuple) -> int:
    return get_op(op).rule(args, [shape]).macs


def test_conv_and_dense_macs_by_hand():
    # VGG16 block3-style conv: every one of the 56*56*128 outputs sums 3*3*64 products
    assert _macs("Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same"}, (56, 56, 64)) \
        == 56 * 56 * 128 * 3 * 3 * 64 == 231_211_008
    # VGG16 fc1
    assert _macs("Dense", {"units": 4096}, (25088,)) == 25088 * 4096 == 102_760_448
    # valid, strided: AlexNet conv1 11x11/4 on 227x227x3 -> 55x55x96
    assert _macs("Conv2D", {"filters": 96, "kernel_size": 11, "strides": 4}, (227, 227, 3)) \
        == 55 * 55 * 96 * 11 * 11 * 3 == 105_415_200
    # grouped: each output sees 64/4 = 16 input channels
    assert _macs("Conv2D", {"filters": 128, "kernel_size": 3, "padding": "same", "groups": 4},
                 (56, 56, 64)) == 56 * 56 * 128 * 9 * 16 == 57_802_752
    # Conv1D, causal: 100 steps * 32 filters * 5 taps * 8 channels
    assert _macs("Conv1D", {"filters": 32, "kernel_size": 5, "padding": "causal"}, (100, 8)) == 128_000
    # Dense on a sequence: applied at each of the 10 steps
    assert _macs("Dense", {"units": 16}, (10, 32)) == 10 * 32 * 16 == 5_120


def test_depthwise_separable_transposed_macs_by_hand():
    # MobileNet's first depthwise 3x3 on 112x112x32: one 3x3 window per output value
    assert _macs("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, (112, 112, 32)) \
        == 112 * 112 * 32 * 9 == 3_612_672
    # depth multiplier 2: 64 output channels, each one 3x3 window
    assert _macs("DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2},
                 (112, 112, 32)) == 112 * 112 * 64 * 9 == 7_225_344
    # separable = depthwise (3x3 per channel) + pointwise (1x1, 32 -> 64)
    assert _macs("SeparableConv2D", {"filters": 64, "kernel_size": 3, "padding": "same"},
                 (112, 112, 32)) == 112 * 112 * 32 * 9 + 112 * 112 * 32 * 64 == 29_302_784
    # transposed: each of the 7*7*64 inputs scatters a 3x3x32 kernel
    assert _macs("Conv2DTranspose", {"filters": 32, "kernel_size": 3, "strides": 2, "padding": "same"},
                 (7, 7, 64)) == 7 * 7 * 64 * 3 * 3 * 32 == 903_168
    # pooling, normalization and reshaping count no MACs
    assert _macs("MaxPooling2D", {"pool_size": 2}, (8, 8, 4)) == 0


def test_lenet5_macs_by_hand():
    # c1 28x28x6 (5x5x1), c3 10x10 (60 5x5 kernels: Table I), c5 1x1x120 (5x5x16), f6 120->84, out 84->10
    by_hand = 28 * 28 * 6 * 25 + 10 * 10 * 25 * 60 + 120 * 25 * 16 + 120 * 84 + 84 * 10
    assert by_hand == 326_520
    assert archspec.summary(ZOO / "lenet5.yaml").macs == by_hand
    full = by_hand + 10 * 10 * 25 * (16 * 6 - 60)  # C3 fully connected
    assert full == 416_520 and archspec.summary(ZOO / "lenet5.yaml", c3_table=False).macs == full


def test_subtract_takes_exactly_two_inputs():
    from archspec.ops.base import ShapeError

    rule = get_op("subtract").rule
    assert rule({}, [(4, 3), (4, 3)]).shape == (4, 3)
    with pytest.raises(ShapeError, match="exactly 2 inputs, got 3"):
        rule({}, [(3,), (3,), (3,)])
