"""archspec export --format onnx (#17.6): real tf2onnx and onnxruntime, outputs against Keras."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import onnxruntime as ort  # the test extra installs the onnx extra: these tests run, never skip

import archspec
from archspec.cli import main
from archspec.errors import RunError
from archspec.tools.export import export
from tests.conftest import ROOT, ZOO

#: what every converted model below must match Keras within (float32: measured <= 5e-7)
ATOL = 1e-5

#: archspec's own layers that convert, one after the other (12x12x3 in: 5x5x8 out)
CONVERTING_LAYERS = """
name: own_layers
input: {shape: [12, 12, 3]}
body:
  - lrn: {size: 3, name: lrn}
  - tiled_conv2d: {filters: 4, kernel_size: 3, tile_size: 2, name: tiled}
  - fixed_filter2d: {kernel: [[0, 1, 0], [1, -4, 1], [0, 1, 0]], name: laplace}
  - full_conv2d: {filters: 4, kernel_size: 3, name: full}
  - zero_pad_shortcut: {filters: 8, strides: 2, name: shortcut}
"""

#: the two-input, two-output network of docs/language.md
TWO_HEADS = """
name: two_heads
inputs:
  image: {shape: [8, 8, 3]}
  meta: {shape: [4]}
body:
  - conv2d: {filters: 4, kernel_size: 3, from: image}
  - global_average_pooling2d
  - concatenate: {from: [_, meta], name: joined}
  - dense: {units: 5, activation: softmax, name: main}
  - dense: {units: 1, from: joined, name: aux_out}
outputs: [main, aux_out]
"""


def _run_onnx(path, xs):
    """The outputs of the ONNX file ``path`` on ``xs`` (by the inputs' names), as onnxruntime runs it."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, xs)))


def _assert_onnx_equals_keras(model, path, xs):
    """The exported file, loaded afresh and run on a batch of another size than export's check."""
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    got = _run_onnx(path, xs)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=0, atol=ATOL)


def _export_and_check(keras, spec, tmp_path, shapes):
    keras.backend.clear_session()
    model = archspec.build(spec)
    path, diff = export(model, tmp_path / "m.onnx", "onnx")
    assert path == tmp_path / "m.onnx" and diff <= ATOL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary left
    rng = np.random.default_rng(1)
    _assert_onnx_equals_keras(model, path, [rng.random(s, dtype=np.float32) for s in shapes])
    return model


@pytest.mark.parametrize("name, params, shapes", [
    ("lenet5", {}, [(3, 32, 32, 1)]),
    ("resnet20", {"n": 1}, [(3, 32, 32, 3)]),                        # residual: ResNet-8, option A shortcuts
    ("inception_3a", {}, [(3, 28, 28, 192)]),                        # four branches, concatenated
    ("timeseries_cnn1d", {"filters": [8, 16, 8]}, [(3, 50, 1)]),     # 1-D, any length
])
def test_zoo_networks_export_to_onnx_with_keras_outputs(keras, tmp_path, name, params, shapes):
    model = _export_and_check(keras, archspec.load(ZOO / f"{name}.yaml", **params), tmp_path, shapes)
    if name == "resnet20":  # one basic block per stage: 3 residual additions, 2 with zero-padded channels
        classes = [type(layer).__name__ for layer in model.layers]
        assert (classes.count("Add"), classes.count("ZeroPadding2D")) == (3, 2)
    if name == "inception_3a":  # GoogLeNet's Table 1: 28x28x192 -> 28x28x(64 + 128 + 32 + 32)
        assert model.output_shape == (None, 28, 28, 256)
    keras.backend.clear_session()


def test_archspec_layers_that_convert(keras, tmp_path):
    model = _export_and_check(keras, archspec.loads(CONVERTING_LAYERS), tmp_path, [(3, 12, 12, 3)])
    assert [type(layer).__name__ for layer in model.layers[1:]] == [
        "LocalResponseNormalization", "TiledConv2D", "FixedFilter2D", "FullConv2D", "ZeroPadShortcut"]
    assert model.output_shape == (None, 5, 5, 8)
    keras.backend.clear_session()


def test_two_inputs_and_two_outputs(keras, tmp_path):
    model = _export_and_check(keras, archspec.loads(TWO_HEADS), tmp_path, [(3, 8, 8, 3), (3, 4)])
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "meta"]
    assert [tuple(o.shape[1:]) for o in session.get_outputs()] == [(5,), (1,)]
    assert model.output_shape == [(None, 5), (None, 1)]
    keras.backend.clear_session()


def _between_convs(step: str):
    return archspec.loads("name: t\ninput: {shape: [12, 12, 4]}\nbody:\n"
                          "  - conv2d: {filters: 4, kernel_size: 3, name: conv}\n"
                          f"  - {step}\n  - conv2d: {{filters: 4, kernel_size: 3, name: conv_1}}\n")


def _onnx_graph(path):
    """(the op types, with ``Conv group=N`` for each grouped Conv, and the input names) of the
    ONNX file ``path``."""
    import onnx  # tf2onnx's own dependency

    graph = onnx.load(str(path)).graph
    ops = {node.op_type for node in graph.node}
    ops |= {f"Conv group={a.i}" for node in graph.node if node.op_type == "Conv" for a in node.attribute
            if a.name == "group" and a.i > 1}
    return ops, [i.name for i in graph.input]


@pytest.mark.parametrize("step, ops", [
    # grouped: one plain convolution per group, concatenated (Keras would compile it with XLA,
    # which tf2onnx leaves as StatefulPartitionedCall)
    ("conv2d: {filters: 6, kernel_size: 3, groups: 2, activation: relu, name: grouped}", {"Split", "Concat"}),
    # groups == input channels (ConvNeXt): one depthwise convolution, 2 filters a channel
    ("conv2d: {filters: 8, kernel_size: 3, strides: 2, padding: same, groups: 4, name: depthwise}", {"Conv group=4"}),
    # exact GELU, as a layer and as a layer's activation: erf, not TensorFlow's Erfc
    ("activation: {activation: gelu, name: gelu}\n  - dense: {units: 4, activation: gelu, name: dense}", {"Erf"}),
    # given mean and variance (EfficientNet's, ConvNeXt's input normalization): weights, not
    # constants that tf2onnx would make inputs of the graph
    ("normalization: {mean: [0.5, 0.1, 2.0, 0.0], variance: [0.25, 4.0, 1.0, 9.0], name: norm}", {"Sub"}),
], ids=["groups_2", "depthwise", "exact_gelu", "normalization"])
def test_layers_onnx_cannot_hold_are_exported_as_equivalents(keras, tmp_path, step, ops):
    spec = _between_convs(step)
    keras.backend.clear_session()
    config = archspec.build(spec).get_config()  # what a fresh build is, to compare with after export
    model = _export_and_check(keras, spec, tmp_path, [(3, 12, 12, 4)])
    found, inputs = _onnx_graph(tmp_path / "m.onnx")
    assert ops <= found and not found & {"StatefulPartitionedCall", "PartitionedCall", "Erfc"}
    assert inputs == [t.name for t in model.inputs]  # no constant became an input
    assert model.get_config() == config  # the export changed a copy, not the model
    keras.backend.clear_session()


def test_the_export_copy_replaces_layers_in_nested_models_and_keeps_shared_layers_shared(keras, tmp_path):
    from archspec.tools.onnx_compat import GroupedConv2D, NormalizationAsWeights, onnx_compatible

    keras.backend.clear_session()
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, padding="same", groups=2, name="g")(inner_in), name="inner")
    shared = keras.layers.Conv2D(4, 3, padding="same", groups=4, activation="gelu", name="shared")
    head = keras.Sequential([keras.layers.Normalization(mean=1.0, variance=2.0, name="n"),
                             keras.layers.Dense(2, activation="gelu", name="d")], name="head")
    x = keras.Input((8, 8, 4), name="image")
    model = keras.Model(x, head(shared(shared(inner(x)))), name="outer")
    model(np.zeros((1, 8, 8, 4), np.float32))
    copy = onnx_compatible(model)
    assert [type(la).__name__ for la in model.layers] == ["InputLayer", "Functional", "Conv2D", "Sequential"]
    assert [type(la) for la in copy.layers[2:3] + copy.get_layer("inner").layers[1:]] == [GroupedConv2D] * 2
    assert type(copy.get_layer("head").layers[0]) is NormalizationAsWeights
    # the copy's weights: the model's (the shared convolution's once) and the Normalization's two
    assert len(copy.weights) == len(model.weights) + 2 and [la.name for la in copy.layers].count("shared") == 1
    for a, b in zip(copy.get_layer("shared").get_weights(), model.get_layer("shared").get_weights()):
        np.testing.assert_array_equal(a, b)
    plain = keras.Model(x, keras.layers.Dense(2, activation="relu")(x))
    assert onnx_compatible(plain) is plain  # nothing to replace: the model itself
    path, diff = export(model, tmp_path / "m.onnx", "onnx")
    assert diff <= ATOL and _onnx_graph(path)[1] == ["image"]
    layer = NormalizationAsWeights(mean=[[1.0, 2.0]], variance=[[4.0, 0.0]], invert=True, name="w")
    assert NormalizationAsWeights.from_config(layer.get_config()).get_config() == layer.get_config()
    keras.backend.clear_session()


@pytest.mark.parametrize("step, error", [
    # onnxruntime refuses what tf2onnx 1.17 makes of tf.image.extract_patches (the pooling windows;
    # LocallyConnected2D's too): a Reshape to (batch * channels) rows, written -1 * channels
    ("stochastic_pooling2d: {pool_size: 2, name: pool}",
     r"layer `pool` \(StochasticPooling2D, ONNX op Reshape\) to ONNX: onnxruntime: .*Invalid dimension value"),
])
def test_a_layer_onnx_cannot_hold_is_named(keras, tmp_path, capfd, step, error):
    keras.backend.clear_session()
    with pytest.raises(RunError, match="cannot export " + error):
        export(archspec.build(_between_convs(step)), tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
    err = capfd.readouterr().err  # the error says it all: tf2onnx's and onnxruntime's logs stay quiet
    assert "is not supported" not in err and "Unsupported ops" not in err and "onnxruntime" not in err
    keras.backend.clear_session()


def test_a_grouped_convolution_inside_a_custom_layer_is_still_named(keras, tmp_path):
    # the export copy replaces only the layers Keras' clone_model reaches: not a custom layer's own
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, groups=2)

        def call(self, x):
            return self.conv(x)

    keras.backend.clear_session()
    x = keras.Input((8, 8, 4))
    model = keras.Model(x, Block(name="block")(x))
    model(np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(RunError, match=r"cannot export layer `block` \(Block, op StatefulPartitionedCall\) to "
                                       r"ONNX: tf2onnx does not convert a TensorFlow function compiled with XLA"):
        export(model, tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
    keras.backend.clear_session()


def test_a_layer_keras_cannot_trace_for_any_size_is_named(keras, tmp_path):
    # variable_input_cnn's adaptive pooling needs the spatial sizes the spec leaves free (null)
    keras.backend.clear_session()
    model = archspec.build(ZOO / "variable_input_cnn.yaml", classes=3)
    with pytest.raises(RunError, match=r"cannot export layer `pool_to_grid` \(AdaptiveMaxPooling2D\) to ONNX: "
                                       r"Keras: Input spatial dimensions must be statically known"):
        export(model, tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
    keras.backend.clear_session()


def test_outputs_that_differ_are_a_run_error(keras, tmp_path):
    keras.backend.clear_session()
    spec = archspec.loads("name: t\ninput: {shape: [4]}\nbody:\n  - dense: {units: 2}\n")
    with pytest.raises(RunError, match=r"outputs differ from the source by .* \(tolerance -1\)"):
        export(archspec.build(spec), tmp_path / "m.onnx", "onnx", atol=-1.0)
    assert list(tmp_path.iterdir()) == []
    keras.backend.clear_session()


def test_cli_exports_a_spec_next_to_it(keras, tmp_path, capsys):
    spec = tmp_path / "lenet5.yaml"
    spec.write_text((ZOO / "lenet5.yaml").read_text())
    assert main(["export", str(spec), "--format", "onnx", "--set", "classes=4"]) == 0
    out = tmp_path / "lenet5_export.onnx"
    assert capsys.readouterr().out.startswith(f"wrote {out} (onnx); outputs match the source on a sample batch")
    (y,) = _run_onnx(out, [np.zeros((2, 32, 32, 1), np.float32)])
    assert y.shape == (2, 4)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)  # the softmax
    keras.backend.clear_session()


def test_without_onnxruntime_the_cli_says_what_to_install(tmp_path):
    # onnxruntime made unimportable in a fresh process, before archspec runs
    prelude = "import sys; sys.modules['onnxruntime'] = None; from archspec.cli import main; "
    run = subprocess.run([sys.executable, "-c", prelude + "sys.exit(main(sys.argv[1:]))",
                          "export", "lenet5", "--format", "onnx", "-o", str(tmp_path / "m.onnx")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "error: --format onnx needs tf2onnx and onnxruntime: `onnxruntime` cannot be imported" in run.stderr
    assert "Hint: pip install 'archspec-keras[onnx]'" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_layer_whose_copy_cannot_be_made_is_left_for_the_exporter_to_name(keras):
    """A user's subclass with exact GELU whose config does not rebuild it: the export copy keeps
    the layer itself (the exporter then names it, as before the copy existed), no traceback."""
    from archspec.tools.onnx_compat import onnx_compatible

    class NeedsExtra(keras.layers.Dense):
        def __init__(self, extra, **kwargs):  # `extra` is not in its config
            super().__init__(**kwargs)
            self.extra = extra

    inputs = keras.Input((4,))
    layer = NeedsExtra(1, units=3, activation="gelu")
    gelu = keras.layers.Activation("gelu")
    model = keras.Model(inputs, gelu(layer(inputs)))
    copy = onnx_compatible(model)
    assert copy is not model and copy.layers[1] is layer  # left as it is
    assert copy.layers[2] is not gelu and copy.layers[2].name == gelu.name  # the other one still replaced
