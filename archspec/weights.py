"""Load weights from a file into a built model, by layer name, with a report of what was loaded.

>>> model = archspec.build("resnet50", classes=10, input_shape=[32, 32, 3])    # doctest: +SKIP
>>> report = load_weights(model, "resnet50_imagenet.keras")                    # doctest: +SKIP
>>> print(report)                                                              # doctest: +SKIP
transferred 318 of 320 tensors from resnet50_imagenet.keras; not loaded: predictions/kernel
(2048x1000 in the file, 2048x10 here), predictions/bias (1000 in the file, 10 here)

A source is a ``.keras`` archive, a ``.weights.h5`` file (Keras 3), a Keras 2 ``.h5`` (the files
keras.applications downloads), or an archspec run directory (its ``model.keras``); the kind is
read from the content, not the file name. The file is read with h5py alone: the model that
wrote it is never rebuilt, so a keras.applications model or a spec that no longer exists loads
as well. Each tensor of the model is matched by its layer's name and its index in that layer
(Keras' own order: kernel, bias; gamma, beta, moving mean, moving variance), then its shape is
checked; a tensor that does not fit is reported, never guessed. ``adapt_input`` converts the
first convolution's kernel when only its input channels differ (3 in the file), as timm's
``adapt_input_conv`` does. Nothing is assigned until the whole file has been read and checked:
an error leaves the model as it was.

This module reads files and assigns variables; it imports no TensorFlow itself (h5py and numpy),
and sits between ``archspec.train`` (which loads weights before a fresh run) and the builder.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archspec.errors import FileError

__all__ = ["Miss", "TransferReport", "WeightFile", "load_weights", "read_weights", "transfer"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_RUN_MODEL = "model.keras"


# ------------------------------------------------------------------ reading a file
@dataclass
class WeightFile:
    """The layer weights of a file: ``layers`` maps a layer name (``conv2/conv3_block1_1_conv``
    for a model nested in the model) to its tensors in Keras' order."""

    path: Path
    layers: dict[str, list[np.ndarray]]

    @property
    def count(self) -> int:
        return sum(len(t) for t in self.layers.values())


def read_weights(source: str | Path) -> WeightFile:
    """Read the layer weights of ``source`` (see the module's docstring) into memory, or raise
    :class:`FileError` naming the file and why it cannot be used."""
    path = Path(source)
    if path.is_dir():
        if not (path / _RUN_MODEL).is_file():
            raise FileError(path, f"a directory without {_RUN_MODEL}: not an archspec run directory",
                            hint="give a .keras or .weights.h5 file, or the directory of a finished run")
        path = path / _RUN_MODEL
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise FileError(path, f"cannot read the weights: {exc.strerror or exc}") from None
    if head.startswith(b"PK"):
        data = _h5_from_archive(path)
    elif head == _HDF5_MAGIC:
        data = path
    else:
        raise FileError(path, "not a Keras model or weights file (neither a .keras archive nor HDF5)",
                        hint="give a .keras file, a .weights.h5 file or an archspec run directory")
    layers = _read_h5(path, data)
    if not layers:
        raise FileError(path, "the file holds no layer weights")
    return WeightFile(path, layers)


def _h5_from_archive(path: Path):
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad:
                raise FileError(path, f"truncated or damaged: its member {bad} fails the CRC check")
            if "model.weights.h5" not in z.namelist():
                raise FileError(path, "a zip archive without model.weights.h5: not a .keras model")
            return io.BytesIO(z.read("model.weights.h5"))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileError(path, f"truncated or damaged ({exc})") from None


def _read_h5(path: Path, data) -> dict[str, list[np.ndarray]]:
    import h5py

    try:
        with h5py.File(data, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:  # Keras 2 (keras.applications' downloads)
                return _read_legacy(f["model_weights"] if "model_weights" in f else f)
            return _read_keras3(f["layers"]) if "layers" in f else {}
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise FileError(path, f"not a readable weights file: truncated or damaged HDF5 ({str(exc)[:200]})") from None


def _read_keras3(group, prefix: str = "") -> dict[str, list[np.ndarray]]:
    """Keras 3 (saving_lib): ``layers/<key>/vars/0..n`` with the layer's name in the ``vars``
    group's ``name`` attribute (the key is made from the class name: ``conv2d_3``); a nested model
    repeats the pattern under ``layers/<key>/layers``."""
    out: dict[str, list[np.ndarray]] = {}
    for key, sub in group.items():
        vars_ = sub.get("vars")
        name = _text(vars_.attrs.get("name", key)) if vars_ is not None else key
        if vars_ is not None and len(vars_):
            out[prefix + name] = [np.asarray(vars_[str(i)]) for i in range(len(vars_))]
        if "layers" in sub:
            out.update(_read_keras3(sub["layers"], f"{prefix}{name}/"))
    return out


def _read_legacy(group) -> dict[str, list[np.ndarray]]:
    """Keras 2: a group per layer name (``layer_names``), its tensors named by ``weight_names``."""
    out: dict[str, list[np.ndarray]] = {}
    for name in (_text(n) for n in group.attrs["layer_names"]):
        names = [_text(n) for n in group[name].attrs.get("weight_names", [])]
        if names:
            out[name] = [np.asarray(group[name][n]) for n in names]
    return out


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ------------------------------------------------------------------ the report
@dataclass(frozen=True)
class Miss:
    """A tensor of the model left as it was: its shape here and in the file (None: not there)."""

    name: str
    here: tuple
    file: tuple | None

    def __str__(self) -> str:
        if self.file is None:
            return f"{self.name} ({_shape(self.here)} here, not in the file)"
        return f"{self.name} ({_shape(self.file)} in the file, {_shape(self.here)} here)"


@dataclass
class TransferReport:
    """What :func:`transfer` did: ``loaded`` tensor names (``adapted`` among them, converted
    from another input channel count), ``missed`` tensors of the model, and ``unused`` layer
    names of the file (with their tensor count ``unused_tensors``)."""

    source: str
    total: int
    loaded: list[str] = field(default_factory=list)
    missed: list[Miss] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    unused_tensors: int = 0

    @property
    def transferred(self) -> int:
        return len(self.loaded)

    def __str__(self) -> str:
        text = f"transferred {self.transferred} of {self.total} tensors from {self.source}"
        if self.adapted:
            text += "; adapted to the input channels: " + ", ".join(self.adapted)
        if self.missed:
            text += "; not loaded: " + _listing([str(m) for m in self.missed])
        if self.unused:
            text += (f"; {self.unused_tensors} tensor(s) of the file unused (layers not in this model: "
                     + _listing(self.unused) + ")")
        return text

    def to_dict(self) -> dict:
        """The JSON form (``run.json``'s ``weights`` field)."""
        return {"source": self.source, "transferred": self.transferred, "total": self.total,
                "not_loaded": [{"name": m.name, "here": list(m.here), "file": None if m.file is None else list(m.file)}
                               for m in self.missed],
                "adapted": list(self.adapted), "unused_layers": list(self.unused),
                "unused_tensors": self.unused_tensors}


def _shape(shape: tuple) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def _listing(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


# ------------------------------------------------------------------ transferring
def load_weights(model, source: str | Path, *, strict: bool = False, adapt_input: bool = False) -> TransferReport:
    """Load the weights of ``source`` into the built Keras ``model`` by layer name and shape.

    ``strict``: every tensor of the model must load and every layer tensor of the file be used,
    else a FileError names them (and nothing is loaded). ``adapt_input``: convert the first
    convolution's kernel when only its input channel count differs (see :func:`adapt_input_kernel`).
    A file that cannot be read, or that shares no layer name with the model, raises FileError and
    leaves the model unchanged.

    Example:
        >>> report = load_weights(model, "runs/resnet50", adapt_input=True)   # doctest: +SKIP
        >>> report.transferred, report.total                                  # doctest: +SKIP
        (318, 320)
    """
    return transfer(model, read_weights(source), strict=strict, adapt_input=adapt_input)


def transfer(model, weights: WeightFile, *, strict: bool = False, adapt_input: bool = False) -> TransferReport:
    """Assign the tensors of ``weights`` (from :func:`read_weights`) to ``model``; see
    :func:`load_weights`."""
    targets = dict(_model_layers(model))
    first = next((name for name, variables in targets.items() if variables), None)
    report = TransferReport(str(weights.path), total=sum(len(v) for v in targets.values()))
    if not set(targets) & set(weights.layers):
        raise FileError(weights.path, "no layer of this model has weights in the file (no layer name in common)",
                        hint="layers in the file: " + _listing(sorted(weights.layers), 8)
                             + "; here: " + _listing([n for n, v in targets.items() if v], 8))
    plan = []
    for name, variables in targets.items():
        tensors = weights.layers.get(name, [])
        for i, var in enumerate(variables):
            label, here = f"{name}/{_var_name(var)}", tuple(var.shape)
            value = tensors[i] if i < len(tensors) else None
            if value is not None and value.shape != here and adapt_input and name == first and i == 0:
                adapted = adapt_input_kernel(value, here)
                if adapted is not None:
                    report.adapted.append(f"{label} ({_shape(value.shape)} in the file -> {_shape(here)})")
                    value = adapted
            if value is None or value.shape != here:
                report.missed.append(Miss(label, here, None if value is None else tuple(value.shape)))
            else:
                plan.append((var, value))
                report.loaded.append(label)
    report.unused = sorted(set(weights.layers) - {n for n, v in targets.items() if v})
    report.unused_tensors = sum(len(weights.layers[n]) for n in report.unused) + sum(
        max(0, len(weights.layers[n]) - len(v)) for n, v in targets.items() if n in weights.layers)
    if strict and (report.missed or report.unused_tensors):
        raise FileError(weights.path, "strict: " + "; ".join(filter(None, [
            f"{len(report.missed)} tensor(s) of the model not loaded: " + _listing([str(m) for m in report.missed])
            if report.missed else "",
            f"{report.unused_tensors} tensor(s) of the file unused (layers: {_listing(report.unused)})"
            if report.unused_tensors else ""])),
            hint="load without strict to keep the rest (a new head, say), or give the file of this architecture")
    for var, value in plan:
        var.assign(value.astype(var.dtype, copy=False))
    return report


def adapt_input_kernel(kernel: np.ndarray, shape: tuple) -> np.ndarray | None:
    """A convolution kernel (``..., in, out``) of 3 input channels converted to ``shape``'s, as
    timm's ``adapt_input_conv``: summed over the channels for 1, the RGB weights repeated
    cyclically and scaled by 3/n for n; None where only the input channels may differ and they
    do not come from 3."""
    if kernel.ndim < 3 or len(shape) != kernel.ndim or kernel.shape[-2] != 3:
        return None
    if kernel.shape[:-2] != tuple(shape[:-2]) or kernel.shape[-1] != shape[-1]:
        return None
    n = shape[-2]
    if n == 1:
        return kernel.sum(axis=-2, keepdims=True)
    reps = [1] * kernel.ndim
    reps[-2] = math.ceil(n / 3)
    return (np.tile(kernel, reps)[..., :n, :] * (3 / n)).astype(kernel.dtype)


def _model_layers(model, prefix: str = ""):
    """(name, own variables in Keras' saving order) for each layer, a nested model's as
    ``outer/inner``, in the model's order."""
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "inputs"):  # a nested Functional/Sequential
            yield from _model_layers(layer, f"{prefix}{layer.name}/")
            continue
        # Keras' Layer.save_own_variables: trainable then non-trainable, the layer's own (no seed
        # generator state, no sublayer)
        own = getattr(layer, "_trainable_variables", None)
        variables = (list(own) + list(layer._non_trainable_variables)) if own is not None else list(layer.weights)
        yield prefix + layer.name, variables


def _var_name(var) -> str:
    return getattr(var, "name", "").split("/")[-1].split(":")[0] or "?"
