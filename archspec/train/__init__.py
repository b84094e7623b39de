"""Training: the typed ``train:`` config, data sources, strategies, the run and its directory.

>>> import archspec.train as t                                          # doctest: +SKIP
>>> result = t.fit("architectures/lenet5.yaml", output="runs/lenet5")   # doctest: +SKIP
>>> result.test_metrics                                                   # doctest: +SKIP
{'accuracy': 0.97, 'loss': 0.1}

Importing this package does not import TensorFlow; :func:`fit`, :func:`train` and
:func:`evaluate_run` do when called.
"""

from __future__ import annotations

from archspec.train.config import TrainConfig
from archspec.train.evaluate import evaluate_run
from archspec.train.loop import RunResult, fit, train

__all__ = ["TrainConfig", "RunResult", "fit", "train", "evaluate_run"]
