"""Helpers shared by the rule families (input checks, output lengths, messages)."""

from __future__ import annotations

from typing import Sequence

from archspec.ops.base import NoRule, Shape, ShapeError, arg, format_shape, prod, short


def _one(shapes: Sequence[Shape], rank: int | None = None, name: str = "this layer") -> Shape:
    if len(shapes) != 1:
        raise ShapeError(f"{name} takes one input, got {len(shapes)}")
    shape = tuple(shapes[0])
    if rank is not None and len(shape) != rank:
        raise ShapeError(
            f"{name} expects an input of rank {rank + 1} (batch, {_dims(rank)}), "
            f"got rank {len(shape) + 1}: {format_shape(shape)}",
            hint="check the layer's dimensionality (1D/2D/3D) and the output of the layer before it",
        )
    return shape


def _dims(rank: int) -> str:
    return ", ".join(["spatial"] * (rank - 1) + ["channels"])


def _channels_last(args: dict) -> None:
    fmt = args.get("data_format")
    if fmt not in (None, "channels_last"):
        raise NoRule(f"data_format={fmt!r}")


def _choice(args: dict, name: str, default: str, choices: tuple) -> str:
    """A case-insensitive string argument among ``choices``, lower-cased."""
    value = arg(args, name, default)
    if not isinstance(value, str) or value.lower() not in choices:
        raise ShapeError(f"`{name}` must be one of {', '.join(choices)}, got {short(value)}", arg=name)
    return value.lower()


def _padding(args: dict, allowed=("valid", "same")) -> str:
    return _choice(args, "padding", "valid", allowed)


def _positive_int(value, name: str) -> int:
    """``value`` if it is an integer >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ShapeError(f"`{name}` must be a positive integer, got {short(value)}", arg=name)
    return value


def _known_channels(shape: Shape, name: str) -> int:
    """The last (channel) dimension of ``shape``, which must be known."""
    if shape[-1] is None:
        raise ShapeError(f"the channel dimension of the input to {name} must be known")
    return shape[-1]


def _conv_length(n, k, s, d, padding):
    if n is None:
        return None
    if padding in ("same", "causal"):
        return -(-n // s)
    out = (n - d * (k - 1) - 1) // s + 1
    return out


def _check_positive(out_spatial, in_spatial, what: str, k_eff,
                    hint: str = "use padding: same, a smaller kernel/pool, or a larger input"):
    for o, i, k in zip(out_spatial, in_spatial, k_eff):
        if o is not None and o <= 0:
            raise ShapeError(
                f"the {what} window ({k}) is larger than its input ({i}): the output size "
                f"would be {o}",
                hint=hint,
            )


def _check_strides_dilation(s, d) -> None:
    # Keras' check in base_conv.py and base_conv_transpose.py (depthwise/separable layers lack it)
    if max(s) > 1 and max(d) > 1:
        raise ShapeError("`strides` > 1 together with `dilation_rate` > 1 is not supported")


def _bias(args: dict) -> bool:
    return bool(arg(args, "use_bias", True))


def _macs(*factors) -> int | None:
    """Multiply-accumulates: the product of ``factors``, None if one is unknown."""
    return prod(factors)

