"""Export a model (``archspec export``) as .keras, a TF SavedModel, TFLite or ONNX, and prove it.

The source is a ``.keras`` file, a training run directory (its ``model.keras``) or a spec (an
untrained model). After writing, the export is loaded back and run on a sample batch; it must
give the same outputs as the source model (exactly for .keras, within ``atol`` for the others,
whose kernels may differ), else the export is removed and a :class:`RunError` is raised.

ONNX: Keras' own ``model.export(format="onnx")`` (tf2onnx underneath), run back with
onnxruntime; both come with ``pip install 'archspec-keras[onnx]'``. A layer that tf2onnx cannot
convert, or that it converts into a graph onnxruntime refuses, is a :class:`RunError` naming the
layer, its class and the op (``scripts/check_onnx_zoo.py`` lists what converts in the zoo); grouped
convolutions, exact GELU and Normalization are converted from an export-only copy of the model
(:mod:`archspec.tools.onnx_compat`), checked against the model itself.

>>> model = load_source("architectures/lenet5.yaml", {"classes": 4})        # doctest: +SKIP
>>> export(model, default_output("architectures/lenet5.yaml", "tflite"), "tflite")  # doctest: +SKIP
(PosixPath('architectures/lenet5_export.tflite'), 0.0)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import warnings
from pathlib import Path

from archspec._recursion import deep_recursion
from archspec.errors import Loc, RunError, SpecError, command_line
from archspec.spec import Spec
from archspec.spec import as_spec
from archspec._env import filtered_stderr, is_verbose, quiet_tensorflow

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
SUFFIX = {"keras": ".keras", "savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}
#: what ``--format onnx`` imports, and where it comes from
ONNX_INSTALL_HINT = "pip install 'archspec-keras[onnx]' (or pip install tf2onnx onnxruntime)"
_XNNPACK_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def load_source(source: Spec | str | Path, params: dict | None = None, *, include_path=()):
    """A Keras model from a .keras file, a run directory, or a spec (a :class:`Spec` or a spec
    file, with ``params`` and ``include_path``: an untrained model)."""
    quiet_tensorflow()
    from archspec.builder import build

    from archspec.spec.document import zoo_lookup
    from archspec.train.artifacts import load_model

    if isinstance(source, Spec):
        return build(source, **(params or {}))
    source = Path(source)
    if source.is_dir():
        for name in ("model.keras", "best.keras", "model_best.keras"):
            if (source / name).is_file():
                return load_model(source / name)  # a FileError, not Keras' traceback, when damaged
        raise SpecError("no model.keras in this directory", Loc(str(source)),
                        hint="give a .keras file, a run directory from `archspec train`, or a spec")
    if source.suffix == ".keras":
        if not source.is_file():
            raise SpecError("file not found", Loc(str(source)), received=str(source))
        return load_model(source)
    if source.suffix in (".yaml", ".yml") or zoo_lookup(source):  # a spec file, or a zoo name
        return build(as_spec(source, include_path=include_path, **(params or {})))
    raise SpecError("cannot export from this file", Loc(str(source)), received=str(source),
                    hint="give a .keras file, a run directory or a .yaml spec")


def save_keras(model, output: str | Path) -> Path:
    """Save ``model`` as the ``.keras`` file ``output`` (its folder made), atomically: a crash
    never leaves half a file."""
    from archspec.train.artifacts import save_model

    return save_model(model, output)  # a unique temporary name; a full disk is a FileError


def default_output(source: str | Path, fmt: str) -> Path:
    """Where ``archspec export`` writes without ``-o``: next to the source, named after it with
    ``_export`` and the format's suffix: ``nets/lenet5.yaml`` -> ``nets/lenet5_export.tflite``,
    ``m.keras`` -> ``m_export.keras``; a run directory ``runs/lenet5`` -> ``runs/lenet5_export.tflite``
    (beside the run, not in the directory ``archspec train`` manages)."""
    source = Path(source)
    if not source.is_dir():
        return source.with_name(source.stem + "_export" + SUFFIX[fmt])
    if source.name in ("", ".."):  # `.`, `..`: the folder's own name
        source = source.resolve()
    return source.parent / (source.name + "_export" + SUFFIX[fmt])


def _sample(model, batch: int = 4):
    import numpy as np

    rng = np.random.default_rng(0)
    shapes = [tuple(t.shape) for t in model.inputs]
    xs = []
    for t, shape in zip(model.inputs, shapes):
        dims = [batch] + [d if d is not None else 32 for d in shape[1:]]
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 2, size=dims).astype(str(t.dtype)))
        else:
            xs.append(rng.random(dims, dtype=np.float32))
    return xs if len(xs) > 1 else xs[0]


def check_format(fmt: str) -> None:
    """Raise a :class:`SpecError` (at ``--format``) for an unknown format, or for ``onnx`` when
    tf2onnx or onnxruntime cannot be imported: before a model is built or loaded."""
    if fmt not in FORMATS:
        raise SpecError(f"unknown export format `{fmt}`", command_line("--format"),
                        received=fmt, hint="formats: " + ", ".join(FORMATS))
    if fmt != "onnx":
        return
    try:
        import onnxruntime  # noqa: F401

        quiet_tensorflow()  # tf2onnx imports TensorFlow: without its start-up noise
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise SpecError(f"--format onnx needs tf2onnx and onnxruntime: `{missing}` cannot be imported",
                        command_line("--format"), received=fmt, hint=ONNX_INSTALL_HINT) from None


def export(model, output: str | Path, fmt: str, *, atol: float = 1e-5) -> tuple[Path, float]:
    """Write ``model`` as ``fmt`` to ``output``; return the path and the max output difference
    (over every output of a model with several)."""
    check_format(fmt)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    x = _sample(model)
    expected = model.predict(x, verbose=0)  # also what ONNX needs: a model called once
    tmp = output.with_name(output.name + ".tmp" + SUFFIX[fmt])
    _remove(tmp)
    if fmt == "keras":
        import keras

        with deep_recursion(model):
            model.save(tmp)
            got = keras.saving.load_model(tmp).predict(x, verbose=0)
        tol = 0.0
    elif fmt == "savedmodel":
        import tensorflow as tf

        model.export(str(tmp), format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(str(tmp))  # keep a reference: its variables die with it
        got = loaded.serve(x).numpy()
        tol = atol
    elif fmt == "onnx":
        got = _onnx(model, tmp, x)
        tol = atol
    else:
        got = _tflite(model, tmp, x)
        tol = atol
    diff = _max_diff(got, expected)
    if not diff <= tol:
        _remove(tmp)
        raise RunError(f"the exported model's outputs differ from the source by {diff:.3g} "
                       f"(tolerance {tol:g}); nothing was written to {output}",
                       hint="a layer the format converts differently: try another --format")
    _remove(output)
    os.replace(tmp, output)  # atomic: a crash never leaves a half-written export
    return output, diff


def _outputs(y) -> list:
    import numpy as np

    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def _max_diff(got, expected) -> float:
    """The largest absolute difference between two models' outputs (``inf`` if their number or
    shapes differ)."""
    import numpy as np

    got, expected = _outputs(got), _outputs(expected)
    if len(got) != len(expected) or any(a.shape != b.shape for a, b in zip(got, expected)):
        return float("inf")
    return max((float(np.max(np.abs(a - b))) for a, b in zip(got, expected) if b.size), default=0.0)


def _tflite(model, path: Path, x):
    import numpy as np
    import tensorflow as tf

    saved = path.with_name(path.name + ".savedmodel")
    _remove(saved)
    model.export(str(saved), format="tf_saved_model", verbose=False)
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        path.write_bytes(converter.convert())
    finally:
        _remove(saved)
    with _quiet_interpreter():
        interpreter = tf.lite.Interpreter(model_path=str(path))
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], np.shape(x))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], np.asarray(x, dtype=inp["dtype"]))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


#: why tf2onnx leaves a TF op unconverted, where it is known (measured with tf2onnx 1.17, Keras 3.15)
_CAUSES = {
    "StatefulPartitionedCall": "tf2onnx does not convert a TensorFlow function compiled with XLA, and Keras "
                               "compiles grouped convolutions (`groups` > 1) that way on TensorFlow",
    "Erfc": "ONNX has no Erfc (TensorFlow's exact GELU, `gelu` with approximate: false, uses it)",
}


def _onnx(model, path: Path, x) -> list:
    """Convert ``model`` to the ONNX file ``path`` and run ``x`` through it with onnxruntime.

    tf2onnx logs the TF ops it cannot map (and leaves them in the graph) and raises for those
    whose conversion fails; onnxruntime refuses a graph with an unknown op or one that tf2onnx
    built wrong (measured: tf.image.extract_patches with an unknown batch size becomes a
    Reshape to -3 rows). Each is a :class:`RunError` naming the layer (:func:`_not_convertible`).

    What is converted is :func:`~archspec.tools.onnx_compat.onnx_compatible`'s copy of ``model``
    when it has layers that tf2onnx cannot convert as they are (grouped convolutions, exact GELU,
    Normalization), with the same weights; the caller compares its outputs with ``model``'s."""
    from archspec.tools.onnx_compat import onnx_compatible

    compatible = onnx_compatible(model)
    if compatible is not model:
        compatible(x)  # Keras exports only a model called once
        model = compatible
    log = _Records()
    try:
        with _quiet_onnx(log):
            model.export(str(path), format="onnx", verbose=False)
    except Exception as exc:  # noqa: BLE001  (tf2onnx raises what its op handlers raise)
        _remove(path)
        traced = re.match(r"Exception encountered when calling (\w+)\.call\(\)", str(exc))
        if traced and not log.nodes():  # Keras, tracing the model for the export: a layer's own error
            layer = next((la for la in model.layers if type(la).__name__ == traced.group(1)), None)
            lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()[1:] if ln.strip()]
            raise _not_convertible(model, [], f"Keras: {lines[0] if lines else traced.group(0)}", layer=layer,
                                   hint="the export traces the model for any input size the spec leaves "
                                        "free (null): give the input fixed sizes") from None
        raise _not_convertible(model, [(n, f"op {op}" if op else "") for n, op in log.nodes()],
                               f"tf2onnx: {_first_line(exc)}") from None
    if log.unsupported():
        _remove(path)
        ops = {op for _, op in log.unsupported()}
        why = "; ".join(_CAUSES[op] for op in sorted(ops) if op in _CAUSES)
        raise _not_convertible(model, [(n, f"op {op}") for n, op in log.unsupported()],
                               why or "tf2onnx has no ONNX conversion for this op")
    try:
        return _run_onnx(path, model, x)
    except _ExtraInputs as exc:
        _remove(path)
        raise _not_convertible(model, [(name, "its constants") for name in exc.names],
                               "tf2onnx made constants of the model (" + ", ".join(f"`{n}`" for n in exc.names)
                               + ") inputs of the ONNX graph instead of its weights") from None
    except Exception as exc:  # noqa: BLE001  (onnxruntime's Fail, InvalidGraph, NotImplemented...)
        _remove(path)
        op = re.search(r"Op \((\w+)\)", str(exc))
        why = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .* failed: ?)?", "", _first_line(exc))
        raise _not_convertible(model, [], f"onnxruntime: {why}", layer=_failing_layer(model, path),
                               what=f"ONNX op {op.group(1)}" if op else "") from None


class _ExtraInputs(Exception):
    """The ONNX graph has inputs that the Keras model has not: ``names``."""

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def _run_onnx(path: Path, model, x) -> list:
    """Run ``x`` (the model's inputs: an array or a list) through the ONNX file ``path`` with
    onnxruntime, fed by the Keras inputs' names (else in order); :class:`_ExtraInputs` when the
    file asks for more inputs than the model has."""
    import numpy as np
    import onnxruntime

    xs = x if isinstance(x, list) else [x]
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 0 if is_verbose() else 3  # errors come back as exceptions
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    keras_names = [t.name for t in model.inputs]
    if len(names) > len(xs):
        extra = [n for n in names if n not in keras_names]
        raise _ExtraInputs(extra if len(extra) == len(names) - len(xs) else names[len(xs):])
    if sorted(names) == sorted(keras_names):  # by name; else in order (one input: its own name)
        feed = {n: np.asarray(v) for n, v in zip(keras_names, xs)}
    else:
        feed = dict(zip(names, (np.asarray(v) for v in xs)))
    return session.run(None, feed)


class _Records(logging.Handler):
    """What tf2onnx logs while converting: the TF nodes it has no ONNX op for (``unsupported``)
    and those whose conversion raised (``nodes``), as ``(node name, op)``."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def unsupported(self) -> list[tuple[str, str]]:
        return [(str(r.args[0]), str(r.args[1])) for r in self.records
                if r.msg == "Tensorflow op [%s: %s] is not supported" and len(r.args) == 2]

    def nodes(self) -> list[tuple[str, str]]:
        failed = [(str(r.args[0]), "") for r in self.records
                  if str(r.msg).startswith("Failed to convert node") and r.args]
        return self.unsupported() + failed


@contextlib.contextmanager
def _quiet_onnx(log: _Records):
    """Collect tf2onnx's error log in ``log``; without ``--verbose``, tf2onnx logs nothing and
    Keras' numpy-2 patch of tf2onnx warns nothing (``np.object``); any other warning shows."""
    logger = logging.getLogger("tf2onnx")
    propagate = logger.propagate
    shown = logging.StreamHandler()  # --verbose: stderr (``log`` alone would keep Python's lastResort away)
    logger.addHandler(log)
    try:
        if is_verbose():
            logger.addHandler(shown)
            yield
            return
        logger.propagate = False
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"In the future `np\.object`", category=FutureWarning)
            yield
    finally:
        logger.removeHandler(log)
        logger.removeHandler(shown)
        logger.propagate = propagate


def _failing_layer(model, path: Path):
    """The first layer of ``model`` that onnxruntime refuses when it is converted alone (one
    layer of each class, on its own input shape), else None.

    onnxruntime names the ONNX node it refuses, but tf2onnx names the nodes it makes for one TF
    op after the ONNX op alone (``Reshape__30``): which layer they came from is not in the file,
    and the nearest named node may belong to the layer before or after. So each class of layer
    is tried alone, in the model's order (measured: well under a second each)."""
    import keras

    seen = set()
    probe = path.with_name(path.name + ".layer.onnx")
    for layer in model.layers:
        cls = type(layer).__name__
        if cls in seen or isinstance(layer, keras.layers.InputLayer):
            continue
        seen.add(cls)
        try:
            shapes = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            inputs = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype) for t in shapes]
            clone = type(layer).from_config(layer.get_config())
            one = (lambda xs: xs if len(xs) > 1 else xs[0])  # noqa: E731
            alone = keras.Model(inputs, clone(one(inputs)))
            alone(one([keras.ops.zeros([1] + [d or 8 for d in t.shape[1:]], dtype=t.dtype) for t in inputs]))
        except Exception:  # noqa: BLE001  (a layer that cannot stand alone: not tried)
            continue
        try:
            with _quiet_onnx(_Records()):
                alone.export(str(probe), format="onnx", verbose=False)
            _run_onnx(probe, alone, _sample(alone, batch=1))
        except Exception:  # noqa: BLE001  (this layer alone fails: the one to name)
            return layer
        finally:
            _remove(probe)
    return None


def _layer_of(model, node: str):
    """The layer of ``model`` whose TF name scope ``node`` (``model_1/conv_1/Conv2D``) is in:
    TensorFlow makes each scope unique with a suffix (measured with Keras 3.15: layer ``conv``
    -> ``conv_1``, ``conv_1`` -> ``conv_1_2``), so a scope without its last ``_N`` first."""
    layers = {layer.name: layer for layer in model.layers}
    for scope in node.split("/")[1:-1]:
        for name in (re.sub(r"_\d+$", "", scope), scope):
            if name in layers:
                return layers[name]
    return None


def _not_convertible(model, nodes: list[tuple[str, str]], why: str, *, layer=None, what: str = "",
                     hint: str | None = None) -> RunError:
    """The RunError for a model ONNX cannot hold: the layers of ``nodes`` (TF node names, each
    with what of it fails: ``op Erfc``), or ``layer`` (with ``what``), named with their class,
    three of a kind at most: ``layers `b0_gelu`, `b1_gelu`, `b2_gelu` and 9 more (Activation, op Erfc)``."""
    groups: dict[str, list[str]] = {}
    if layer is not None:
        groups.setdefault(", ".join(filter(None, (type(layer).__name__, what))), []).append(layer.name)
    for node, what in nodes:
        layer = _layer_of(model, node)
        name = layer.name if layer is not None else node
        key = ", ".join(filter(None, (type(layer).__name__ if layer is not None else "", what)))
        if name not in groups.setdefault(key, []):
            groups[key].append(name)
    parts = []
    for key, names in groups.items():
        shown = ", ".join(f"`{n}`" for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        kind = "layers " if len(names) > 1 else "layer "
        parts.append(kind + shown + (f" ({key})" if key else ""))
    return RunError(f"cannot export {'; '.join(parts) or 'this model'} to ONNX: {why}",
                    hint=hint or "--format savedmodel or tflite exports every layer; for ONNX, replace the "
                                 "layer (docs/cli.md lists the zoo models that convert)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


@contextlib.contextmanager
def _quiet_interpreter():
    """Without ``--verbose``: no warning that tf.lite.Interpreter is deprecated (for LiteRT, which
    TensorFlow does not install; the check runs it only to compare outputs) and no "INFO: Created
    TensorFlow Lite XNNPACK delegate for CPU." on stderr; any other warning or line shows."""
    if is_verbose():
        yield
        return
    with warnings.catch_warnings(), filtered_stderr(prefixes=[_XNNPACK_INFO]):
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                category=UserWarning, module=r"tensorflow\.lite\.python\.interpreter")
        yield


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
