"""Training: the typed ``train:`` config, data sources, strategies, the run and its directory.

>>> import archspec.train as t                                          # doctest: +SKIP
>>> result = t.fit("architectures/lenet5.yaml", output="runs/lenet5")   # doctest: +SKIP
>>> result.test_metrics                                                   # doctest: +SKIP
{'accuracy': 0.97, 'loss': 0.1}

Importing this package does not import TensorFlow; :func:`fit`, :func:`train` and
:func:`evaluate_run` do when called.
"""

from __future__ import annotations

import importlib

__all__ = ["TrainConfig", "RunResult", "fit", "train", "evaluate_run"]

# where each export lives: imported on first use, so that `archspec.train.config` (read by
# `summary` for a spec's train: section) does not pull in the loop, evaluation and artifacts
_HOMES = {"TrainConfig": "config", "RunResult": "loop", "fit": "loop", "train": "loop",
          "evaluate_run": "evaluate"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"archspec.train.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'archspec.train' has no attribute {name!r}")
