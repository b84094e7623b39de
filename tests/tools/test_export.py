"""archspec export: each format reloads and gives the source model's outputs."""

from __future__ import annotations

import numpy as np
import pytest

import archspec
from archspec.errors import RunError, SpecError
from archspec.tools.export import export, load_source
from tests.conftest import ZOO


@pytest.fixture(scope="module")
def lenet(keras):
    return archspec.build(ZOO / "lenet5.yaml")


@pytest.mark.parametrize("fmt, name", [("keras", "m.keras"), ("savedmodel", "m_saved"), ("tflite", "m.tflite")])
def test_export_formats_match_the_source(lenet, tmp_path, fmt, name):
    path, diff = export(lenet, tmp_path / name, fmt)
    assert path.exists() and diff <= 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left


def test_exported_keras_file_is_the_same_model(lenet, tmp_path, keras):
    path, _ = export(lenet, tmp_path / "m.keras", "keras")
    again = load_source(path)
    x = np.random.default_rng(3).random((2, 32, 32, 1), dtype=np.float32)
    np.testing.assert_array_equal(again.predict(x, verbose=0), lenet.predict(x, verbose=0))
    assert load_source(ZOO / "lenet5.yaml", {"classes": 4}).output_shape == (None, 4)


def test_bad_sources_and_formats(lenet, tmp_path):
    with pytest.raises(SpecError, match="unknown export format `pdf`"):
        export(lenet, tmp_path / "m.pdf", "pdf")
    with pytest.raises(SpecError, match="no model.keras in this directory"):
        load_source(tmp_path)
    with pytest.raises(SpecError, match="file not found"):
        load_source(tmp_path / "missing.keras")


def test_outputs_that_differ_are_a_run_error_and_leave_nothing(lenet, tmp_path):
    with pytest.raises(RunError, match=r"outputs differ from the source by .* \(tolerance -1\)"):
        export(lenet, tmp_path / "m_saved", "savedmodel", atol=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_a_spec_object_is_built(keras):
    assert load_source(archspec.load(ZOO / "lenet5.yaml"), {"classes": 3}).output_shape == (None, 3)
