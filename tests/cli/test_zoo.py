"""archspec zoo (in-process, via main()); the table itself: tests/tools/test_zoo.py."""

from __future__ import annotations

from archspec.cli import main


def test_zoo_lists_specs(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "138,357,544" in out
