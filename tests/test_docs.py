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
def test_doc_example_states_its_parameter_count_and_keras_agrees(doc, index, text, keras):
    """Each example ends with `# N parameters`: the analyzer and the built Keras model say N."""
    stated = re.search(r"^# ([\d,]+) parameters$", text, re.M)
    assert stated, "end the example with its parameter count, e.g. `# 1,234 parameters`"
    spec = archspec.loads(text, file=f"docs/{doc}")
    expected = int(stated.group(1).replace(",", ""))
    assert spec.analyze().total_params == expected
    assert archspec.build(spec).count_params() == expected


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


def test_tutorial_claims_hold():
    text = (ROOT / "docs" / "tutorial.md").read_text()
    first, second = re.findall(r"```yaml\n(.*?)```", text, re.S)[:2]
    spec = archspec.loads(first, file="mynet.yaml")
    params = {r.name: r.params for r in spec.analyze().layers}
    assert (params["conv2d"], params["conv2d_1"], params["dense"]) == (160, 4_640, 15_690)
    assert spec.analyze().total_params == 20_490
    with pytest.raises(archspec.SpecError) as info:
        archspec.loads(first.replace("filters: 16", "fliters: 16", 1), file="mynet.yaml")
    shown = re.search(r"```\n(mynet\.yaml:.*?)\n```", text, re.S).group(1)
    assert info.value.format() == shown
    again = archspec.loads(second)
    assert [n.shape for n in again.graph.layers] == [n.shape for n in spec.graph.layers]
    assert again.analyze().total_params == 20_490


MISTAKES = re.findall(r"```yaml mistake\n(.*?)```\n\n```\n(.*?)\n```",
                      (ROOT / "docs" / "errors.md").read_text(), re.S)


def test_errors_doc_has_ten_mistakes():
    assert len(MISTAKES) >= 10


@pytest.mark.parametrize("text, shown", MISTAKES, ids=[f"mistake{i + 1}" for i in range(len(MISTAKES))])
def test_errors_doc_shows_the_real_message(text, shown):
    with pytest.raises(archspec.SpecError) as info:
        archspec.loads(text.replace("\\t", "\t"), file="net.yaml")
    assert info.value.format() == shown
    assert len(shown.splitlines()) <= 4  # "a few lines"


def test_zoo_table_is_current(capsys):
    from archspec.cli import main

    assert main(["zoo", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    assert table in (ROOT / "docs" / "zoo.md").read_text(), "regenerate: archspec zoo --markdown"
    assert table.count("\n| `") == len(list((ROOT / "architectures").glob("*.yaml")))


def test_main_job_figures_match_the_spec():
    """The README's and docs/training.md's LeNet-5 main job trains the spec's epochs."""
    epochs = archspec.load(ROOT / "architectures" / "lenet5.yaml").train["epochs"]
    assert f"({epochs} epochs)" in (ROOT / "README.md").read_text()
    assert f"the spec's {epochs} epochs" in (ROOT / "docs" / "training.md").read_text()
