"""`archspec summary` shows what the spec's train: freeze / freeze_bn will freeze (no TensorFlow)."""

from __future__ import annotations

import json

from archspec.cli import main

SPEC = """\
name: ft
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: 4, kernel_size: 3, name: conv1}
  - batch_normalization: {name: bn1}
  - conv2d: {filters: 8, kernel_size: 3, name: conv2}
  - flatten
  - dense: {units: 10, name: predictions}
train: {freeze: [conv1], freeze_bn: true}
"""


def test_summary_counts_the_parameters_training_will_freeze(tmp_path, capsys):
    spec = tmp_path / "ft.yaml"
    spec.write_text(SPEC)
    assert main(["summary", str(spec)]) == 0
    out = capsys.readouterr().out
    # conv1: 3*3*1*4+4 = 40; bn1: 4*4 = 16 (8 trainable, 8 moving statistics); conv2 296; dense 1290
    assert "Frozen when trained (train.freeze, freeze_bn): 56 params in 2 layers; trainable then: 1,586" in out
    assert main(["summary", str(spec), "--json"]) == 0
    frozen = json.loads(capsys.readouterr().out)["frozen"]
    assert frozen == {"globs": ["conv1"], "freeze_bn": True, "layers": ["conv1", "bn1"], "params": 56,
                      "trainable_params": 48}
    spec.write_text(SPEC.replace("freeze: [conv1]", "freeze: [conv3]"))
    assert main(["summary", str(spec)]) == 2
    assert "`conv3` in `freeze` matches no layer of the model" in capsys.readouterr().err
