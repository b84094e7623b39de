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


@pytest.mark.parametrize("step, error", [
    # onnxruntime refuses what tf2onnx 1.17 makes of tf.image.extract_patches (the pooling windows;
    # LocallyConnected2D's too): a Reshape to (batch * channels) rows, written -1 * channels
    ("stochastic_pooling2d: {pool_size: 2, name: pool}",
     r"layer `pool` \(StochasticPooling2D, ONNX op Reshape\) to ONNX: onnxruntime: .*Invalid dimension value"),
    # tf2onnx cannot map the XLA-compiled call Keras makes of a grouped convolution
    ("conv2d: {filters: 4, kernel_size: 3, groups: 2, name: grouped}",
     r"layer `grouped` \(Conv2D, op StatefulPartitionedCall\) to ONNX: tf2onnx does not convert a "
     r"TensorFlow function compiled with XLA"),
    # given mean and variance (EfficientNet's input normalization) stay constants Keras captures,
    # which tf2onnx turns into inputs of the graph that onnxruntime asks for
    ("normalization: {mean: [0.5, 0.5, 0.5, 0.5], variance: [0.25, 0.25, 0.25, 0.25], name: norm}",
     r"layer `norm` \(Normalization, its constants\) to ONNX: tf2onnx made constants of the model "
     r"\(`\S+/norm\S*/Sub/y:0`, `\S+/norm\S*/Sqrt/x:0`\) inputs of the ONNX graph"),
])
def test_a_layer_onnx_cannot_hold_is_named(keras, tmp_path, capfd, step, error):
    keras.backend.clear_session()
    with pytest.raises(RunError, match="cannot export " + error):
        export(archspec.build(_between_convs(step)), tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
    err = capfd.readouterr().err  # the error says it all: tf2onnx's and onnxruntime's logs stay quiet
    assert "is not supported" not in err and "Unsupported ops" not in err and "onnxruntime" not in err
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
