"""Argument values, checked before any layer is built (pure Python, no TensorFlow).

Shapes are the rules' business (:mod:`archspec.ops.rules`); this module checks what Keras
would refuse only when it builds the layer, or accept silently although it is a mistake:

- names: ``activation``, ``*_initializer``, ``*_regularizer``, ``*_constraint``, ``dtype`` and a
  resize ``interpolation`` must be names Keras' own getters accept (the lists are captured from
  Keras into ``archspec/data/keras_names.json`` by ``scripts/gen_keras_catalog.py``), or a
  ``{class_name: ..., config: {...}}`` mapping naming one of them; a typo gets "did you mean";
  the random transforms' ``interpolation`` and ``fill_mode`` are checked against each class' own
  list (``RandomRotation`` takes ``nearest``/``bilinear`` only);
- booleans: an argument whose Keras default is ``True``/``False`` takes ``true``/``false``
  only (``use_bias: "false"`` would be a truthy string);
- ranges: the ones Keras' constructors enforce (:data:`RANGES`), so the error comes at the
  argument's line instead of from ``build``.

A failed check raises :class:`~archspec.ops.base.ShapeError` with ``arg`` set: the resolver
reports it at that argument's value.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from archspec.ops.base import ShapeError, short

_NAMES = Path(__file__).resolve().parent.parent / "data" / "keras_names.json"

#: argument -> the family of names it takes (by the argument's name, as Keras names them)
SUFFIX_FAMILIES = {"_initializer": "initializers", "_regularizer": "regularizers",
                   "_constraint": "constraints"}
FAMILIES = {"activation": "activations", "recurrent_activation": "activations", "dtype": "dtypes",
            "activity_regularizer": "regularizers"}
#: layers whose ``interpolation`` is an image resize (random transforms take other names)
RESIZE_LAYERS = {"UpSampling2D", "Resizing"}
#: families Keras lowercases before looking the name up
CASE_INSENSITIVE = {"resize_interpolations"}

#: (layer class, argument) -> (lowest, highest, whether the highest is allowed): Keras'
#: constructor checks, done here so that they are located. A dropout rate of 1 passes Keras'
#: check but drops everything (GaussianDropout and AlphaDropout then divide by zero): refused.
_RATE = (0.0, 1.0, False)
RANGES = {
    **{(cls, "rate"): _RATE for cls in ("Dropout", "SpatialDropout1D", "SpatialDropout2D",
                                        "SpatialDropout3D", "GaussianDropout", "AlphaDropout")},
    ("GaussianNoise", "stddev"): (0.0, 1.0, True),
    ("LeakyReLU", "negative_slope"): (0.0, math.inf, False),
    ("ReLU", "negative_slope"): (0.0, math.inf, False),
    ("ReLU", "max_value"): (0.0, math.inf, False),
    ("ReLU", "threshold"): (0.0, math.inf, False),
    ("Embedding", "input_dim"): (1, math.inf, False),
    ("Embedding", "output_dim"): (1, math.inf, False),
    ("Resizing", "height"): (1, math.inf, False),
    ("Resizing", "width"): (1, math.inf, False),
}
INTEGERS = {("Embedding", "input_dim"), ("Embedding", "output_dim"), ("Resizing", "height"),
            ("Resizing", "width")}


@lru_cache(maxsize=1)
def keras_names() -> dict[str, tuple[str, ...]]:
    """family -> the names Keras accepts (captured from Keras, see the module docstring)."""
    data = json.loads(_NAMES.read_text())
    return {k: tuple(v) for k, v in data.items() if isinstance(v, list)}


@lru_cache(maxsize=1)
def keras_names_by_class() -> dict[str, dict[str, tuple[str, ...]]]:
    """family -> layer class -> the names that class accepts (the random transforms check
    ``interpolation`` and ``fill_mode`` against lists of their own)."""
    data = json.loads(_NAMES.read_text())
    return {k: {c: tuple(n) for c, n in v.items()} for k, v in data.items() if isinstance(v, dict)}


def family(cls: str, arg: str) -> str | None:
    """The family of names ``arg`` of layer class ``cls`` takes, if any."""
    if arg == "interpolation":
        if cls in RESIZE_LAYERS:
            return "resize_interpolations"
        return "transform_interpolations" if cls in keras_names_by_class()["transform_interpolations"] else None
    if arg == "fill_mode":
        return "fill_modes" if cls in keras_names_by_class()["fill_modes"] else None
    if arg in FAMILIES:
        return FAMILIES[arg]
    return next((f for suffix, f in SUFFIX_FAMILIES.items() if arg.endswith(suffix)), None)


def check_arguments(cls: str, args: dict, bools: tuple = ()) -> None:
    """Check each argument of a ``cls`` layer; raise ShapeError(arg=...) at the first mistake."""
    for name, value in args.items():
        if name in bools and not isinstance(value, bool):
            raise ShapeError(f"`{name}` must be true or false, got {short(value)}",
                             hint=f"write {name}: true or {name}: false (without quotes)", arg=name)
        fam = family(cls, name)
        if fam is not None and value is not None:
            _check_name(fam, name, value, cls)
        limits = RANGES.get((cls, name))
        if limits is not None and value is not None:
            _check_range(cls, name, value, limits)


def _check_name(fam: str, arg: str, value, cls: str) -> None:
    known = keras_names()[fam] if fam in keras_names() else keras_names_by_class()[fam][cls]
    what = fam.replace("_", " ")[:-1].replace("transform ", "")  # "activations" -> "activation"
    if isinstance(value, dict):  # a Keras config: {class_name: L2, config: {l2: 0.01}}
        name = value.get("class_name")
        if not isinstance(name, str) or set(value) - {"class_name", "config", "module", "registered_name"}:
            raise ShapeError(f"`{arg}` takes a{'n' if what[0] in 'aeiou' else ''} {what} name or "
                             f"{{class_name: NAME, config: {{...}}}}, got {short(value)}", arg=arg)
        value, known = name, keras_names().get(f"{fam}_configs", known)
    elif fam in CASE_INSENSITIVE and isinstance(value, str):
        value = value.lower()  # as Keras does
    if not isinstance(value, str):
        raise ShapeError(f"`{arg}` takes a{'n' if what[0] in 'aeiou' else ''} {what} name, got {short(value)}",
                         arg=arg)
    if value not in known:
        from archspec.errors import did_you_mean

        raise ShapeError(f"unknown {what} `{value}` for `{arg}`",
                         hint=did_you_mean(value, known) or f"{fam.replace('_', ' ')}: " + ", ".join(known),
                         arg=arg)


def _check_range(cls: str, arg: str, value, limits: tuple) -> None:
    low, high, high_ok = limits
    integer = (cls, arg) in INTEGERS
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (integer and not isinstance(value, int)) or (isinstance(value, float) and math.isnan(value)):
        raise ShapeError(f"`{arg}` must be a{'n integer' if integer else ' number'}, got {short(value)}", arg=arg)
    if value < low or value > high or (value == high and not high_ok):
        bound = (f">= {low}" if high == math.inf else
                 f"between {low} and {high}" + ("" if high_ok else f" ({high} excluded)"))
        raise ShapeError(f"`{arg}` of {cls} must be {bound}, got {short(value)}", arg=arg)
