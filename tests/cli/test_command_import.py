"""archspec/cli/__init__.py: a command line that names its command imports only that command's
module (``archspec summary`` does not import the training and tuning modules)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archspec.cli import COMMAND_NAMES, _named_command, main, make_parser
from tests.conftest import ROOT, ZOO


def test_command_names_are_what_the_modules_add():
    assert sorted(COMMAND_NAMES) == sorted(make_parser().commands)
    for name in COMMAND_NAMES:
        only = make_parser(only=name).commands
        assert name in only and len(only) <= 2, (name, list(only))  # train.py adds train and evaluate


@pytest.mark.parametrize("argv, command", [
    (["summary", "x.yaml"], "summary"),
    (["-v", "evaluate", "runs/x"], "evaluate"),
    (["summary", "--help"], "summary"),
    (["-h", "summary"], None),          # the main help lists every command
    (["--version"], None),
    (["sumary", "x.yaml"], None),       # a typo: the whole parser says "did you mean"
    ([], None),
])
def test_the_named_command(argv, command):
    assert _named_command(argv) == command


def test_main_help_and_typos_still_know_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in COMMAND_NAMES)
    with pytest.raises(SystemExit):
        main(["sumary", "x.yaml"])
    assert "did you mean `summary`?" in capsys.readouterr().err


def test_summary_imports_neither_training_nor_tuning():
    """For a spec without a ``train:`` section (one with it has that section checked)."""
    assert "\ntrain:" not in (ZOO / "vgg16.yaml").read_text()
    code = ("import sys\nfrom archspec.cli import main\n"
            f"assert main(['summary', {str(ZOO / 'vgg16.yaml')!r}]) == 0\n"
            "loaded = [m for m in ('archspec.train', 'archspec.tune', 'archspec.cli.train', 'archspec.cli.tune',"
            " 'tensorflow') if m in sys.modules]\n"
            "assert loaded == [], loaded\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60, capture_output=True)
