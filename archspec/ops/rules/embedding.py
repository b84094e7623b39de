"""Keras' ReversibleEmbedding: an embedding whose matrix also projects back onto the vocabulary
(tied input and output embeddings: Press & Wolf, "Using the Output Embedding to Improve Language
Models", EACL 2017). Pure Python.

``reversible_embedding: {input_dim, output_dim}`` looks ids up; the same layer applied again with
``reverse: true`` (``share:``, see docs/language.md "Weight sharing") maps ``(..., output_dim)`` to
``(..., input_dim)`` logits by the transposed matrix, counted once. ``reverse`` is an argument of
the layer's call, not of its constructor (``call_args``).
"""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import Result, Shape, ShapeError, arg, format_shape
from archspec.ops.opdef import keras_op
from archspec.ops.rules._common import _macs, _one, _positive_int


def reversible_embedding(args: dict, shapes: Sequence[Shape]) -> Result:
    """Lookup ``(...) -> (..., output_dim)``; with ``reverse``, ``(..., output_dim) -> (...,
    input_dim)`` (one multiply-accumulate per matrix entry and position). ``tie_weights: false``
    adds a separate output matrix (Keras' ``reverse_embeddings``)."""
    shape = _one(shapes, None, "ReversibleEmbedding")
    vocab = _positive_int(arg(args, "input_dim"), "input_dim")
    dim = _positive_int(arg(args, "output_dim"), "output_dim")
    params = vocab * dim * (1 if arg(args, "tie_weights", True) else 2)
    if not arg(args, "reverse", False):
        return Result(tuple(shape) + (dim,), params)
    if not shape or shape[-1] != dim:
        raise ShapeError(
            f"with `reverse: true` the input's last axis must be `output_dim` ({dim}): got "
            f"{format_shape(shape)}", arg="reverse",
            hint="the reversed embedding projects `output_dim` features back onto the vocabulary: "
                 "give it the output of a layer with that many units")
    return Result(tuple(shape[:-1]) + (vocab,), params, 0, _macs(*shape[:-1], dim, vocab))


OPS = [keras_op("ReversibleEmbedding", rule=reversible_embedding, call_args=("reverse",))]
