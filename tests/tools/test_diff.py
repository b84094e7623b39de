"""archspec diff: what changed between two architectures, layer by layer."""

from __future__ import annotations

import archspec
from archspec.tools.diff import diff_specs, format_diff
from tests.conftest import ZOO


def test_vgg16_to_vgg19_adds_three_convolutions():
    a = archspec.load(ZOO / "vgg16.yaml")
    b = archspec.load(ZOO / "vgg16.yaml", convs=[2, 2, 4, 4, 4])
    d = diff_specs(a, b)
    added = [c.name for c in d.changes if c.kind == "added"]
    assert added == ["block3_conv4", "block4_conv4", "block5_conv4"]
    assert d.totals["params"] == (138_357_544, 138_357_544 + 590_080 + 2 * 2_359_808)
    changed = {c.name: c.details for c in d.changes if c.kind == "changed"}
    assert changed["block3_pool"] == ["inputs ['block3_conv3'] -> ['block3_conv4']"]
    assert not d.same


def test_head_change_reports_args_shape_params():
    d = diff_specs(archspec.load(ZOO / "lenet5.yaml"), archspec.load(ZOO / "lenet5.yaml", classes=5))
    assert [(c.name, c.kind) for c in d.changes] == [("predictions", "changed")]
    details = d.changes[0].details
    assert details[:3] == ["units: 10 -> 5", "shape (None, 10) -> (None, 5)", "params 850 -> 425 (-425)"]
    assert "params: 60,806 -> 60,381 (-425)" in format_diff(d)


def test_specs_or_paths():
    path = ZOO / "lenet5.yaml"
    assert diff_specs(path, str(path)).same
    assert diff_specs(archspec.load(path), path).same
