"""Inline search spaces: ``{hp: int|float|choice|bool, ...}`` wherever a value may stand.

Without a tuner a space stands for its default, so one file is both a model and its search space.
A *chooser* (the tuner) may pick another value: :func:`choose` asks it. This module checks that a
space is well formed (min <= max, a positive step, non-empty choices, default inside the range,
log sampling with min > 0) and raises located ``SpecError``s otherwise.

:func:`check_space_values` (run by ``Spec.analyze``) checks what a tuner may choose besides the
default: a space written directly as a layer argument (``activation: {hp: choice, values: [relu,
relux]}``) has each of its values (a ``choice``), both ends (``int``/``float``) or both truth
values (``bool``) put through the argument checks the default passed
(:func:`archspec.ops.arguments.check_arguments`: names, booleans, Keras' ranges). Not covered:
shapes (a value may fit only with other choices), and spaces elsewhere (in ``params``, in a block
call's arguments, nested inside a list argument), whose values reach a layer through expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from archspec.errors import Loc, SpecError, did_you_mean

KINDS = ("int", "float", "choice", "bool")
KEYS = {
    "int": ("hp", "min", "max", "step", "default", "name", "sampling"),
    "float": ("hp", "min", "max", "step", "default", "name", "sampling"),
    "choice": ("hp", "values", "default", "name"),
    "bool": ("hp", "default", "name"),
}


@dataclass(frozen=True)
class Space:
    """A validated search space. ``name`` is its hyperparameter name (from the YAML path)."""

    kind: str
    name: str
    default: Any
    min: Any = None
    max: Any = None
    step: Any = None
    sampling: str = "linear"
    values: tuple = ()
    loc: Loc | None = None


#: A chooser gets a Space and returns the value to use.
Chooser = Callable[[Space], Any]


def is_space(value: Any) -> bool:
    return isinstance(value, dict) and "hp" in value


def parse_space(raw: dict, path: str, loc: Loc) -> Space:
    """Validate ``raw`` (already expression-evaluated) as a space named after ``path``."""
    kind = raw.get("hp")
    if kind not in KINDS:
        raise SpecError(f"unknown search-space kind `{kind}`", loc, received=kind,
                        hint=did_you_mean(kind, KINDS) or "kinds: " + ", ".join(KINDS))
    for key in raw:
        if key not in KEYS[kind]:
            raise SpecError(f"unknown key `{key}` in a `{kind}` search space", loc, received=key,
                            hint=did_you_mean(key, KEYS[kind]) or "keys: " + ", ".join(KEYS[kind]))
    name = raw.get("name", path)
    if kind == "bool":
        default = raw.get("default", False)
        if not isinstance(default, bool):
            raise SpecError("the default of a `bool` space must be true or false", loc, received=default)
        return Space(kind, name, default, loc=loc)
    if kind == "choice":
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise SpecError("a `choice` space needs a non-empty list `values`", loc, received=values)
        default = raw.get("default", values[0])
        if default not in values:
            raise SpecError("the default of a `choice` space must be one of its values", loc,
                            received=default, hint=f"values: {values!r}")
        return Space(kind, name, default, values=tuple(values), loc=loc)
    number = int if kind == "int" else (int, float)
    lo, hi = raw.get("min"), raw.get("max")
    for key, v in (("min", lo), ("max", hi)):
        if not isinstance(v, number) or isinstance(v, bool):
            raise SpecError(f"a `{kind}` space needs a numeric `{key}`", loc, received=v)
    if lo > hi:
        raise SpecError(f"`min` ({lo}) is greater than `max` ({hi})", loc, received=dict(raw))
    sampling = raw.get("sampling", "linear")
    if sampling not in ("linear", "log", "reverse_log"):
        raise SpecError("`sampling` must be linear, log or reverse_log", loc, received=sampling)
    if sampling != "linear" and lo <= 0:
        raise SpecError(f"log sampling needs `min` > 0, got {lo}", loc, received=dict(raw))
    step = raw.get("step", 1 if kind == "int" else None)
    if step is not None and (not isinstance(step, number) or isinstance(step, bool) or not step > 0):
        raise SpecError(f"`step` must be a{' positive integer' if kind == 'int' else ' positive number'}, "
                        f"got {step!r}", loc, received=dict(raw),
                        hint="leave `step` out for " + ("steps of 1" if kind == "int" else "a continuous range"))
    default = raw.get("default", lo)
    if not isinstance(default, number) or isinstance(default, bool) or not lo <= default <= hi:
        raise SpecError(f"the default ({default!r}) is outside [{lo}, {hi}]", loc, received=default)
    return Space(kind, name, default, lo, hi, step, sampling, loc=loc)


def default_chooser(space: Space) -> Any:
    return space.default


def alternatives(space: Space) -> tuple:
    """The values of ``space`` a tuner may choose that the argument checks should see."""
    if space.kind == "choice":
        return space.values
    if space.kind == "bool":
        return (False, True)
    return (space.min, space.max)  # the argument checks are ranges: both ends cover the interval


def check_space_values(spaces, graph) -> None:
    """Raise a located SpecError for a value a layer argument refuses, of a space written
    directly as that argument (see the module docstring for what is and is not covered)."""
    from archspec.ops.arguments import check_arguments
    from archspec.ops.base import ShapeError
    from archspec.ops import ARG_ALIASES, get_op

    if not spaces:
        return
    steps: dict = {}  # (file, YAML path of a layer step) -> a node written there
    for node in graph.nodes:
        if node.op != "input":
            steps.setdefault((node.loc.file, node.loc.path), node)
    seen = set()
    for space in spaces:
        loc = space.loc
        if loc is None or "." not in loc.path or (loc.file, loc.line, loc.col, loc.path) in seen:
            continue
        seen.add((loc.file, loc.line, loc.col, loc.path))
        step, key = loc.path.rsplit(".", 1)
        node = steps.get((loc.file, step))
        op = get_op(node.op) if node is not None else None
        if op is None:
            continue
        arg = key if key in op.args else ARG_ALIASES.get(key, key)
        if arg not in node.args:
            continue
        for value in alternatives(space):
            try:
                check_arguments(op.cls, {arg: value}, op.bools)
            except ShapeError as exc:
                what = {"choice": "a value", "bool": "a value"}.get(
                    space.kind, "the `min`" if value == space.min else "the `max`")
                raise SpecError(f"{op.cls}: {exc.message} ({what} of this `{space.kind}` search space)",
                                loc, received=value, hint=exc.hint) from None
