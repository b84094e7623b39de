"""Inline search spaces: ``{hp: int|float|choice|bool, ...}`` wherever a value may stand.

Without a tuner a space stands for its default, so one file is both a model and its search space.
A *chooser* (the tuner) may pick another value: :func:`choose` asks it. This module checks that a
space is well formed (min <= max, non-empty choices, default inside the range, log sampling with
min > 0) and raises located ``SpecError``s otherwise.
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
    default = raw.get("default", lo)
    if not isinstance(default, number) or isinstance(default, bool) or not lo <= default <= hi:
        raise SpecError(f"the default ({default!r}) is outside [{lo}, {hi}]", loc, received=default)
    return Space(kind, name, default, lo, hi, step, sampling, loc=loc)


def default_chooser(space: Space) -> Any:
    return space.default
