"""archspec summary (in-process, via main())."""

from __future__ import annotations

import json

from archspec.cli import main
from tests.conftest import ZOO


def test_summary_table_says_macs(capsys):
    assert main(["summary", str(ZOO / "lenet5.yaml")]) == 0
    out = capsys.readouterr().out
    assert "Total params: 60,806" in out
    assert "MACs (multiply-accumulates)" in out


def test_summary_json_with_overrides(capsys):
    assert main(["summary", str(ZOO / "vgg16.yaml"), "--json", "--set", "classes=10",
                 "--set", "input_shape=[32, 32, 3]", "--set", "fc_units=512"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"][-1]["output_shape"] == [None, 10]
    assert data["layers"][0]["output_shape"] == [None, 32, 32, 3]
    # 14,714,688 conv params + 512*512+512 + 512*512+512 + 512*10+10
    assert data["total"]["params"] == 14_714_688 + 262_656 + 262_656 + 5_130
