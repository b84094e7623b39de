"""Keras objects from a :class:`TrainConfig`: optimizer, learning-rate schedule, loss, metrics.

Names are Keras' own (``sgd``, ``adamw``, ``sparse_categorical_crossentropy``, ``accuracy``), in
snake_case or CamelCase; a misspelled name or argument is a located :class:`SpecError` with a
"did you mean". These must be created inside ``strategy.scope()``.
"""

from __future__ import annotations

import inspect
import math
import re

from archspec.errors import SpecError, did_you_mean
from archspec.train.config import TrainConfig


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _classes(module, base) -> dict:
    out = {}
    for attr in dir(module):
        obj = getattr(module, attr)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
            out[snake(attr)] = obj
            out[attr.lower()] = obj
    return out


def optimizer_classes() -> dict:
    import keras

    out = _classes(keras.optimizers, keras.optimizers.Optimizer)
    out.pop("loss_scale_optimizer", None)
    out.pop("lossscaleoptimizer", None)
    return out


def loss_classes() -> dict:
    import keras

    return _classes(keras.losses, keras.losses.Loss)


def _check_kwargs(cls, kwargs: dict, cfg: TrainConfig, key: str) -> None:
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()) and key != "optimizer":
        return
    allowed = [p for p in params if p not in ("self", "kwargs", "name")]
    for k in kwargs:
        if k not in allowed:
            raise SpecError(f"`{cls.__name__}` has no argument `{k}`", cfg.loc(f"{key}.{k}"),
                            received=kwargs[k], hint=did_you_mean(k, allowed) or "arguments: " + ", ".join(allowed))


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int):
    """The Keras optimizer of ``cfg.optimizer``, with ``cfg.schedule`` as its learning rate."""
    classes = optimizer_classes()
    spec = dict(cfg.optimizer)
    name = spec.pop("name")
    cls = classes.get(name) or classes.get(snake(name))
    if cls is None:
        names = sorted(n for n in classes if "_" in n or n == n.lower())
        raise SpecError(f"unknown optimizer `{name}`", cfg.loc("optimizer.name" if "optimizer.name" in cfg.locs
                                                                 else "optimizer"),
                        received=name, hint=did_you_mean(name, names) or "Keras optimizers: " + ", ".join(names))
    _check_kwargs(cls, spec, cfg, "optimizer")
    lr = spec.pop("learning_rate", cls.__init__.__defaults__ and _default_lr(cls))
    spec["learning_rate"] = make_schedule(cfg, lr, steps_per_epoch)
    try:
        return cls(**spec)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"Keras rejected the optimizer: {exc}", cfg.loc("optimizer"), received=cfg.optimizer) from None


def _default_lr(cls) -> float:
    p = inspect.signature(cls.__init__).parameters.get("learning_rate")
    return p.default if p is not None and isinstance(p.default, (int, float)) else 0.001


def make_schedule(cfg: TrainConfig, lr: float, steps_per_epoch: int):
    """A float, or a ``LearningRateSchedule`` counting optimizer steps (boundaries are in epochs)."""
    import keras

    s = cfg.schedule
    warm = int(round(float(s.get("warmup_epochs", 0)) * steps_per_epoch))
    total = cfg.epochs * steps_per_epoch
    if s["name"] == "cosine":
        decay_epochs = s.get("decay_epochs", cfg.epochs)
        decay = max(1, int(decay_epochs * steps_per_epoch) - warm)
        if warm:
            return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=s.get("alpha", 0.0),
                                                          warmup_target=lr, warmup_steps=warm)
        return keras.optimizers.schedules.CosineDecay(lr, decay, alpha=s.get("alpha", 0.0))
    if s["name"] == "piecewise":
        bounds = [int(round(b * steps_per_epoch)) for b in s["boundaries"]]
        base = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [float(v) for v in s["values"]])
        return _warmup(base, warm) if warm else base
    del total
    if warm:  # constant after a linear warm-up: a piecewise schedule with one value
        return _warmup(keras.optimizers.schedules.PiecewiseConstantDecay([warm], [lr, lr]), warm)
    return float(lr)


def _warmup(schedule, steps: int):
    from archspec.train.schedules import LinearWarmup

    return LinearWarmup(schedule, steps)


def make_loss(cfg: TrainConfig, model, *, reduction: str | None = "sum_over_batch_size"):
    """The loss; ``auto``: sparse categorical (or binary) cross-entropy, from the output activation."""
    spec = {"name": cfg.loss} if isinstance(cfg.loss, str) else dict(cfg.loss)
    name = spec.pop("name")
    if name == "auto":
        units = model.outputs[0].shape[-1]
        act = _output_activation(model)
        if units == 1:
            name, spec = "binary_crossentropy", {"from_logits": act != "sigmoid"}
        else:
            name, spec = "sparse_categorical_crossentropy", {"from_logits": act != "softmax"}
    classes = loss_classes()
    cls = classes.get(name) or classes.get(snake(name))
    if cls is None:
        names = sorted(n for n in classes if "_" in n)
        raise SpecError(f"unknown loss `{name}`", cfg.loc("loss"), received=name,
                        hint=did_you_mean(name, names) or "Keras losses: " + ", ".join(names))
    _check_kwargs(cls, spec, cfg, "loss")
    return cls(reduction=reduction, **spec)


def _output_activation(model) -> str:
    layer = model.get_layer(model.outputs[0]._keras_history.operation.name)
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else type(layer).__name__.lower()


def make_metrics(cfg: TrainConfig, loss) -> list:
    """Metric objects; ``accuracy`` matches the loss (sparse, binary or categorical labels)."""
    import keras

    sparse = "sparse" in type(loss).__name__.lower()
    binary = "binary" in type(loss).__name__.lower()
    out = []
    for i, m in enumerate(cfg.metrics):
        name = m if isinstance(m, str) else m.get("name")
        kwargs = {} if isinstance(m, str) else {k: v for k, v in m.items() if k != "name"}
        if name in ("accuracy", "acc"):
            cls = (keras.metrics.SparseCategoricalAccuracy if sparse else
                   keras.metrics.BinaryAccuracy if binary else keras.metrics.CategoricalAccuracy)
            out.append(cls(name="accuracy", **kwargs))
            continue
        if name in ("top5", "top_5_accuracy", "top_k_accuracy"):
            cls = keras.metrics.SparseTopKCategoricalAccuracy if sparse else keras.metrics.TopKCategoricalAccuracy
            out.append(cls(k=kwargs.pop("k", 5), name=name, **kwargs))
            continue
        try:
            metric = keras.metrics.get({"class_name": name, "config": kwargs} if kwargs else name)
        except (ValueError, TypeError):
            known = sorted({snake(n) for n in dir(keras.metrics) if n[0].isupper()} | {"accuracy", "top5"})
            raise SpecError(f"unknown metric `{name}`", cfg.loc("metrics").at(f"train.metrics[{i}]"), received=name,
                            hint=did_you_mean(snake(name), known) or "e.g. accuracy, top5, auc, precision") from None
        if not isinstance(metric, keras.metrics.Metric):
            metric = keras.metrics.MeanMetricWrapper(metric, name=name)
        out.append(metric)
    return out


def steps_for(n: int, batch: int) -> int:
    return max(1, math.ceil(n / batch))
