"""archspec/spec/expr.py parses and checks each expression text once: a repeated block evaluates
the same few expressions thousands of times. Only the syntax is cached; names and values come
from each scope, and a refused expression is refused every time."""

from __future__ import annotations

import pytest

from archspec.errors import SpecError
from archspec.spec import expr


def test_the_same_text_in_other_scopes_reads_those_scopes():
    assert expr.evaluate("filters * 2 + len(convs)", {"filters": 3, "convs": [1]}) == 7
    assert expr.evaluate("filters * 2 + len(convs)", {"filters": 4, "convs": []}) == 8
    with pytest.raises(SpecError, match=r"unknown name `filters` in expression") as info:
        expr.evaluate("filters * 2 + len(convs)", {"filtres": 4, "convs": []})
    assert "did you mean `filtres`?" in info.value.hint


def test_a_text_is_parsed_once():
    expr._checked.cache_clear()
    for i in range(50):
        assert expr.evaluate_string("block${i + 1}_conv", {"i": i}) == f"block{i + 1}_conv"
    info = expr._checked.cache_info()
    assert (info.misses, info.hits) == (1, 49)


@pytest.mark.parametrize("source, match", [
    ("__import__('os')", r"calling `__import__` is not allowed"),
    ("x.real", r"`Attribute` is not allowed"),
    ("convs[1:2]", r"slices are not allowed"),
    ("max(a, key=b)", r"keyword arguments are not allowed"),
    ("1 +", r"invalid expression"),
])
def test_a_refused_expression_is_refused_every_time(source, match):
    for _ in range(2):
        with pytest.raises(SpecError, match=match):
            expr.evaluate(source, {"x": 1, "convs": [1, 2], "a": 1, "b": 2})
    assert expr._checked(source) is None


def test_an_unknown_name_in_an_untaken_branch_is_still_refused():
    assert expr.evaluate("a if a else b", {"a": 1, "b": 2}) == 1
    with pytest.raises(SpecError, match=r"unknown name `b`"):
        expr.evaluate("a if a else b", {"a": 1})
