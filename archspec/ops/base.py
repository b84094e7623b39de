"""The contract between the op registry and the analyzer's shape rules (pure Python).

A *rule* is a function ``rule(args, shapes) -> Result``:

- ``args``: the layer's keyword arguments as written in the spec (aliases already mapped to
  Keras names, expressions already evaluated), *without* Keras' defaults filled in: a rule
  applies the defaults itself with :func:`arg`.
- ``shapes``: one shape per input tensor, each a tuple *without* the batch dimension, whose
  items are ``int`` or ``None`` (unknown size, e.g. a variable-size image).

It returns a :class:`Result`, or raises :class:`ShapeError` for inputs it cannot accept (the
resolver turns that into a located ``SpecError``), or :class:`NoRule` when it cannot decide
(e.g. ``data_format="channels_first"``): the analyzer then asks Keras and says so.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from archspec.ir import Result, Shape, format_shape as _format_shape  # noqa: F401 - part of the rule contract


class ShapeError(Exception):
    """Inputs a layer cannot accept. ``hint`` is optional advice for the user."""

    def __init__(self, message: str, *, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg  # the argument at fault, if one is: the error is located at its value


class Unportable(ShapeError):
    """A configuration Keras accepts but some machine's TensorFlow kernels cannot run (for
    example a depthwise convolution with unequal strides on some CPUs). ``validate`` refuses it
    everywhere, naming the limitation: what it accepts must build, run and train on every
    machine."""

    def __init__(self, message: str, *, hint: str | None = None, arg: str | None = None):
        super().__init__(f"not portable: {message}", hint=hint, arg=arg)


class NoRule(Exception):
    """The rule cannot analyze this configuration; fall back to Keras."""


Rule = Callable[[dict, Sequence[Shape]], Result]

_MISSING = object()


def arg(args: dict, name: str, default: Any = _MISSING) -> Any:
    """``args[name]``, or the Keras default ``default`` when the spec left it out."""
    if name in args:
        return args[name]
    if default is _MISSING:
        raise ShapeError(f"missing required argument `{name}`")
    return default


def ntuple(value: Any, n: int, name: str, minimum: int = 1) -> tuple:
    """Standardize an int-or-sequence argument to a tuple of ``n`` ints >= ``minimum`` (as Keras)."""
    what = f"`{name}` must be an integer >= {minimum} or a list of {n} such integers"
    items = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(items, (list, tuple)) and len(items) == n and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items
    ):
        return tuple(items)
    raise ShapeError(f"{what}, got {short(value)}", arg=name)


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_shape(shape: Shape) -> str:
    """A shape without the batch axis, written with it: ``(28, None, 3)`` -> ``(batch, 28, None, 3)``."""
    return _format_shape(shape, batch="batch")


def prod(values) -> int | None:
    """Product of sizes, None if any is unknown."""
    out = 1
    for v in values:
        if v is None:
            return None
        out *= v
    return out
