"""`--data tfds:NAME` through TensorFlow Datasets' real loading path.

Nothing can be downloaded here, so the data set is a TFDS builder defined below (the UCI digits
shipped with scikit-learn, as uint8 images): `tfds.load` prepares it into TFDS_DATA_DIR (a temp
folder) and reads it back as it would any catalog data set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow_datasets")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow_datasets as tfds


class ArchspecDigits(tfds.core.GeneratorBasedBuilder):
    """The UCI digits as 8x8x1 uint8 images: every 5th example is the test split."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                                 "label": tfds.features.ClassLabel(num_classes=10)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(False), "test": self._generate_examples(True)}

    def _generate_examples(self, test):
        from sklearn.datasets import load_digits

        d = load_digits()
        for i in range(len(d.target)):
            if (i % 5 == 0) == test:
                yield i, {"image": np.round(d.images[i] * 255 / 16).astype(np.uint8)[..., None],
                          "label": int(d.target[i])}


import keras
from archspec.errors import SpecError
from archspec.train import TrainConfig, train


def net():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


cfg = TrainConfig.from_sources({"data": "tfds:archspec_digits", "epochs": 3, "batch_size": 64,
                                "precision": "float32", "optimizer": {"name": "adam", "learning_rate": 0.01}})
r = train(net, cfg, output=sys.argv[1], verbose=0, log=print)
try:
    train(net, TrainConfig.from_sources({"data": "tfds:archspec_digit", "epochs": 1}), output=sys.argv[1] + "_x",
          verbose=0, log=print)
    error = None
except SpecError as e:
    error = [e.message, e.hint]
print("RESULT " + json.dumps({"test": r.test_metrics, "rows": len(r.history), "error": error}))
'''


def test_tfds_source_trains_through_tensorflow_datasets(tmp_path):
    env = dict(os.environ, TFDS_DATA_DIR=str(tmp_path / "tfds"), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=240, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    # TFDS' 1,437 train examples (10% of them for validation) and 360 test examples
    assert "on tfds:archspec_digits: 1,293 train / 144 validation / 360 test examples" in proc.stdout
    assert out["rows"] == 3 and out["test"]["accuracy"] > 0.85
    assert (tmp_path / "tfds" / "archspec_digits" / "1.0.0").is_dir()
    assert out["error"] == ["no TensorFlow Datasets data set `archspec_digit`", "did you mean `archspec_digits`?"]
