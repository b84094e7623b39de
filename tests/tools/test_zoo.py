"""archspec/tools/zoo.py: one row per spec of the zoo folder, and the table of docs/zoo.md."""

from __future__ import annotations

from archspec.spec.document import ZOO
from archspec.tools.zoo import ZooRow, format_zoo, zoo_rows
from tests.conftest import ZOO as REPO_ZOO


def test_rows_are_the_zoo_folder_by_name():
    rows = zoo_rows()
    assert ZOO == REPO_ZOO
    assert [r.name for r in rows] == sorted(p.name for p in REPO_ZOO.glob("*.yaml"))
    vgg16 = next(r for r in rows if r.name == "vgg16.yaml")
    assert vgg16.params == 138_357_544 and vgg16.input_shape == (224, 224, 3)


def test_format_plain_and_markdown():
    rows = [ZooRow("a.yaml", "tiny", 1_234, 5_600_000, (8, 8, 1)), ZooRow("b.yaml", "any size", 10, None, (None, None, 3))]
    assert format_zoo(rows[:1]) == "a" + " " * 27 + "          1,234 params          5.6 M MACs"
    assert format_zoo(rows, markdown=True).splitlines() == [
        "| spec | what | input | parameters | MACs |", "|---|---|---|---|---|",
        "| `a.yaml` | tiny | 8x8x1 | 1,234 | 5.6 M |",
        "| `b.yaml` | any size | ?x?x3 | 10 | depends on the input size |"]
