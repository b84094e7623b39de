"""One op, one definition: :class:`OpDef`, and the :class:`Registry` that serves them by name.

An :class:`OpDef` says everything archspec knows about one op: its names, where its Keras class
lives (by name, imported on first use), the keyword arguments it accepts, its analyzer rule and
how it is called. Three kinds exist, all the same dataclass:

- a standard Keras layer: ``keras_op("Conv2D", rule=conv(2))`` in the rule family's ``OPS`` list
  (:mod:`archspec.ops.rules`); its arguments come from Keras' catalog
  (``archspec/data/keras_layers.json``) when the registry is built (:func:`with_catalog`);
- one of archspec's layers (:mod:`archspec.layers`): a full ``OpDef`` with ``module=
  "archspec.layers"`` in :mod:`archspec.ops.rules.custom`;
- a user's layer: ``OpDef(..., module="user", factory=TheClass)``, registered by
  :func:`archspec.ops.register_op` or :func:`archspec.ops.register_layer`.

Pure Python: importable without Keras.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from archspec.ops.base import Rule

#: Keyword arguments every Keras layer accepts through ``**kwargs`` (``keras.layers.Layer``).
BASE_ARGS = ("name", "dtype", "trainable", "autocast", "activity_regularizer")


def snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass(frozen=True)
class OpDef:
    """One op: its names, where its Keras class lives, what it accepts, how the analyzer sees it.

    Example:
        >>> from archspec.ops.rules.dense import same_shape
        >>> op = OpDef("scale", "Scale", "user", args=("factor", *BASE_ARGS), rule=same_shape,
        ...            aliases=("gain",))
        >>> op.spellings()
        ('scale', 'Scale', 'gain')
    """

    name: str  # canonical op name, e.g. "conv2d" (also the prefix of automatic layer names)
    cls: str  # class name, e.g. "Conv2D"
    module: str = "keras.layers"  # "keras.layers", "archspec.layers", or "user" (see factory)
    args: tuple | None = None  # accepted keyword arguments; None: from Keras' catalog
    required: tuple = ()  # arguments without a default
    bools: tuple = ()  # arguments that take true/false only (Keras' default is a bool)
    rule: Rule | None = None  # the analyzer rule; None: Keras answers (imports it)
    multi_input: bool = False  # called on a list of tensors (merges)
    aliases: tuple = ()  # extra op-name spellings, e.g. ("bn", "batchnorm")
    factory: Any = field(default=None, compare=False)  # the class itself, for user layers
    call_args: tuple = ()  # arguments of the layer's call, not its constructor (e.g. `reverse`)

    def spellings(self) -> tuple:
        """Every name a spec may use for this op (lookups are also case-insensitive)."""
        return tuple(dict.fromkeys((self.name, self.cls, *self.aliases)))

    def keras_class(self):
        """The Keras layer class (imports Keras on first use)."""
        if self.factory is not None:
            return self.factory
        return getattr(importlib.import_module(self.module), self.cls)


#: The name the resolver and the analyzer use for an op definition.
Op = OpDef


def keras_op(cls: str, *, rule: Rule | None = None, multi_input: bool = False,
             aliases: tuple = (), call_args: tuple = ()) -> OpDef:
    """The hand-written facts of the standard Keras layer ``cls`` (its canonical class name);
    the registry adds its arguments from Keras' catalog, and serves Keras' other names of the
    class (``MaxPool2D`` for ``MaxPooling2D``) with the same facts. ``call_args``: arguments of
    the layer's call that a spec may give (``reverse`` of ReversibleEmbedding), boolean."""
    return OpDef(snake_case(cls), cls, "keras.layers", rule=rule, multi_input=multi_input,
                 aliases=tuple(aliases), call_args=tuple(call_args))


def with_catalog(facts: OpDef | None, cls: str, info: dict) -> OpDef:
    """The op of catalog entry ``cls`` (``info``: its args, required, bools and canonical
    ``class``), with the hand-written ``facts`` of its canonical class, if any. Keras' other names
    of a class get its rule and calling convention, not its op-name aliases."""
    facts = facts or keras_op(cls)
    if facts.cls != cls:
        facts = replace(facts, name=snake_case(cls), cls=cls, aliases=())
    return replace(facts, args=tuple(info["args"]) + facts.call_args, required=tuple(info["required"]),
                   bools=tuple(info.get("bools", ())) + facts.call_args)


class Registry:
    """Name -> :class:`OpDef`. Refuses duplicates; lookups are case-insensitive."""

    def __init__(self):
        self._ops: dict[str, OpDef] = {}
        self._names: dict[str, str] = {}  # any accepted spelling -> canonical name

    def add(self, op: OpDef, *, replace: bool = False) -> None:
        """Register ``op`` under its spellings; an op name or alias taken by another op is refused."""
        if op.args is None:
            raise ValueError(f"op `{op.name}` has no argument list (standard ops get theirs from "
                             "Keras' catalog when the registry is built)")
        if not replace:
            taken = [s for s in (op.name, *op.aliases) if s in self._names]
            if taken:
                raise ValueError(f"an op named `{taken[0]}` is already registered")
        self._ops[op.name] = op
        for s in op.spellings():
            self._names[s] = op.name
            self._names.setdefault(s.lower(), op.name)

    def remove(self, name: str) -> OpDef:
        """Unregister the op ``name`` (any spelling) and every spelling of it; returns it."""
        op = self.get(name)
        if op is None:
            raise KeyError(f"no op named `{name}` is registered")
        del self._ops[op.name]
        self._names = {s: n for s, n in self._names.items() if n != op.name}
        return op

    def get(self, name: str) -> OpDef | None:
        canonical = self._names.get(name) or self._names.get(str(name).lower())
        return self._ops.get(canonical) if canonical else None

    def names(self) -> list[str]:
        return sorted(self._ops)

    def spellings(self) -> list[str]:
        return sorted(self._names)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None
