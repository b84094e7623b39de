"""The command line: validate, summary, build, resolve, zoo (in-process, via main())."""

from __future__ import annotations

import json

import pytest

from archspec.cli import main, parse_sets
from archspec.errors import SpecError
from tests.conftest import ZOO


def test_validate_ok(capsys):
    assert main(["validate", str(ZOO / "vgg16.yaml"), "--set", "classes=10"]) == 0
    out = capsys.readouterr().out
    assert "OK: vgg16, 22 layers" in out and "(10,)" in out


def test_summary_table_says_macs(capsys):
    assert main(["summary", str(ZOO / "lenet5.yaml")]) == 0
    out = capsys.readouterr().out
    assert "Total params: 61,706" in out
    assert "MACs (multiply-accumulates)" in out


def test_summary_json_with_overrides(capsys):
    assert main(["summary", str(ZOO / "vgg16.yaml"), "--json", "--set", "classes=10",
                 "--set", "input_shape=[32, 32, 3]", "--set", "fc_units=512"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"][-1]["output_shape"] == [None, 10]
    assert data["layers"][0]["output_shape"] == [None, 32, 32, 3]
    # 14,714,688 conv params + 512*512+512 + 512*512+512 + 512*10+10
    assert data["total"]["params"] == 14_714_688 + 262_656 + 262_656 + 5_130


def test_user_error_exits_2_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {shape: [8, 8, 1]}\nbody:\n  - conv2d: {fliters: 4, kernel_size: 3}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3:14: at `body[0].conv2d.fliters`" in err
    assert "did you mean `filters`?" in err


def test_parse_sets_reads_yaml_values():
    assert parse_sets(["a=10", "b=0.5", "c=[1, 2]", "d=relu", "e=1e-4", "f=true"]) == \
        {"a": 10, "b": 0.5, "c": [1, 2], "d": "relu", "e": 1e-4, "f": True}
    with pytest.raises(SpecError, match="`--set` takes NAME=VALUE"):
        parse_sets(["classes"])


def test_build_writes_a_keras_file(tmp_path, capsys, keras):
    out = tmp_path / "sub" / "lenet.keras"
    assert main(["build", str(ZOO / "lenet5.yaml"), "-o", str(out)]) == 0
    assert "61,706 parameters" in capsys.readouterr().out
    model = keras.saving.load_model(out)
    assert model.count_params() == 61_706 and model.name == "lenet5"
    assert [p for p in out.parent.iterdir()] == [out]  # no temporary file left behind


def test_resolve_prints_concrete_yaml(capsys):
    assert main(["resolve", str(ZOO / "inception_3a.yaml")]) == 0
    out = capsys.readouterr().out
    assert "$" not in out.replace("resolved from", "")
    assert "inception_3a_concat" in out and "from: [inception_3a_1x1" in out


def test_zoo_lists_specs(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "138,357,544" in out


def test_a_closed_pipe_ends_quietly():
    """`archspec summary --json | head -1`: no BrokenPipeError traceback, the SIGPIPE status."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.Popen([sys.executable, "-m", "archspec", "summary", str(ZOO / "resnet152.yaml"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()  # as `head` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""
