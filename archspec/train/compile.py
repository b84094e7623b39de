"""Compiling a model as its ``train:`` section says: the one route for training and tuning.

:func:`compile_model` makes the Keras optimizer (with the learning-rate schedule), the loss and
the metrics from a :class:`TrainConfig`, chooses XLA (``jit_compile``) and the steps per
execution, trains the batch norms with TensorFlow's fused kernel (measured 1.06-1.26x for
ResNets on a 2-core CPU, docs/training.md "Speed"; ``ARCHSPEC_FUSED_BN=0`` turns it off), and
calls ``model.compile``. ``archspec train`` and every ``archspec tune`` trial call it, so every
``train:`` option applies in a search too.

Names are Keras' own (``sgd``, ``adamw``, ``sparse_categorical_crossentropy``, ``accuracy``), in
snake_case or CamelCase; a misspelled name or argument is a located :class:`SpecError` with a
"did you mean". Call it inside ``strategy.scope()``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from archspec.errors import SpecError, did_you_mean
from archspec.ops import snake_case as snake
from archspec.train.config import Metric, TrainConfig

#: the labels a loss expects, which decides the class of the ``accuracy`` and ``top5`` metrics;
#: a loss not listed here takes one-hot (categorical) labels
LABELS = {
    "sparse_categorical_crossentropy": "sparse",
    "binary_crossentropy": "binary",
    "binary_focal_crossentropy": "binary",
}
TOP_K = ("top5", "top_5_accuracy", "top_k_accuracy")
#: monitored names (without ``val_``) by direction; a name in neither: the caller's default
LOWER_IS_BETTER = frozenset({
    "loss", "mean_squared_error", "mse", "mean_absolute_error", "mae", "mean_absolute_percentage_error",
    "mape", "mean_squared_logarithmic_error", "msle", "root_mean_squared_error", "log_cosh_error",
    "logcosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "false_positives", "false_negatives",
})
HIGHER_IS_BETTER = frozenset({
    "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", *TOP_K, "auc", "precision",
    "recall", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou", "binary_iou", "one_hot_iou",
    "one_hot_mean_iou", "true_positives", "true_negatives", "precision_at_recall", "recall_at_precision",
    "sensitivity_at_specificity", "specificity_at_sensitivity", "cosine_similarity",
})


@dataclass(frozen=True)
class Compiled:
    """What :func:`compile_model` chose: the loop drivers need the loss and metrics objects."""

    loss: object
    metrics: list
    jit_compile: bool
    steps_per_execution: int
    #: the layers ``freeze``/``freeze_bn`` made non-trainable (:class:`archspec.train.finetune.Frozen`), or None
    frozen: object = None
    #: the batch norms that train with the fused kernel (:func:`archspec.train.execution.fuse_batch_norms`)
    fused_batch_norms: int = 0


def compile_model(model, cfg: TrainConfig, *, steps_per_epoch: int, validation_steps: int | None = None,
                  group_steps: bool = True) -> Compiled:
    """``model.compile`` with the optimizer (and schedule), loss, metrics, XLA choice and steps per
    execution of ``cfg``. ``steps_per_epoch`` converts the schedule's epochs into optimizer steps;
    ``group_steps=False`` runs one step per execution (the custom loop, several replicas). The
    fine-tuning settings (``freeze``, ``freeze_bn``, ``lr_groups``, ``unfreeze``) are applied first:
    :mod:`archspec.train.finetune`.

    Example:
        >>> compiled = compile_model(model, TrainConfig(), steps_per_epoch=45)   # doctest: +SKIP
    """
    from archspec.train import execution, finetune, precision

    frozen = finetune.freeze(model, cfg)  # before compiling: the train step reads what is trainable
    jit = precision.choose_jit(cfg.jit_compile)
    spe = 1
    if group_steps:
        spe = execution.choose(cfg.steps_per_execution, model, batch=cfg.batch_size, steps=steps_per_epoch,
                               vsteps=validation_steps)
    loss = make_loss(cfg, model)
    metrics = make_metrics(cfg, loss)
    optimizer = finetune.group_rates(make_optimizer(cfg, steps_per_epoch), model, cfg)
    fused = execution.fuse_batch_norms(model)  # the layer objects' call only: a saved model is plain Keras
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit, steps_per_execution=spe)
    finetune.prepare(model, cfg)
    return Compiled(loss, metrics, jit, spe, frozen, fused)


def direction(name: str) -> str | None:
    """``"min"`` or ``"max"`` for a monitored metric (``val_`` prefix allowed), None if unknown."""
    base = name[4:] if name.startswith("val_") else name
    if base in LOWER_IS_BETTER:
        return "min"
    if base in HIGHER_IS_BETTER:
        return "max"
    return None


# ------------------------------------------------------------------ Keras classes by name
def _classes(module, base, shown, *, skip=()) -> tuple[dict, list]:
    """``{name: class}`` under both the class name in lower case (``adamw``) and in snake case
    (``adam_w``), and the sorted names to suggest (``shown(class name)``)."""
    by_name, names = {}, set()
    for attr in dir(module):
        obj = getattr(module, attr)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and attr not in skip:
            by_name[attr.lower()] = by_name[snake(attr)] = obj
            names.add(shown(attr))
    return by_name, sorted(names)


def optimizer_classes() -> tuple[dict, list]:
    """Keras optimizers by name; suggested as ``keras.optimizers.get`` names them (``rmsprop``)."""
    import keras

    return _classes(keras.optimizers, keras.optimizers.Optimizer, str.lower, skip=("LossScaleOptimizer",))


def loss_classes() -> tuple[dict, list]:
    """Keras losses by name; suggested as Keras' loss functions name them (``categorical_crossentropy``)."""
    import keras

    return _classes(keras.losses, keras.losses.Loss, snake)


def _lookup(kind: str, plural: str, name: str, classes: tuple[dict, list], loc):
    by_name, shown = classes
    cls = by_name.get(name) or by_name.get(snake(name))
    if cls is None:
        raise SpecError(f"unknown {kind} `{name}`", loc, received=name,
                        hint=did_you_mean(name, shown) or f"Keras {plural}: " + ", ".join(shown))
    return cls


def _check_kwargs(cls, kwargs: dict, cfg: TrainConfig, key: str, *, strict: bool) -> None:
    """Refuse an argument ``cls`` does not take; ``strict=False`` lets a ``**kwargs`` class take any."""
    params = inspect.signature(cls.__init__).parameters
    if not strict and any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p not in ("self", "kwargs", "name")]
    for k in kwargs:
        if k not in allowed:
            raise SpecError(f"`{cls.__name__}` has no argument `{k}`", cfg.loc(f"{key}.{k}"),
                            received=kwargs[k], hint=did_you_mean(k, allowed) or "arguments: " + ", ".join(allowed))


# ------------------------------------------------------------------ optimizer and schedule
def make_optimizer(cfg: TrainConfig, steps_per_epoch: int):
    """The Keras optimizer of ``cfg.optimizer``, with ``cfg.schedule`` as its learning rate."""
    opt = cfg.optimizer
    loc = cfg.loc("optimizer.name" if "optimizer.name" in cfg.locs else "optimizer")
    cls = _lookup("optimizer", "optimizers", opt.name, optimizer_classes(), loc)
    # every Keras optimizer takes **kwargs (for its base class): only its own named arguments pass
    _check_kwargs(cls, opt.args, cfg, "optimizer", strict=True)
    lr = opt.learning_rate if opt.learning_rate is not None else _default_lr(cls)
    try:
        return cls(learning_rate=make_schedule(cfg, lr, steps_per_epoch), **opt.args)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"Keras rejected the optimizer: {exc}", cfg.loc("optimizer"),
                        received=opt.to_dict()) from None


def _default_lr(cls) -> float:
    return inspect.signature(cls.__init__).parameters["learning_rate"].default


def make_schedule(cfg: TrainConfig, lr: float, steps_per_epoch: int):
    """A float, or a ``LearningRateSchedule`` counting optimizer steps (boundaries are in epochs)."""
    import keras

    from archspec.train.schedules import LinearWarmup

    s = cfg.schedule
    warm = int(round(float(s.warmup_epochs) * steps_per_epoch))
    if s.name == "cosine":
        decay_epochs = cfg.epochs if s.decay_epochs is None else s.decay_epochs
        decay = max(1, int(decay_epochs * steps_per_epoch) - warm)
        if warm:
            return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha=s.alpha, warmup_target=lr,
                                                          warmup_steps=warm)
        return keras.optimizers.schedules.CosineDecay(lr, decay, alpha=s.alpha)
    if s.name == "piecewise":
        bounds = [int(round(b * steps_per_epoch)) for b in s.boundaries]
        base = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [float(v) for v in s.values])
        return LinearWarmup(base, warm) if warm else base
    if warm:  # constant after a linear warm-up: a piecewise schedule with one value
        return LinearWarmup(keras.optimizers.schedules.PiecewiseConstantDecay([warm], [lr, lr]), warm)
    return float(lr)


# ------------------------------------------------------------------ loss and metrics
def make_loss(cfg: TrainConfig, model, *, reduction: str | None = "sum_over_batch_size"):
    """The loss; ``auto``: sparse categorical (or binary) cross-entropy, from the output activation."""
    name, args = cfg.loss.name, dict(cfg.loss.args)
    if name == "auto":
        units = model.outputs[0].shape[-1]
        act = _output_activation(model)
        if units == 1:
            name, args = "binary_crossentropy", {"from_logits": act != "sigmoid"}
        else:
            name, args = "sparse_categorical_crossentropy", {"from_logits": act != "softmax"}
    cls = _lookup("loss", "losses", name, loss_classes(), cfg.loc("loss"))
    _check_kwargs(cls, args, cfg, "loss", strict=False)
    return cls(reduction=reduction, **args)


def _output_activation(model) -> str:
    """The output layer's activation: its ``activation`` function's name, or the layer's class
    (a ``Softmax`` layer)."""
    layer = model.get_layer(model.outputs[0]._keras_history.operation.name)
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else type(layer).__name__.lower()


def make_metrics(cfg: TrainConfig, loss) -> list:
    """Metric objects; ``accuracy`` and ``top5`` match the loss's labels (see :data:`LABELS`)."""
    labels = LABELS.get(snake(type(loss).__name__), "categorical")
    return [_metric(cfg, m, i, labels) for i, m in enumerate(cfg.metrics)]


def _metric(cfg: TrainConfig, m: Metric, i: int, labels: str):
    import keras

    kwargs = dict(m.args)
    if m.name in ("accuracy", "acc"):
        cls = {"sparse": keras.metrics.SparseCategoricalAccuracy, "binary": keras.metrics.BinaryAccuracy,
               "categorical": keras.metrics.CategoricalAccuracy}[labels]
        return cls(name="accuracy", **kwargs)
    if m.name in TOP_K:
        cls = keras.metrics.SparseTopKCategoricalAccuracy if labels == "sparse" else keras.metrics.TopKCategoricalAccuracy
        return cls(k=kwargs.pop("k", 5), name=m.name, **kwargs)
    try:
        metric = keras.metrics.get({"class_name": m.name, "config": kwargs} if kwargs else m.name)
    except (ValueError, TypeError):
        known = sorted({snake(n) for n in dir(keras.metrics) if n[0].isupper()} | {"accuracy", "top5"})
        raise SpecError(f"unknown metric `{m.name}`", cfg.loc("metrics").at(f"train.metrics[{i}]"), received=m.name,
                        hint=did_you_mean(snake(m.name), known) or "e.g. accuracy, top5, auc, precision") from None
    if not isinstance(metric, keras.metrics.Metric):
        metric = keras.metrics.MeanMetricWrapper(metric, name=m.name)
    return metric


