"""archspec/cli/__init__.py: the parser built from the command modules, exit statuses, pipes."""

from __future__ import annotations

import importlib
import subprocess
import sys

from archspec.cli import COMMANDS, main, make_parser
from tests.conftest import ROOT, ZOO


def test_user_error_exits_2_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {shape: [8, 8, 1]}\nbody:\n  - conv2d: {fliters: 4, kernel_size: 3}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:14: at `body[0].conv2d.fliters`" in err
    assert "did you mean `filters`?" in err


def test_a_run_error_exits_1_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no graphviz `dot`: not the spec's fault
    assert main(["plot", str(ZOO / "lenet5.yaml"), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: drawing needs graphviz's `dot` program")
    assert "Hint: install graphviz" in err and "Traceback" not in err


def test_every_command_module_adds_its_commands():
    names = set(make_parser()._subparsers._group_actions[0].choices)
    assert names == {"validate", "summary", "build", "resolve", "ops", "diff", "plot", "export", "visualize",
                     "schema", "zoo", "train", "evaluate", "tune", "bench"}
    for module in COMMANDS:
        mod = importlib.import_module(module)
        assert hasattr(mod, "add_parser") or hasattr(mod, "add_parsers"), module


def test_help_imports_no_tensorflow():
    code = ("import sys\nfrom archspec.cli import make_parser\nmake_parser().format_help()\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
            "import archspec\nassert 'tensorflow' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_a_closed_pipe_ends_quietly():
    """`archspec summary --json | head -1`: no BrokenPipeError traceback, the SIGPIPE status."""
    proc = subprocess.Popen([sys.executable, "-m", "archspec", "summary", str(ZOO / "resnet152.yaml"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()  # as `head` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""
