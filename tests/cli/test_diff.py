"""archspec diff on the command line (the comparison itself: tests/tools/test_diff.py)."""

from __future__ import annotations

from archspec.cli import main
from tests.cli._include import outside_project
from tests.conftest import ZOO


def test_same_spec_has_no_diff_and_exit_code(capsys):
    path = str(ZOO / "resnet50.yaml")
    assert main(["diff", path, path, "--exit-code"]) == 0
    assert "(no layer differs)" in capsys.readouterr().out
    assert main(["diff", path, path, "--set-b", "classes=10", "--exit-code"]) == 1


def test_diff_takes_include_path(tmp_path, capsys):
    a, lib = outside_project(tmp_path, units=2)
    b, _ = outside_project(tmp_path, units=5)
    assert main(["diff", str(a), str(b)]) == 2
    assert "outside the allowed folders" in capsys.readouterr().err
    assert main(["diff", str(a), str(b), "--include-path", str(lib), "--exit-code"]) == 1
    out = capsys.readouterr().out
    assert "units: 2 -> 5" in out and "params: 8 -> 20 (+12)" in out


def test_set_b_mistakes_are_located(capsys):
    path = str(ZOO / "lenet5.yaml")
    assert main(["diff", path, path, "--set-b", "classes"]) == 2
    assert "<command line>: at `--set-b[0]`: error: `--set-b` takes NAME=VALUE" in capsys.readouterr().err
