"""The checks of the data before any training (TensorFlow-free, numpy only): every split's arrays
(:func:`check_arrays`: examples, finite numeric inputs, labels in range) and their fit to the
model's input and outputs (:func:`check_fit`, whose hints change the model only when checked to
work: :mod:`archspec.train.hints`). A bad example or label is found before hours of training,
with the file, the split, the array and the first bad row named."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from archspec.errors import FileError, SpecError
from archspec.train.config import TrainConfig
from archspec.train.data import NUMERIC

if TYPE_CHECKING:
    from archspec.train.data import Data, Part


def check_arrays(data: Data, units: int | None, model_name: str, cfg: TrainConfig) -> None:
    """Check every split held as numpy arrays (train, validation, test) before any training, so
    that a bad example or label is not found only by the test after hours of training.

    Each split must hold examples of the training split's shape; its inputs must be finite
    numbers; its labels must be numbers and, for a classifier (``units`` > 1, labels one class
    index per example), whole numbers in ``0..units-1`` -- in a data set that declares its classes
    (``sklearn:``, ``keras:``) only the splits read from a file (``validation_data: npz:...``), the
    others being compared by class count (:func:`check_fit`). The first problem found raises: a FileError naming the file for ``npz:PATH``
    data (and the split and array in the message), else a SpecError at the ``data`` setting.
    Splits backed by tf.data (``images:``, ``tfds:``) cannot be checked cheaply and are skipped.
    Vectorized: a few passes over the arrays (MNIST: tens of milliseconds).
    """
    for split, part in (("train", data.train), ("validation", data.val), ("test", data.test)):
        if part is None or part.ds is not None:
            continue
        trusted = data.num_classes is not None and not part.file  # a declared data set's own split
        problem = (_empty(part, split) or _shape_problem(part, split, tuple(data.shape))
                   or _inputs_problem(part, split)
                   or _labels_problem(part, split, None if trusted else units, model_name))
        if problem:
            message, hint = problem
            if part.file:
                raise FileError(part.file, message, hint=hint)
            from_validation = split == "validation" and cfg.validation_data
            raise SpecError(message, cfg.loc("validation_data" if from_validation else "data"), hint=hint)


def _shape_problem(part: Part, split: str, shape: tuple):
    """Examples of another shape than the training split's (``x_test`` of 4x8 beside 8x8)."""
    got = tuple(np.shape(part.x)[1:])
    if got == shape:
        return None
    return (f"{_describe(part, split, 0)} has examples of shape {got} but the training split's are {shape}",
            "every split needs examples of one shape: check how the arrays were saved")


def _describe(part: Part, split: str, which: int) -> str:
    """``the test split (y_test)``, ``the validation split (from x_train)`` or ``the test split``."""
    if not part.names:
        return f"the {split} split"
    name = part.names[which]
    return f"the {split} split ({name})" if part.rows is None else f"the {split} split (from {name})"


def _first(part: Part, which: int, bad: np.ndarray) -> tuple[int, str]:
    """The first example of a split that ``bad`` (a boolean per example) marks: its index in the
    split and its name by the index in the file's array (``x_train[1234]``; the lowest there when
    the split is a shuffled part of that array)."""
    rows = np.flatnonzero(bad)
    i = int(rows[0] if part.rows is None else rows[np.argmin(part.rows[rows])])
    row = int(i if part.rows is None else part.rows[i])
    return i, (f"{part.names[which]}[{row}]" if part.names else f"example {row}")


def _count(n: int, what: str) -> str:
    """``1 label is``, ``3 labels are``."""
    return f"{n:,} {what} is" if n == 1 else f"{n:,} {what}s are"


def _values(a: np.ndarray, limit: int = 3) -> str:
    """A few distinct values of an array, as Python writes them: ``'cat', 'dog'``."""
    seen = list(dict.fromkeys(v.item() if hasattr(v, "item") else v for v in a.reshape(-1)[:1000]))
    return ", ".join(repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..." for v in seen[:limit])


def _number(v):
    """A scalar as a Python number, whole floats as ints: ``57`` rather than ``57.0``."""
    v = v.item()
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _kind(a: np.ndarray) -> str:
    return {"U": "strings", "S": "byte strings", "O": "Python objects"}.get(a.dtype.kind, f"{a.dtype} values")


def _empty(part: Part, split: str):
    if part.n:
        return None
    arrays = "/".join(part.names) if part.names else "the data"
    hint = {"train": f"{arrays} hold no examples, or too few to hold out test_split and validation_split "
                     "of them as well: give them more",
            "validation": "give the validation data some examples, or set validation_split: 0",
            "test": f"give {arrays} some examples, or leave them out to hold out test_split of the training data"}
    return f"the {split} split has no examples", hint[split]


def _inputs_problem(part: Part, split: str):
    x = part.x
    if x.dtype.kind not in NUMERIC:
        return (f"inputs are not numbers: {_describe(part, split, 0)} holds {_kind(x)} (dtype {x.dtype}), "
                f"such as {_values(x, 1)}",
                "save the inputs as a numeric array (uint8 pixels or floats), e.g. np.asarray(x, dtype=np.float32)")
    if x.dtype.kind != "f" or x.size == 0 or (np.isfinite(x.min()) and np.isfinite(x.max())):
        return None  # min and max are finite only when no value is NaN or inf: no boolean mask needed
    flat = x.reshape(len(x), -1)
    nan, inf = int(np.isnan(flat).sum()), int(np.isinf(flat).sum())
    counts = " and ".join(f"{k:,} {what}" for k, what in ((nan, "NaN"), (inf, "inf")) if k)
    _, first = _first(part, 0, ~np.isfinite(flat).all(axis=1))
    return (f"inputs are not all finite: {_describe(part, split, 0)} holds {counts} "
            f"value{'s' if nan + inf > 1 else ''}, the first in {first}",
            "fix or drop those examples before saving: `bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1)` "
            "marks them")


def _labels_problem(part: Part, split: str, units: int | None, model_name: str):
    y, where = part.y, _describe(part, split, 1)
    classifier = units is not None and units > 1 and y.ndim == 1
    needs = f"integer class indices 0..{units - 1}" if classifier else "numbers"
    if y.dtype.kind not in NUMERIC:
        return (f"labels are {_kind(y)}: {where} holds {_values(y)} (dtype {y.dtype}), but archspec needs {needs}",
                "map the labels to integers, e.g. `names, y = np.unique(labels, return_inverse=True)`, "
                "and save y (names[i] is then the name of class i)")
    if not classifier or y.size == 0:
        return None
    if y.dtype.kind == "f":  # left as floats by _labels: not all whole numbers
        bad = ~np.isfinite(y) | (np.mod(y, 1) != 0)
        if bad.any():
            i, first = _first(part, 1, bad)
            n = int(bad.sum())
            return (f"labels are not whole numbers: {where} holds {y[i].item()!r} at {first}"
                    + (f" ({n:,} such labels)" if n > 1 else "") + f", but archspec needs {needs}",
                    "labels are class indices; save y.argmax(axis=1) if y holds one-hot rows or probabilities, "
                    "or fix the labels that are not whole numbers")
    low, high = _number(y.min()), _number(y.max())
    if low < 0:
        bad = y < 0
        _, first = _first(part, 1, bad)
        return (f"labels out of range: {where} has labels down to {low} but class indices start at 0 "
                f"(the model `{model_name}` has {units} outputs: 0..{units - 1})",
                f"check the labels: {_count(int(bad.sum()), 'label')} below 0, the first at {first}; "
                "if they are signed or 1-based, map them to 0..C-1")
    if high >= units:
        bad = y >= units
        _, first = _first(part, 1, bad)
        return (f"labels out of range: {where} has labels up to {high} but the model `{model_name}` has "
                f"{units} outputs (class indices 0..{units - 1})",
                f"check the labels: {_count(int(bad.sum()), 'label')} {units} or more, the first at {first} "
                f"(a wrong label, or another data set's file?); only if the data truly has {int(high) + 1} "
                f"classes, give the model more outputs (e.g. --set classes={int(high) + 1})")
    return None


# ---------------------------------------------------------------------------------- fitting the model
def check_fit(data: Data, model_shape: tuple, units: int | None, cfg: TrainConfig, model_name: str,
              suggest: Callable[[str, Any], str | None] | None = None):
    """How to bring the data's examples to the model's input: None, ``reshape``, ``resize``, ``pad``.

    First checks the arrays themselves (:func:`check_arrays`: empty splits, NaN or inf inputs,
    labels out of range), then raises a SpecError naming both shapes (or both class counts) when
    they do not fit. ``suggest(what, value)``, given by a caller that knows the spec, returns a
    ``--set NAME=VALUE`` that gives the model that ``input_shape`` (or that many ``classes``) *and
    was checked with the analyzer*, or None; without one, a hint never proposes a change to the
    model that may not exist.
    """
    check_arrays(data, units, model_name, cfg)
    src, dst = tuple(data.shape), tuple(model_shape)
    loc = cfg.loc("data")
    classes_differ = units is not None and data.num_classes is not None and units > 1 and units != data.num_classes
    how = None
    if None in dst or src == dst:
        how = None
    elif cfg.fit_input in ("resize", "pad") and len(src) == 3 and len(dst) == 3 and src[2] == dst[2]:
        how = cfg.fit_input
        if how == "pad" and (src[0] > dst[0] or src[1] > dst[1]):
            raise SpecError(f"cannot pad {src} images to the model input {dst}: they are larger",
                            cfg.loc("fit_input"), hint="use fit_input: resize")
    elif cfg.fit_input == "auto" and len(src) == 3 and len(dst) == 3 and src[2] == dst[2]:
        how = "resize"
    elif cfg.fit_input in ("reshape", "auto") and math.prod(src) == math.prod(dst):
        how = "reshape"
    else:
        raise SpecError(
            f"the data `{data.name}` has examples of shape {src} but the model `{model_name}` "
            f"takes inputs of shape {dst}", loc, received={"data": src, "model": dst},
            hint=_fit_hint(src, dst, suggest)  # the whole chain: the class count's fix too
            + ("; then " + _classes_hint(data.num_classes, suggest) if classes_differ else ""))
    if classes_differ:
        raise SpecError(
            f"the data `{data.name}` has {data.num_classes} classes but the model `{model_name}` "
            f"has {units} outputs", loc, received={"data classes": data.num_classes, "model outputs": units},
            hint=_classes_hint(data.num_classes, suggest),
        )
    return how


def _classes_hint(n: int, suggest) -> str:
    change = suggest("classes", n) if suggest else None
    return (f"give the model {n} outputs: {change}" if change else
            f"give the model {n} outputs (its last layer's units)")


def _fit_hint(src: tuple, dst: tuple, suggest) -> str:
    """A hint that fixes the whole mismatch: resizing (the model unchanged), or a ``--set`` the
    caller checked with the analyzer, or else what data the model needs."""
    images = len(src) == len(dst) == 3
    if images and src[2] == dst[2]:
        change = suggest("input_shape", src) if suggest else None
        return ("resize the examples to the model's input: `train: {fit_input: resize}` in the spec, or "
                "--set train.fit_input=resize" + (f"; or give the model their shape: {change}" if change else ""))
    if images:
        change = suggest("input_shape", (dst[0], dst[1], src[2])) if suggest else None
        return (f"the data has {src[2]} channel(s) and the model takes {dst[2]}: "
                + (f"give the model {src[2]} input channel(s) and resize the examples: {change} --set train.fit_input=resize"
                   if change and (dst[0], dst[1]) != (src[0], src[1]) else
                   f"give the model {src[2]} input channel(s) ({change})" if change else
                   f"use data with {dst[2]} channel(s), or a model whose input has {src[2]}"))
    change = suggest("input_shape", src) if suggest else None
    if change:
        return f"give the model the data's input shape: {change}"
    if math.prod(src) == math.prod(dst):
        return "the sizes agree: reshape the examples with `train: {fit_input: reshape}`"
    return f"use data whose examples have shape {dst}, or a model that takes {src}"


