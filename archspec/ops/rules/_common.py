"""Helpers shared by the rule families (input checks, output lengths, messages)."""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import NoRule, Shape, ShapeError, arg, prod, short


def _one(shapes: Sequence[Shape], rank: int | None = None, name: str = "this layer") -> Shape:
    if len(shapes) != 1:
        raise ShapeError(f"{name} takes one input, got {len(shapes)}")
    shape = tuple(shapes[0])
    if rank is not None and len(shape) != rank:
        raise ShapeError(
            f"{name} expects an input of rank {rank + 1} (batch, {_dims(rank)}), "
            f"got rank {len(shape) + 1}: (batch, {', '.join(map(_dim, shape))})",
            hint="check the layer's dimensionality (1D/2D/3D) and the output of the layer before it",
        )
    return shape


def _dims(rank: int) -> str:
    return ", ".join(["spatial"] * (rank - 1) + ["channels"])


def _dim(v) -> str:
    return "None" if v is None else str(v)


def _channels_last(args: dict) -> None:
    fmt = args.get("data_format")
    if fmt not in (None, "channels_last"):
        raise NoRule(f"data_format={fmt!r}")


def _padding(args: dict, allowed=("valid", "same")) -> str:
    padding = arg(args, "padding", "valid")
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ShapeError(f"`padding` must be one of {', '.join(allowed)}, got {short(padding)}", arg="padding")
    return padding.lower()


def _conv_length(n, k, s, d, padding):
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // s)
    out = (n - d * (k - 1) - 1) // s + 1
    return out


def _check_positive(out_spatial, in_spatial, what: str, k_eff):
    for o, i, k in zip(out_spatial, in_spatial, k_eff):
        if o is not None and o <= 0:
            raise ShapeError(
                f"the {what} window ({k}) is larger than its input ({i}): the output size "
                f"would be {o}",
                hint="use padding: same, a smaller kernel/pool, or a larger input",
            )


def _check_strides_dilation(s, d) -> None:
    # Keras' check in base_conv.py and base_conv_transpose.py (depthwise/separable layers lack it)
    if max(s) > 1 and max(d) > 1:
        raise ShapeError("`strides` > 1 together with `dilation_rate` > 1 is not supported")


def _bias(args: dict) -> bool:
    return bool(arg(args, "use_bias", True))


def _macs(*factors):
    value = prod(factors)
    return value


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(["batch"] + [_dim(v) for v in shape]) + ")"
