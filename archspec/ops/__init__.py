"""The op registry, as data: op name -> Keras class (by name), accepted arguments, analyzer rule.

Importable without Keras. Every Keras layer is reachable by its class name (``Conv2D``) or its
Keras snake-case name (``conv2d``); the accepted keyword arguments come from
``archspec/data/keras_layers.json``, extracted from Keras itself (``scripts/gen_keras_catalog.py``;
``tests/ops/test_registry.py`` checks it against the installed Keras). The analyzer rule of each op is one
entry in :data:`RULE_OF`. Adding a layer means adding data here, never an ``elif``.

Custom layers (``archspec.layers``) are listed by ``archspec.ops.rules.custom``; user layers come
in only through :func:`register_layer`, never because a YAML file named a Python path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from archspec.ops.base import Rule
from archspec.ops.rules import RULES as STANDARD_RULES

_CATALOG = Path(__file__).resolve().parent.parent / "data" / "keras_layers.json"

#: Keras class name -> analyzer rule name (in archspec.ops.rules.RULES).
RULE_OF = {
    **{f"Conv{r}D": f"conv{r}d" for r in (1, 2, 3)},
    **{f"Convolution{r}D": f"conv{r}d" for r in (1, 2, 3)},
    **{f"Conv{r}DTranspose": f"conv{r}d_transpose" for r in (1, 2, 3)},
    **{f"Convolution{r}DTranspose": f"conv{r}d_transpose" for r in (1, 2, 3)},
    **{f"DepthwiseConv{r}D": f"depthwise_conv{r}d" for r in (1, 2)},
    **{f"SeparableConv{r}D": f"separable_conv{r}d" for r in (1, 2)},
    **{f"SeparableConvolution{r}D": f"separable_conv{r}d" for r in (1, 2)},
    **{f"{kind}{r}D": f"pool{r}d" for r in (1, 2, 3)
       for kind in ("MaxPooling", "AveragePooling", "MaxPool", "AvgPool")},
    **{f"Global{kind}{r}D": f"global_pool{r}d" for r in (1, 2, 3)
       for kind in ("MaxPooling", "AveragePooling", "MaxPool", "AvgPool")},
    **{f"Adaptive{kind}Pooling{r}D": f"adaptive_pool{r}d" for r in (1, 2, 3)
       for kind in ("Max", "Average")},
    **{f"ZeroPadding{r}D": f"zero_padding{r}d" for r in (1, 2, 3)},
    **{f"Cropping{r}D": f"cropping{r}d" for r in (1, 2, 3)},
    **{f"UpSampling{r}D": f"upsampling{r}d" for r in (1, 2, 3)},
    "Dense": "dense",
    "Embedding": "embedding",
    "BatchNormalization": "batch_norm",
    "LayerNormalization": "layer_norm",
    "GroupNormalization": "group_norm",
    "PReLU": "prelu",
    "Flatten": "flatten",
    "Reshape": "reshape",
    "Permute": "permute",
    "RepeatVector": "repeat_vector",
    "Resizing": "resizing",
    "CenterCrop": "crop_to",
    "RandomCrop": "crop_to",
    "Concatenate": "concatenate",
    **{m: "elementwise_merge" for m in ("Add", "Multiply", "Average", "Maximum", "Minimum")},
    "Subtract": "subtract",
    "Softmax": "along_axes",
    "UnitNormalization": "along_axes",
    **{k: "same_shape" for k in (
        "Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout", "GaussianDropout",
        "GaussianNoise", "ActivityRegularization", "Identity", "Rescaling", "Masking",
        "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
        "RandomContrast", "RandomBrightness", "RandomShear", "RandomGrayscale", "RandomHue",
        "RandomSaturation", "RandomSharpness", "RandomInvert", "RandomPosterization",
        "RandomColorDegeneration", "RandomColorJitter", "RandomErasing", "RandomGaussianBlur",
        "RandomPerspective", "RandomElasticTransform", "AutoContrast", "Equalization",
        "Solarization",
    )},
}

#: Ops whose call takes a list of tensors.
MULTI_INPUT = {"Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot"}

#: Argument aliases accepted for every op that has the target argument.
ARG_ALIASES = {
    "kernel": "kernel_size",
    "stride": "strides",
    "dilation": "dilation_rate",
    "pool": "pool_size",
    "bias": "use_bias",
}

#: Extra op-name aliases (lower-case), beyond the class name and its Keras snake-case name.
NAME_ALIASES = {
    "relu": "ReLU",
    "prelu": "PReLU",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "concat": "Concatenate",
    "bn": "BatchNormalization",
    "batchnorm": "BatchNormalization",
    "lrn": "LocalResponseNormalization",
    "fc": "Dense",
}

#: Keys a layer step may carry besides the layer's own arguments.
STEP_KEYS = ("from", "as", "when")


def snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass(frozen=True)
class Op:
    """One op: where its Keras class lives, what it accepts, how the analyzer sees it."""

    name: str  # canonical name, e.g. "conv2d" (also the prefix of automatic layer names)
    cls: str  # class name, e.g. "Conv2D"
    module: str  # "keras.layers", "archspec.layers", or "user"
    args: tuple  # accepted keyword arguments
    required: tuple = ()
    rule: Rule | None = None
    multi_input: bool = False
    factory: Any = field(default=None, compare=False)  # the class, for user-registered layers
    bools: tuple = ()  # arguments that take true/false only (Keras' default is a bool)

    def keras_class(self):
        """The Keras layer class (imports Keras on first use)."""
        if self.factory is not None:
            return self.factory
        import importlib

        return getattr(importlib.import_module(self.module), self.cls)


class Registry:
    """Name -> :class:`Op`. Refuses duplicates; failed lookups suggest the nearest names."""

    def __init__(self):
        self._ops: dict[str, Op] = {}
        self._names: dict[str, str] = {}  # any accepted spelling -> canonical name

    def add(self, op: Op, *spellings: str, replace: bool = False) -> None:
        if op.name in self._ops and not replace:
            raise ValueError(f"an op named `{op.name}` is already registered")
        self._ops[op.name] = op
        for s in (op.name, op.cls, *spellings):
            self._names[s] = op.name
            self._names.setdefault(s.lower(), op.name)

    def get(self, name: str) -> Op | None:
        canonical = self._names.get(name) or self._names.get(str(name).lower())
        return self._ops.get(canonical) if canonical else None

    def names(self) -> list[str]:
        return sorted(self._ops)

    def spellings(self) -> list[str]:
        return sorted(self._names)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def _load_standard(registry: Registry) -> None:
    data = json.loads(_CATALOG.read_text())
    for cls_name, info in data["layers"].items():
        rule_name = RULE_OF.get(cls_name)
        registry.add(
            Op(
                name=snake_case(cls_name),
                cls=info["class"] if info["class"] == cls_name else cls_name,
                module="keras.layers",
                args=tuple(info["args"]),
                required=tuple(info["required"]),
                rule=STANDARD_RULES[rule_name] if rule_name else None,
                multi_input=cls_name in MULTI_INPUT,
                bools=tuple(info.get("bools", ())),
            ),
            replace=True,
        )


def _load_custom(registry: Registry) -> None:
    from archspec.ops.rules import custom as custom_rules
    for name, cls_name in custom_rules.LAYERS.items():
        registry.add(
            Op(
                name=name,
                cls=cls_name,
                module="archspec.layers",
                args=tuple(custom_rules.ARGS[name]),
                required=tuple(getattr(custom_rules, "REQUIRED", {}).get(name, ())),
                rule=custom_rules.RULES.get(name),
            )
        )


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry: Keras layers, archspec's layers, then user registrations."""
    reg = Registry()
    _load_standard(reg)
    _load_custom(reg)
    for alias, target in NAME_ALIASES.items():
        op = reg.get(target)
        if op is not None:
            reg._names[alias] = op.name
    return reg


def get_op(name: str) -> Op | None:
    return registry().get(name)


def register_layer(
    cls: type,
    *,
    name: str | None = None,
    rule: Callable | None = None,
    args: list[str] | None = None,
) -> Op:
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
        args = [p for p in params if p not in ("self", "args", "kwargs")]
        args += ["name", "dtype", "trainable", "autocast", "activity_regularizer"]
    op = Op(
        name=name or snake_case(cls.__name__),
        cls=cls.__name__,
        module="user",
        args=tuple(dict.fromkeys(args)),
        rule=rule,
        factory=cls,
    )
    registry().add(op)
    return op
