"""A small, safe expression language for spec values, evaluated over Python's ``ast``.

In a spec string:

- ``$name`` (the whole string) is the value of parameter/argument ``name``, with its type;
- ``${expr}`` (the whole string) is the value of the expression, with its type;
- ``"block${i + 1}_conv"`` interpolates each ``${...}`` into the string.

Expressions allow numbers, strings, booleans, ``None``, lists, names bound in the current
scope, arithmetic (``+ - * / // % **``), comparisons, ``and``/``or``/``not``, ``x if c else y``,
subscripts (``convs[2]``) and the functions ``min max int float round abs len str bool``.
Nothing else: no attribute access, no other calls, no dunder names, no comprehensions. There is
no ``eval``: the tree is walked node by node, and sizes are bounded so that ``9**9**9`` or
``"a" * 10**9`` is refused instead of exhausting the machine.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from functools import lru_cache
from typing import Any, Mapping

from archspec.errors import Loc, SpecError, did_you_mean

def _round(number, ndigits=None):
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 100):
        raise ValueError("ndigits must be an integer between -100 and 100")
    return round(number) if ndigits is None else round(number, ndigits)


FUNCTIONS = {
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "round": _round,
    "abs": abs,
    "len": len,
    "str": str,
    "bool": bool,
}

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
MAX_INT_BITS = 128
MAX_LEN = 100_000
MAX_EXPR_CHARS = 2_000

WHOLE_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
WHOLE_EXPR = re.compile(r"^\$\{([^{}]*)\}$")
EMBEDDED = re.compile(r"\$\{([^{}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def has_expr(value: Any) -> bool:
    """True if ``value`` is a string that contains a ``$name`` or ``${...}`` expression (or a
    ``${`` marker that does not close: an error, never literal text)."""
    return isinstance(value, str) and "$" in value and ("${" in value or EMBEDDED.search(value) is not None)


def check_markers(text: str, loc: Loc | None = None) -> None:
    """Refuse a ``${`` that does not open a well-formed ``${...}``: one never closed, or one whose
    expression holds braces (expressions have no sets or dicts)."""
    rest = EMBEDDED.sub(lambda m: " " * len(m.group(0)), text)  # the well-formed ones, blanked
    i = rest.find("${")
    if i < 0:
        return
    if text.find("}", i + 2) < 0:
        problem, hint = "is never closed", "close it: ${filters * 2}"
    else:
        problem, hint = "holds braces", "an expression has no braces: ${max(a, b) * 2}"
    raise SpecError(f"the expression marker `${{` at character {i + 1} of the value {problem}", loc,
                    received=text, hint=hint)


def evaluate_string(text: str, scope: Mapping[str, Any], loc: Loc | None = None) -> Any:
    """Evaluate a spec string: a whole ``$name``/``${expr}`` keeps its type, else interpolate."""
    check_markers(text, loc)
    m = WHOLE_NAME.match(text)
    if m:
        return _lookup(m.group(1), scope, loc, text)
    m = WHOLE_EXPR.match(text)
    if m:
        return evaluate(m.group(1), scope, loc)

    def repl(match: re.Match) -> str:
        if match.group(1) is not None:
            value = evaluate(match.group(1), scope, loc)
        else:
            value = _lookup(match.group(2), scope, loc, text)
        return str(value)

    return EMBEDDED.sub(repl, text)


def evaluate(source: str, scope: Mapping[str, Any], loc: Loc | None = None) -> Any:
    """Evaluate one expression (the text inside ``${...}``) in ``scope``."""
    if len(source) > MAX_EXPR_CHARS:
        raise SpecError("the expression is too long", loc, received=source[:80] + "...")
    checked = _checked(source.strip())
    if checked is not None:  # parsed and checked before: only its names depend on the scope
        body, names = checked
        for name in names:
            if name not in scope and name not in FUNCTIONS:
                _lookup(name, scope, loc, source)
        try:
            return _Evaluator(scope, loc, source).visit(body)
        except RecursionError:
            raise SpecError("the expression is nested too deep", loc, received=source[:80]) from None
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise SpecError("the expression is nested too deep", loc, received=source[:80]) from None
    except SyntaxError as exc:
        raise SpecError(
            f"invalid expression: {exc.msg}",
            loc,
            received=source,
            hint="expressions use Python syntax: ${filters * 2}, ${max(1, n // 2)}",
        ) from None
    evaluator = _Evaluator(scope, loc, source)
    try:
        evaluator.check_tree(tree.body)  # every branch, also those `x if c else y` will not take
        return evaluator.visit(tree.body)
    except RecursionError:
        raise SpecError("the expression is nested too deep", loc, received=source[:80]) from None


class _EveryName(dict):
    """A scope that has every name: checking a tree against it checks its syntax alone."""

    def __contains__(self, name) -> bool:
        return True


@lru_cache(maxsize=4096)
def _checked(source: str) -> tuple[ast.expr, tuple[str, ...]] | None:
    """The tree of an expression whose syntax is allowed, and the names it reads (in the order
    :meth:`_Evaluator.check_tree` checks them), parsed once per text: a repeated block evaluates
    the same few expressions thousands of times. None for an expression with a mistake:
    :func:`evaluate` then parses and checks it again, for the located error."""
    try:
        tree = ast.parse(source, mode="eval")
        _Evaluator(_EveryName(), None, source).check_tree(tree.body)
    except (SpecError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree.body, tuple(node.id for node in ast.walk(tree.body) if isinstance(node, ast.Name))


def _lookup(name: str, scope: Mapping[str, Any], loc: Loc | None, source: str) -> Any:
    if name in scope:
        return scope[name]
    raise SpecError(
        f"unknown name `{name}` in expression",
        loc,
        received=source,
        hint=did_you_mean(name, scope) or _known(scope),
    )


def _size(value: Any, budget: int) -> int:
    """Total items in a (nested) list or characters in a string, counting stops past ``budget``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple)):
        return 1
    total = len(value)
    for item in value:
        if total > budget:
            break
        if isinstance(item, (list, tuple, str)):
            total += _size(item, budget - total)
    return total


def _known(scope: Mapping[str, Any]) -> str:
    names = sorted(k for k in scope if not k.startswith("_"))
    if not names:
        return "no parameters or arguments are defined here"
    return "names defined here: " + ", ".join(names[:20])


class _Evaluator:
    def __init__(self, scope: Mapping[str, Any], loc: Loc | None, source: str):
        self.scope = scope
        self.loc = loc
        self.source = source

    def fail(self, message: str, hint: str | None = None) -> SpecError:
        return SpecError(message, self.loc, received=self.source, hint=hint)

    def check_tree(self, root: ast.AST) -> None:
        """Refuse disallowed syntax, calls and names anywhere in the tree, before evaluating."""
        for node in ast.walk(root):
            if isinstance(node, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop,
                                 ast.boolop)):
                continue
            if isinstance(node, ast.Slice):
                raise self.fail("slices are not allowed; index one item: ${convs[2]}")
            if not hasattr(self, "visit_" + type(node).__name__):
                raise self.fail(
                    f"`{type(node).__name__}` is not allowed in expressions",
                    hint="allowed: arithmetic, comparisons, `x if c else y`, lists, indexing, "
                    + ", ".join(sorted(FUNCTIONS)),
                )
            if isinstance(node, ast.Call):
                self.visit_Call(node, check_only=True)
            elif isinstance(node, ast.Name):
                if node.id.startswith("__"):
                    raise self.fail(f"the name `{node.id}` is not allowed")
                if node.id not in self.scope and node.id not in FUNCTIONS:
                    _lookup(node.id, self.scope, self.loc, self.source)

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise self.fail(
                f"`{type(node).__name__}` is not allowed in expressions",
                hint="allowed: arithmetic, comparisons, `x if c else y`, lists, indexing, "
                + ", ".join(sorted(FUNCTIONS)),
            )
        return self.check(method(node))

    def check(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > MAX_INT_BITS:
                raise self.fail("the expression's value is too large")
        elif isinstance(value, float) and not math.isfinite(value):
            raise self.fail("the expression's value is not a finite number")
        elif isinstance(value, complex):
            raise self.fail("the expression's value is a complex number")
        elif isinstance(value, (str, list, tuple)) and _size(value, MAX_LEN) > MAX_LEN:
            raise self.fail("the expression's value is too long")
        return value

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise self.fail(f"the constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith("__"):
            raise self.fail(f"the name `{node.id}` is not allowed")
        if node.id in ("True", "False", "None"):  # pragma: no cover (parsed as Constant)
            return {"True": True, "False": False, "None": None}[node.id]
        return _lookup(node.id, self.scope, self.loc, self.source)

    def visit_List(self, node: ast.List) -> list:
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            self._need_number(value)
            return -value if isinstance(node.op, ast.USub) else +value
        raise self.fail("this unary operator is not allowed")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(f"the operator `{type(node.op).__name__}` is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            self._need_number(left)
            self._need_number(right)
            if abs(right) > 64 or (abs(left) > 2**32 and abs(right) > 1):
                raise self.fail("the power is too large (exponent at most 64)")
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            raise self.fail("`%` string formatting is not allowed",
                            hint="interpolate instead: \"block${i}_conv\"")
        if isinstance(node.op, ast.Mult):
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * n > MAX_LEN:
                    raise self.fail("the expression's value is too long")
        try:
            return op(left, right)
        except ZeroDivisionError:
            raise self.fail("division by zero") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.fail(f"cannot compute this: {exc}") from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value = None
        for operand in node.values:
            value = self.visit(operand)
            if (not value) if is_and else value:
                return value
        return value

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            op = _CMPOPS.get(type(op_node))
            if op is None:
                raise self.fail(f"the comparison `{type(op_node).__name__}` is not allowed")
            try:
                if not op(left, right):
                    return False
            except TypeError as exc:
                raise self.fail(f"cannot compare: {exc}") from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        container = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            raise self.fail("slices are not allowed; index one item: ${convs[2]}")
        index = self.visit(node.slice)
        try:
            return container[index]
        except (IndexError, KeyError, TypeError) as exc:
            hint = None
            if isinstance(container, dict) and isinstance(exc, KeyError):
                keys = [str(k) for k in container]
                listed = "keys: " + ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else "")
                close = did_you_mean(str(index), keys)
                hint = f"{close}; {listed}" if close else listed
            elif isinstance(container, (list, tuple, str)) and isinstance(exc, IndexError):
                hint = f"valid indexes: 0 to {len(container) - 1}" if len(container) else "it is empty"
            raise self.fail(f"cannot index: {exc}", hint=hint) from None

    def visit_Call(self, node: ast.Call, check_only: bool = False) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
            raise self.fail(
                f"calling `{name}` is not allowed",
                hint="allowed functions: " + ", ".join(sorted(FUNCTIONS)),
            )
        if node.keywords:
            raise self.fail("keyword arguments are not allowed in calls")
        if check_only:
            return None
        args = [self.visit(a) for a in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.fail(f"`{node.func.id}` failed: {exc}") from None

    def _need_number(self, value: Any) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.fail(f"a number is needed here, got {value!r}")
