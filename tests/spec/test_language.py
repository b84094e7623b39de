"""The spec language: constructs resolve to the expected graph (pure Python, no TensorFlow)."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec import SpecError


def spec(text: str, **params):
    return archspec.loads(textwrap.dedent(text), **params)


def names(s) -> list[str]:
    return [n.name for n in s.graph.layers]


def test_sequence_and_auto_names_are_deterministic_like_keras():
    s = spec("""
        input: {shape: [8, 8, 1]}
        body:
          - conv2d: {filters: 4, kernel_size: 3}
          - Conv2D: {filters: 4, kernel_size: 3}
          - flatten
          - dense: {units: 3}
    """)
    assert names(s) == ["conv2d", "conv2d_1", "flatten", "dense"]
    assert s.output_shapes == [(3,)]
    assert [s.graph[n].shape for n in ("conv2d", "conv2d_1", "flatten")] == [(6, 6, 4), (4, 4, 4), (64,)]


def test_argument_aliases_map_to_keras_names():
    s = spec("""
        input: {shape: [9, 9, 2]}
        body:
          - conv2d: {filters: 3, kernel: 3, stride: 2, bias: false}
    """)
    assert s.graph["conv2d"].args == {"filters": 3, "kernel_size": 3, "strides": 2, "use_bias": False}
    assert s.graph["conv2d"].result.params == 3 * 3 * 2 * 3


def test_repeat_counter_names_and_expressions():
    s = spec("""
        params: {base: 8}
        input: {shape: [16]}
        body:
          - repeat:
              times: 3
              counter: k
              body:
                - dense: {units: "${base * 2 ** k}", name: "fc${k + 1}"}
    """)
    assert names(s) == ["fc1", "fc2", "fc3"]
    assert [s.graph[n].shape for n in names(s)] == [(8,), (16,), (32,)]


def test_params_override_from_python_and_width_multiplier():
    text = """
        params: {classes: 1000, width: 1.0}
        input: {shape: [4]}
        body:
          - dense: {units: "${int(64 * width)}", name: hidden}
          - dense: {units: $classes, name: out}
    """
    s = spec(text, classes=10, width=0.5)
    assert s.graph["hidden"].shape == (32,)
    assert s.output_shapes == [(10,)]
    assert s.params == {"classes": 10, "width": 0.5}


def test_block_with_defaults_and_typed_args():
    s = spec("""
        blocks:
          cbr:
            args: {filters: int, k: {type: int, default: 3}, tag: str}
            body:
              - conv2d: {filters: $filters, kernel_size: $k, padding: same, name: "${tag}_conv"}
              - batch_normalization: {name: "${tag}_bn"}
              - relu: {name: "${tag}_relu"}
        input: {shape: [8, 8, 3]}
        body:
          - cbr: {filters: 4, tag: a}
          - cbr: {filters: 8, k: 1, tag: b}
    """)
    assert names(s) == ["a_conv", "a_bn", "a_relu", "b_conv", "b_bn", "b_relu"]
    assert s.graph["b_conv"].result.params == 1 * 1 * 4 * 8 + 8
    assert s.graph["a_bn"].result.non_trainable == 8  # moving mean + variance of 4 channels


def test_branches_concat_and_add():
    s = spec("""
        input: {shape: [8, 8, 3]}
        body:
          - branches:
              merge: concat
              name: cat
              paths:
                - [conv2d: {filters: 2, kernel_size: 1}]
                - [conv2d: {filters: 5, kernel_size: 3, padding: same}]
                - []
          - branches:
              merge: add
              paths:
                - [conv2d: {filters: 10, kernel_size: 1}]
                - []
    """)
    assert s.graph["cat"].shape == (8, 8, 10)
    assert s.graph["cat"].inputs == ["conv2d", "conv2d_1", "input_layer"]
    assert s.output_shapes == [(8, 8, 10)]


@pytest.mark.parametrize("shortcut, extra, params", [
    ("identity", [], 0),
    ("auto", [], 0),
])
def test_residual_identity_when_shapes_match(shortcut, extra, params):
    s = spec(f"""
        input: {{shape: [8, 8, 4]}}
        body:
          - residual:
              name: r
              shortcut: {shortcut}
              activation: relu
              body:
                - conv2d: {{filters: 4, kernel_size: 3, padding: same}}
    """)
    assert names(s) == ["conv2d", "r_add", "r_out"]
    assert s.graph["r_add"].inputs == ["input_layer", "conv2d"]


def test_residual_auto_projects_when_shape_changes():
    s = spec("""
        input: {shape: [8, 8, 4]}
        body:
          - residual:
              name: r
              body:
                - conv2d: {filters: 8, kernel_size: 3, strides: 2, padding: same}
    """)
    assert names(s) == ["conv2d", "r_proj", "r_proj_bn", "r_add"]
    proj = s.graph["r_proj"]
    assert proj.args == {"filters": 8, "kernel_size": 1, "strides": [2, 2], "use_bias": False}
    assert proj.shape == (4, 4, 8)


def test_residual_identity_with_shape_change_is_a_located_error():
    with pytest.raises(SpecError, match=r"cannot merge inputs of different shapes") as info:
        spec("""
            input: {shape: [8, 8, 4]}
            body:
              - residual:
                  shortcut: identity
                  body:
                    - conv2d: {filters: 8, kernel_size: 3, padding: same}
        """)
    assert info.value.loc.line == 4
    assert "projection" in info.value.hint


def test_references_build_a_dag_and_multi_io():
    s = spec("""
        inputs:
          image: {shape: [8, 8, 1]}
          meta: {shape: [3]}
        body:
          - conv2d: {filters: 2, kernel_size: 3, from: image, as: features}
          - flatten
          - concatenate: {from: [_, meta], name: joined}
          - dense: {units: 4, name: main}
          - dense: {units: 1, from: joined, name: aux}
        outputs: [main, aux]
    """)
    assert s.graph.inputs == ["image", "meta"]
    assert s.graph["joined"].inputs == ["flatten", "meta"]
    assert s.graph["joined"].shape == (6 * 6 * 2 + 3,)
    assert s.output_shapes == [(4,), (1,)]


def test_when_skips_steps_and_outputs_may_be_expressions():
    text = """
        params: {aux: false}
        input: {shape: [4]}
        body:
          - dense: {units: 2, name: main}
          - dense: {units: 3, from: input_layer, name: extra, when: $aux}
        outputs: "${['main', 'extra'] if aux else ['main']}"
    """
    assert names(spec(text)) == ["main"]
    s = spec(text, aux=True)
    assert names(s) == ["main", "extra"] and s.output_shapes == [(2,), (3,)]


def test_extends_and_use_merge_rules(tmp_path):
    (tmp_path / "lib.yaml").write_text(textwrap.dedent("""
        blocks:
          head:
            body: [dense: {units: $classes, name: predictions}]
    """))
    (tmp_path / "base.yaml").write_text(textwrap.dedent("""
        name: base
        use: [lib.yaml]
        params: {classes: 1000, hidden: 16}
        input: {shape: [8]}
        body:
          - dense: {units: $hidden, name: hidden}
          - head
    """))
    (tmp_path / "child.yaml").write_text(textwrap.dedent("""
        name: child
        extends: base.yaml
        params: {classes: 10}
        blocks:
          head:
            body:
              - dropout: {rate: 0.5}
              - dense: {units: $classes, activation: softmax, name: predictions}
    """))
    base = archspec.load(tmp_path / "base.yaml")
    child = archspec.load(tmp_path / "child.yaml")
    assert (base.name, base.output_shapes, names(base)) == ("base", [(1000,)], ["hidden", "predictions"])
    assert (child.name, child.output_shapes) == ("child", [(10,)])
    assert names(child) == ["hidden", "dropout", "predictions"]
    assert child.params == {"classes": 10, "hidden": 16}


def test_a_child_may_not_introduce_a_parameter_it_does_not_use(tmp_path):
    """A typo of a base's parameter in a child spec was a silent new parameter."""
    (tmp_path / "base.yaml").write_text("params: {classes: 10, width: 8}\ninput: {shape: [4]}\n"
                                        "body:\n  - dense: {units: $width}\n  - dense: {units: $classes}\n")
    (tmp_path / "typo.yaml").write_text("extends: base.yaml\nparams: {clases: 5}\n")
    with pytest.raises(SpecError, match=r"`clases` is not a parameter of the base spec base.yaml") as err:
        archspec.load(tmp_path / "typo.yaml")
    assert (err.value.loc.line, err.value.loc.col, err.value.loc.path) == (2, 10, "params.clases")
    assert err.value.hint == "did you mean `classes`?"
    # a new parameter the child uses itself (here in the body it replaces) is welcome
    (tmp_path / "deeper.yaml").write_text("extends: base.yaml\nparams: {depth: 2}\nbody:\n"
                                          "  - repeat: {times: $depth, body: [{dense: {units: 3}}]}\n"
                                          "  - dense: {units: $classes}\n")
    assert archspec.load(tmp_path / "deeper.yaml").analyze().total_params == (4 * 3 + 3) + (3 * 3 + 3) + (3 * 10 + 10)


def test_resolved_yaml_round_trips_to_the_same_graph():
    s = archspec.load("architectures/resnet50.yaml", classes=7)
    again = archspec.loads(s.to_yaml())
    assert names(again) == names(s)
    assert [n.inputs for n in again.graph.nodes] == [n.inputs for n in s.graph.nodes]
    assert again.analyze().total_params == s.analyze().total_params


def test_search_spaces_default_without_a_tuner():
    s = spec("""
        input: {shape: [4]}
        body:
          - dense: {units: {hp: int, min: 8, max: 64, step: 8, default: 32}, name: d}
          - repeat:
              times: {hp: int, min: 1, max: 3, default: 2}
              body: [dense: {units: 4}]
    """)
    assert s.graph["d"].shape == (32,)
    assert names(s) == ["d", "dense", "dense_1"]
    assert [sp.name for sp in s.spaces] == ["body[0].dense.units", "body[1].repeat.times"]


def test_pad_shortcut_is_identity_when_the_shape_is_kept():
    s = spec("""
        input: {shape: [8, 8, 16]}
        body:
          - residual:
              name: same
              shortcut: pad
              body: [conv2d: {filters: 16, kernel_size: 3, padding: same}]
          - residual:
              name: down
              shortcut: pad
              body: [conv2d: {filters: 32, kernel_size: 3, strides: 2, padding: same}]
    """)
    assert names(s) == ["conv2d", "same_add", "conv2d_1", "down_pool", "down_pad", "down_add"]
    assert s.graph["down_pool"].args == {"pool_size": 1, "strides": [2, 2]}  # standard Keras layers
    assert s.graph["down_pad"].args == {"padding": [[0, 0], [0, 16]], "data_format": "channels_first"}
    assert s.graph["down_pad"].result.params == 0 and s.output_shapes == [(4, 4, 32)]


def test_untaken_branches_of_expressions_are_checked_too():
    with pytest.raises(SpecError, match="`Attribute` is not allowed"):
        spec("input: {shape: [4]}\nbody:\n  - dense: {units: '${x.foo if False else 2}'}")
