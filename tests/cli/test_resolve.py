"""archspec resolve (in-process, via main())."""

from __future__ import annotations

from archspec.cli import main
from tests.conftest import ZOO


def test_resolve_prints_concrete_yaml(capsys):
    assert main(["resolve", str(ZOO / "inception_3a.yaml")]) == 0
    out = capsys.readouterr().out
    assert "$" not in out.replace("resolved from", "")
    assert "inception_3a_concat" in out and "from: [inception_3a_1x1" in out
