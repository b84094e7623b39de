"""archspec build (in-process, via main())."""

from __future__ import annotations

from archspec.cli import main
from tests.conftest import ZOO


def test_build_writes_a_keras_file(tmp_path, capsys, keras):
    out = tmp_path / "sub" / "lenet.keras"
    assert main(["build", str(ZOO / "lenet5.yaml"), "-o", str(out)]) == 0
    assert "60,806 parameters" in capsys.readouterr().out
    model = keras.saving.load_model(out)
    assert model.count_params() == 60_806 and model.name == "lenet5"
    assert [p for p in out.parent.iterdir()] == [out]  # no temporary file left behind


def test_build_wants_a_keras_file(tmp_path, capsys):
    assert main(["build", str(ZOO / "lenet5.yaml"), "-o", str(tmp_path / "lenet.h5")]) == 2
    assert "<command line>: at `--output`: error: the output must be a `.keras` file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
