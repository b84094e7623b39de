"""Sequence layers: recurrent (LSTM, GRU, SimpleRNN), their wrappers (Bidirectional, TimeDistributed) and attention (MultiHeadAttention): archspec's Keras layers for them (registered for saving on import).

LSTM, GRU and SimpleRNN are Keras' own. The wrappers take their inner layer as a nested op, as a
spec writes it (``{lstm: {units: 64}}``, checked by
:func:`archspec.ops.rules.recurrent.nested_op`): ``Bidirectional(layer={...})`` and
``TimeDistributed(layer={...})`` make the inner Keras layer and return Keras' own wrapper around
it, so a saved model holds plain ``keras.layers`` wrappers and reloads without archspec when the
inner layers are Keras' too. MultiHeadAttention is Keras' own, called on the list a spec's
``from: [query, value]`` (or ``[query, value, key]``) gives (:func:`multi_head_attention`). The
TF-free analyzer rules of all of them are in :mod:`archspec.ops.rules.recurrent`.
"""

from __future__ import annotations

import keras

from archspec.ops.base import ShapeError
from archspec.ops.rules.recurrent import nested_op

__all__ = ["Bidirectional", "TimeDistributed"]


def inner_layer(value, outer: str | None, what: str = "layer") -> keras.layers.Layer:
    """The Keras layer of the nested op ``value`` (``{op: {arguments}}`` or an op name), named
    ``<outer>_<op>`` unless its arguments name it."""
    try:
        op, args = nested_op(value, what)
    except ShapeError as exc:
        raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
    if outer and "name" not in args:
        args = {**args, "name": f"{outer}_{op.name}"}
    return op.keras_class()(**args)


@keras.saving.register_keras_serializable(package="archspec")
class Bidirectional(keras.layers.Bidirectional):
    """Makes a ``keras.layers.Bidirectional`` of the recurrent layer ``layer``, a nested op
    (the instance is Keras' class, not this one: it saves and reloads as Keras' own).

    Args:
        layer: the forward recurrent layer, e.g. ``{"lstm": {"units": 64}}``.
        merge_mode: how the forward and backward outputs combine: concat, sum, mul or ave.
        backward_layer: the backward layer (``go_backwards: true``); default: a copy of ``layer``.

    Example:
        >>> bi = Bidirectional({"lstm": {"units": 4, "return_sequences": True}})
        >>> type(bi) is keras.layers.Bidirectional, tuple(bi(keras.ops.ones((2, 5, 3))).shape)
        (True, (2, 5, 8))
    """

    def __new__(cls, layer, merge_mode="concat", backward_layer=None, **kwargs):
        name = kwargs.get("name")
        backward = None if backward_layer is None else inner_layer(
            backward_layer, name and f"{name}_backward", "backward_layer")
        return keras.layers.Bidirectional(inner_layer(layer, name), merge_mode=merge_mode,
                                          backward_layer=backward, **kwargs)

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):  # pragma: no cover
        # never called: __new__ returns Keras' own class (the signature is the op's arguments)
        raise AssertionError("archspec.layers.Bidirectional makes keras.layers.Bidirectional")


@keras.saving.register_keras_serializable(package="archspec")
class TimeDistributed(keras.layers.TimeDistributed):
    """Makes a ``keras.layers.TimeDistributed`` of ``layer``, a nested op applied to every time
    step (axis 1) with the same weights (the instance is Keras' class, not this one).

    Args:
        layer: the per-step layer, e.g. ``{"conv2d": {"filters": 8, "kernel_size": 3}}``.

    Example:
        >>> td = TimeDistributed({"dense": {"units": 4}})
        >>> type(td) is keras.layers.TimeDistributed, tuple(td(keras.ops.ones((2, 5, 3))).shape)
        (True, (2, 5, 4))
    """

    def __new__(cls, layer, **kwargs):
        return keras.layers.TimeDistributed(inner_layer(layer, kwargs.get("name")), **kwargs)

    def __init__(self, layer, **kwargs):  # pragma: no cover
        # never called: __new__ returns Keras' own class (the signature is the op's arguments)
        raise AssertionError("archspec.layers.TimeDistributed makes keras.layers.TimeDistributed")


class _ListCall:
    """A Keras layer called on ``[query, value]`` or ``[query, value, key]`` as
    ``layer(query, value, key)``; anything else is the layer's."""

    def __init__(self, layer: keras.layers.Layer):
        self.layer = layer

    def __call__(self, inputs, **kwargs):
        if not isinstance(inputs, (list, tuple)):
            return self.layer(inputs, inputs, **kwargs)  # self-attention
        return self.layer(*inputs, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.layer, name)


def multi_head_attention(**kwargs) -> _ListCall:
    """A plain ``keras.layers.MultiHeadAttention(**kwargs)``, called on the list of the step's
    inputs (``[query, value]`` or ``[query, value, key]``): the builder's way of calling a
    several-input op.

    Example:
        >>> mha = multi_head_attention(num_heads=2, key_dim=4)
        >>> tuple(mha([keras.ops.ones((1, 5, 8)), keras.ops.ones((1, 7, 6))]).shape)
        (1, 5, 8)
    """
    return _ListCall(keras.layers.MultiHeadAttention(**kwargs))
