"""Sequence layers (issue #17.4): the TF-free rules of LSTM, GRU, SimpleRNN, Bidirectional,
TimeDistributed and MultiHeadAttention agree with Keras (output shape, trainable and
non-trainable counts, one training step); MACs on hand-computed cases; refusals located; masking
from ``embedding: {mask_zero: true}`` reaches the recurrent layers; the ``time_distributed``
construct; the zoo's CNN-LSTM (LRCN) and text CNN (Kim 2014)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import archspec  # noqa: E402
from archspec.ops import get_op  # noqa: E402
from archspec.ops.base import NoRule, ShapeError  # noqa: E402
from tests.conftest import ZOO  # noqa: E402
from tests.kerascheck import assert_analyzer_equals_keras, random_inputs, train_step  # noqa: E402

LSTM = {"lstm": {"units": 3, "return_sequences": True}}

# (op name, arguments, input shapes without batch)
CONFIGS = [
    ("lstm", {"units": 4}, [(5, 3)]),
    ("lstm", {"units": 2, "return_sequences": True}, [(6, 7)]),
    ("lstm", {"units": 3, "use_bias": False, "go_backwards": True}, [(4, 2)]),
    ("lstm", {"units": 5, "unit_forget_bias": False, "return_sequences": True}, [(None, 3)]),
    ("lstm", {"units": 1, "unroll": True}, [(3, 1)]),
    ("gru", {"units": 4}, [(5, 3)]),
    ("gru", {"units": 3, "reset_after": False}, [(5, 3)]),
    ("gru", {"units": 2, "reset_after": False, "use_bias": False, "return_sequences": True}, [(4, 6)]),
    ("gru", {"units": 6, "return_sequences": True, "go_backwards": True}, [(None, 2)]),
    ("simple_rnn", {"units": 4}, [(5, 3)]),
    ("simple_rnn", {"units": 2, "use_bias": False, "return_sequences": True}, [(7, 5)]),
    ("simple_rnn", {"units": 3, "activation": "relu", "go_backwards": True}, [(None, 4)]),
    ("bidirectional", {"layer": {"lstm": {"units": 3}}}, [(5, 4)]),
    ("bidirectional", {"layer": LSTM, "merge_mode": "sum"}, [(5, 4)]),
    ("bidirectional", {"layer": {"gru": {"units": 2, "reset_after": False}}, "merge_mode": "ave"}, [(6, 3)]),
    ("bidirectional", {"layer": {"simple_rnn": {"units": 4, "return_sequences": True}}, "merge_mode": "mul"},
     [(None, 2)]),
    ("bidirectional", {"layer": {"lstm": {"units": 3}},
                       "backward_layer": {"gru": {"units": 3, "go_backwards": True}}}, [(4, 2)]),
    ("time_distributed", {"layer": {"dense": {"units": 4}}}, [(5, 3)]),
    ("time_distributed", {"layer": {"conv2d": {"filters": 4, "kernel": 3, "strides": 2}}}, [(3, 9, 9, 2)]),
    ("time_distributed", {"layer": {"conv1d": {"filters": 2, "kernel_size": 2, "padding": "same"}}},
     [(None, 6, 3)]),
    ("time_distributed", {"layer": {"batch_normalization": {}}}, [(2, 5, 5, 3)]),
    ("time_distributed", {"layer": "flatten"}, [(3, 4, 4, 2)]),
    ("time_distributed", {"layer": {"bidirectional": {"layer": {"gru": {"units": 2}}}}}, [(2, 5, 3)]),
    ("time_distributed", {"layer": {"time_distributed": {"layer": {"dense": {"units": 2}}}}}, [(2, 3, 4)]),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4}, [(5, 8), (7, 6)]),
    ("multi_head_attention", {"num_heads": 3, "key_dim": 2, "value_dim": 5}, [(5, 8), (7, 6), (7, 3)]),
    ("multi_head_attention", {"num_heads": 1, "key_dim": 3, "use_bias": False, "output_shape": 7},
     [(4, 6), (4, 6)]),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 2, "output_shape": [2, 3]}, [(4, 5), (3, 5)]),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 2, "use_gate": True}, [(4, 5), (3, 6)]),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 3, "attention_axes": [2]}, [(3, 4, 6), (3, 5, 6)]),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 3}, [(None, 6), (None, 4)]),
]


def _ids(configs):
    return [f"{i}-{name}" for i, (name, _, _) in enumerate(configs)]


def _weights(ws) -> int:
    return int(sum(np.prod(w.shape) for w in ws))


@pytest.mark.parametrize("name,args,shapes", CONFIGS, ids=_ids(CONFIGS))
def test_rule_equals_keras(name, args, shapes):
    """Output shape and parameter counts equal Keras' layer (made by the op's class or factory,
    as the builder makes it) on symbolic inputs; the layer then takes a training step."""
    op = get_op(name)
    result = op.rule(args, shapes)
    layer = op.keras_class()(**args)
    inputs = [keras.Input(shape=s) for s in shapes]
    out = layer(inputs if op.multi_input else inputs[0])
    assert tuple(out.shape[1:]) == result.shape
    assert _weights(layer.trainable_weights) == result.params
    assert _weights(layer.non_trainable_weights) == result.non_trainable
    concrete = [tuple(4 if d is None else d for d in s) for s in shapes]
    y = train_step(layer, random_inputs(concrete) if op.multi_input else random_inputs(concrete)[0])
    assert y.shape[1:] == tuple(4 if d is None else d for d in result.shape)


def test_gru_params_by_hand():
    # Cho et al.'s GRU: 3 gates x units x (features + units); Keras' default reset_after=True
    # keeps separate input and recurrent biases (2 x 3 x units), reset_after=False one set
    assert get_op("gru").rule({"units": 10}, [(None, 20)]).params == 3 * 10 * 30 + 2 * 30
    assert get_op("gru").rule({"units": 10, "reset_after": False}, [(None, 20)]).params == 3 * 10 * 30 + 30
    assert get_op("lstm").rule({"units": 10}, [(None, 20)]).params == 4 * 10 * 30 + 40
    assert get_op("simple_rnn").rule({"units": 10}, [(None, 20)]).params == 10 * 30 + 10


def test_macs_by_hand():
    """MACs per sample, worked out here: every gate's input and recurrent products at every
    step; attention's projections, scores and weighted sum."""
    rule = lambda name, args, shapes: get_op(name).rule(args, shapes).macs  # noqa: E731
    assert rule("lstm", {"units": 4}, [(10, 3)]) == 10 * 4 * (3 * 4 + 4 * 4)  # 1,120
    assert rule("gru", {"units": 4, "return_sequences": True}, [(10, 3)]) == 10 * 3 * (3 * 4 + 4 * 4)
    assert rule("simple_rnn", {"units": 4}, [(10, 3)]) == 10 * (3 * 4 + 4 * 4)
    assert rule("lstm", {"units": 4}, [(None, 3)]) is None  # unknown length
    assert rule("bidirectional", {"layer": {"lstm": {"units": 4}}}, [(10, 3)]) == 2 * 1120
    assert rule("time_distributed", {"layer": {"dense": {"units": 4}}}, [(6, 3)]) == 6 * 12
    # q: 5 x 8, k = v: 7 x 6, 2 heads of 4: projections 320 + 336 + 336, scores 280, sum 280, out 320
    assert rule("multi_head_attention", {"num_heads": 2, "key_dim": 4}, [(5, 8), (7, 6)]) == 1872


@pytest.mark.parametrize("name,args,shapes,match,at", [
    ("lstm", {"units": 4, "return_state": True}, [(5, 3)], r"several tensors", "return_state"),
    ("gru", {"units": 4, "stateful": True}, [(5, 3)], r"fixed batch size", "stateful"),
    ("simple_rnn", {"units": 4, "unroll": True}, [(None, 3)], r"cannot unroll", "unroll"),
    ("lstm", {"units": 0}, [(5, 3)], r"`units` must be a positive integer", "units"),
    ("lstm", {"units": 4}, [(5, 3, 2)], r"expects an input of rank 3", None),
    ("lstm", {"units": 4}, [(5, None)], r"feature \(last\) dimension .* must be known", None),
    ("bidirectional", {"layer": LSTM, "merge_mode": None}, [(5, 3)], r"two tensors", "merge_mode"),
    ("bidirectional", {"layer": LSTM, "merge_mode": "max"}, [(5, 3)], r"must be one of concat", "merge_mode"),
    ("bidirectional", {"layer": {"dense": {"units": 3}}}, [(5, 3)], r"wraps a recurrent layer", "layer"),
    ("bidirectional", {"layer": {"lstm": {"units": 3, "go_backwards": True}}}, [(5, 3)],
     r"leave `go_backwards` out", "layer"),
    ("bidirectional", {"layer": LSTM, "backward_layer": {"lstm": {"units": 3}}}, [(5, 3)],
     r"needs `go_backwards: true`", "backward_layer"),
    ("bidirectional", {"layer": LSTM, "backward_layer": {"gru": {"units": 5, "go_backwards": True,
                                                                 "return_sequences": True}}}, [(5, 3)],
     r"outputs of one shape .* got \(batch, 5, 3\) and \(batch, 5, 5\)", "backward_layer"),
    ("bidirectional", {"layer": {"lstm": {"unitz": 3}}}, [(5, 3)], r"unknown argument `unitz` for `LSTM`", "layer"),
    ("bidirectional", {"layer": {"lstmm": {"units": 3}}}, [(5, 3)], r"unknown layer `lstmm`", "layer"),
    ("bidirectional", {"layer": {"lstm": {}}}, [(5, 3)], r"missing its argument `units`", "layer"),
    ("bidirectional", {"layer": [1, 2]}, [(5, 3)], r"must be one op", "layer"),
    ("time_distributed", {"layer": {"dense": {"units": 2}}}, [(5,)], r"rank 3 or more", None),
    ("time_distributed", {"layer": {"conv2d": {"filters": 2, "kernel_size": 9}}}, [(3, 5, 5, 1)],
     r"the wrapped Conv2D: the convolution window \(9\) is larger", "layer"),
    ("time_distributed", {"layer": {"conv2d": {"filters": 2, "kernel_size": 3, "activation": "relux"}}},
     [(3, 5, 5, 1)], r"the wrapped Conv2D: .*relux", "layer"),
    ("time_distributed", {"layer": {"add": {}}}, [(3, 4)], r"one-input layer", "layer"),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4}, [(5, 8)], r"\[query, value\]", None),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4}, [(5, 8), (7, 6), (6, 6)],
     r"`value` and `key` but the last must be equal", None),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4}, [(5, 8), (2, 7, 6)], r"one rank", None),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4, "output_shape": [0]}, [(5, 8), (7, 6)],
     r"`output_shape` must be", "output_shape"),
    ("multi_head_attention", {"num_heads": 2, "key_dim": 4, "attention_axes": [2]}, [(5, 8), (7, 6)],
     r"`attention_axes` must be", "attention_axes"),
])
def test_rule_refuses(name, args, shapes, match, at):
    with pytest.raises(ShapeError, match=match) as err:
        get_op(name).rule(args, shapes)
    assert err.value.arg == at


def test_nested_op_without_rule_falls_back_to_keras():
    with pytest.raises(NoRule):
        get_op("time_distributed").rule({"layer": {"conv2d": {"filters": 2, "kernel_size": 1,
                                                              "data_format": "channels_first"}}}, [(3, 2, 5, 5)])


# --------------------------------------------------------------------------- specs
SEQ = """
name: seq
params: {length: 6, units: 2}
input: {shape: [$length], dtype: int32}
body:
  - embedding: {input_dim: 20, output_dim: 4, mask_zero: true}
  - lstm: {units: 3, return_sequences: true}
  - bidirectional: {layer: {gru: {units: $units}}}     # expressions in a nested op are evaluated
"""


def test_mask_zero_reaches_the_recurrent_layers():
    """Right-padded with the mask id 0, a sequence gives what it gives unpadded: the embedding's
    mask makes the LSTM and both directions of the Bidirectional GRU skip the padding."""
    assert archspec.loads(SEQ).graph["bidirectional"].args["layer"] == {"gru": {"units": 2}}
    keras.backend.clear_session()
    padded = archspec.build(archspec.loads(SEQ))
    short = archspec.build(archspec.loads(SEQ, length=3))
    short.set_weights(padded.get_weights())
    tokens = np.array([[5, 3, 2], [7, 1, 9]], "int32")
    y_padded = np.asarray(padded(np.pad(tokens, [(0, 0), (0, 3)])))
    y_short = np.asarray(short(tokens))
    np.testing.assert_allclose(y_padded, y_short, rtol=1e-5, atol=1e-6)
    unmasked = archspec.build(archspec.loads(SEQ.replace("mask_zero: true", "mask_zero: false")))
    unmasked.set_weights(padded.get_weights())
    assert not np.allclose(np.asarray(unmasked(np.pad(tokens, [(0, 0), (0, 3)]))), y_short, atol=1e-4)


BLOCK = """
name: td
blocks:
  frame:
    args: {f: int}
    body:
      - conv2d: {filters: $f, kernel: 3, padding: same, activation: relu}
      - max_pooling2d: {pool_size: 2}
input: {shape: [3, 8, 8, 2]}
body:
  - time_distributed:
      body:
        - frame: {f: 4}
        - residual: {body: [{conv2d: {filters: 4, kernel: 3, padding: same}}]}
        - residual:
            body: [{conv2d: {filters: 6, kernel: 3, strides: 2, padding: same}}]
            shortcut: [{conv2d: {filters: 6, kernel: 1, strides: 2, name: proj}}]
        - branches:
            paths: [[{conv2d: {filters: 2, kernel: 1}}], [{conv2d: {filters: 3, kernel: 1}}]]
        - concatenate: {from: [_, _], axis: 3}
        - global_average_pooling2d
  - bidirectional: {layer: {lstm: {units: 3, return_sequences: true}}, name: bi}
  - multi_head_attention: {num_heads: 2, key_dim: 4, from: [bi, bi], name: attention}
  - layer_normalization
  - time_distributed: {layer: {dense: {units: 2}}, name: head}
"""


def test_time_distributed_body_builds_matches_keras_and_reloads_with_plain_keras(tmp_path):
    """Every one-input layer of the body (block calls, residual and branch bodies included) is
    wrapped; merges are not (a concatenate axis counted on one frame skips the time axis). The
    saved model holds only Keras' classes and reloads with the same outputs."""
    spec = archspec.loads(BLOCK)
    wrapped = {n.name: n.args["layer"] for n in spec.graph.nodes if n.op == "time_distributed"}
    assert list(wrapped) == ["conv2d", "max_pooling2d", "conv2d_1", "conv2d_2", "proj", "conv2d_3",
                             "conv2d_4", "global_average_pooling2d", "head"]
    assert spec.graph["proj"].shape == (3, 2, 2, 6) and spec.graph["proj"].result.params == 4 * 6 + 6
    ops = {n.name: n.op for n in spec.graph.nodes}
    assert [ops[n] for n in ("add", "add_1", "concatenate", "concatenate_1")] == ["add", "add", "concatenate",
                                                                                  "concatenate"]
    assert spec.graph["concatenate_1"].args == {"axis": 4} and spec.graph["concatenate_1"].shape == (3, 2, 2, 10)
    assert spec.graph["attention"].shape == (3, 6)
    keras.backend.clear_session()
    model = archspec.build(spec)
    assert_analyzer_equals_keras(spec, model)
    assert "archspec" not in model.to_json()
    x = random_inputs([(3, 8, 8, 2)])[0]
    y = np.asarray(model(x))
    assert y.shape == (2, 3, 2)
    model.save(tmp_path / "td.keras")
    config = json.loads(model.to_json())["config"]["layers"]
    assert {layer["class_name"] for layer in config} >= {"TimeDistributed", "Bidirectional", "MultiHeadAttention"}
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "td.keras")(x)), y,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("step,match,where", [
    ("- time_distributed: {body: [{conv2d: {filterz: 4, kernel: 3}}]}",
     r"unknown argument `filterz` for `Conv2D`[\s\S]*did you mean `filters`",
     "body[0].time_distributed.body[0].conv2d.filterz"),
    ("- time_distributed: {body: [{conv2d: {filters: 4, kernel: 30}}]}",
     r"Conv2D: the convolution window \(30\) is larger than its input \(8\)",
     "body[0].time_distributed.body[0].conv2d"),
    ("- time_distributed: {body: [flatten], layer: flatten}", r"unknown key `layer` in `time_distributed`",
     "body[0].time_distributed.layer"),
    ("- bidirectional: {layer: {lstm: {unitz: 4}}}", r"unknown argument `unitz` for `LSTM`[\s\S]*did you mean `units`",
     "body[0].bidirectional.layer"),
    ("- time_distributed: {layer: {lstmm: {units: 4}}}", r"unknown layer `lstmm`[\s\S]*did you mean `lstm`",
     "body[0].time_distributed.layer"),
    ("- lstm: {units: 4, return_state: true}", r"several tensors", "body[0].lstm.return_state"),
    ("- multi_head_attention: {num_heads: 2, key_dim: 4}", r"give them with `from: \[a, b\]`",
     "body[0].multi_head_attention"),
])
def test_spec_errors_are_located(step, match, where):
    shape = "[3, 8, 8, 2]" if "conv2d" in step or "flatten" in step else "[3, 8]"
    with pytest.raises(archspec.SpecError, match=match) as err:
        archspec.loads(f"name: bad\ninput: {{shape: {shape}}}\nbody:\n  {step}\n")
    assert f"at `{where}`" in str(err.value)


def test_time_distributed_residual_projection_needs_steps():
    """`residual`'s automatic projection is made for the whole sequence: refused, with a hint."""
    with pytest.raises(archspec.SpecError, match=r"(?s)at `body\[0\]\.time_distributed\.body\[0\]\.residual\.shortcut`"
                       r".*Conv3D expects an input of rank 5.*write the shortcut of a residual"):
        archspec.loads("name: bad\ninput: {shape: [3, 8, 8, 4]}\nbody:\n  - time_distributed:\n      body:\n"
                       "        - residual: {body: [{conv2d: {filters: 8, kernel_size: 3, strides: 2, "
                       "padding: same}}]}\n")


def test_time_distributed_body_needs_a_sequence():
    with pytest.raises(archspec.SpecError, match=r"needs an input of rank 3 or more"):
        archspec.loads("name: bad\ninput: {shape: [8]}\nbody:\n  - time_distributed: {body: [{dense: {units: 2}}]}\n")


# --------------------------------------------------------------------------- the zoo
def test_cnn_lstm_video_lrcn():
    """LRCN (Donahue et al. 2015) at its size: the numbers of its header (worked out by hand:
    convolutions 2,432 + 18,496 + 73,856, fc6 33,024, LSTM 4 x 256 x (256 + 256) + 1,024 =
    525,312, classifier 25,957); at a small size it builds, equals Keras layer by layer and runs."""
    spec = archspec.load(ZOO / "cnn_lstm_video.yaml")
    analysis = archspec.summary(spec)
    assert (analysis.total_params, analysis.macs) == (679_077, 385_296_384)
    assert spec.graph["lstm"].result.params == 525_312 and spec.graph["predictions"].shape == (101,)
    assert spec.graph["conv1"].op == "time_distributed" and spec.graph["conv1"].shape == (8, 64, 64, 32)
    small = archspec.load(ZOO / "cnn_lstm_video.yaml", frames=3, size=16, filters=[4, 8, 8], fc_units=8,
                          lstm_units=4, classes=5)
    keras.backend.clear_session()
    model = archspec.build(small)
    assert_analyzer_equals_keras(small, model)
    y = np.asarray(model(random_inputs([(3, 16, 16, 3)])[0]))
    assert y.shape == (2, 5)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)  # the average of per-step softmaxes


def test_text_cnn_kim2014():
    """Kim (2014): windows of 3, 4 and 5 words with 100 feature maps each, max-over-time pooling,
    300 features, dropout 0.5. At 300-d embeddings of 20,000 words and 2 classes: 6,000,000 +
    (3 + 4 + 5) x 300 x 100 + 300 + 602 = 6,360,902 parameters; MACs 54 x 90,000 + 53 x 120,000 +
    52 x 150,000 + 600 = 19,020,600 for 56 tokens. Small, it builds, equals Keras and runs."""
    spec = archspec.load(ZOO / "text_cnn1d.yaml")
    analysis = archspec.summary(spec)
    assert (analysis.total_params, analysis.macs) == (6_360_902, 19_020_600)
    convs = [n for n in spec.graph.nodes if n.op == "conv1d"]
    assert [(n.args["kernel_size"], n.args["filters"], n.shape) for n in convs] == [
        (3, 100, (54, 100)), (4, 100, (53, 100)), (5, 100, (52, 100))]
    assert spec.graph["features"].shape == (300,) and spec.graph["dropout"].args == {"rate": 0.5}
    small = archspec.load(ZOO / "text_cnn1d.yaml", vocab=50, length=12, embed_dim=8, maps=4)
    keras.backend.clear_session()
    model = archspec.build(small)
    assert_analyzer_equals_keras(small, model)
    y = np.asarray(model(np.random.default_rng(0).integers(0, 50, (2, 12)).astype("int32")))
    assert y.shape == (2, 2)
