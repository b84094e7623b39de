"""`HyperModel`: a spec's search spaces as keras-tuner hyperparameters (conditional scopes included).

A trial builds and compiles exactly as ``archspec train`` does: the precision policy of
:mod:`archspec.train.precision` and :func:`archspec.train.compile.compile_model`, from the
trial's resolved ``train:`` section.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

import keras_tuner as kt

from archspec.errors import SpecError
from archspec.spec import Spec, as_spec
from archspec.spec.space import Space
from archspec.train.config import TrainConfig
from archspec.train.graphs import released
from archspec.tune.budget import Budget

#: what keras-tuner's ``load_model`` (and Keras) warn when a model is loaded before it trained
OPTIMIZER_WARNING = "Skipping variable loading for optimizer"


@contextlib.contextmanager
def quiet_optimizer_warning():
    """Hide :data:`OPTIMIZER_WARNING` inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=OPTIMIZER_WARNING)
        yield


def _declare(hp, space: Space):
    """Register ``space`` on keras-tuner's ``hp`` and return its value (None when inactive)."""
    if space.kind == "int":
        step = space.step if space.sampling == "linear" or space.step not in (None, 1) else None
        return hp.Int(space.name, space.min, space.max, step=step, sampling=space.sampling,
                      default=space.default)
    if space.kind == "float":
        return hp.Float(space.name, float(space.min), float(space.max), step=space.step,
                        sampling=space.sampling, default=float(space.default))
    if space.kind == "bool":
        return hp.Boolean(space.name, default=space.default)
    values = list(space.values)
    if _scalar_choice(values):
        return hp.Choice(space.name, values, default=space.default)
    # keras-tuner choices hold scalars of one type: encode lists/mappings/mixed as JSON text
    encoded = [json.dumps(v) for v in values]
    picked = hp.Choice(space.name, encoded, default=json.dumps(space.default))
    return None if picked is None else json.loads(picked)


def _scalar_choice(values: list) -> bool:
    kinds = {bool if isinstance(v, bool) else (float if isinstance(v, (int, float)) else type(v))
             for v in values}
    return len(kinds) == 1 and kinds <= {bool, float, str}


def _from_hp(space: Space, value):
    """Decode a value stored in keras-tuner's HyperParameters (JSON-encoded choices)."""
    if space.kind == "choice" and not _scalar_choice(list(space.values)) and isinstance(value, str):
        return json.loads(value)
    return value


class HyperModel(kt.HyperModel):
    """A ``keras_tuner.HyperModel`` over a spec's inline search spaces.

    Args:
        spec: a :class:`~archspec.spec.Spec` or a path to a spec file.
        budget: optional :class:`Budget`; ``build`` raises ``keras_tuner.errors.FailedTrialError``
            for an over-budget architecture (the tuners from :func:`make_tuner` reject it earlier).
        train_overrides: train fields (dotted: ``optimizer.momentum``) to ``(value, Loc|None)`` or
            plain values, over each trial's resolved ``train:`` section (``--set train.X``, ``--data``).
        **params: parameter overrides, as in :func:`archspec.load`.

    ``build(hp)`` resolves the spec with ``hp`` choosing each value, builds the Keras model and
    compiles it from the resolved ``train`` section as ``archspec train`` does (precision,
    optimizer and schedule, loss, metrics, XLA, steps per execution); ``fit`` takes
    ``batch_size`` and ``epochs`` from there unless the tuner passes them.

    Example:
        >>> hm = HyperModel("architectures/search/lenet_search.yaml")   # doctest: +SKIP
        >>> hp = keras_tuner.HyperParameters()                           # doctest: +SKIP
        >>> model = hm.build(hp)          # the defaults: the same model as `archspec build`
    """

    def __init__(self, spec: Spec | str | Path, *, budget: Budget | None = None,
                 train_overrides: dict | None = None, **params: Any):
        super().__init__(name=None, tunable=True)
        self.spec = spec = as_spec(spec, **params)
        self.train_overrides = {k: (v if isinstance(v, tuple) and len(v) == 2 else (v, None))
                                for k, v in (train_overrides or {}).items()}
        self.budget = budget or Budget()
        self.declare_only = False  # set by the tuners while keras-tuner explores the space
        self.fit_seconds = 0.0     # time spent in the last `fit`, for overhead accounting
        self.steps_per_epoch = 1   # for schedules and steps per execution; set by search() from the data
        self.validation_steps: int | None = None
        self.latency_input = None  # one example (batch 1): set, each trial's latency is measured after fit
        self.latency_ms: float | None = None
        self.trial_dir: Path | None = None  # set by archspec's tuners: the trial's epoch checkpoint lives there
        self.resumed_epoch = 0              # the last fit resumed after this many epochs (0: from the start)
        self.trial_pid: int | None = None   # --isolate: the process of the last trial
        self._conditions: dict | None = None
        self._cache: tuple | None = None

    # -- resolution (pure Python) ------------------------------------------------------------
    def resolve(self, hp) -> Spec:
        """The spec resolved with ``hp`` choosing every space (registering it on ``hp``)."""
        key = tuple(sorted((k, repr(v)) for k, v in hp.values.items()))
        if self._cache and self._cache[0] == key and self._cache[1] is hp:
            return self._cache[2]
        conditions = self.conditions

        def choose(space: Space):
            cond = conditions.get(space.name)
            scope = contextlib.nullcontext()
            if cond is not None and cond[0] in hp.values:
                scope = hp.conditional_scope(cond[0], cond[1])
            with scope:
                value = _declare(hp, space)
            return space.default if value is None else value

        spec = Spec(self.spec.document, self.spec.overrides, choose)
        self._cache = (tuple(sorted((k, repr(v)) for k, v in hp.values.items())), hp, spec)
        return spec

    def with_values(self, values: dict) -> Spec:
        """The spec resolved with fixed hyperparameter values (others: their defaults)."""
        return self.resolve_values(values)[0]

    def resolve_values(self, values: dict) -> tuple[Spec, dict]:
        """The spec resolved with fixed hyperparameter values, and the value each space took
        (``{space name: value}``; a space not in ``values``: its default)."""
        taken: dict = {}

        def choose(space: Space):
            value = _from_hp(space, values[space.name]) if space.name in values else space.default
            return taken.setdefault(space.name, value)

        return Spec(self.spec.document, self.spec.overrides, choose), taken

    @property
    def conditions(self) -> dict:
        """``{space name: (parent name, [parent values])}`` for spaces met only under a choice."""
        if self._conditions is None:
            self._conditions = find_conditions(self.spec)
        return self._conditions

    # -- keras-tuner interface ---------------------------------------------------------------
    def declare_hyperparameters(self, hp) -> None:
        self.resolve(hp)

    def build(self, hp):
        spec = self.resolve(hp)
        if self.declare_only:
            return None
        reason = self.budget.check_spec(spec)[1]
        if reason:
            raise kt.errors.FailedTrialError(reason)
        from archspec.builder import build
        from archspec.train import precision
        from archspec.train.compile import compile_model

        import tensorflow as tf

        cfg = self.train_config(spec)
        model = precision.build_model(lambda: build(spec, features=False), precision.choose_precision(cfg.precision))
        # keras-tuner builds inside its distribution strategy's scope; Keras' multi-step loop fails
        # under MirroredStrategy (archspec.train.execution): one step per call with several replicas
        one_replica = tf.distribute.get_strategy().num_replicas_in_sync == 1
        compile_model(model, cfg, steps_per_epoch=self.steps_per_epoch, validation_steps=self.validation_steps,
                      group_steps=one_replica)
        return model

    def train_config(self, spec: Spec | None = None) -> TrainConfig:
        """The train settings of ``spec`` (a trial's resolved spec; default the spec at its
        defaults) with :attr:`train_overrides` over them: one place, for every trial and the data."""
        return TrainConfig.from_sources((spec or self.spec).train, self.train_overrides)

    def fit(self, hp, model, *args, **kwargs):
        cfg = self.train_config(self.resolve(hp))
        kwargs.setdefault("batch_size", cfg.batch_size)
        kwargs.setdefault("epochs", cfg.epochs)
        kwargs.setdefault("verbose", 0)
        t0 = time.perf_counter()
        # released(): without it TensorFlow keeps every trial's traced graphs for good, whatever
        # keras-tuner tuner drives this hypermodel (see archspec.train.graphs)
        self.resumed_epoch = 0
        with quiet_optimizer_warning(), released():
            if self.trial_dir is None:
                history = model.fit(*args, **kwargs)
            else:  # saved after each epoch; a trial run again after a kill resumes (archspec.tune.checkpoint)
                from archspec.tune import checkpoint

                history, self.resumed_epoch = checkpoint.fit(model, self.trial_dir, hp.values, kwargs,
                                                             lambda **kw: model.fit(*args, **kw))
        self.fit_seconds = time.perf_counter() - t0
        if self.latency_input is not None:  # --objective latency:min (archspec.tune.pareto)
            from archspec.tune.pareto import measure_latency

            self.latency_ms = measure_latency(model, self.latency_input)
        return history


def find_conditions(spec: Spec) -> dict:
    """Which spaces exist only under some values of a ``choice``/``bool`` space.

    Resolves the spec once per value of each such space (others at their defaults, the parents
    of nested choices fixed so that they are met): a space met under some values only is
    conditional on that parent. Pure Python.
    """
    def met(fixed: dict) -> list[Space] | None:
        def choose(space: Space):
            return fixed.get(space.name, space.default)
        try:
            return Spec(spec.document, spec.overrides, choose).spaces
        except SpecError:
            return None

    conditions: dict = {}
    todo = [(s, {}) for s in spec.spaces if s.kind in ("choice", "bool")]
    seen: set = set()
    while todo:
        parent, fixed = todo.pop(0)
        if parent.name in seen:
            continue
        seen.add(parent.name)
        values = list(parent.values) if parent.kind == "choice" else [False, True]
        by_value = {}
        for i, v in enumerate(values):
            spaces = met({**fixed, parent.name: v})
            if spaces is not None:
                by_value[i] = {s.name: s for s in spaces}
        every = set().union(*[set(d) for d in by_value.values()]) if by_value else set()
        for name in every - {parent.name}:
            under = [i for i in by_value if name in by_value[i]]
            if len(under) < len(values) and name not in conditions:
                conditions[name] = (parent.name, [_hp_value(parent, values[i]) for i in under])
        for i, d in by_value.items():
            for s in d.values():
                if s.kind in ("choice", "bool") and s.name not in seen:
                    todo.append((s, {**fixed, parent.name: values[i]}))
    return conditions


def _hp_value(space: Space, value):
    if space.kind == "choice" and not _scalar_choice(list(space.values)):
        return json.dumps(value)
    return value
