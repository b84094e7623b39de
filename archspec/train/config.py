"""The ``train:`` section of a spec: typed, with defaults, overrides and located errors.

Every field has a default; the spec's ``train:`` section overrides the defaults, and command-line
flags (``--epochs 5``) and ``--set train.FIELD=VALUE`` override the spec. A value remembers where
it came from (``file:line:col`` of the spec, or ``<command line>``), so a later check (an unknown
optimizer argument, a data set whose images do not fit the model) points at the right place.

The section is checked once, here, into typed values (:class:`Optimizer`, :class:`Schedule`,
:class:`Loss`, :class:`Metric`, :class:`EarlyStopping`); nothing downstream re-reads raw YAML.

>>> cfg = TrainConfig.from_sources(None, {"epochs": (3, None)})
>>> cfg.epochs, cfg.batch_size, cfg.optimizer.name, cfg.optimizer.learning_rate
(3, 32, 'adam', 0.001)

This module does not import TensorFlow; the checks that need Keras (optimizer, loss and metric
names and arguments) are in :mod:`archspec.train.compile`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from archspec.errors import Loc, SpecError, command_line, did_you_mean
from archspec.spec.load import YDict, plain

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
JIT = ("auto", "on", "off")
LOOPS = ("auto", "fit", "custom")
FIT_INPUT = ("none", "resize", "pad", "reshape", "auto")
SCHEDULES = ("constant", "piecewise", "cosine")
SCHEDULE_ALIASES = {"step": "piecewise", "piecewise_constant": "piecewise", "cosine_decay": "cosine"}
SCHEDULE_FIELDS = {
    "constant": ("name", "warmup_epochs"),
    "piecewise": ("name", "boundaries", "values", "warmup_epochs"),
    "cosine": ("name", "warmup_epochs", "alpha", "decay_epochs"),
}
EARLY_STOPPING_FIELDS = ("monitor", "patience", "min_delta", "mode", "restore_best_weights", "start_from_epoch")
MODES = ("auto", "min", "max")
LR_GROUP_FIELDS = ("layers", "lr_mult")
UNFREEZE_FIELDS = ("epoch", "layers")


@dataclass(frozen=True)
class Optimizer:
    """``optimizer: {name: sgd, learning_rate: 0.1, momentum: 0.9}``: a Keras optimizer by name.

    ``learning_rate`` None: the optimizer class's own default; ``args``: its other keyword
    arguments (checked against the Keras class in :mod:`archspec.train.compile`)."""

    name: str = "adam"
    learning_rate: float | None = 0.001
    args: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        lr = {} if self.learning_rate is None else {"learning_rate": self.learning_rate}
        return {"name": self.name, **lr, **copy.deepcopy(self.args)}


@dataclass(frozen=True)
class Schedule:
    """The learning-rate schedule, in epochs (``boundaries``, ``warmup_epochs``, ``decay_epochs``)."""

    name: str = "constant"  # one of SCHEDULES
    warmup_epochs: float = 0
    boundaries: tuple = ()   # piecewise: epochs
    values: tuple = ()       # piecewise: one learning rate more than boundaries
    alpha: float = 0.0       # cosine: the final fraction of the learning rate
    decay_epochs: float | None = None  # cosine: None = the run's epochs

    def to_dict(self) -> dict:
        out = {"name": self.name, "warmup_epochs": self.warmup_epochs, "boundaries": list(self.boundaries),
               "values": list(self.values), "alpha": self.alpha, "decay_epochs": self.decay_epochs}
        return {k: out[k] for k in SCHEDULE_FIELDS[self.name] if out[k] is not None}


@dataclass(frozen=True)
class Named:
    """A Keras object by name with its keyword arguments: ``name`` or ``{name: ..., ARG: ...}``."""

    name: str
    args: dict = field(default_factory=dict)

    def to_dict(self):
        return {"name": self.name, **copy.deepcopy(self.args)} if self.args else self.name


@dataclass(frozen=True)
class Loss(Named):
    """``loss: auto`` (from the output activation) or a Keras loss by name, with its arguments."""

    name: str = "auto"


@dataclass(frozen=True)
class Metric(Named):
    """One entry of ``metrics:``: ``accuracy``, ``top5`` or any Keras metric, with its arguments."""


@dataclass(frozen=True)
class EarlyStopping:
    """``keras.callbacks.EarlyStopping``'s arguments (archspec's defaults: ``val_loss``, patience 5)."""

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    mode: str = "auto"  # one of MODES
    restore_best_weights: bool = False
    start_from_epoch: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LrGroup:
    """One entry of ``lr_groups:``: the layers (name globs) whose learning rate is ``lr_mult`` times
    the optimizer's (exactly, for every optimizer: see :mod:`archspec.train.finetune`)."""

    layers: tuple = ()
    lr_mult: float = 1.0

    def to_dict(self) -> dict:
        return {"layers": list(self.layers), "lr_mult": self.lr_mult}


@dataclass(frozen=True)
class Unfreeze:
    """One entry of ``unfreeze:``: at the start of epoch ``epoch`` (1-based) the layers matching
    ``layers`` (name globs) become trainable."""

    epoch: int = 1
    layers: tuple = ()

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "layers": list(self.layers)}


@dataclass
class TrainConfig:
    """Everything a training run needs besides the model. Field names are the ``train:`` keys.

    Build it with :meth:`from_sources`, which checks every value once; direct construction
    (``TrainConfig(epochs=2)``) is for code that passes typed values.
    """

    data: str = "sklearn:digits"
    epochs: int = 20
    batch_size: int = 32
    optimizer: Optimizer = field(default_factory=Optimizer)
    schedule: Schedule = field(default_factory=Schedule)
    loss: Loss = field(default_factory=Loss)
    metrics: tuple = (Metric("accuracy"),)
    validation_split: float = 0.1
    validation_data: str | None = None
    test_split: float = 0.2
    early_stopping: EarlyStopping | None = None
    seed: int = 0
    augmentation: list = field(default_factory=list)
    fit_input: str = "none"  # the spec asks for resizing; no guess by default
    cache: bool = True
    strategy: str = "auto"
    precision: str = "auto"
    jit_compile: str = "auto"
    loop: str = "auto"
    #: ``auto`` or N: training steps run per call into the compiled graph (``fit`` loop only)
    steps_per_execution: Any = "auto"
    #: fine-tuning (:mod:`archspec.train.finetune`): layer-name globs made non-trainable
    freeze: tuple = ()
    #: every BatchNormalization layer non-trainable (so it runs in inference mode)
    freeze_bn: bool = False
    #: per-group learning-rate multipliers (:class:`LrGroup`), the first matching group wins
    lr_groups: tuple = ()
    #: staged unfreezing (:class:`Unfreeze`)
    unfreeze: tuple = ()
    #: layer-wise learning-rate decay in (0, 1]: the k-th of L weighted layers (in model order)
    #: learns at decay ** (L - 1 - k) x the rate (times its lr_groups multiplier), as in BEiT/timm
    layer_decay: Any = None
    #: where each field's value came from (spec position or the command line)
    locs: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sources(cls, section: YDict | dict | None, overrides: dict | None = None) -> "TrainConfig":
        """Defaults <- the spec's ``train`` section <- ``overrides``, checked.

        ``overrides`` maps a field name, possibly dotted (``optimizer.learning_rate``), to
        ``(value, Loc or None)``; a None location means the command line.
        """
        raw = cls().to_dict()
        locs: dict = {}
        names = field_names()
        base_loc = getattr(section, "loc", Loc()) if section is not None else Loc()
        if section is not None and not isinstance(section, dict):
            raise SpecError("`train` must be a mapping of training settings", base_loc.at("train"),
                            received=section, hint="e.g. `train: {epochs: 10, batch_size: 64}`")
        for key, value in (section or {}).items():
            loc = section.value_loc(key).at(f"train.{key}") if isinstance(section, YDict) else base_loc.at(f"train.{key}")
            if key not in names:
                kloc = section.key_loc(key).at(f"train.{key}") if isinstance(section, YDict) else loc
                raise SpecError(f"unknown train field `{key}`", kloc,
                                hint=did_you_mean(key, names) or "train fields: " + ", ".join(names))
            _put(raw, locs, key, value, loc)
        for dotted, (value, loc) in (overrides or {}).items():
            loc = loc or command_line(f"train.{dotted}")
            key, _, sub = str(dotted).partition(".")
            if key not in names:
                raise SpecError(f"unknown train field `{key}`", loc,
                                hint=did_you_mean(key, names) or "train fields: " + ", ".join(names))
            if sub:
                current = raw[key]
                if isinstance(current, str):
                    current = {"name": current}
                current = copy.deepcopy(current) if isinstance(current, dict) else {}
                _set_dotted(current, sub, value)
                _put(raw, locs, key, current, loc, sub_loc=loc)
            else:
                _put(raw, locs, key, value, loc)
        cfg = cls(locs=locs)
        _check(cfg, raw)
        return cfg

    def loc(self, key: str) -> Loc:
        """Where ``key`` (``optimizer`` or ``optimizer.momentum``) was set; a default: ``<defaults>``."""
        if key in self.locs:
            return self.locs[key]
        head = key.partition(".")[0]
        return self.locs.get(head, Loc("<defaults>", 0, 0, f"train.{key}"))

    def to_dict(self) -> dict:
        """Every field as a ``train:`` section would write it, defaults included (for the resolved
        spec in the run directory; :meth:`from_sources` reads it back)."""
        out = {}
        for f in fields(self):
            if f.name == "locs":
                continue
            value = getattr(self, f.name)
            if f.name in ("metrics", "lr_groups", "unfreeze"):
                value = [m.to_dict() for m in value]
            elif f.name == "freeze":
                value = list(value)
            elif hasattr(value, "to_dict"):
                value = value.to_dict()
            out[f.name] = copy.deepcopy(value)
        return out


def field_names() -> tuple:
    return tuple(f.name for f in fields(TrainConfig) if f.name != "locs")


def _put(raw: dict, locs: dict, key: str, value, loc: Loc, sub_loc: Loc | None = None) -> None:
    raw[key] = plain(value)
    locs[key] = loc
    if isinstance(value, YDict):
        for k in value:
            locs[f"{key}.{k}"] = value.value_loc(k).at(f"train.{key}.{k}")
    elif sub_loc is not None:
        for k in (value or {}):
            locs.setdefault(f"{key}.{k}", sub_loc)


# ------------------------------------------------------------------ checks (no TensorFlow)
def _check(cfg: TrainConfig, raw: dict) -> None:
    """Check every raw value of ``raw`` and set its typed form on ``cfg``."""
    for key in ("data", "validation_data", "cache", "augmentation", "strategy", "precision", "jit_compile",
                "loop", "fit_input", "steps_per_execution"):
        setattr(cfg, key, raw[key])
    cfg.epochs = _int(cfg, "epochs", raw["epochs"], minimum=1)
    cfg.batch_size = _int(cfg, "batch_size", raw["batch_size"], minimum=1)
    cfg.seed = _int(cfg, "seed", raw["seed"], minimum=0)
    if cfg.steps_per_execution != "auto":
        try:
            cfg.steps_per_execution = _int(cfg, "steps_per_execution", cfg.steps_per_execution, minimum=1)
        except SpecError as e:
            raise SpecError("`steps_per_execution` must be `auto` or an integer >= 1", e.loc,
                            received=cfg.steps_per_execution, hint="auto groups small steps only") from None
    cfg.validation_split = _fraction(cfg, "validation_split", raw["validation_split"])
    cfg.test_split = _fraction(cfg, "test_split", raw["test_split"])
    if cfg.jit_compile is True or cfg.jit_compile is False:  # YAML `on`/`off` are booleans
        cfg.jit_compile = "on" if cfg.jit_compile else "off"
    for key, choices in (("strategy", STRATEGIES), ("precision", PRECISIONS), ("jit_compile", JIT),
                         ("loop", LOOPS), ("fit_input", FIT_INPUT)):
        _choice(cfg, key, getattr(cfg, key), choices)
    if not isinstance(cfg.data, str) or not cfg.data:
        raise SpecError("`data` must be a data source name", cfg.loc("data"), received=cfg.data,
                        hint="e.g. sklearn:digits, npz:PATH, images:DIR, keras:mnist, tfds:NAME")
    if cfg.validation_data is not None and not isinstance(cfg.validation_data, str):
        raise SpecError("`validation_data` must be a data source name", cfg.loc("validation_data"),
                        received=cfg.validation_data)
    if not isinstance(cfg.cache, bool):
        raise SpecError("`cache` must be true or false", cfg.loc("cache"), received=cfg.cache)
    cfg.optimizer = _optimizer(cfg, raw["optimizer"])
    cfg.schedule = _schedule(cfg, raw["schedule"])
    cfg.loss = _loss(cfg, raw["loss"])
    cfg.metrics = _metrics(cfg, raw["metrics"])
    cfg.early_stopping = _early_stopping(cfg, raw["early_stopping"])
    cfg.freeze = _globs(cfg, "freeze", raw["freeze"], cfg.loc("freeze"))
    if not isinstance(raw["freeze_bn"], bool):
        raise SpecError("`freeze_bn` must be true or false", cfg.loc("freeze_bn"), received=raw["freeze_bn"])
    cfg.freeze_bn = raw["freeze_bn"]
    cfg.lr_groups = _lr_groups(cfg, raw["lr_groups"])
    cfg.unfreeze = _unfreeze(cfg, raw["unfreeze"])
    decay = raw["layer_decay"]
    if decay is not None and (not _number(decay) or not 0 < decay <= 1):
        raise SpecError("`layer_decay` must be a number in (0, 1]", cfg.loc("layer_decay"), received=decay,
                        hint="e.g. `layer_decay: 0.75`: each layer learns at 0.75x the rate of the one above it")
    cfg.layer_decay = float(decay) if decay is not None else None
    if cfg.augmentation is None:
        cfg.augmentation = []
    if not isinstance(cfg.augmentation, list):
        raise SpecError("`augmentation` must be a list of layers, e.g. `- random_flip: {mode: horizontal}`",
                        cfg.loc("augmentation"), received=cfg.augmentation)


def _set_dotted(target: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(cfg: TrainConfig, key: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        raise SpecError(f"`{key}` must be an integer >= {minimum}", cfg.loc(key), received=value)
    return value


def _fraction(cfg: TrainConfig, key: str, value) -> float:
    if value is None or value is False:
        return 0.0
    if not _number(value) or not 0 <= value < 1:
        raise SpecError(f"`{key}` must be a fraction in [0, 1)", cfg.loc(key), received=value)
    return float(value)


def _choice(cfg: TrainConfig, key: str, value, choices) -> None:
    if value not in choices:
        raise SpecError(f"unknown {key.replace('_', ' ')} `{value}`", cfg.loc(key), received=value,
                        hint=did_you_mean(value, choices) or "one of: " + ", ".join(choices))


def _named(cfg: TrainConfig, key: str, value, example: str | None = None) -> tuple[str, dict]:
    """``adam`` or ``{name: adam, learning_rate: 0.01}`` -> ``("adam", {"learning_rate": 0.01})``."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise SpecError(f"`{key}` must be a name or a mapping with `name:` and its arguments",
                        cfg.loc(key), received=value, hint=example)
    return value["name"], {k: v for k, v in value.items() if k != "name"}


def _optimizer(cfg: TrainConfig, value) -> Optimizer:
    name, args = _named(cfg, "optimizer", value, "e.g. `optimizer: {name: sgd, learning_rate: 0.1}`")
    lr = args.pop("learning_rate", None)
    if lr is not None and not _number(lr):
        raise SpecError("`learning_rate` must be a number", cfg.loc("optimizer.learning_rate"), received=lr,
                        hint="e.g. `optimizer: {name: sgd, learning_rate: 0.1}`; a schedule goes under `schedule:`")
    return Optimizer(name, lr, args)


def _schedule(cfg: TrainConfig, value) -> Schedule:
    given, args = _named(cfg, "schedule", value)
    name = SCHEDULE_ALIASES.get(given, given)
    if name not in SCHEDULES:
        raise SpecError(f"unknown learning-rate schedule `{given}`", cfg.loc("schedule.name"),
                        received=given,
                        hint=did_you_mean(given, SCHEDULES + tuple(SCHEDULE_ALIASES))
                        or "one of: " + ", ".join(SCHEDULES))
    allowed = SCHEDULE_FIELDS[name]
    for k in args:
        if k not in allowed:
            raise SpecError(f"unknown field `{k}` for the `{name}` schedule", cfg.loc(f"schedule.{k}"),
                            hint=did_you_mean(k, allowed) or "fields: " + ", ".join(allowed))
    warm = args.get("warmup_epochs", 0)
    if not _number(warm) or warm < 0:
        raise SpecError("`warmup_epochs` must be a number >= 0", cfg.loc("schedule.warmup_epochs"), received=warm)
    for k in ("alpha", "decay_epochs"):
        if k in args and not _number(args[k]):
            raise SpecError(f"`{k}` must be a number", cfg.loc(f"schedule.{k}"), received=args[k])
    b, v = args.get("boundaries", []), args.get("values", [])
    if name == "piecewise":
        if not isinstance(b, list) or not isinstance(v, list) or len(v) != len(b) + 1:
            raise SpecError("a piecewise schedule needs `boundaries` (epochs) and one more `values` (learning rates)",
                            cfg.loc("schedule"), received={"boundaries": b, "values": v},
                            hint="e.g. {name: piecewise, boundaries: [82, 123], values: [0.1, 0.01, 0.001]}")
        if not all(_number(x) for x in b + v) or b != sorted(b):
            raise SpecError("`boundaries` must be increasing numbers and `values` numbers",
                            cfg.loc("schedule"), received={"boundaries": b, "values": v})
    return Schedule(name, warm, tuple(b), tuple(v), args.get("alpha", 0.0), args.get("decay_epochs"))


def _loss(cfg: TrainConfig, value) -> Loss:
    if not isinstance(value, (str, dict)):
        raise SpecError("`loss` must be a loss name or {name: ..., ARG: ...}", cfg.loc("loss"), received=value)
    return Loss(*_named(cfg, "loss", value))


def _metrics(cfg: TrainConfig, value) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
            isinstance(m, str) or (isinstance(m, dict) and isinstance(m.get("name"), str)) for m in value):
        raise SpecError("`metrics` must be a list of metric names", cfg.loc("metrics"), received=value)
    return tuple(Metric(*_named(cfg, "metrics", m)) for m in value)


def _early_stopping(cfg: TrainConfig, value) -> EarlyStopping | None:
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise SpecError("`early_stopping` must be a mapping such as {monitor: val_loss, patience: 5}",
                        cfg.loc("early_stopping"), received=value)
    for k in value:
        if k not in EARLY_STOPPING_FIELDS:
            raise SpecError(f"unknown field `{k}` for early stopping", cfg.loc(f"early_stopping.{k}"),
                            hint=did_you_mean(k, EARLY_STOPPING_FIELDS) or "fields: " + ", ".join(EARLY_STOPPING_FIELDS))
    stop = EarlyStopping(**value)
    if not isinstance(stop.monitor, str):
        raise SpecError("`monitor` must be a metric name such as val_loss", cfg.loc("early_stopping.monitor"),
                        received=stop.monitor)
    if stop.mode not in MODES:
        raise SpecError(f"unknown early stopping mode `{stop.mode}`", cfg.loc("early_stopping.mode"),
                        received=stop.mode, hint="one of: " + ", ".join(MODES))
    for k in ("patience", "start_from_epoch"):
        _int(cfg, f"early_stopping.{k}", getattr(stop, k), minimum=0)
    if not _number(stop.min_delta):
        raise SpecError("`min_delta` must be a number", cfg.loc("early_stopping.min_delta"), received=stop.min_delta)
    return stop


# ------------------------------------------------------------------ fine-tuning
def _globs(cfg: TrainConfig, key: str, value, loc: Loc) -> tuple:
    """A layer-name glob or a list of them -> a tuple of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(g, str) and g for g in value):
        raise SpecError(f"`{key}` must be a list of layer-name globs", loc, received=value,
                        hint="e.g. [conv1*, 'conv[2-4]_block*'] (fnmatch patterns over the layer names)")
    return tuple(value)


def _entries(cfg: TrainConfig, key: str, value, allowed: tuple, example: str):
    if value is None:
        return
    if not isinstance(value, list):
        raise SpecError(f"`{key}` must be a list of mappings", cfg.loc(key), received=value, hint=example)
    for i, item in enumerate(value):
        loc = cfg.loc(key).at(f"train.{key}[{i}]")
        if not isinstance(item, dict):
            raise SpecError(f"each entry of `{key}` must be a mapping", loc, received=item, hint=example)
        for k in item:
            if k not in allowed:
                raise SpecError(f"unknown field `{k}` in `{key}`", loc,
                                hint=did_you_mean(k, allowed) or "fields: " + ", ".join(allowed))
        for k in allowed:
            if k not in item:
                raise SpecError(f"an entry of `{key}` needs `{k}`", loc, received=item, hint=example)
        yield i, item, loc


def _lr_groups(cfg: TrainConfig, value) -> tuple:
    out = []
    for i, item, loc in _entries(cfg, "lr_groups", value, LR_GROUP_FIELDS,
                                 "e.g. `lr_groups: [{layers: 'conv*', lr_mult: 0.1}]`"):
        mult = item["lr_mult"]
        if not _number(mult) or mult < 0:
            raise SpecError("`lr_mult` must be a number >= 0", loc, received=mult)
        out.append(LrGroup(_globs(cfg, "layers", item["layers"], loc), float(mult)))
    return tuple(out)


def _unfreeze(cfg: TrainConfig, value) -> tuple:
    out = []
    for i, item, loc in _entries(cfg, "unfreeze", value, UNFREEZE_FIELDS,
                                 "e.g. `unfreeze: [{epoch: 5, layers: ['conv5*']}]`"):
        epoch = item["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise SpecError("`epoch` must be an integer >= 1 (the epoch, counted from 1, that starts unfrozen)",
                            loc, received=epoch)
        out.append(Unfreeze(epoch, _globs(cfg, "layers", item["layers"], loc)))
    return tuple(out)
