"""archspec validate (in-process, via main())."""

from __future__ import annotations

from archspec.cli import main
from tests.conftest import ZOO


def test_validate_ok(capsys):
    assert main(["validate", str(ZOO / "vgg16.yaml"), "--set", "classes=10"]) == 0
    out = capsys.readouterr().out
    assert "OK: vgg16, 22 layers" in out and "(10,)" in out


def test_validate_refuses_train_fields_in_set(capsys):
    assert main(["validate", str(ZOO / "lenet5.yaml"), "--set", "train.epochs=5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("<command line>: at `--set[0]`: error: `--set` takes NAME=VALUE")
