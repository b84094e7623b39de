"""Saved models reload (issue #17): every zoo spec (architectures/*.yaml, whatever is there),
built small and saved as ``.keras``, reloads in a fresh process and gives the same outputs, bit
for bit: with plain Keras alone (archspec never imported) where docs/tutorial.md says so, after
``import archspec`` for the specs it lists. The list is :func:`archspec.tools.zoo.needs_archspec`,
checked here against the built models. Option A (the `pad` shortcut) is built from standard
layers, equal to archspec's ZeroPadShortcut.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import archspec
from archspec.errors import SpecError
from archspec.tools.zoo import archspec_classes, format_needs_archspec, needs_archspec
from archspec import _registration
from tests.conftest import ROOT, ZOO
from tests.kerascheck import assert_analyzer_equals_keras
from tests.zoo.sizes import SMALL
from tests.zoo.test_zoo import KERAS_APPS_TWINS, _as_list, _inputs

MAX_PARAMS = 20_000_000  # larger models are skipped, however small their input
MANY_LAYERS = 150  # the zoo models of more layers have a test of their own (marked slow)
TUTORIAL = ROOT / "docs" / "tutorial.md"
LIST = re.compile(r"<!-- generated: archspec\.tools\.zoo\.needs_archspec -->\n(.*?)\n<!-- end -->", re.S)

# the child process: load each model named on stdin (as soon as it is saved), run it on the saved
# inputs, compare bit for bit; at the end, say which differed and whether archspec was imported
CHILD = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
{first}
import keras, numpy as np
bad, done = [], 0
for line in sys.stdin:
    file = line.strip()
    data = np.load(file + ".npz")
    xs = [data[k] for k in sorted(k for k in data.files if k.startswith("x"))]
    ys = [data[k] for k in sorted(k for k in data.files if k.startswith("y"))]
    model = keras.saving.load_model(file + ".keras")
    out = model(xs[0] if len(xs) == 1 else xs, training=False)
    out = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    if len(out) != len(ys) or not all(np.array_equal(a, b) for a, b in zip(out, ys)):
        bad.append(os.path.basename(file))
    done += 1
    keras.backend.clear_session(free_memory=False)  # no gc.collect: half the time of a small load
print("loaded:", done, "differ:", bad, "archspec imported:", "archspec" in sys.modules)
"""


def _small_spec(path):
    """The spec at its test_zoo.py SMALL size; else at 64x64 (or 96x96) where it accepts that
    input, with 10 classes where it has `classes`; else as it is."""
    if path.stem in SMALL:
        return archspec.load(path, **SMALL[path.stem])
    spec = archspec.load(path)
    shape = spec.params.get("input_shape")
    extra = {"classes": 10} if "classes" in spec.params else {}
    tries = [{"input_shape": [n, n, shape[-1]]} for n in (64, 96) if n < min(shape[:2])] if (
        isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) for d in shape)) else []
    for params in [{**t, **extra} for t in tries] + ([extra] if extra else []):
        try:
            return archspec.load(path, **params)
        except SpecError:
            continue
    return spec


def _archspec_layers(model) -> set:
    """The classes of archspec's layers in a built model (nested models included)."""
    found = set()
    for layer in model._flatten_layers(include_self=False):
        if type(layer).__module__.startswith("archspec."):
            found.add(type(layer).__name__)
    return found


def test_the_tutorial_lists_the_zoo_specs_that_need_archspec_to_reload(keras):
    listed = LIST.search(TUTORIAL.read_text())
    assert listed, "docs/tutorial.md lacks the generated list of specs that need archspec"
    assert listed.group(1) == format_needs_archspec(needs_archspec()), (
        "docs/tutorial.md is stale: paste archspec.tools.zoo.format_needs_archspec(needs_archspec())")


def _reload_zoo(keras, tmp_path, many_layers: bool) -> dict:
    """Build, run and save every zoo spec (of more than MANY_LAYERS layers, or not); a fresh
    process per group loads each model as soon as it is saved. Returns the count per group."""
    children: dict = {}  # needs archspec -> its process, started at its first model
    sent = {False: 0, True: 0}
    seen = set()
    rng = np.random.default_rng(0)

    def send(needs: bool, file) -> None:
        if needs not in children:  # stderr to a file: a full pipe would stall the child
            children[needs] = subprocess.Popen(
                [sys.executable, "-c", CHILD.format(first="import archspec" if needs else "")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(tmp_path / f"{needs}.err").open("w"),
                text=True, cwd=tmp_path)
        try:
            children[needs].stdin.write(f"{file}\n")
            children[needs].stdin.flush()
        except BrokenPipeError:  # the child died: its stderr says why, below
            pass
        sent[needs] += 1

    try:
        for path in sorted(ZOO.glob("*.yaml")):
            if path.stem in KERAS_APPS_TWINS:
                # built of keras.applications' own classes, layer for layer (tests/zoo/test_apps_*.py,
                # _transfer_and_compare): they reload as keras.applications' models do
                continue
            spec = _small_spec(path)
            if (len(spec.graph.layers) > MANY_LAYERS) != many_layers:
                continue
            if archspec.summary(spec, limits=False).total_params > MAX_PARAMS:
                continue
            graph = repr([(n.name, n.op, n.args, n.inputs) for n in spec.graph.nodes])
            if graph in seen:
                continue  # the same net under another name (resnet20 is resnet_cifar's default)
            seen.add(graph)
            try:
                model = archspec.build(spec)
                classes = archspec_classes(spec)
                assert _archspec_layers(model) == set(classes), path.stem  # the function is the truth
                x = _inputs(model, rng)
                y = _as_list(model(x, training=False))
                file = tmp_path / path.stem
                model.save(f"{file}.keras")
                xs = x if isinstance(x, list) else [x]
                np.savez(f"{file}.npz", **{f"x{i:02d}": v for i, v in enumerate(xs)},
                         **{f"y{i:02d}": v for i, v in enumerate(y)})
            finally:
                keras.backend.clear_session(free_memory=False)  # gc.collect takes ~0.5 s each time
            send(bool(classes), file)
        for needs, child in children.items():
            out, _ = child.communicate(timeout=240)
            err = (tmp_path / f"{needs}.err").read_text()
            assert child.returncode == 0, err[-3000:]
            assert out.strip().splitlines()[-1] == (
                f"loaded: {sent[needs]} differ: [] archspec imported: {needs}"), (out, err[-3000:])
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.communicate()
    return sent


@pytest.mark.slow
def test_every_zoo_model_reloads_as_the_docs_say(keras, tmp_path):
    sent = _reload_zoo(keras, tmp_path, many_layers=False)
    assert sent[False] >= 10 and sent[True] >= 3


@pytest.mark.slow
def test_the_zoo_models_of_many_layers_reload_too(keras, tmp_path):
    """DenseNet, NASNet, EfficientNet, ResNet-56...: seconds each to build, and again to load."""
    sent = _reload_zoo(keras, tmp_path, many_layers=True)
    assert sum(sent.values()) >= 1


# --------------------------------------------------------------------------- option A, standard layers
def _option_a(shape, body: str):
    return archspec.loads(textwrap.dedent(f"""
        input: {{shape: {list(shape)}}}
        body:
          - residual:
              name: down
              shortcut: pad
              body: [{body}]
    """))


@pytest.mark.parametrize("shape, body, strides, filters", [
    ((7, 9, 3), "conv2d: {filters: 8, kernel_size: 3, strides: [2, 3], padding: same}", (2, 3), 8),
    ((8, 8, 16), "conv2d: {filters: 32, kernel_size: 3, strides: 2, padding: same}", (2, 2), 32),
    ((5, 5, 4), "conv2d: {filters: 6, kernel_size: 3, padding: same}", (1, 1), 6),
    ((9, 6, 5), "conv2d: {filters: 5, kernel_size: 3, strides: 3, padding: same}", (3, 3), 5),
])
def test_pad_shortcut_is_standard_keras_and_equals_zero_pad_shortcut(keras, shape, body, strides, filters):
    from archspec.layers import ZeroPadShortcut

    spec = _option_a(shape, body)
    ops = {n.name: n.op for n in spec.graph.layers}
    assert {k: v for k, v in ops.items() if k.startswith("down_")} == {
        **({"down_pool": "max_pooling2d"} if strides != (1, 1) else {}),
        **({"down_pad": "zero_padding2d"} if filters != shape[-1] else {}), "down_add": "add"}
    analysis = archspec.summary(spec)
    assert analysis.total_params == analysis.layers[1].params  # the conv's only
    assert [r.macs for r in analysis.layers if r.name in ("down_pool", "down_pad")] == [0] * (len(ops) - 2)
    try:
        model = archspec.build(spec)
        assert_analyzer_equals_keras(spec, model)
        assert archspec_classes(spec) == [] and _archspec_layers(model) == set()
        short = model.get_layer("down_add").input[0]
        x = np.random.default_rng(1).normal(size=(2, *shape)).astype("float32")
        ours = np.asarray(keras.Model(model.input, short)(x))
        theirs = np.asarray(ZeroPadShortcut(filters, strides)(x))
        assert ours.shape == theirs.shape == (2, -(-shape[0] // strides[0]), -(-shape[1] // strides[1]), filters)
        np.testing.assert_array_equal(ours, theirs)
    finally:
        keras.backend.clear_session()


@pytest.mark.parametrize("shape, body, slices, extra", [
    ((9, 3), "conv1d: {filters: 5, kernel_size: 3, strides: 2, padding: same}", (slice(None, None, 2),), 2),
    ((5, 4, 3, 2), "conv3d: {filters: 4, kernel_size: 1, strides: [2, 1, 3], padding: same}",
     (slice(None, None, 2), slice(None), slice(None, None, 3)), 2),
])
def test_pad_shortcut_in_1d_and_3d(keras, shape, body, slices, extra):
    spec = _option_a(shape, body)
    try:
        model = archspec.build(spec)
        assert_analyzer_equals_keras(spec, model)
        x = np.random.default_rng(2).normal(size=(2, *shape)).astype("float32")
        ours = np.asarray(keras.Model(model.input, model.get_layer("down_add").input[0])(x))
        want = x[(slice(None), *slices)]
        want = np.pad(want, [(0, 0)] * (want.ndim - 1) + [(0, extra)])
        np.testing.assert_array_equal(ours, want)
    finally:
        keras.backend.clear_session()


def test_pad_shortcut_cannot_remove_channels():
    with pytest.raises(SpecError, match=r"can only add channels: the input has 16, the body gives 8") as err:
        _option_a((8, 8, 16), "conv2d: {filters: 8, kernel_size: 1, strides: 2}")
    assert err.value.loc.path == "body[0].residual.shortcut" and "projection" in err.value.hint


# --------------------------------------------------------------------------- the import hook
def test_import_hook_runs_after_the_package_once_and_steps_aside(tmp_path, monkeypatch):
    pkg = tmp_path / "h8_fake_keras"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\nif os.environ.get('H8_FAIL'):\n    raise ImportError('no')\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    hook = _registration._ImportHook("h8_fake_keras", lambda: seen.append(sys.modules["h8_fake_keras"].DONE))
    sys.meta_path.insert(0, hook)
    try:
        probe = importlib.util.find_spec("h8_fake_keras")  # TensorFlow probes for Keras so
        assert probe.origin.endswith("__init__.py") and seen == [] and sys.meta_path[0] is hook
        monkeypatch.setenv("H8_FAIL", "1")
        with pytest.raises(ImportError, match="no"):
            importlib.import_module("h8_fake_keras")
        assert seen == [] and sys.meta_path[0] is hook  # still there for the next try
        monkeypatch.delenv("H8_FAIL")
        module = importlib.import_module("h8_fake_keras")
        assert seen == [True] and hook not in sys.meta_path  # after the package ran; removed
        assert type(module.__loader__).__name__ == "SourceFileLoader" and module.__spec__.loader is module.__loader__
        importlib.reload(module)
        assert seen == [True]
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        sys.modules.pop("h8_fake_keras", None)


def test_a_failed_registration_warns_and_keras_loads_on(monkeypatch):
    monkeypatch.setattr(_registration, "_SAVED_CLASSES", ("archspec._h8_missing",))
    with pytest.warns(RuntimeWarning, match=r"could not register its Keras classes \(archspec\._h8_missing"):
        _registration._register_saved_classes()
    monkeypatch.setattr(_registration, "_SAVED_CLASSES", ())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _registration._register_saved_classes()


def test_load_model_reloads_and_names_a_bad_file(keras, tmp_path):
    from archspec.layers import LocalResponseNormalization

    x = keras.Input((4, 4, 3))
    model = keras.Model(x, LocalResponseNormalization(name="lrn")(x))
    model.save(tmp_path / "m.keras")
    keras.backend.clear_session()
    again = archspec.load_model(tmp_path / "m.keras")
    assert type(again.get_layer("lrn")) is LocalResponseNormalization
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    for name in ("bad.keras", "missing.keras"):
        with pytest.raises(archspec.FileError, match=rf"{name}.*not a loadable \.keras model"):
            archspec.load_model(tmp_path / name)
    keras.backend.clear_session()
