"""The expression evaluator: what it computes, and what it refuses."""

from __future__ import annotations

import pytest

from archspec.errors import SpecError
from archspec.spec.expr import evaluate, evaluate_string

SCOPE = {"filters": 64, "convs": [2, 2, 3], "width": 0.5, "name": "b", "deep": True}


@pytest.mark.parametrize("text, value", [
    ("$filters", 64),
    ("${filters * 2}", 128),
    ("${int(filters * width)}", 32),
    ("${convs[2]}", 3),
    ("${len(convs)}", 3),
    ("${max(1, filters // 48)}", 1),
    ("${'a' if deep else 'b'}", "a"),
    ("${[1, 2] if not deep else [3]}", [3]),
    ("${2 ** 10}", 1024),
    ("${-filters % 10}", 6),
    ("${filters > 32 and filters < 128}", True),
    ("block${convs[0] + 1}_conv$name", "block3_convb"),
    ("plain text", "plain text"),
    ("${round(2.5)}", 2),
])
def test_values(text, value):
    assert evaluate_string(text, SCOPE) == value


@pytest.mark.parametrize("source, message", [
    ("__import__('os')", r"calling `__import__` is not allowed"),
    ("filters.__class__", r"`Attribute` is not allowed"),
    ("9 ** 9 ** 9", r"the power is too large"),
    ("'a' * 10 ** 9", r"too long"),
    ("[x for x in convs]", r"`ListComp` is not allowed"),
    ("lambda: 1", r"`Lambda` is not allowed"),
    ("open('f')", r"calling `open` is not allowed"),
    ("filterz + 1", r"unknown name `filterz`"),
    ("1 / 0", r"division by zero"),
    ("convs[1:2]", r"slices are not allowed"),
    ("filters +", r"invalid expression"),
    ("__builtins__", r"the name `__builtins__` is not allowed"),
])
def test_refusals(source, message):
    with pytest.raises(SpecError, match=message):
        evaluate(source, SCOPE)


def test_unknown_name_suggests():
    with pytest.raises(SpecError) as info:
        evaluate("filtres * 2", SCOPE)
    assert info.value.hint == "did you mean `filters`?"
