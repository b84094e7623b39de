"""Validating and summarizing never import TensorFlow (proved in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, ZOO


def test_load_and_summary_do_not_import_tensorflow():
    script = (
        "import sys, archspec\n"
        f"for f in ['vgg16.yaml', 'resnet50.yaml', 'inception_3a.yaml', 'lenet5.yaml']:\n"
        f"    archspec.summary({str(ZOO)!r} + '/' + f)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]\n"
        "print('imported:', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported: []"


def test_cli_summary_json_is_pure_python_and_stable():
    script = (
        "import sys, runpy\n"
        "sys.argv = ['archspec', 'summary', 'architectures/resnet50.yaml', '--json', '--compact']\n"
        "try:\n    runpy.run_module('archspec', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('TF' if 'tensorflow' in sys.modules else 'noTF', file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stderr.strip().endswith("noTF"), out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"name", "layers", "total"}
    assert data["total"]["params"] == 25_636_712
    assert data["total"]["trainable_params"] == 25_583_592
    assert data["total"]["non_trainable_params"] == 53_120
    first = data["layers"][1]
    assert set(first) >= {"name", "op", "output_shape", "params", "trainable_params", "macs",
                          "receptive_field", "source"}
    assert first["name"] == "conv1_pad" and first["output_shape"] == [None, 230, 230, 3]
    assert first["source"].startswith(str(ZOO / "resnet50.yaml")) or "resnet50.yaml:" in first["source"]
