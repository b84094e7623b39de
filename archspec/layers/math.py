"""Element-wise and reduction ops under keras.ops' names (abs, square, sqrt, ..., mean/sum/max
over axes, L2 normalisation, cosine similarity): archspec's Keras layers for them (registered for
saving on import).

One layer per op, each calling ``keras.ops.<name>`` (``CosineSimilarity``, which keras.ops lacks,
is ``sum(normalize(a) * normalize(b))`` along its axis). None has weights. So that ``|a - b|``
is written ``subtract`` then ``abs``, not ``maximum - minimum``, and nothing in a spec is code.

Values outside an op's domain give what keras.ops gives, unchanged: ``log`` of 0 is ``-inf`` and of
a negative number NaN, ``sqrt`` of a negative number NaN, ``reciprocal`` of 0 ``inf``, ``power``
of a negative number to a fractional exponent NaN. Nothing is clipped or offset behind your back:
put a ``clip`` (or a ``relu``) before the op when the input may leave the domain.

Axes are those of the whole tensor, as in keras.ops: 0 is the batch axis (refused: a layer works
on each sample separately), 1 the first axis of a sample, -1 the last. The TF-free analyzer rules
of these layers are in :mod:`archspec.ops.rules.math`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from archspec.layers._args import number

__all__ = [
    "Abs", "Square", "Sqrt", "Exp", "Log", "Negative", "Sign", "Reciprocal", "Clip", "Power",
    "Mean", "Sum", "Max", "Min", "Std", "Var", "Normalize", "CosineSimilarity",
]


# --------------------------------------------------------------------------- helpers
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _not_nan(value, name: str) -> float | int:
    """A real number, not NaN (infinities are allowed: ``clip`` with one open side)."""
    number(value, name)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"The `{name}` argument must not be NaN. Received: {name}={value!r}")
    return value


def _axis(value, *, several: bool) -> int | list:
    """An ``axis`` argument: an int other than 0 (the batch axis), or, if ``several``, a non-empty
    list of such ints without repeats. Kept as given (an int, or a list) for ``get_config``."""
    if _is_int(value):
        items = [value]
    elif several and isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
        items = list(value)
    else:
        what = "an integer or a non-empty list of integers" if several else "an integer"
        raise ValueError(f"The `axis` argument must be {what}. Received: axis={value!r}")
    if 0 in items:
        raise ValueError("The `axis` argument must not name the batch axis (0): axes count from "
                         f"the batch axis, 1 is the first axis of a sample. Received: axis={value!r}")
    return items[0] if _is_int(value) else items


def _keepdims(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"The `keepdims` argument must be True or False. Received: keepdims={value!r}")
    return value


def _canonical(axis, rank: int, layer) -> tuple[int, ...]:
    """The axes of ``axis`` as non-negative indices into a tensor of rank ``rank`` (batch
    included); refuses the batch axis, an axis out of range and an axis named twice."""
    items = [axis] if _is_int(axis) else list(axis)
    out = []
    for a in items:
        if not -rank <= a < rank:
            raise ValueError(f"{type(layer).__name__}: axis {a} is out of range for an input of rank "
                             f"{rank}. Received: axis={axis!r}")
        if a % rank == 0:
            raise ValueError(f"{type(layer).__name__}: axis {a} is the batch axis of an input of rank "
                             f"{rank}. Received: axis={axis!r}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{type(layer).__name__}: an axis is named twice. Received: axis={axis!r}")
    return tuple(out)


def _reduced_shape(shape, axes, keepdims: bool) -> tuple:
    """``shape`` with ``axes`` removed (or kept with size 1)."""
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# --------------------------------------------------------------------------- element-wise
class _Elementwise(keras.layers.Layer):
    """A parameter-free element-wise op: same output shape as the input, masks pass through."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="archspec")
class Abs(_Elementwise):
    """``keras.ops.abs``: ``|x|``, element-wise.

    Example:
        >>> keras.ops.convert_to_numpy(Abs()(keras.ops.convert_to_tensor([[-1.5, 2.0]]))).tolist()
        [[1.5, 2.0]]
    """

    def call(self, inputs):
        return ops.abs(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Square(_Elementwise):
    """``keras.ops.square``: ``x ** 2``, element-wise."""

    def call(self, inputs):
        return ops.square(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Sqrt(_Elementwise):
    """``keras.ops.sqrt``: the square root, element-wise; NaN for a negative value (and an
    infinite gradient at 0)."""

    def call(self, inputs):
        return ops.sqrt(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Exp(_Elementwise):
    """``keras.ops.exp``: ``e ** x``, element-wise (``inf`` past about 88.7 in float32)."""

    def call(self, inputs):
        return ops.exp(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Log(_Elementwise):
    """``keras.ops.log``: the natural logarithm, element-wise; ``-inf`` at 0, NaN below."""

    def call(self, inputs):
        return ops.log(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Negative(_Elementwise):
    """``keras.ops.negative``: ``-x``, element-wise."""

    def call(self, inputs):
        return ops.negative(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Sign(_Elementwise):
    """``keras.ops.sign``: -1, 0 or 1, element-wise (its gradient is 0 everywhere)."""

    def call(self, inputs):
        return ops.sign(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Reciprocal(_Elementwise):
    """``keras.ops.reciprocal``: ``1 / x``, element-wise; ``inf`` at 0."""

    def call(self, inputs):
        return ops.reciprocal(inputs)


@keras.saving.register_keras_serializable(package="archspec")
class Clip(_Elementwise):
    """``keras.ops.clip``: each value limited to ``[x_min, x_max]``.

    Args:
        x_min: the lower bound (``-.inf`` in YAML: none).
        x_max: the upper bound (``.inf``: none), at least ``x_min``.

    Example:
        >>> x = keras.ops.convert_to_tensor([[-1.0, 3.0, 9.0]])
        >>> keras.ops.convert_to_numpy(Clip(0.0, 6.0)(x)).tolist()
        [[0.0, 3.0, 6.0]]
    """

    def __init__(self, x_min, x_max, **kwargs):
        super().__init__(**kwargs)
        self.x_min = _not_nan(x_min, "x_min")
        self.x_max = _not_nan(x_max, "x_max")
        if self.x_min > self.x_max:
            raise ValueError(f"The `x_min` argument must be at most `x_max`. Received: x_min={x_min!r}, "
                             f"x_max={x_max!r}")

    def call(self, inputs):
        return ops.clip(inputs, self.x_min, self.x_max)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"x_min": self.x_min, "x_max": self.x_max})
        return config


@keras.saving.register_keras_serializable(package="archspec")
class Power(_Elementwise):
    """``keras.ops.power``: ``x ** exponent``, element-wise (NaN for a negative value and a
    fractional exponent, ``inf`` for 0 and a negative one).

    Args:
        exponent: a number.
    """

    def __init__(self, exponent, **kwargs):
        super().__init__(**kwargs)
        self.exponent = _not_nan(exponent, "exponent")

    def call(self, inputs):
        return ops.power(inputs, self.exponent)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"exponent": self.exponent})
        return config


# --------------------------------------------------------------------------- reductions
class _Reduction(keras.layers.Layer):
    """A reduction over ``axis`` (one axis or several, never the batch axis).

    Args:
        axis: the axis or list of axes reduced (0 is the batch axis, refused; -1 the last).
        keepdims: keep the reduced axes, with size 1.

    Example:
        >>> Mean(axis=[1, 2])(keras.ops.ones((2, 7, 7, 64))).shape  # global average pooling
        (2, 64)
    """

    def __init__(self, axis, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis(axis, several=True)
        self.keepdims = _keepdims(keepdims)

    def build(self, input_shape):
        _canonical(self.axis, len(input_shape), self)

    def _keras_axis(self):
        return self.axis if _is_int(self.axis) else tuple(self.axis)

    def compute_output_shape(self, input_shape):
        return _reduced_shape(input_shape, _canonical(self.axis, len(input_shape), self), self.keepdims)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"axis": self.axis, "keepdims": self.keepdims})
        return config


@keras.saving.register_keras_serializable(package="archspec")
class Mean(_Reduction):
    """``keras.ops.mean``: the mean over ``axis``."""

    def call(self, inputs):
        return ops.mean(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


@keras.saving.register_keras_serializable(package="archspec")
class Sum(_Reduction):
    """``keras.ops.sum``: the sum over ``axis``."""

    def call(self, inputs):
        return ops.sum(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


@keras.saving.register_keras_serializable(package="archspec")
class Max(_Reduction):
    """``keras.ops.max``: the largest value over ``axis``."""

    def call(self, inputs):
        return ops.max(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


@keras.saving.register_keras_serializable(package="archspec")
class Min(_Reduction):
    """``keras.ops.min``: the smallest value over ``axis``."""

    def call(self, inputs):
        return ops.min(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


@keras.saving.register_keras_serializable(package="archspec")
class Std(_Reduction):
    """``keras.ops.std``: the population standard deviation (divided by n, not n - 1) over
    ``axis``."""

    def call(self, inputs):
        return ops.std(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


@keras.saving.register_keras_serializable(package="archspec")
class Var(_Reduction):
    """``keras.ops.var``: the population variance (divided by n, not n - 1) over ``axis``."""

    def call(self, inputs):
        return ops.var(inputs, axis=self._keras_axis(), keepdims=self.keepdims)


# --------------------------------------------------------------------------- normalization
def _order(value) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"The `order` argument must be an integer >= 1. Received: order={value!r}")
    return value


def _epsilon(value) -> float | None:
    if value is None:
        return None
    return number(value, "epsilon", minimum=0.0, strict=True)


@keras.saving.register_keras_serializable(package="archspec")
class Normalize(keras.layers.Layer):
    """``keras.ops.normalize``: ``x / max(norm(x), epsilon)`` along one axis (L2 by default;
    ``keras.layers.UnitNormalization`` is the same for order 2 with epsilon 1e-12).

    Args:
        axis: the axis along which the norm is taken (not the batch axis, 0).
        order: the norm's order p (an integer >= 1): ``norm(x) = sum(|x| ** p) ** (1 / p)``.
        epsilon: the norm's lower bound (> 0; None: Keras' epsilon, 1e-7): a zero vector stays 0.

    Example:
        >>> x = keras.ops.convert_to_tensor([[3.0, 4.0]])
        >>> keras.ops.convert_to_numpy(Normalize()(x)).round(6).tolist()
        [[0.6, 0.8]]
    """

    def __init__(self, axis: int = -1, order: int = 2, epsilon: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis(axis, several=False)
        self.order = _order(order)
        self.epsilon = _epsilon(epsilon)
        self.supports_masking = True

    def build(self, input_shape):
        _canonical(self.axis, len(input_shape), self)

    def call(self, inputs):
        return ops.normalize(inputs, axis=self.axis, order=self.order, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        _canonical(self.axis, len(input_shape), self)
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"axis": self.axis, "order": self.order, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="archspec")
class CosineSimilarity(keras.layers.Layer):
    """The cosine similarity of two inputs of the same shape along ``axis``:
    ``sum(normalize(a) * normalize(b))`` (each L2-normalized by ``keras.ops.normalize``, so a zero
    vector has similarity 0), between -1 and 1. Called on a list of two tensors.

    Args:
        axis: the axis of the vectors compared (not the batch axis, 0).
        keepdims: keep that axis, with size 1.

    Example:
        >>> a, b = keras.ops.ones((2, 5, 8)), keras.ops.ones((2, 5, 8))
        >>> CosineSimilarity()([a, b]).shape  # one similarity per position: all 1.0
        (2, 5)
    """

    def __init__(self, axis: int = -1, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis(axis, several=False)
        self.keepdims = _keepdims(keepdims)

    def _check(self, input_shape) -> tuple:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError("CosineSimilarity takes a list of two inputs. "
                             f"Received: input_shape={input_shape}")
        a, b = (tuple(s) for s in input_shape)
        if len(a) != len(b) or any(i is not None and j is not None and i != j for i, j in zip(a, b)):
            raise ValueError(f"CosineSimilarity takes two inputs of the same shape. Received: {a} and {b}")
        axes = _canonical(self.axis, len(a), self)
        return tuple(i if i is not None else j for i, j in zip(a, b)), axes

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        a, b = inputs
        a = ops.normalize(a, axis=self.axis)
        b = ops.normalize(b, axis=self.axis)
        return ops.sum(a * b, axis=self.axis, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        shape, axes = self._check(input_shape)
        return _reduced_shape(shape, axes, self.keepdims)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"axis": self.axis, "keepdims": self.keepdims})
        return config
