"""What every trial shares: file-layout constants, and training through archspec.train's data,
splits, optimizer, loss and metrics (so a trial trains as `archspec train` would)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from archspec.errors import Loc, SpecError  # noqa: E402
from archspec.spec import Spec  # noqa: E402

TUNERS = ("random", "bayesian", "hyperband")
RECORD = "archspec.json"          # per trial, next to keras-tuner's trial.json
PROJECT = "trials"                # keras-tuner's project_name inside --directory
_OPTIMIZER_WARNING = "Skipping variable loading for optimizer"


def train_config(train: dict | None):
    """The ``train`` section as ``archspec.train``'s TrainConfig (defaults filled, checked)."""
    from archspec.train.config import TrainConfig

    return TrainConfig.from_sources(train)


def compile_model(model, train: dict | None, *, steps_per_epoch: int = 1) -> None:
    """Compile as ``archspec train`` does: optimizer (+ schedule), loss and metrics from the
    resolved ``train`` section (through :mod:`archspec.train.objects`)."""
    from archspec.train import objects

    cfg = train_config(train)
    loss = objects.make_loss(cfg, model)
    model.compile(optimizer=objects.make_optimizer(cfg, steps_per_epoch), loss=loss,
                  metrics=objects.make_metrics(cfg, loss))


# ---------------------------------------------------------------------------------------- data
def load_data(name: str, *, spec: Spec | None = None):
    """``(x_train, y_train), (x_val, y_val)`` of a data source, split as ``archspec train``
    splits it (its test split held out; validation from ``train.validation_split``).

    Goes through :func:`archspec.train.data.load_data` (sources with arrays, e.g.
    ``sklearn:digits``, ``npz:PATH``, ``keras:mnist``).
    """
    cfg = train_config(spec.train if spec is not None else None)
    loc = Loc("<command line>", 0, 0, "--data")
    from archspec.train.data import load_data as source

    data = source(name, cfg, loc)
    if data.train.x is None or data.val is None or data.val.x is None:
        raise SpecError("tuning needs a data source that loads as arrays, with a validation split",
                        loc, received=name, hint="e.g. sklearn:digits, npz:PATH, keras:mnist")
    return (data.train.x, data.train.y), (data.val.x, data.val.y)


# ---------------------------------------------------------------------------------------- tuners
