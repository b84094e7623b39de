"""Training: ``train:`` config, data sources, strategies, the training loop and the run directory.

>>> import archspec.train as t                                             # doctest: +SKIP
>>> result = t.train_spec("architectures/lenet5.yaml", output="runs/lenet5") # doctest: +SKIP
>>> result.test_metrics                                                      # doctest: +SKIP
{'accuracy': 0.97, 'loss': 0.1}

Importing this package does not import TensorFlow; :func:`train` and :func:`train_spec` do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.train.config import TrainConfig

__all__ = ["TrainConfig", "train", "train_spec", "evaluate_run"]


def train(model_fn, cfg: TrainConfig, **kwargs):
    """Train ``model_fn()`` (built inside the strategy's scope); see :func:`archspec.train.loop.train`."""
    from archspec.train.loop import train as _train

    return _train(model_fn, cfg, **kwargs)


def evaluate_run(run_dir, **kwargs) -> dict:
    """Re-evaluate a saved run; see :func:`archspec.train.loop.evaluate_run`."""
    from archspec.train.loop import evaluate_run as _evaluate

    return _evaluate(run_dir, **kwargs)


def train_spec(spec, *, overrides: dict | None = None, output: str | Path | None = None, **kwargs: Any):
    """Train a spec (a :class:`archspec.Spec` or a path) with its ``train:`` section.

    ``overrides`` maps train fields (dotted: ``optimizer.learning_rate``) to ``(value, Loc|None)``
    or plain values. The model is built by :func:`archspec.build` inside ``strategy.scope()``.
    """
    import archspec
    from archspec.spec import Spec

    if not isinstance(spec, Spec):
        spec = archspec.load(spec)
    norm = {k: (v if isinstance(v, tuple) and len(v) == 2 else (v, None)) for k, v in (overrides or {}).items()}
    cfg = TrainConfig.from_sources(spec.train, norm)
    return train(lambda: archspec.build(spec), cfg, output=output or Path("runs") / spec.name,
                 model_name=spec.name, spec_yaml=spec.to_yaml(), **kwargs)
