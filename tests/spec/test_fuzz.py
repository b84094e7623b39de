"""Fuzzing: random and mutated specs, and random expressions, raise nothing but `SpecError`.

Every generated spec stays pure Python: the op vocabulary is limited to layers with analyzer
rules, and the Keras fallback (used when a rule says `NoRule`, e.g. `data_format:
channels_first`) is replaced here by a stub, so TensorFlow is never imported by this file
(tests/test_no_tensorflow.py proves the pure path in a fresh process).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re
import traceback

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
import archspec.analyze.fallback as fallback
from archspec import SpecError
from archspec.spec.expr import evaluate, evaluate_string

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


class _Fallback(Exception):
    """The analyzer asked Keras: a legitimate outcome, but not one we may run here."""


@pytest.fixture(autouse=True, scope="module")
def no_keras_fallback():
    mp = pytest.MonkeyPatch()

    def stub(op, args, shapes, loc):
        raise _Fallback(op.cls)

    mp.setattr(fallback, "keras_result", stub)
    yield
    mp.undo()


#: Known bugs, tolerated so that the fuzzer keeps looking for new ones:
#: (exception type, function where it is raised). Empty: every bug found so far is fixed and
#: kept as a regression case in tests/spec/test_errors.py.
KNOWN_BUGS: set = set()


def _known_bug(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and (type(exc), frames[-1].name) in KNOWN_BUGS


def check_spec(text: str) -> None:
    """Load, analyze and export `text`: anything but a SpecError (or the stub) is a bug."""
    try:
        spec = archspec.loads(text)
        spec.analyze()
        spec.to_yaml()
    except SpecError as err:
        out = err.format()
        assert isinstance(out, str) and out
        assert "error:" in out.splitlines()[0]
    except _Fallback:
        pass
    except TypeError as exc:
        if not _known_bug(exc):
            raise


# ---------------------------------------------------------------------- vocabulary
OPS = ["conv2d", "dense", "flatten", "max_pooling2d", "batch_normalization", "activation",
       "add", "concatenate"]
CONSTRUCTS = ["repeat", "branches", "residual"]
ARGS = ["filters", "kernel_size", "strides", "padding", "units", "activation", "pool_size",
        "axis", "name", "from", "as", "when", "times", "counter", "body", "paths", "merge",
        "shortcut", "use_bias", "epsilon", "args", "type", "default", "hp", "min", "max",
        "values", "sampling", "step", "projection", "fliters", "shape"]
TOP = ["name", "params", "blocks", "input", "inputs", "body", "outputs", "train", "description"]
NAMES = ["filters", "convs", "width", "classes", "i", "b", "x", "n", "name", "_in", "_"]

EXPR_TOKENS = [
    "__import__", "('os')", "().__class__", ".__bases__", "9**9**9", "'a'*10**9", "10**9",
    "filters", "convs", "classes", "i", "b", "x", "len", "int", "str", "max", "min", "round",
    "abs", "float", "bool", "open", "eval", "1", "0", "2", "-1", "3.5", "1e308", "'a'", "True",
    "None", "[", "]", "(", ")", ",", "+", "-", "*", "/", "//", "%", "**", "<", "==", "and",
    "or", "not", "if", "else", "in", "lambda", ":", ".", "x for x in convs", "{", "}",
]

SCALARS = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["0", "-1", "1000000000", "99999999999999999999999999", "1e400", ".inf",
                     "-.inf", ".nan", "1.5", "1e-4", "null", "true", "false", "yes", "~", "''",
                     "same", "valid", "relu", "softmax", "concat", "add", "projection",
                     "identity", "pad", "auto", "int", "float", "choice", "log", "_", "_in",
                     "[]", "{}", "[3, 3]", "[1, 2, 3]", "{a: 1}", "[[1]]", "$filters", "$convs",
                     "$classes", "$i", "$nope", "\"${i + 1}\"", "\"${len(convs)}\"",
                     "{hp: int, min: 1, max: 8}", "{hp: choice, values: [8, 16]}",
                     "{hp: float, min: 0.1, max: 0.5, sampling: log}", "!!binary aGk=",
                     "&x 1", "*x", "'${'"]),
    st.sampled_from(NAMES + OPS + CONSTRUCTS + ARGS),
)


@st.composite
def expressions(draw, max_depth: int = 4):
    """A structured expression (mostly valid Python), from numbers, names, calls and ops."""
    if max_depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(
            st.integers(-10**6, 10**6).map(str),
            st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
            st.sampled_from(NAMES[:-2] + ["'ab'", "True", "None", "[1, 2]", "[]", "9**9**9",
                                          "'a'*10**9", "__import__('os')", "().__class__",
                                          "(1).__class__.__bases__", "10**20", "1e308"]),
        ))
    kind = draw(st.sampled_from(["bin", "call", "sub", "list", "if", "un", "cmp"]))
    sub = expressions(max_depth - 1)
    if kind == "bin":
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]))
        return f"({draw(sub)} {op} {draw(sub)})"
    if kind == "call":
        fn = draw(st.sampled_from(["min", "max", "int", "float", "round", "abs", "len", "str",
                                   "bool", "open", "getattr", "__import__"]))
        args = draw(st.lists(sub, max_size=3))
        return f"{fn}({', '.join(args)})"
    if kind == "sub":
        return f"{draw(sub)}[{draw(sub)}]"
    if kind == "list":
        return "[" + ", ".join(draw(st.lists(sub, max_size=3))) + "]"
    if kind == "if":
        return f"({draw(sub)} if {draw(sub)} else {draw(sub)})"
    if kind == "un":
        return f"{draw(st.sampled_from(['-', '+', 'not ']))}{draw(sub)}"
    op = draw(st.sampled_from(["<", "<=", "==", "!=", ">", "in", "not in"]))
    return f"({draw(sub)} {op} {draw(sub)})"


TOKEN_SOUP = st.lists(st.sampled_from(EXPR_TOKENS), min_size=1, max_size=12).map(" ".join)
ANY_EXPR = st.one_of(expressions(), TOKEN_SOUP)


def yaml_value(expr_text: str) -> str:
    """A YAML double-quoted scalar holding ``${expr}``."""
    return '"${' + expr_text.replace("\\", "\\\\").replace('"', '\\"') + '}"'


VALUES = st.one_of(SCALARS, ANY_EXPR.map(yaml_value))

# ---------------------------------------------------------------------- seeds
SEEDS = [
    # vgg-like: params, a block with a repeat, expressions, a head
    """\
name: tiny_vgg
params:
  classes: 10
  convs: [1, 2]
  filters: [8, 16]
  width: 1.0
blocks:
  vgg_block:
    args: {filters: int, convs: int, index: int}
    body:
      - repeat:
          times: $convs
          counter: i
          body:
            - conv2d: {filters: $filters, kernel_size: 3, activation: relu, padding: same,
                       name: "block${index}_conv${i + 1}"}
      - max_pooling2d: {pool_size: 2, strides: 2, name: "block${index}_pool"}
input: {shape: [16, 16, 3]}
body:
  - repeat:
      times: ${len(convs)}
      counter: b
      body:
        - vgg_block: {filters: "${int(filters[b] * width)}", convs: "${convs[b]}", index: "${b + 1}"}
  - flatten
  - dense: {units: 32, activation: relu}
  - dense: {units: $classes, activation: softmax}
""",
    # resnet-like: residual with projection, batch norm, search spaces, references
    """\
name: tiny_resnet
params:
  width: 8
blocks:
  basic:
    args: {filters: int, stride: {type: int, default: 1}, shortcut: {type: str, default: auto}}
    body:
      - residual:
          shortcut: $shortcut
          activation: relu
          projection: {batch_norm: true}
          body:
            - conv2d: {filters: $filters, kernel_size: 3, strides: $stride, padding: same}
            - batch_normalization: {epsilon: 1.0e-5}
            - activation: {activation: relu}
            - conv2d: {filters: $filters, kernel_size: 3, padding: same}
input: {shape: [16, 16, 3]}
body:
  - conv2d: {filters: $width, kernel_size: 3, padding: same, as: stem}
  - basic: {filters: $width}
  - basic: {filters: "${2 * width}", stride: 2}
  - max_pooling2d: {pool_size: 2, from: _}
  - flatten
  - dense: {units: {hp: int, min: 4, max: 16, default: 8}, activation: relu}
  - dense: {units: 10}
""",
    # inception-like: branches, concatenate, add, from/as/when
    """\
name: tiny_inception
params: {deep: true}
input: {shape: [12, 12, 4]}
body:
  - conv2d: {filters: 4, kernel_size: 1, as: entry}
  - branches:
      merge: concat
      paths:
        - [conv2d: {filters: 2, kernel_size: 1}]
        - - conv2d: {filters: 2, kernel_size: 1}
          - conv2d: {filters: 3, kernel_size: 3, padding: same}
        - [max_pooling2d: {pool_size: 3, strides: 1, padding: same}]
  - conv2d: {filters: 4, kernel_size: 1, as: proj}
  - add: {from: [entry, proj]}
  - batch_normalization: {when: $deep}
  - flatten
  - dense: {units: 5}
outputs: [_]
""",
]


def test_seeds_are_valid():
    for text in SEEDS:
        spec = archspec.loads(text)
        assert spec.analyze().total_params > 0


# ---------------------------------------------------------------------- (a) random text
YAML_PUNCT = ":-[]{},#&*!|>'\"%@`?$\n \t"
RANDOM_TEXT = st.text(
    alphabet=st.sampled_from(list("abcdefgxyz0123456789_.$") + list(YAML_PUNCT)), max_size=200)


@FUZZ
@given(RANDOM_TEXT)
def test_random_text_raises_only_spec_error(text):
    check_spec(text)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(TOP + ARGS + OPS), VALUES), max_size=8))
def test_random_top_level_mappings_raise_only_spec_error(items):
    check_spec("".join(f"{k}: {v}\n" for k, v in items))


def _tree():
    leaf = st.one_of(st.integers(-5, 40), st.none(), st.booleans(), st.sampled_from(NAMES + OPS + ARGS),
                     ANY_EXPR.map(lambda e: "${" + e + "}"))
    return st.recursive(
        leaf,
        lambda kids: st.one_of(st.lists(kids, max_size=4),
                               st.dictionaries(st.sampled_from(OPS + CONSTRUCTS + ARGS), kids, max_size=4)),
        max_leaves=25,
    )


@FUZZ
@given(st.fixed_dictionaries(
    {"input": st.one_of(_tree(), st.just({"shape": [8, 8, 3]}))},
    optional={"body": st.lists(st.one_of(st.sampled_from(OPS),
                                         st.dictionaries(st.sampled_from(OPS + CONSTRUCTS), _tree(),
                                                         min_size=1, max_size=1)), max_size=5),
              "params": st.dictionaries(st.sampled_from(NAMES[:-2]), _tree(), max_size=3),
              "blocks": st.dictionaries(st.sampled_from(["blk", "conv", "head"]), _tree(), max_size=2),
              "outputs": _tree()}))
def test_random_structured_specs_raise_only_spec_error(data):
    check_spec(yaml.safe_dump(data, sort_keys=False))


# ---------------------------------------------------------------------- (b) mutated specs
SCALAR_RE = re.compile(r"(?<=: )[^\s{}\[\],:][^,}\]\n]*|(?<=\[)[^\s\[\],{}][^,\]\n]*|(?<=, )[^\s\[\]{},][^,}\]\n]*")


@st.composite
def mutated(draw):
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "dup", "replace", "swap", "insert", "indent"]
                                  + ["value"] * 6 + ["expr"] * 4))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "replace":
            indent = len(lines[i]) - len(lines[i].lstrip())
            key = draw(st.sampled_from(ARGS + OPS + CONSTRUCTS + TOP))
            dash = draw(st.sampled_from(["", "- "]))
            lines[i] = " " * indent + dash + f"{key}: {draw(VALUES)}"
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            indent = len(lines[i]) - len(lines[i].lstrip())
            lines.insert(i, " " * indent + f"{draw(st.sampled_from(ARGS + TOP))}: {draw(VALUES)}")
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 3)) + lines[i] if draw(st.booleans()) else lines[i].lstrip()
        else:  # "value" / "expr": replace one scalar of the line
            spans = [m.span() for m in SCALAR_RE.finditer(lines[i])]
            if spans:
                a, b = draw(st.sampled_from(spans))
                new = draw(ANY_EXPR.map(yaml_value) if op == "expr" else VALUES)
                lines[i] = lines[i][:a] + new + lines[i][b:]
    return "\n".join(lines) + "\n"


@FUZZ
@given(mutated())
def test_mutated_specs_raise_only_spec_error(text):
    check_spec(text)


def _paths(node, prefix=()):
    """Every (container, key) position in a loaded YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield node, k
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield node, i
            yield from _paths(v, prefix + (i,))


@st.composite
def tree_mutated(draw):
    """Mutate the parsed seed (so the YAML stays well formed) and dump it again."""
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        spots = list(_paths(data))
        parent, key = draw(st.sampled_from(spots))
        op = draw(st.sampled_from(["value", "value", "expr", "tree", "delete", "rename", "dup"]))
        if op == "value":
            parent[key] = yaml.safe_load(draw(SCALARS.filter(lambda v: "*" not in v and "&" not in v
                                                             and "!!" not in v and "${" not in v)))
        elif op == "expr":
            parent[key] = "${" + draw(ANY_EXPR) + "}"
        elif op == "tree":
            parent[key] = draw(_tree())
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new = draw(st.sampled_from(ARGS + OPS + CONSTRUCTS + TOP + ["blk", "basic", "vgg_block"]))
            parent[new] = parent.pop(key)
        elif op == "dup" and isinstance(parent, list):
            parent.insert(key, parent[key])
    return yaml.safe_dump(data, sort_keys=False)


@FUZZ
@given(tree_mutated())
def test_tree_mutated_specs_raise_only_spec_error(text):
    check_spec(text)


# ---------------------------------------------------------------------- (c) expressions
SCOPE = {"filters": 64, "convs": [2, 2, 3], "width": 0.5, "classes": 10, "i": 1, "b": 0,
         "x": "a", "n": 3, "name": "blk"}


@FUZZ
@given(ANY_EXPR)
def test_random_expressions_raise_only_spec_error(source):
    try:
        evaluate(source, SCOPE)
    except SpecError as err:
        assert err.message


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("$x{}i1+_ ()'[]*")), max_size=40))
def test_random_interpolated_strings_raise_only_spec_error(text):
    try:
        evaluate_string(text, SCOPE)
    except SpecError as err:
        assert err.message


# ---------------------------------------------------------------------- never TensorFlow
