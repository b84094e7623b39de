"""archspec export on the command line (the formats themselves: tests/tools/test_export.py)."""

from __future__ import annotations

from pathlib import Path

from archspec.cli import main
from archspec.tools.export import default_output
from tests.cli._include import outside_project


def test_export_of_a_spec_takes_include_path_and_set(tmp_path, capsys, keras):
    net, lib = outside_project(tmp_path, units=2)
    out = tmp_path / "m.keras"
    assert main(["export", str(net), "-o", str(out)]) == 2
    assert "outside the allowed folders" in capsys.readouterr().err
    assert main(["export", str(net), "--include-path", str(lib), "--set", "units=3", "-o", str(out)]) == 2
    assert "unknown parameter `units`" in capsys.readouterr().err
    assert main(["export", str(net), "--include-path", str(lib), "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (keras); outputs match the source")
    assert keras.saving.load_model(out).output_shape == (None, 2)


def test_default_output_is_named_after_the_source(tmp_path):
    # next to the source, as the help says (a run directory: beside it, not inside what train manages)
    assert default_output("a/lenet5.yaml", "tflite") == Path("a/lenet5_export.tflite")
    assert default_output("m.keras", "savedmodel") == Path("m_export")
    assert default_output(tmp_path, "keras") == tmp_path.parent / (tmp_path.name + "_export.keras")


def test_a_zoo_name_exports_and_a_damaged_model_is_named_not_a_traceback(tmp_path, capsys, keras):
    out = tmp_path / "lenet5.keras"
    assert main(["export", "lenet5", "--format", "keras", "-o", str(out)]) == 0
    assert keras.saving.load_model(out).count_params() == 60_806
    capsys.readouterr()
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(out.read_bytes()[:1500])
    for command in (["export", str(damaged), "-o", str(tmp_path / "x.keras")],
                    ["visualize", str(damaged), "--layer", "c1", "--maximize", "-o", str(tmp_path / "v.png")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{damaged}: error: not a loadable .keras model: truncated or damaged")
        assert "Traceback" not in err
