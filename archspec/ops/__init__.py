"""The op registry, as data: op name -> :class:`OpDef` (Keras class by name, accepted arguments,
analyzer rule, calling convention, op-name aliases). Importable without Keras.

Every op is one :class:`OpDef` (:mod:`archspec.ops.opdef`), defined in one place:

- a standard Keras layer: one ``keras_op("Conv2D", rule=conv(2))`` entry in its rule family's
  ``OPS`` list (:mod:`archspec.ops.rules`); its accepted, required and boolean arguments come from
  ``archspec/data/keras_layers.json``, extracted from Keras itself
  (``scripts/gen_keras_catalog.py``; ``tests/ops/test_registry.py`` checks it against the
  installed Keras). A Keras layer without an entry is usable too, analyzed by Keras;
- one of archspec's layers: one ``OpDef`` in :data:`archspec.ops.rules.custom.OPS`;
- a user's layer: :func:`register_op` (a full ``OpDef``) or :func:`register_layer` (a class),
  never because a YAML file named a Python path.

Every consumer (validation, the analyzer, the builder, the JSON Schema, ``archspec ops``) reads
the registry, so adding an op never means editing them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Callable

from archspec.ops.opdef import BASE_ARGS, Op, OpDef, Registry, keras_op, snake_case, with_catalog

__all__ = ["ARG_ALIASES", "STEP_KEYS", "Op", "OpDef", "Registry", "get_op", "keras_op",
           "register_layer", "register_op", "registry", "snake_case", "user_ops"]

_CATALOG = Path(__file__).resolve().parent.parent / "data" / "keras_layers.json"

#: Argument aliases accepted for every op that has the target argument.
ARG_ALIASES = {
    "kernel": "kernel_size",
    "stride": "strides",
    "dilation": "dilation_rate",
    "pool": "pool_size",
    "bias": "use_bias",
}

#: Keys a layer step may carry besides the layer's own arguments.
STEP_KEYS = ("from", "as", "when", "share")


def _standard_ops() -> list[OpDef]:
    """Every layer of Keras' catalog, with the hand-written facts of its class (if any)."""
    from archspec.ops.rules import OPS

    facts = {op.cls: op for op in OPS}
    layers = json.loads(_CATALOG.read_text())["layers"]
    unknown = sorted(set(facts) - {info["class"] for info in layers.values()})
    if unknown:
        raise LookupError(f"op entries name classes Keras' catalog lacks: {unknown}")
    return [with_catalog(facts.get(info["class"]), cls, info) for cls, info in layers.items()]


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry: Keras layers, archspec's layers, then user registrations."""
    from archspec.ops.rules import LAYER_OPS

    reg = Registry()
    for op in (*_standard_ops(), *LAYER_OPS):
        reg.add(op)
    return reg


@lru_cache(maxsize=1)
def _built_in() -> dict[str, OpDef]:
    """The ops every new process starts with, by name (what :func:`registry` adds first)."""
    from archspec.ops.rules import LAYER_OPS

    return {op.name: op for op in (*_standard_ops(), *LAYER_OPS)}


def user_ops() -> list[OpDef]:
    """The ops registered in this process on top of the built-in ones (:func:`register_op`,
    :func:`register_layer`; a built-in op replaced by another too), by name: what a new Python
    process lacks (the search's workers get them with their job, :mod:`archspec.tune.shipping`)."""
    reg, built_in = registry(), _built_in()
    ops = [reg.get(name) for name in reg.names()]
    return [op for op in ops if op != built_in.get(op.name) or op.factory is not built_in[op.name].factory]


def get_op(name: str) -> OpDef | None:
    """The op a spec names ``name`` (any spelling, any case), or None."""
    return registry().get(name)


def register_op(op: OpDef) -> OpDef:
    """Make ``op`` usable in specs: validation, analysis, building, the JSON Schema and
    ``archspec ops`` all read it from the registry. Refuses a name or alias already taken;
    ``registry().remove(op.name)`` undoes it.

    Example:
        >>> from archspec.ops.rules.dense import same_shape
        >>> class Twice:  # stands for a keras.layers.Layer subclass
        ...     pass
        >>> op = register_op(OpDef("twice", "Twice", "user", args=("name",), rule=same_shape,
        ...                        aliases=("double",), factory=Twice))
        >>> get_op("double") is get_op("Twice") is op
        True
        >>> registry().remove("twice") is op
        True
    """
    registry().add(op)
    return op


def register_layer(
    cls: type,
    *,
    name: str | None = None,
    rule: Callable | None = None,
    args: list[str] | None = None,
) -> OpDef:
    """Make a custom Keras layer class usable in specs (the only way Python code gets in).

    Args:
        cls: the layer class (register it with ``keras.saving.register_keras_serializable``
            too, so saved models reload).
        name: the op name in specs (default: the snake-case class name).
        rule: an analyzer rule ``(args, shapes) -> archspec.ops.base.Result``; without one,
            the analyzer asks Keras for shapes and parameter counts.
        args: accepted keyword arguments (default: read from ``cls.__init__``).

    Example:
        >>> import keras
        >>> class Scale(keras.layers.Layer):
        ...     def __init__(self, factor=2.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.factor = factor
        ...     def call(self, x):
        ...         return x * self.factor
        >>> op = register_layer(Scale)
        >>> op.name
        'scale'
    """
    import inspect

    if args is None:
        params = inspect.signature(cls.__init__).parameters
        args = [p for p in params if p not in ("self", "args", "kwargs")] + list(BASE_ARGS)
    return register_op(OpDef(name or snake_case(cls.__name__), cls.__name__, "user",
                             args=tuple(dict.fromkeys(args)), rule=rule, factory=cls))
