"""Ask Keras for an op's output shape and parameter counts, when no pure-Python rule exists.

This imports Keras (and so TensorFlow): the summary marks such layers, so a user knows why
analysis took seconds rather than milliseconds. MACs are unknown (None) for them.
"""

from __future__ import annotations

from archspec.ops.base import Result, prod
from archspec.errors import Loc, SpecError
from archspec._env import quiet_tensorflow


def keras_result(op, args: dict, shapes: list, loc: Loc) -> Result:
    quiet_tensorflow()
    try:
        import keras

        layer = op.keras_class()(**args)
        # a symbolic call works for every layer, also those without compute_output_shape
        tensors = [keras.KerasTensor((None,) + tuple(s)) for s in shapes]
        result = layer(tensors if op.multi_input else tensors[0])
        out = tuple(result.shape) if not isinstance(result, (list, tuple)) else [tuple(r.shape) for r in result]
    except SpecError:
        raise
    except Exception as exc:  # Keras' own validation: report it, located
        raise SpecError(f"{op.cls}: {exc}", loc, received=args) from None
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
        raise SpecError(f"{op.cls} has several outputs, which specs do not support yet", loc)
    trainable = sum(prod(int(v) for v in w.shape) for w in layer.trainable_weights)
    non_trainable = sum(prod(int(v) for v in w.shape) for w in layer.non_trainable_weights)
    return Result(tuple(out[1:]), trainable, non_trainable, None, rf="same")
