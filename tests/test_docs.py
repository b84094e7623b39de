"""Every YAML example in docs/*.md is a complete spec that validates (pure Python)."""

from __future__ import annotations

import re

import pytest

import archspec
from tests.conftest import ROOT

EXAMPLES = [
    (path.name, i, block)
    for path in sorted((ROOT / "docs").glob("*.md"))
    for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S))
    if re.search(r"^body:", block, re.M)
]


def test_docs_have_examples():
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("doc, index, text", EXAMPLES, ids=[f"{d}[{i}]" for d, i, _ in EXAMPLES])
def test_doc_example_validates(doc, index, text):
    spec = archspec.loads(text, file=f"docs/{doc}")
    assert spec.analyze().total_params >= 0


def _example(name: str):
    for _, _, text in EXAMPLES:
        if re.search(rf"^name: {name}$", text, re.M):
            return archspec.loads(text)
    raise LookupError(name)


def test_doc_examples_say_true_things():
    seq = _example("sequence")
    assert seq.graph["conv2d"].shape == (26, 26, 32) and seq.graph["conv2d"].result.params == 320
    assert seq.graph["dense"].result.params == 54_090
    assert _example("params").graph["conv2d"].shape == (32, 32, 32)
    assert [_example("repeat").graph[f"fc{k}"].shape for k in (1, 2, 3)] == [(16,), (32,), (64,)]
    assert _example("branches").graph["mixed"].shape == (28, 28, 224)
    res = _example("residual")
    assert res.graph["res1_proj"].args["strides"] == [2, 2] and res.output_shapes == [(16, 16, 32)]
    assert _example("two_heads").output_shapes == [(10,), (1,)]
    assert [s.default for s in _example("searchable").spaces] == [2, 64, 64]
