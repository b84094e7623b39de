"""Export a model (``archspec export``) as .keras, a TF SavedModel or TFLite, and prove it.

The source is a ``.keras`` file, a training run directory (its ``model.keras``) or a spec (an
untrained model). After writing, the export is loaded back and run on a sample batch; it must
give the same outputs as the source model (exactly for .keras, within ``atol`` for the others,
whose kernels may differ), else the export is removed and a :class:`RunError` is raised.

>>> model = load_source("architectures/lenet5.yaml", {"classes": 4})        # doctest: +SKIP
>>> export(model, default_output("architectures/lenet5.yaml", "tflite"), "tflite")  # doctest: +SKIP
(PosixPath('architectures/lenet5_export.tflite'), 0.0)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path

from archspec._recursion import deep_recursion
from archspec.errors import Loc, RunError, SpecError, command_line
from archspec.spec import Spec
from archspec.spec import as_spec
from archspec._env import filtered_stderr, is_verbose, quiet_tensorflow

FORMATS = ("keras", "savedmodel", "tflite")
SUFFIX = {"keras": ".keras", "savedmodel": "", "tflite": ".tflite"}
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


def export(model, output: str | Path, fmt: str, *, atol: float = 1e-5) -> tuple[Path, float]:
    """Write ``model`` as ``fmt`` to ``output``; return the path and the max output difference."""
    import numpy as np

    if fmt not in FORMATS:
        raise SpecError(f"unknown export format `{fmt}`", command_line("--format"),
                        received=fmt, hint="formats: " + ", ".join(FORMATS))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    x = _sample(model)
    expected = np.asarray(model.predict(x, verbose=0))
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
    else:
        got = _tflite(model, tmp, x)
        tol = atol
    diff = float(np.max(np.abs(np.asarray(got) - expected))) if expected.size else 0.0
    if not diff <= tol:
        _remove(tmp)
        raise RunError(f"the exported model's outputs differ from the source by {diff:.3g} "
                       f"(tolerance {tol:g}); nothing was written to {output}",
                       hint="a layer the format converts differently: try another --format")
    _remove(output)
    os.replace(tmp, output)  # atomic: a crash never leaves a half-written export
    return output, diff


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
