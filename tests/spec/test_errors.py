"""Every user mistake is a located `SpecError`: a corpus of malformed specs.

Each case gives the YAML text, a regex the message must match, and where the mistake is:
the exact line and column (1-based, computed by hand from the text), the YAML path, and
(when one is expected) the hint. Each bug the corpus and the fuzzer found (a traceback instead
of a SpecError, a wrong location, an unbounded allocation) stays here as a regression case.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re
import tracemalloc

import pytest

import archspec
from archspec import SpecError

H28 = "input: {shape: [28, 28, 1]}\nbody:\n"  # 2 lines: steps start on line 3, keys at col 5
H3 = "input: {shape: [3]}\nbody:\n"
BLOCK = (
    "blocks:\n"                                              # 1
    "  conv_block:\n"                                        # 2
    "    args: {filters: int}\n"                             # 3
    "    body:\n"                                            # 4
    "      - conv2d: {filters: $filters, kernel_size: 3}\n"  # 5
    "input: {shape: [28, 28, 1]}\n"                          # 6
    "body:\n"                                                # 7
)
ANY = object()  # "don't check this field"


def case(id, text, match, line, col, path=ANY, hint=None, file="<string>", params=None, marks=()):
    """One malformed spec. ``hint``: a regex searched in ``err.hint`` (None: not checked)."""
    return pytest.param(text, match, line, col, path, hint, file, params or {}, id=id, marks=marks)


CORPUS = [
    # ------------------------------------------------------------------ YAML level
    case("yaml-syntax-unclosed-flow-map",
         "input: {shape: [28, 28, 1]\nbody:\n  - flatten\n",
         r"YAML syntax error: expected ',' or '\}'", 2, 1, "",
         hint=r"commas between its entries and a closing `\}`"),
    case("yaml-syntax-tab-indent",
         "input: {shape: [3]}\nbody:\n\t- flatten\n",
         r"YAML syntax error: found character '\\t' that cannot start any token", 3, 1, ""),
    case("yaml-syntax-unclosed-quote",
         'name: "vgg\ninput: {shape: [3]}\n',
         r"YAML syntax error: found unexpected end of stream", 3, 1, ""),
    case("yaml-undefined-alias",
         "name: *nope\n",
         r"YAML syntax error: found undefined alias 'nope'", 1, 7, ""),
    case("yaml-two-documents",
         "name: a\n---\nname: b\n",
         r"but found another document", 2, 1, ""),
    case("empty-file", "", r"the file is empty", 1, 1, "", hint=r"`body:`"),
    case("comment-only-file", "# nothing here yet\n\n", r"the file is empty", 1, 1, ""),
    case("top-level-list", "- conv2d\n- dense\n",
         r"the top level of a spec must be a mapping", 1, 1, "", hint=r"`body: \[\.\.\.\]`"),
    case("top-level-scalar", "vgg16\n",
         r"the top level of a spec must be a mapping \(keys such as `body:`\), got a str value", 1, 1, ""),
    case("python-tag-apply-os-system",
         "name: x\ninput: !!python/object/apply:os.system ['echo pwned']\nbody: [flatten]\n",
         re.escape("the YAML tag `tag:yaml.org,2002:python/object/apply:os.system` is not allowed"),
         2, 8, "input", hint=r"remove the tag"),
    case("python-tag-name-as-step",
         H3 + "  - !!python/name:os.system\n",
         re.escape("the YAML tag `tag:yaml.org,2002:python/name:os.system` is not allowed"),
         3, 5, "body[0]"),
    case("custom-tag",
         "input: !shape [3]\n",
         r"the YAML tag `!shape` is not allowed", 1, 8, "input"),
    case("duplicate-key-in-step",
         H28 + "  - conv2d: {filters: 8, kernel_size: 3, filters: 16}\n",
         r"duplicate key `filters`", 3, 42, "body[0].conv2d.filters",
         hint=r"already defined at line 3"),
    case("duplicate-top-level-key",
         "name: a\ninput: {shape: [3]}\nname: b\nbody: [flatten]\n",
         r"duplicate key `name`", 3, 1, "name", hint=r"already defined at line 1"),
    case("mapping-as-key",
         "? [a]\n: 1\n",
         r"a mapping key must be a plain value", 1, 3, ""),
    # ------------------------------------------------------------------ top level
    case("unknown-top-level-key-bodyy",
         "input: {shape: [3]}\nbodyy:\n  - flatten\n",
         r"unknown top-level key `bodyy`", 2, 1, "bodyy", hint=r"did you mean `body`\?"),
    case("missing-input",
         "name: net\nbody:\n  - flatten\n",
         r"the spec has no `input`", 1, 1, "", hint=r"input: \{shape:"),
    case("missing-body",
         "input: {shape: [3]}\n",
         r"the spec has no `body`", 1, 1, "", hint=r"add `body:`"),
    case("body-not-a-list",
         "input: {shape: [3]}\nbody: flatten\n",
         r"`body` must be a non-empty list of steps", 2, 7, "body", hint=r"- conv2d:"),
    case("body-is-a-mapping",
         "input: {shape: [3]}\nbody:\n  dense: {units: 3}\n",
         r"`body` must be a non-empty list of steps", 3, 3, "body"),
    case("body-empty-list",
         "input: {shape: [3]}\nbody: []\n",
         r"`body` must be a non-empty list of steps", 2, 7, "body"),
    case("name-not-a-string",
         "name: 5\n" + H3 + "  - flatten\n",
         r"`name` must be a non-empty string", 1, 7, "name"),
    case("params-not-a-mapping",
         "params: [1, 2]\n" + H3 + "  - flatten\n",
         r"`params` must be a mapping", 1, 9, "params"),
    case("input-shape-zero",
         "input: {shape: [0, 3]}\nbody: [flatten]\n",
         r"an input shape must be a list of positive integers", 1, 8, "input",
         hint=r"batch dimension is left out"),
    case("input-without-shape",
         "input: {shap: [3]}\nbody: [flatten]\n",
         r"an input needs a `shape`", 1, 8, "input"),
    case("input-and-inputs",
         "input: {shape: [3]}\ninputs: {a: {shape: [3]}}\nbody: [flatten]\n",
         r"give either `input` or `inputs`, not both", 2, 9, "inputs"),
    case("set-unknown-param-misspelt",
         "params: {classes: 10}\n" + H3 + "  - dense: {units: $classes}\n",
         r"unknown parameter `clases`", 0, 0, "params.clases", hint=r"did you mean `classes`\?",
         file="<params>", params={"clases": 5}),
    case("outputs-unknown-reference",
         H3 + "  - flatten\noutputs: [logits]\n",
         r"unknown reference `logits`", 4, 10, "outputs"),
    # ------------------------------------------------------------------ steps
    case("unknown-layer-conv2e",
         H28 + "  - conv2d: {filters: 8, kernel_size: 3}\n  - conv2e: {filters: 8, kernel_size: 3}\n",
         r"unknown layer or block `conv2e`", 4, 5, "body[1].conv2e", hint=r"did you mean `conv2d`\?"),
    case("unknown-layer-Desne",
         H3 + "  - Desne: {units: 10}\n",
         r"unknown layer or block `Desne`", 3, 5, "body[0].Desne", hint=r"did you mean `Dense`\?"),
    case("unknown-argument-fliters",
         H28 + "  - conv2d: {fliters: 8, kernel_size: 3}\n",
         r"unknown argument `fliters` for `Conv2D`", 3, 14, "body[0].conv2d.fliters",
         hint=r"did you mean `filters`\?"),
    case("unknown-argument-block-style",
         H28 + "  - conv2d:\n      filters: 8\n      kernel_sise: 3\n",
         r"unknown argument `kernel_sise` for `Conv2D`", 5, 7, "body[0].conv2d.kernel_sise",
         hint=r"did you mean `kernel_size`\?"),
    case("wrong-type-filters-string",
         H28 + "  - conv2d: {filters: eight, kernel_size: 3}\n",
         r"Conv2D: `filters` must be a positive integer, got 'eight'", 3, 23, "body[0].conv2d.filters"),
    case("wrong-type-kernel-size-3-items",
         H28 + "  - conv2d: {filters: 8, kernel_size: [3, 3, 3]}\n",
         r"`kernel_size` must be an integer >= 1 or a list of 2 such integers, got \[3, 3, 3\]", 3, 39,
         "body[0].conv2d.kernel_size"),
    case("wrong-type-padding",
         H28 + "  - conv2d: {filters: 8, kernel_size: 3, padding: full}\n",
         r"`padding` must be one of valid, same, got 'full'", 3, 51, "body[0].conv2d.padding"),
    case("missing-layer-argument",
         H28 + "  - conv2d: {kernel_size: 3}\n",
         r"`Conv2D` is missing its argument `filters`", 3, 5, "body[0].conv2d",
         hint=r"requires: filters, kernel_size"),
    case("arguments-not-a-mapping",
         H3 + "  - dense: [10]\n",
         r"the arguments of `dense` must be a mapping", 3, 5, "body[0].dense"),
    case("step-is-a-number",
         H3 + "  - 5\n",
         r"a step must be an op name or a one-key mapping", 3, 5, "body[0]"),
    case("step-with-two-keys-bad-indentation",
         H28 + "  - conv2d:\n    filters: 8\n    kernel_size: 3\n",
         r"a step must have exactly one key .*got 3: `conv2d`, `filters`, `kernel_size`", 3, 5,
         "body[0]", hint=r"check the indentation"),
    case("alias-and-argument-twice",
         H28 + "  - conv2d: {filters: 8, kernel_size: 3, kernel: 5}\n",
         r"`kernel` and `kernel_size` are the same argument", 3, 50, "body[0].conv2d.kernel"),  # at the value (the key is col 42)
    case("when-not-bool",
         H3 + "  - flatten: {when: yes please}\n",
         r"`when` must be true or false", 3, 21, "body[0].flatten.when"),
    case("as-not-an-identifier",
         H3 + "  - flatten: {as: 1abc}\n",
         r"`as` must be an identifier", 3, 19, "body[0].flatten.as"),
    case("as-reserved-name",
         H3 + "  - flatten: {as: _in}\n",
         r"`as` must be an identifier \(not `_` or `_in`\)", 3, 19, "body[0].flatten.as"),
    case("unknown-reference",
         H3 + "  - flatten: {as: flat}\n  - dense: {units: 3, from: flta}\n",
         r"unknown reference `flta`", 4, 29, "body[1].dense.from", hint=r"did you mean `flat`\?"),
    case("duplicate-layer-name",
         H3 + "  - flatten\n  - dense: {units: 3, name: fc}\n  - dense: {units: 3, name: fc}\n",
         r"duplicate layer name `fc`", 5, 5, "body[2].dense",
         hint=r"first defined at <string>:4:5"),
    case("merge-layer-with-one-input",
         H3 + "  - add\n",
         r"`Add` merges several inputs: give them with `from: \[a, b\]`", 3, 5, "body[0]"),
    # ------------------------------------------------------------------ shapes
    case("kernel-larger-than-input",
         H28 + "  - conv2d: {filters: 8, kernel_size: 29}\n",
         r"Conv2D: the convolution window \(29\) is larger than its input \(28\)", 3, 5,
         "body[0].conv2d", hint=r"padding: same"),
    case("negative-output-size-after-pooling",
         "input: {shape: [8, 8, 1]}\nbody:\n  - conv2d: {filters: 4, kernel_size: 3}\n"
         "  - max_pooling2d: {pool_size: 2}\n  - conv2d: {filters: 4, kernel_size: 5}\n",
         r"the output size would be -1", 5, 5, "body[2].conv2d"),
    case("pool-larger-than-input",
         H28 + "  - max_pooling2d: {pool_size: 30}\n",
         r"MaxPooling2D: the pooling window \(30\) is larger than its input \(28\)", 3, 5,
         "body[0].max_pooling2d"),
    case("add-incompatible-shapes",
         H28 + "  - conv2d: {filters: 8, kernel_size: 3, as: a}\n"
         "  - conv2d: {filters: 8, kernel_size: 5, from: _in, as: b}\n  - add: {from: [a, b]}\n",
         r"Add: cannot merge inputs of different shapes: \(batch, 26, 26, 8\), \(batch, 24, 24, 8\)",
         5, 5, "body[2].add", hint=r"projection shortcut"),
    case("concat-incompatible-shapes",
         H28 + "  - branches:\n      merge: concat\n      paths:\n"
         "        - [conv2d: {filters: 8, kernel_size: 3}]\n"
         "        - [conv2d: {filters: 8, kernel_size: 5}]\n",
         r"Concatenate: cannot concatenate along axis -1", 3, 5, "body[0].branches",
         hint=r"make the spatial sizes equal"),
    case("residual-identity-shape-mismatch",
         "input: {shape: [8, 8, 1]}\nbody:\n  - residual:\n      shortcut: identity\n"
         "      body:\n        - conv2d: {filters: 4, kernel_size: 3}\n",
         r"Add: cannot merge inputs of different shapes", 3, 5, "body[0].residual"),
    case("dense-on-unflattened-unknown-dims",
         "input: {shape: [null, null, 3]}\nbody:\n  - flatten\n  - dense: {units: 10}\n",
         r"the last dimension of the input to Dense must be known", 4, 5, "body[1].dense",
         hint=r"flatten.*global pooling"),
    # ------------------------------------------------------------------ constructs
    case("repeat-count-absurd",
         H3 + "  - repeat: {times: 1000000000, body: [relu]}\n",
         r"`repeat: times` is larger than 1000", 3, 21, "body[0].repeat.times"),
    case("repeat-count-expression-absurd",
         "params: {n: 1000000}\n" + H3 + "  - repeat: {times: $n, body: [relu]}\n",
         r"`repeat: times` is larger than 1000", 4, 21, "body[0].repeat.times"),
    case("repeat-count-negative",
         H3 + "  - repeat: {times: -1, body: [relu]}\n",
         r"`repeat: times` must be a non-negative integer", 3, 21, "body[0].repeat.times"),
    case("repeat-unknown-key",
         H3 + "  - repeat: {tims: 3, body: [relu]}\n",
         r"unknown key `tims` in `repeat`", 3, 14, "body[0].repeat.tims", hint=r"did you mean `times`\?"),
    case("repeat-counter-not-identifier",
         H3 + "  - repeat: {times: 2, counter: 5, body: [relu]}\n",
         r"`counter` must be an identifier", 3, 33, "body[0].repeat.counter"),
    case("repeat-layers-explode",
         H3 + "  - repeat: {times: 1000, counter: a, body: [{repeat: {times: 1000, body: [relu]}}]}\n",
         r"the model has more than 20,000 layers", 3, 76, "body[0].repeat.body[0].repeat.body[0]"),
    case("unknown-shortcut-kind",
         H28 + "  - residual:\n      shortcut: identiy\n      body: [relu]\n",
         r"unknown shortcut `identiy`", 4, 17, "body[0].residual.shortcut",
         hint=r"did you mean `identity`\?"),
    case("unknown-merge",
         H3 + "  - branches: {merge: sum, paths: [[relu], [relu]]}\n",
         r"unknown merge `sum`", 3, 23, "body[0].branches.merge", hint=r"concat.*add"),
    # ------------------------------------------------------------------ blocks (templates)
    case("missing-template-argument",
         BLOCK + "  - conv_block\n",
         r"block `conv_block` is missing its argument `filters`", 8, 5, "body[0]",
         hint=r"`conv_block` takes: filters: int"),
    case("block-argument-wrong-type",
         BLOCK + "  - conv_block: {filters: wide}\n",
         r"argument `filters` of block `conv_block` must be int", 8, 27,
         "body[0].conv_block.filters"),
    case("block-unknown-argument",
         BLOCK + "  - conv_block: {fliters: 8}\n",
         r"unknown argument `fliters` for block `conv_block`", 8, 18,
         "body[0].conv_block.fliters", hint=r"did you mean `filters`\?"),
    case("block-unknown-argument-type",
         "blocks:\n  b:\n    args: {n: integer}\n    body: [relu]\n" + H3 + "  - b: {n: 1}\n",
         r"unknown argument type `integer`", 3, 15, "blocks.b.args.n", hint=r"did you mean `int`\?"),
    case("block-without-body",
         "blocks:\n  b: {args: {n: int}}\n" + H3 + "  - b: {n: 1}\n",
         r"block `b` needs a `body`", 2, 6, "blocks.b"),
    case("recursive-template-through-two-blocks",
         "blocks:\n  a:\n    body: [b]\n  b:\n    body: [a]\n" + H3 + "  - a\n",
         r"block `a` calls itself \(recursive template\)", 5, 12, "blocks.b.body[0]",
         hint=r"may not call themselves"),
    case("recursive-template-self",
         "blocks:\n  a:\n    body: [relu, a]\n" + H3 + "  - a\n",
         r"block `a` calls itself", 3, 18, "blocks.a.body[1]"),
    case("negative-padding",  # validated, then TensorFlow refused it when the layer ran
         H28 + "  - zero_padding2d: {padding: [1, -2]}\n",
         r"ZeroPadding2D: `padding` takes integers >= 0, got \[1, -2\]", 3, 31, "body[0].zero_padding2d.padding"),
    # ------------------------------------------------------------------ expressions
    # a `${` that does not parse was taken as literal text (a layer name)
    case("expression-marker-unclosed",
         H3 + '  - dense: {units: 2, name: "fc${i"}\n',
         r"the expression marker `\$\{` at character 3 of the value is never closed", 3, 29,
         "body[0].dense.name", hint=r"close it"),
    case("expression-marker-braces",
         H3 + '  - dense: {units: 2, name: "fc${ {1} }"}\n',
         r"the expression marker `\$\{` at character 3 of the value holds braces", 3, 29,
         "body[0].dense.name", hint=r"no braces"),
    case("expression-dunder-import",
         'params: {a: "${__import__(\'os\').system(\'id\')}"}\n' + H3 + "  - flatten\n",
         r"calling `Attribute` is not allowed|`__import__` is not allowed", 1, 13, "params.a"),
    case("expression-call-import",
         'params: {a: "${__import__(\'os\')}"}\n' + H3 + "  - flatten\n",
         r"calling `__import__` is not allowed", 1, 13, "params.a", hint=r"allowed functions"),
    case("expression-attribute-access",
         H3 + '  - dense: {units: "${(1).__class__}"}\n',
         r"`Attribute` is not allowed in expressions", 3, 20, "body[0].dense.units"),
    case("expression-dunder-name",
         H3 + '  - dense: {units: "${__builtins__}"}\n',
         r"the name `__builtins__` is not allowed", 3, 20, "body[0].dense.units"),
    case("expression-huge-exponent",
         H3 + '  - dense: {units: "${9**9**9}"}\n',
         r"the power is too large", 3, 20, "body[0].dense.units"),
    case("expression-huge-string",
         H3 + "  - flatten: {name: \"${'a' * 10**9}\"}\n",
         r"the expression's value is too long", 3, 21, "body[0].flatten.name"),
    case("expression-unknown-name",
         "params: {filters: 8}\n" + H28 + "  - conv2d: {filters: $filtres, kernel_size: 3}\n",
         r"unknown name `filtres` in expression", 4, 23, "body[0].conv2d.filters",
         hint=r"did you mean `filters`\?"),
    case("expression-syntax-error",
         H3 + '  - dense: {units: "${2 *}"}\n',
         r"invalid expression", 3, 20, "body[0].dense.units"),
    case("expression-division-by-zero-in-when",
         H3 + "  - flatten: {when: '${1 / 0}'}\n",
         r"division by zero", 3, 21, "body[0].flatten.when"),
    # ------------------------------------------------------------------ search spaces
    case("hp-min-greater-than-max",
         H3 + "  - dense: {units: {hp: int, min: 5, max: 1}}\n",
         r"`min` \(5\) is greater than `max` \(1\)", 3, 20, "body[0].dense.units"),
    case("hp-empty-choice",
         H3 + "  - dense: {units: {hp: choice, values: []}}\n",
         r"a `choice` space needs a non-empty list `values`", 3, 20, "body[0].dense.units"),
    case("hp-default-outside-range",
         H3 + "  - dense: {units: {hp: int, min: 1, max: 5, default: 9}}\n",
         r"the default \(9\) is outside \[1, 5\]", 3, 20, "body[0].dense.units"),
    case("hp-log-sampling-min-zero",
         H3 + "  - dropout: {rate: {hp: float, min: 0, max: 0.5, sampling: log}}\n",
         r"log sampling needs `min` > 0, got 0", 3, 21, "body[0].dropout.rate"),
    case("hp-unknown-kind",
         H3 + "  - dense: {units: {hp: integer, min: 1, max: 4}}\n",
         r"unknown search-space kind `integer`", 3, 20, "body[0].dense.units",
         hint=r"did you mean `int`\?"),
    case("hp-choice-default-not-a-value",
         H3 + "  - dense: {units: {hp: choice, values: [8, 16], default: 32}}\n",
         r"the default of a `choice` space must be one of its values", 3, 20, "body[0].dense.units"),
    # ------------------------------------------------------------------ known bugs
    case("yaml-nested-too-deep",
         "name: " + "[" * 300 + "]" * 300 + "\n",
         r"nested too deep", 1, ANY),
    case("yaml-nul-character",
         "name: a\x00b\n",
         r"character|not allowed", 1, 8),
    case("yaml-merge-key-not-a-mapping",
         H3 + "  - dense:\n      <<: 5\n",
         r"merge|<<", 4, 7),
    case("block-argument-type-is-a-list",
         "blocks:\n  b:\n    args: {n: {type: [int]}}\n    body: [relu]\n" + H3 + "  - b: {n: 1}\n",
         r"unknown argument type", 3, 15, "blocks.b.args.n"),
    case("merge-is-a-list",
         H3 + "  - branches: {merge: [add], paths: [[relu], [relu]]}\n",
         r"unknown merge", 3, 23, "body[0].branches.merge"),
    case("repeat-start-not-a-number",
         H3 + "  - repeat: {times: 2, start: x, body: [relu]}\n",
         r"start", 3, 31, "body[0].repeat.start"),
    case("kernel-size-zero-refused",
         H28 + "  - conv2d: {filters: 8, kernel_size: 0}\n",
         r"`kernel_size` must be an integer >= 1 or a list of 2 such integers, got 0", 3, 39,
         "body[0].conv2d.kernel_size"),
    case("residual-body-not-a-list",
         "input: {shape: [8, 8, 3]}\nbody:\n  - residual: {body: relu}\n",
         r"a body must be a list of steps", 3, 22, "body[0].residual.body"),
]


@pytest.mark.parametrize("text, match, line, col, path, hint, file, params", CORPUS)
def test_corpus(text, match, line, col, path, hint, file, params):
    with pytest.raises(SpecError, match=match) as info:
        archspec.loads(text, **params)
    err = info.value
    assert err.loc is not None
    assert err.loc.file == file
    assert err.loc.line == line, err.format()
    if col is not ANY:
        assert err.loc.col == col, err.format()
    if path is not ANY:
        assert err.loc.path == path, err.format()
    if hint is not None:
        assert err.hint and re.search(hint, err.hint), err.format()
    # the message is "a few lines": location, message, received, hint (+ block-call trace)
    text_out = err.format()
    assert text_out.splitlines()[0].startswith(f"{file}:{line}:" if line else file)
    assert len(text_out.splitlines()) <= 4 + len(err.trace)
    assert "Traceback" not in text_out


def test_corpus_size():
    assert len(CORPUS) >= 35


def test_every_case_is_distinct():
    texts = [(p.values[0], tuple(sorted(p.values[7].items()))) for p in CORPUS]
    assert len(texts) == len(set(texts))


# ---------------------------------------------------------------------- the received value
def test_received_value_is_shown():
    with pytest.raises(SpecError) as info:
        archspec.loads(H3 + "  - repeat: {times: 1000000000, body: [relu]}\n")
    assert info.value.received == 1000000000
    assert "Received: 1000000000" in info.value.format()


def test_unknown_layer_received_and_hint_in_format():
    with pytest.raises(SpecError) as info:
        archspec.loads(H28 + "  - conv2e: {filters: 8, kernel_size: 3}\n", file="net.yaml")
    text = info.value.format()
    assert text.splitlines() == [
        "net.yaml:3:5: at `body[0].conv2e`: error: unknown layer or block `conv2e`",
        "  Received: 'conv2e'",
        "  Hint: did you mean `conv2d`?",
    ]


def test_error_inside_block_carries_call_trace():
    with pytest.raises(SpecError, match=r"unknown argument `unitz` for `Dense`") as info:
        archspec.loads("blocks:\n  head:\n    body:\n      - dense: {unitz: 3}\n" + H3 + "  - head\n")
    err = info.value
    assert (err.loc.line, err.loc.col, err.loc.path) == (4, 17, "blocks.head.body[0].dense.unitz")
    assert err.trace == ["block `head` called at <string>:7:5"]


def test_recursive_template_received_chain():
    with pytest.raises(SpecError) as info:
        archspec.loads("blocks:\n  a:\n    body: [b]\n  b:\n    body: [a]\n" + H3 + "  - a\n")
    assert info.value.received == "a -> b -> a"


# ---------------------------------------------------------------------- multi-file mistakes
def test_extends_cycle_between_files(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ninput: {shape: [3]}\nbody: [flatten]\n")
    (tmp_path / "b.yaml").write_text("name: b\nextends: a.yaml\n")
    with pytest.raises(SpecError, match=r"files include each other in a cycle") as info:
        archspec.load(tmp_path / "a.yaml")
    err = info.value
    assert err.loc.file == str(tmp_path / "b.yaml")
    assert (err.loc.line, err.loc.col, err.loc.path) == (2, 10, "extends")
    assert err.received == "a.yaml -> b.yaml -> a.yaml"
    assert "may not (indirectly) `extends` or `use` itself" in err.hint


def test_use_cycle_between_files(tmp_path):
    (tmp_path / "net.yaml").write_text("use: [lib.yaml]\ninput: {shape: [3]}\nbody: [flatten]\n")
    (tmp_path / "lib.yaml").write_text("blocks: {}\nuse:\n  - net.yaml\n")
    with pytest.raises(SpecError, match=r"files include each other in a cycle") as info:
        archspec.load(tmp_path / "net.yaml")
    err = info.value
    assert err.loc.file == str(tmp_path / "lib.yaml")
    assert (err.loc.line, err.loc.col, err.loc.path) == (3, 5, "use[0]")
    assert err.received == "net.yaml -> lib.yaml -> net.yaml"


def test_extends_itself(tmp_path):
    (tmp_path / "self.yaml").write_text("extends: self.yaml\n")
    with pytest.raises(SpecError, match=r"cycle") as info:
        archspec.load(tmp_path / "self.yaml")
    assert (info.value.loc.line, info.value.loc.col) == (1, 10)


def test_use_missing_file(tmp_path):
    (tmp_path / "net.yaml").write_text("name: n\nuse: [blocks/nothere.yaml]\n" + H3 + "  - flatten\n")
    with pytest.raises(SpecError, match=r"file not found") as info:
        archspec.load(tmp_path / "net.yaml")
    err = info.value
    assert (err.loc.line, err.loc.col, err.loc.path) == (2, 7, "use[0]")
    assert err.received == str(tmp_path / "blocks" / "nothere.yaml")


def test_error_located_in_used_library(tmp_path):
    (tmp_path / "lib.yaml").write_text(
        "blocks:\n  blk:\n    args: {units: int}\n    body:\n      - dense: {unitz: $units}\n")
    (tmp_path / "net.yaml").write_text("use: [lib.yaml]\n" + H3 + "  - blk: {units: 3}\n")
    with pytest.raises(SpecError, match=r"unknown argument `unitz`") as info:
        archspec.load(tmp_path / "net.yaml")
    err = info.value
    assert err.loc.file == str(tmp_path / "lib.yaml")
    assert (err.loc.line, err.loc.col) == (5, 17)
    assert err.hint == "did you mean `units`?"
    assert err.trace == [f"block `blk` called at {tmp_path / 'net.yaml'}:4:5"]


def test_syntax_error_in_base_file(tmp_path):
    (tmp_path / "base.yaml").write_text("input: {shape: [3]}\nbody: [flatten\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\n")
    with pytest.raises(SpecError, match=r"YAML syntax error") as info:
        archspec.load(tmp_path / "child.yaml")
    assert info.value.loc.file == str(tmp_path / "base.yaml")
    assert info.value.loc.line == 3


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"file not found"):
        archspec.load(tmp_path / "nope.yaml")


def test_not_utf8_file(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00body")
    with pytest.raises(SpecError, match=r"cannot read the file"):
        archspec.load(path)


# ---------------------------------------------------------------------- alias bomb
def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"body: [*a{levels - 1}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_refused_without_blowing_up_memory():
    text = _alias_bomb()  # 9**9 ~ 387 million strings once expanded
    assert len(text) < 1000
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match=r"alias") as info:
            archspec.loads(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    err = info.value
    assert err.loc.line >= 1 and err.loc.col >= 1
    assert "blocks" in err.hint


def test_alias_bomb_in_mappings_refused():
    text = "a: &a {x: 1, y: 1, z: 1, w: 1}\n" + "".join(
        f"b{i}: &b{i} {{p: *{'a' if i == 0 else f'b{i - 1}'}, q: *{'a' if i == 0 else f'b{i - 1}'}, "
        f"r: *{'a' if i == 0 else f'b{i - 1}'}, s: *{'a' if i == 0 else f'b{i - 1}'}}}\n"
        for i in range(12))
    with pytest.raises(SpecError, match=r"alias"):
        archspec.loads(text)


def test_modest_aliases_are_fine():
    spec = archspec.loads("input: {shape: [8, 8, 3]}\nbody:\n"
                          "  - conv2d: &c {filters: 4, kernel_size: 3, padding: same}\n"
                          "  - conv2d: *c\n")
    assert spec.output_shapes == [(8, 8, 4)]


# ---------------------------------------------------------------------- more known bugs
@pytest.mark.parametrize("source", ["+".join(["1"] * 900), "-" * 1500 + "1"])
def test_expression_nested_too_deep(source):
    with pytest.raises(SpecError):
        archspec.loads(H3 + f'  - dense: {{units: "${{{source}}}"}}\n')


def test_str_of_nested_list_bounded_before_allocation():
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match=r"too long"):
            archspec.loads(H3 + "  - flatten: {name: \"${str([[1] * 1000] * 1000)}\"}\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # a small spec peaks at ~0.1 MiB


def test_huge_bad_value_message_is_short():
    with pytest.raises(SpecError) as info:
        archspec.loads(H3 + "  - dense: {units: '${[[1] * 3000] * 300}'}\n")
    assert len(info.value.format()) < 2000


def test_top_level_list_message():
    with pytest.raises(SpecError) as info:
        archspec.loads("- conv2d\n- dense\n")
    assert "YList" not in info.value.message
    assert "Received: None" not in info.value.format()


def test_round_with_huge_ndigits_is_refused():
    with pytest.raises(SpecError):
        archspec.loads(H3 + '  - dense: {units: "${max(1, round(5, -10**6))}"}\n')


def test_percent_format_width_bounded_before_allocation():
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match=r"`%` string formatting is not allowed"):
            archspec.loads(H3 + "  - flatten: {name: \"${'%09999999d' % 1}\"}\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * 2**20, f"peak {peak / 2**20:.1f} MiB"
