"""Weight sharing (`share:`): one layer or block applied at several places with one set of weights."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import archspec
from archspec import SpecError
from archspec.spec.export import resolved_yaml
from tests.kerascheck import assert_analyzer_equals_keras


def spec(text: str, **params):
    return archspec.loads(textwrap.dedent(text), **params)


SIAMESE = """
    name: siamese
    inputs:
      left: {shape: [12, 12, 1]}
      right: {shape: [12, 12, 1]}
    blocks:
      encoder:
        body:
          - conv2d: {filters: 4, kernel_size: 3, activation: relu}
          - max_pooling2d: {pool_size: 2}
          - flatten
          - dense: {units: 8}
    body:
      - encoder: {from: left, as: a, share: tower}
      - encoder: {from: right, as: b, share: tower}
      - subtract: {from: [a, b]}
      - dense: {units: 1, activation: sigmoid}
"""
# conv 3*3*1*4 + 4 = 40; dense 5*5*4 * 8 + 8 = 808; head 8 + 1 = 9: the tower counted once
SIAMESE_PARAMS = 40 + 808 + 9


def test_siamese_towers_share_one_set_of_weights_counted_once(keras):
    s = spec(SIAMESE)
    applied = {n.name: n.shares for n in s.graph.layers if n.shares}
    assert applied == {"conv2d:2": "conv2d", "max_pooling2d:2": "max_pooling2d", "flatten:2": "flatten",
                       "dense:2": "dense"}
    assert [n.name for n in s.graph.layers][-2:] == ["subtract", "dense_1"]
    analysis = s.analyze()
    assert analysis.total_params == SIAMESE_PARAMS
    assert analysis["conv2d:2"].macs == analysis["conv2d"].macs == 10 * 10 * 9 * 4  # computed twice
    assert analysis.shared_layers == {"conv2d": 2, "max_pooling2d": 2, "flatten": 2, "dense": 2}
    keras.backend.clear_session()
    model = archspec.build(s)
    assert model.count_params() == SIAMESE_PARAMS
    assert_analyzer_equals_keras(s, model)
    assert [l.name for l in model.layers if l.weights] == ["conv2d", "dense", "dense_1"]
    # one set of weights: the same image on both sides gives a difference of exactly zero,
    # and changing the tower's kernel changes both towers
    x = np.random.default_rng(0).random((3, 12, 12, 1), dtype=np.float32)
    towers = keras.Model(model.inputs, model.get_layer("subtract").output)
    np.testing.assert_array_equal(np.asarray(towers([x, x])), 0.0)
    before = np.asarray(towers([x, np.zeros_like(x)]))
    conv = model.get_layer("conv2d")
    conv.kernel.assign(conv.kernel * 2.0)
    assert not np.allclose(np.asarray(towers([x, np.zeros_like(x)])), before)
    np.testing.assert_array_equal(np.asarray(towers([x, x])), 0.0)
    keras.backend.clear_session()


def test_triplet_encoder_three_applications_and_a_shared_single_layer(keras):
    s = spec("""
        name: triplet
        inputs:
          anchor: {shape: [6]}
          positive: {shape: [6]}
          negative: {shape: [6]}
        body:
          - dense: {units: 5, activation: relu, from: anchor, share: enc, as: a}
          - dense: {units: 5, activation: relu, from: positive, share: enc, as: p}
          - dense: {units: 5, activation: relu, from: negative, share: enc, as: n}
          - concatenate: {from: [a, p, n]}
    """)
    assert [n.name for n in s.graph.layers] == ["dense", "dense:2", "dense:3", "concatenate"]
    assert s.analyze().total_params == 6 * 5 + 5
    keras.backend.clear_session()
    model = archspec.build(s)
    assert model.count_params() == 35 and len(model.get_layer("dense")._inbound_nodes) == 3
    assert_analyzer_equals_keras(s, model)
    keras.backend.clear_session()


HEAD = """
    name: levels
    input: {shape: [16, 16, 3]}
    body:
      - conv2d: {filters: 6, kernel_size: 3, padding: same, as: p3}
      - conv2d: {filters: 6, kernel_size: 3, strides: 2, padding: same, as: p4}
      - conv2d: {filters: $head_in, kernel_size: 1, from: p3, share: head, as: h3}
      - conv2d: {filters: 2, kernel_size: 1, from: h3, share: head2}
      - conv2d: {filters: $head_in, kernel_size: 1, from: p4, share: head, as: h4}
      - conv2d: {filters: 2, kernel_size: 1, from: h4, share: head2}
    outputs: [conv2d_3, "conv2d_3:2"]
    params: {head_in: 4}
"""


def test_a_shared_head_over_feature_levels_of_different_sizes(keras):
    s = spec(HEAD)
    assert [tuple(s.graph[n].shape) for n in s.graph.outputs] == [(16, 16, 2), (8, 8, 2)]
    # the head's weights once: 6*4 + 4 and 4*2 + 2
    assert s.analyze().total_params == (27 * 6 + 6) + (54 * 6 + 6) + (6 * 4 + 4) + (4 * 2 + 2)
    keras.backend.clear_session()
    model = archspec.build(s)
    assert model.count_params() == s.analyze().total_params
    assert_analyzer_equals_keras(s, model)
    keras.backend.clear_session()


def test_a_shared_block_may_share_layers_inside_it(keras):
    s = spec("""
        name: nested
        inputs:
          a: {shape: [4]}
          b: {shape: [4]}
        blocks:
          twice:
            body:
              - dense: {units: 4, share: inner}
              - dense: {units: 4, share: inner}
        body:
          - twice: {from: a, share: outer, as: x}
          - twice: {from: b, share: outer, as: y}
          - add: {from: [x, y]}
    """)
    assert {n.name: n.shares for n in s.graph.layers if n.shares} == {
        "dense:2": "dense", "dense:3": "dense", "dense:4": "dense"}
    keras.backend.clear_session()
    model = archspec.build(s)
    assert model.count_params() == s.analyze().total_params == 4 * 4 + 4
    assert_analyzer_equals_keras(s, model)
    keras.backend.clear_session()


@pytest.mark.parametrize("body, message", [
    # other channels at the second use: the kernel would have another shape
    ("""- dense: {units: 3, from: a, share: s}
      - dense: {units: 3, from: b, share: s}""",
     r"`share: s`: `dense` would need other weights for input \(batch, 5\) than for its first input "
     r"\(batch, 4\) \(18 parameters against 15\)"),
    # another argument
    ("""- dense: {units: 3, from: a, share: s}
      - dense: {units: 2, from: a, share: s}""",
     r"this layer \(Dense \{units=2\}\) is not the one it shares, `dense` \(dense \{units=3\}\)"),
    # another op
    ("""- dense: {units: 3, from: a, share: s}
      - conv1d: {filters: 3, kernel_size: 1, from: a, share: s}""",
     r"is not the one it shares"),
    # fewer layers than the first use
    ("""- twice: {from: a, share: s}
      - twice: {from: a, share: s, one: true}""",
     r"`share: s`: this step makes 1 layer\(s\), its first use at .*:\d+:\d+ made 2"),
    ("""- dense: {units: 3, from: a, share: 7}""", r"`share` must be a name"),
])
def test_sharing_mistakes_are_located_errors(body, message):
    text = textwrap.dedent("""
        name: bad
        inputs:
          a: {shape: [4]}
          b: {shape: [5]}
        blocks:
          twice:
            args: {one: {type: bool, default: false}}
            body:
              - dense: {units: 4}
              - dense: {units: 4, when: "${not one}"}
        body:
          BODY
    """).replace("BODY", "\n  ".join(line.strip() for line in body.splitlines()))
    with pytest.raises(SpecError, match=message) as err:
        archspec.loads(text)
    assert err.value.loc.line > 0


def test_sharing_survives_the_resolved_yaml_and_the_keras_file(keras, tmp_path):
    s = spec(SIAMESE)
    again = archspec.loads(resolved_yaml(s))
    assert [(n.name, n.shares) for n in again.graph.nodes] == [(n.name, n.shares) for n in s.graph.nodes]
    assert again.analyze().total_params == SIAMESE_PARAMS
    keras.backend.clear_session()
    model = archspec.build(s)
    path = tmp_path / "siamese.keras"
    model.save(path)
    x = np.random.default_rng(2).random((2, 12, 12, 1), dtype=np.float32)
    y = np.asarray(model([x, x[::-1]]))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(f"""
        import numpy as np, keras
        m = keras.saving.load_model({str(path)!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.testing.assert_array_equal(np.asarray(m([x, x[::-1]])), np.load({str(tmp_path / 'y.npy')!r}))
        print("params", m.count_params())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"params {SIAMESE_PARAMS}" in out.stdout
    keras.backend.clear_session()


def test_summary_shows_the_sharing(tmp_path):
    path = tmp_path / "siamese.yaml"
    path.write_text(textwrap.dedent(SIAMESE))
    out = subprocess.run([sys.executable, "-m", "archspec", "summary", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "conv2d:2 (conv2d)" in out.stdout
    assert ("Shared weights (`share:`, counted once; `<layer>:2` is its 2nd application): conv2d x2, "
            "max_pooling2d x2, flatten x2, dense x2") in out.stdout
    assert f"Total params: {SIAMESE_PARAMS:,}" in out.stdout
    js = subprocess.run([sys.executable, "-m", "archspec", "summary", str(path), "--json"],
                        capture_output=True, text=True, timeout=60)
    layers = {r["name"]: r for r in json.loads(js.stdout)["layers"]}
    assert layers["dense:2"]["shares"] == "dense" and layers["dense:2"]["params"] == 0
    assert layers["dense"]["shares"] is None and layers["dense"]["params"] == 808


TIED = """
    name: tied_lm
    input: {shape: [5], dtype: int32}
    body:
      - reversible_embedding: {input_dim: 30, output_dim: 6, share: tokens}
      - dense: {units: 6, activation: tanh}
      - reversible_embedding: {input_dim: 30, output_dim: 6, reverse: true, share: tokens}
"""


def test_tied_embeddings_one_matrix_for_input_and_output(keras):
    s = spec(TIED)
    assert [n.name for n in s.graph.layers] == ["reversible_embedding", "dense", "reversible_embedding:2"]
    assert s.output_shapes == [(5, 30)]
    assert s.analyze().total_params == 30 * 6 + (6 * 6 + 6)  # the matrix once
    assert s.analyze()["reversible_embedding:2"].macs == 5 * 6 * 30
    keras.backend.clear_session()
    model = archspec.build(s)
    assert model.count_params() == 30 * 6 + 42
    assert_analyzer_equals_keras(s, model)
    ids = np.random.default_rng(3).integers(0, 30, size=(2, 5)).astype("int32")
    hidden = keras.Model(model.input, model.get_layer("dense").output)(ids)
    matrix = np.asarray(model.get_layer("reversible_embedding").embeddings)
    np.testing.assert_allclose(np.asarray(model(ids)), np.asarray(hidden) @ matrix.T, rtol=1e-5, atol=1e-6)
    assert archspec.loads(resolved_yaml(s)).analyze().total_params == 222
    keras.backend.clear_session()


def test_reverse_needs_the_embedding_width_and_a_bool():
    with pytest.raises(SpecError, match=r"with `reverse: true` the input's last axis must be "
                                        r"`output_dim` \(6\): got \(batch, 5, 7\)"):
        spec(TIED.replace("units: 6", "units: 7"))
    with pytest.raises(SpecError, match=r"reverse"):
        spec(TIED.replace("reverse: true", "reverse: 3"))


def test_zoo_siamese_one_shot_network_counts_its_tower_once():
    """Koch et al. 2015, Figure 4: the tower's weights once, the L1 distance, one sigmoid unit."""
    a = archspec.summary("siamese_oneshot")
    tower = (10 * 10 * 64 + 64) + (7 * 7 * 64 * 128 + 128) + (4 * 4 * 128 * 128 + 128) \
        + (4 * 4 * 128 * 256 + 256) + (6 * 6 * 256 * 4096 + 4096)
    assert a.total_params == tower + 4096 + 1 == 38_951_745
    assert a.shared_layers == {n: 2 for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "pool3",
                                              "conv4", "flatten", "code")}
    assert a["code:2"].output_shape == (4096,) and a["l1_distance"].output_shape == (4096,)
