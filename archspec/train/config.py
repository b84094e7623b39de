"""The ``train:`` section of a spec: schema, defaults, overrides, located errors.

Every field has a default; the spec's ``train:`` section overrides the defaults, and command-line
flags (``--epochs 5``) and ``--set train.FIELD=VALUE`` override the spec. A value remembers where
it came from (``file:line:col`` of the spec, or ``<command line>``), so a later check (an unknown
optimizer argument, a data set whose images do not fit the model) points at the right place.

>>> cfg = TrainConfig.from_sources(None, {"epochs": (3, None)})
>>> cfg.epochs, cfg.batch_size, cfg.optimizer["name"]
(3, 32, 'adam')

This module does not import TensorFlow; the checks that need Keras (optimizer, loss and metric
names and arguments) are in :mod:`archspec.train.objects`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from archspec.errors import Loc, SpecError, did_you_mean
from archspec.spec.load import YDict

CLI = Loc("<command line>")

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


@dataclass
class TrainConfig:
    """Everything a training run needs besides the model. Field names are the ``train:`` keys."""

    data: str = "sklearn:digits"
    epochs: int = 20
    batch_size: int = 32
    optimizer: dict = field(default_factory=lambda: {"name": "adam", "learning_rate": 0.001})
    schedule: dict = field(default_factory=lambda: {"name": "constant"})
    loss: Any = "auto"
    metrics: list = field(default_factory=lambda: ["accuracy"])
    validation_split: float = 0.1
    validation_data: str | None = None
    test_split: float = 0.2
    early_stopping: dict | None = None
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
    #: where each field's value came from (spec position or the command line)
    locs: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sources(cls, section: YDict | dict | None, overrides: dict | None = None) -> "TrainConfig":
        """Defaults <- the spec's ``train`` section <- ``overrides``.

        ``overrides`` maps a field name, possibly dotted (``optimizer.learning_rate``), to
        ``(value, Loc or None)``; a None location means the command line.
        """
        cfg = cls()
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
            cfg._set(key, value, loc)
        for dotted, (value, loc) in (overrides or {}).items():
            loc = loc or CLI.at(f"train.{dotted}")
            key, _, sub = str(dotted).partition(".")
            if key not in names:
                raise SpecError(f"unknown train field `{key}`", loc,
                                hint=did_you_mean(key, names) or "train fields: " + ", ".join(names))
            if sub:
                current = getattr(cfg, key)
                if isinstance(current, str):
                    current = {"name": current}
                current = copy.deepcopy(current) if isinstance(current, dict) else {}
                _set_dotted(current, sub, value)
                cfg._set(key, current, loc, sub_loc=loc)
            else:
                cfg._set(key, value, loc)
        cfg.check()
        return cfg

    def _set(self, key: str, value, loc: Loc, sub_loc: Loc | None = None) -> None:
        setattr(self, key, _plain(value))
        self.locs[key] = loc
        if isinstance(value, YDict):
            for k in value:
                self.locs[f"{key}.{k}"] = value.value_loc(k).at(f"train.{key}.{k}")
        elif sub_loc is not None:
            for k in (value or {}):
                self.locs.setdefault(f"{key}.{k}", sub_loc)

    def loc(self, key: str) -> Loc:
        """Where ``key`` (``optimizer`` or ``optimizer.momentum``) was set; a default: ``<defaults>``."""
        if key in self.locs:
            return self.locs[key]
        head = key.partition(".")[0]
        return self.locs.get(head, Loc("<defaults>", 0, 0, f"train.{key}"))

    def to_dict(self) -> dict:
        """Every field, defaults included (for the resolved spec in the run directory)."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "locs"}

    # ------------------------------------------------------------------ checks (no TensorFlow)
    def check(self) -> None:
        self.epochs = _int(self, "epochs", minimum=1)
        self.batch_size = _int(self, "batch_size", minimum=1)
        self.seed = _int(self, "seed", minimum=0)
        if self.steps_per_execution != "auto":
            try:
                self.steps_per_execution = _int(self, "steps_per_execution", minimum=1)
            except SpecError as e:
                raise SpecError("`steps_per_execution` must be `auto` or an integer >= 1", e.loc,
                                received=self.steps_per_execution, hint="auto groups small steps only") from None
        self.validation_split = _fraction(self, "validation_split")
        self.test_split = _fraction(self, "test_split")
        for key, choices in (("strategy", STRATEGIES), ("precision", PRECISIONS), ("jit_compile", JIT),
                             ("loop", LOOPS), ("fit_input", FIT_INPUT)):
            value = getattr(self, key)
            if value is True or value is False:  # YAML `on`/`off` are booleans
                value = {True: "on", False: "off"}[value] if key == "jit_compile" else value
                setattr(self, key, value)
            _choice(self, key, value, choices)
        if not isinstance(self.data, str) or not self.data:
            raise SpecError("`data` must be a data source name", self.loc("data"), received=self.data,
                            hint="e.g. sklearn:digits, npz:PATH, images:DIR, keras:mnist, tfds:NAME")
        if self.validation_data is not None and not isinstance(self.validation_data, str):
            raise SpecError("`validation_data` must be a data source name", self.loc("validation_data"),
                            received=self.validation_data)
        if not isinstance(self.cache, bool):
            raise SpecError("`cache` must be true or false", self.loc("cache"), received=self.cache)
        self.optimizer = _named(self, "optimizer")
        self.schedule = _schedule(self)
        if not isinstance(self.loss, (str, dict)):
            raise SpecError("`loss` must be a loss name or {name: ..., ARG: ...}", self.loc("loss"), received=self.loss)
        if isinstance(self.loss, dict):
            self.loss = _named(self, "loss")
        if isinstance(self.metrics, str):
            self.metrics = [self.metrics]
        if not isinstance(self.metrics, list) or not all(isinstance(m, (str, dict)) for m in self.metrics):
            raise SpecError("`metrics` must be a list of metric names", self.loc("metrics"), received=self.metrics)
        self.early_stopping = _early_stopping(self)
        if self.augmentation is None:
            self.augmentation = []
        if not isinstance(self.augmentation, list):
            raise SpecError("`augmentation` must be a list of layers, e.g. `- random_flip: {mode: horizontal}`",
                            self.loc("augmentation"), received=self.augmentation)


def field_names() -> tuple:
    return tuple(f.name for f in fields(TrainConfig) if f.name != "locs")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _set_dotted(target: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _int(cfg: TrainConfig, key: str, *, minimum: int) -> int:
    value = getattr(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        raise SpecError(f"`{key}` must be an integer >= {minimum}", cfg.loc(key), received=value)
    return value


def _fraction(cfg: TrainConfig, key: str) -> float:
    value = getattr(cfg, key)
    if value is None or value is False:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise SpecError(f"`{key}` must be a fraction in [0, 1)", cfg.loc(key), received=value)
    return float(value)


def _choice(cfg: TrainConfig, key: str, value, choices) -> None:
    if value not in choices:
        raise SpecError(f"unknown {key.replace('_', ' ')} `{value}`", cfg.loc(key), received=value,
                        hint=did_you_mean(value, choices) or "one of: " + ", ".join(choices))


def _named(cfg: TrainConfig, key: str) -> dict:
    """``adam`` or ``{name: adam, learning_rate: 0.01}`` -> a dict with ``name``."""
    value = getattr(cfg, key)
    if isinstance(value, str):
        return {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise SpecError(f"`{key}` must be a name or a mapping with `name:` and its arguments",
                        cfg.loc(key), received=value, hint=f"e.g. `{key}: {{name: sgd, learning_rate: 0.1}}`"
                        if key == "optimizer" else None)
    return dict(value)


def _schedule(cfg: TrainConfig) -> dict:
    value = _named(cfg, "schedule")
    name = SCHEDULE_ALIASES.get(value["name"], value["name"])
    if name not in SCHEDULES:
        raise SpecError(f"unknown learning-rate schedule `{value['name']}`", cfg.loc("schedule.name"),
                        received=value["name"],
                        hint=did_you_mean(value["name"], SCHEDULES + tuple(SCHEDULE_ALIASES))
                        or "one of: " + ", ".join(SCHEDULES))
    value["name"] = name
    allowed = SCHEDULE_FIELDS[name]
    for k in value:
        if k not in allowed:
            raise SpecError(f"unknown field `{k}` for the `{name}` schedule", cfg.loc(f"schedule.{k}"),
                            hint=did_you_mean(k, allowed) or "fields: " + ", ".join(allowed))
    warm = value.get("warmup_epochs", 0)
    if isinstance(warm, bool) or not isinstance(warm, (int, float)) or warm < 0:
        raise SpecError("`warmup_epochs` must be a number >= 0", cfg.loc("schedule.warmup_epochs"), received=warm)
    if name == "piecewise":
        b, v = value.get("boundaries"), value.get("values")
        if not isinstance(b, list) or not isinstance(v, list) or len(v) != len(b) + 1:
            raise SpecError("a piecewise schedule needs `boundaries` (epochs) and one more `values` (learning rates)",
                            cfg.loc("schedule"), received={"boundaries": b, "values": v},
                            hint="e.g. {name: piecewise, boundaries: [82, 123], values: [0.1, 0.01, 0.001]}")
        if any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in b + v) or b != sorted(b):
            raise SpecError("`boundaries` must be increasing numbers and `values` numbers",
                            cfg.loc("schedule"), received={"boundaries": b, "values": v})
    return value


def _early_stopping(cfg: TrainConfig):
    value = cfg.early_stopping
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
    return {"monitor": "val_loss", "patience": 5, **value}

