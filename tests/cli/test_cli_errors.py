"""The CLI on bad input: a located error in a few lines on stderr, exit status 2, no traceback."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BAD = {
    "unknown_arg.yaml": (
        "input: {shape: [28, 28, 1]}\nbody:\n  - conv2d: {fliters: 8, kernel_size: 3}\n",
        ":3:14: at `body[0].conv2d.fliters`: error: unknown argument `fliters` for `Conv2D`",
        "Hint: did you mean `filters`?",
    ),
    "syntax.yaml": (
        "input: {shape: [28, 28, 1]\nbody:\n  - flatten\n",
        ":2:1: error: YAML syntax error",
        "Hint: a `{...}` mapping needs commas between its entries and a closing `}`",
    ),
    "python_tag.yaml": (
        "input: !!python/object/apply:os.system ['echo pwned']\nbody: [flatten]\n",
        ":1:8: at `input`: error: the YAML tag",
        "Hint: remove the tag",
    ),
    "kernel.yaml": (
        "input: {shape: [28, 28, 1]}\nbody:\n  - conv2d: {filters: 8, kernel_size: 29}\n",
        ":3:5: at `body[0].conv2d`: error: Conv2D: the convolution window (29) is larger",
        "Received: 'input shape (batch, 28, 28, 1)'",
    ),
    "empty.yaml": ("", ":1:1: error: the file is empty", "Hint:"),
    "alias_bomb.yaml": (
        "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9)),
        "error: the YAML document expands to more than",
        "alias",
    ),
}


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "archspec", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_exits_2_with_location(tmp_path, name):
    text, where, extra = BAD[name]
    path = tmp_path / name
    path.write_text(text)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    first = proc.stderr.splitlines()[0]
    assert first.startswith(str(path) + ":"), proc.stderr
    assert where in first or where in proc.stderr, proc.stderr
    assert extra in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 5, proc.stderr


def test_missing_file_exits_2(tmp_path):
    proc = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2
    assert "file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_extends_cycle_exits_2(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ninput: {shape: [3]}\nbody: [flatten]\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    proc = run_cli("validate", str(tmp_path / "a.yaml"))
    assert proc.returncode == 2
    assert f"{tmp_path / 'b.yaml'}:1:10: at `extends`: error: files include each other in a cycle" \
        in proc.stderr
    assert "Traceback" not in proc.stderr


def test_good_file_exits_0():
    proc = run_cli("validate", "architectures/lenet5.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "OK: lenet5" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_set_without_value_exits_2():
    proc = run_cli("validate", "architectures/vgg16.yaml", "--set", "classes")
    assert proc.returncode == 2
    assert "`--set` takes NAME=VALUE" in proc.stderr
    assert "Received: 'classes'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_set_unknown_param_exits_2_with_hint():
    proc = run_cli("validate", "architectures/vgg16.yaml", "--set", "clases=10")
    assert proc.returncode == 2
    assert "unknown parameter `clases`" in proc.stderr
    assert "did you mean `classes`?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_set_wrong_type_exits_2():
    proc = run_cli("validate", "architectures/vgg16.yaml", "--set", "classes=many")
    assert proc.returncode == 2
    assert "`units` must be a positive integer, got 'many'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_summary_of_bad_file_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD["unknown_arg.yaml"][0])
    proc = run_cli("summary", str(path), "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"{path}:3:14:" in proc.stderr


def test_nul_byte_exits_2(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_text("name: a\x00b\ninput: {shape: [3]}\nbody: [flatten]\n")
    proc = run_cli("validate", str(path))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2


def test_deeply_nested_yaml_exits_2(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 300 + "]" * 300 + "\n")
    proc = run_cli("validate", str(path))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2
