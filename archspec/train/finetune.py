"""Fine-tuning from the ``train:`` section: frozen layers, per-group learning rates, staged unfreezing.

- ``freeze: [GLOB, ...]``: the layers whose names match (``fnmatch``, case-sensitive: ``conv1*``,
  ``conv[2-4]_block*``) are made non-trainable before the model is compiled and its train step
  traced; ``freeze_bn: true`` does the same to every BatchNormalization layer, which in Keras 3
  then runs in inference mode (its moving mean and variance stay as they are).
- ``lr_groups: [{layers: GLOB, lr_mult: 0.1}, ...]``: the learning rate of the variables of those
  layers is ``lr_mult`` times the optimizer's. Exact for every optimizer: Keras 3 passes the
  learning rate to ``update_step(gradient, variable, learning_rate)`` per variable (in
  ``model.fit``, in the custom distributed step's ``apply_gradients``, inside a
  ``LossScaleOptimizer``), and :func:`group_rates` multiplies it there. (Scaling the gradient is
  not exact: Adam's update does not depend on the gradient's scale.) Decoupled weight decay
  (``weight_decay``: variable -= variable x weight_decay x rate) uses the group's rate too. The
  multipliers are a training-time setting: the saved optimizer is the plain Keras class with its
  own config.
- ``layer_decay: 0.75``: layer-wise learning-rate decay (BEiT, timm's ``layer_decay``): the k-th
  of the L layers with weights (in the model's order) learns at ``0.75 ** (L - 1 - k)`` x the rate,
  the head at 1x; a layer in an ``lr_groups`` group gets both factors. Exact, as above.
- ``unfreeze: [{epoch: 5, layers: [GLOB]}]``: :class:`Unfreezer`, a callback that makes the layers
  trainable at the start of that epoch (1-based) and has the train step traced again.

A glob that matches no layer is a located :class:`SpecError` with a "did you mean" over the layer
names, found before TensorFlow is imported when the names are known from the spec (:func:`check`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from archspec.errors import SpecError, did_you_mean
from archspec.train.config import TrainConfig

BN_CLASSES = ("BatchNormalization", "SyncBatchNormalization")


def matches(name: str, globs) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def check(cfg: TrainConfig, names) -> None:
    """Every glob of ``freeze``, ``lr_groups`` and ``unfreeze`` matches at least one of ``names``
    (the model's layer names); else a located error with a "did you mean"."""
    names = list(names)

    def one(glob: str, loc, what: str):
        if not any(fnmatch.fnmatchcase(n, glob) for n in names):
            prefix = glob.split("*")[0].split("?")[0].split("[")[0]
            close = did_you_mean(glob, names) or did_you_mean(prefix, names) if prefix else did_you_mean(glob, names)
            raise SpecError(f"`{glob}` in `{what}` matches no layer of the model", loc, received=glob,
                            hint=close or "layers: " + ", ".join(names[:12]) + (", ..." if len(names) > 12 else ""))

    for i, g in enumerate(cfg.freeze):
        one(g, cfg.loc("freeze").at(f"train.freeze[{i}]"), "freeze")
    for i, group in enumerate(cfg.lr_groups):
        for g in group.layers:
            one(g, cfg.loc("lr_groups").at(f"train.lr_groups[{i}].layers"), "lr_groups")
    for i, stage in enumerate(cfg.unfreeze):
        for g in stage.layers:
            one(g, cfg.loc("unfreeze").at(f"train.unfreeze[{i}].layers"), "unfreeze")


def _layers(model) -> list:
    return [layer for layer in model.layers if layer.name != model.name]


def _params(layer) -> int:
    import math

    return sum(math.prod(w.shape) for w in layer.trainable_weights)


@dataclass
class Frozen:
    """What :func:`freeze` did: the layers made non-trainable and their (formerly trainable)
    parameters."""

    layers: list = field(default_factory=list)
    params: int = 0
    globs: tuple = ()
    freeze_bn: bool = False

    def to_dict(self) -> dict:
        return {"layers": len(self.layers), "parameters": self.params, "globs": list(self.globs),
                "freeze_bn": self.freeze_bn, "names": list(self.layers)}

    def __str__(self) -> str:
        return f"frozen: {len(self.layers)} layers, {self.params:,} parameters"


def freeze(model, cfg: TrainConfig) -> Frozen | None:
    """Make the layers of ``cfg.freeze`` (and BatchNormalization with ``freeze_bn``) non-trainable;
    call it before the model is compiled. None when there is nothing to freeze."""
    if not cfg.freeze and not cfg.freeze_bn:
        return None
    check(cfg, [layer.name for layer in _layers(model)])
    out = Frozen(globs=tuple(cfg.freeze), freeze_bn=cfg.freeze_bn)
    for layer in _layers(model):
        bn = cfg.freeze_bn and type(layer).__name__ in BN_CLASSES
        if matches(layer.name, cfg.freeze) or bn:
            out.params += _params(layer)
            layer.trainable = False
            out.layers.append(layer.name)
    return out


def prepare(model, cfg: TrainConfig) -> None:
    """With staged unfreezing, build the optimizer with every variable that will be trained (the
    frozen layers' included), so that its state, and the checkpoint, keep one layout throughout."""
    if not cfg.unfreeze or model.optimizer is None or model.optimizer.built:
        return
    later = [layer for layer in _layers(model) if any(matches(layer.name, s.layers) for s in cfg.unfreeze)]
    seen, variables = set(), []
    for v in list(model.trainable_variables) + [w for layer in later for w in _trainable_when_on(layer)]:
        if id(v) not in seen:
            seen.add(id(v))
            variables.append(v)
    model.optimizer.build(variables)


def _trainable_when_on(layer) -> list:
    """The weights ``layer`` trains once trainable (a BN layer's moving statistics never)."""
    was = layer.trainable
    layer.trainable = True
    try:
        return list(layer.trainable_weights)
    finally:
        layer.trainable = was


def group_rates(optimizer, model, cfg: TrainConfig):
    """Make ``optimizer`` use ``lr_mult`` x its learning rate for the variables of each group's
    layers (the first matching group wins). Returns the optimizer (the same object, its class
    unchanged: it saves and reloads as the plain Keras optimizer)."""
    if not cfg.lr_groups and cfg.layer_decay is None:
        return optimizer
    check(cfg, [layer.name for layer in _layers(model)])
    mults: dict = {}
    weighted = [layer for layer in _layers(model) if layer.weights]
    for k, layer in enumerate(weighted):
        mult = cfg.layer_decay ** (len(weighted) - 1 - k) if cfg.layer_decay is not None else 1.0
        for group in cfg.lr_groups:
            if matches(layer.name, group.layers):
                mult *= group.lr_mult
                break
        if mult != 1.0:
            for w in layer.weights:
                mults.setdefault(w.path, mult)
    base_update = optimizer.update_step

    def mult_of(variable) -> float:
        # the variable here may be a tf.Variable or a replica's component: the optimizer's index
        # maps it back to the Keras variable it was built with (Python, at trace time)
        index = optimizer._get_variable_index(variable)
        return mults.get(optimizer._trainable_variables[index].path, 1.0)

    def update_step(gradient, variable, learning_rate):
        mult = mult_of(variable)
        if mult != 1.0:
            learning_rate = learning_rate * mult
        return base_update(gradient, variable, learning_rate)

    base_decay = optimizer._apply_weight_decay

    def apply_weight_decay(variables):
        # decoupled weight decay subtracts variable * weight_decay * learning_rate: a group's
        # multiplier applies to it as to the step (weight_decay is read when the step is traced)
        wd = optimizer.weight_decay
        if wd is None:
            return base_decay(variables)
        by_mult: dict = {}
        for v in variables:
            by_mult.setdefault(mult_of(v), []).append(v)
        try:
            for mult, group in by_mult.items():
                optimizer.weight_decay = wd * mult
                base_decay(group)
        finally:
            optimizer.weight_decay = wd

    optimizer.update_step = update_step
    optimizer._apply_weight_decay = apply_weight_decay
    optimizer._archspec_lr_mults = mults
    return optimizer


def make_unfreezer(model, cfg: TrainConfig, initial_epoch: int = 0, log=print):
    """The callback for ``cfg.unfreeze`` (None without stages); stages up to ``initial_epoch`` (a
    resumed run) are applied at once."""
    if not cfg.unfreeze:
        return None
    import keras

    class Unfreezer(keras.callbacks.Callback):
        """At the start of each stage's epoch: its layers trainable, the train step traced again."""

        def __init__(self):
            super().__init__()
            self.done: set = set()

        def apply(self, epoch: int) -> bool:  # epoch: 0-based, as Keras counts
            changed = []
            for i, stage in enumerate(cfg.unfreeze):
                if i in self.done or stage.epoch - 1 > epoch:
                    continue
                self.done.add(i)
                for layer in _layers(model):
                    if matches(layer.name, stage.layers) and not layer.trainable:
                        layer.trainable = True
                        changed.append(layer.name)
            if changed:
                # the train step read the trainable variables when traced: trace it again
                if getattr(model, "train_function", None) is not None:  # model.fit (the custom loop checks)
                    model.make_train_function(force=True)
                log(f"unfrozen at epoch {epoch + 1}: {len(changed)} layers ({', '.join(changed[:6])}"
                    + (", ..." if len(changed) > 6 else "") + ")")
            return bool(changed)

        def on_epoch_begin(self, epoch, logs=None):
            self.apply(epoch)

    cb = Unfreezer()
    if initial_epoch:
        cb.apply(initial_epoch)
    return cb
