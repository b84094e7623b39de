"""Argument checks shared by archspec's layers, Keras-style: each takes the argument's name.

Messages say what is wrong, then what was received ("... Received: size=4"), as Keras' own
``utils/argument_validation.py`` does.
"""

from __future__ import annotations

from typing import Any, Sequence


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, or ValueError naming ``name``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"The `{name}` argument must be a positive integer. Received: {name}={value!r}")
    return int(value)


def int_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of ``n`` positive ints, as a tuple of ``n`` ints (like Keras)."""
    if _is_int(value):
        items = (value,) * n
    elif isinstance(value, (list, tuple)) and len(value) == n and all(_is_int(v) for v in value):
        items = tuple(value)
    else:
        raise ValueError(
            f"The `{name}` argument must be an integer or a tuple of {n} integers. "
            f"Received: {name}={value!r}"
        )
    if any(v < 1 for v in items):
        raise ValueError(f"The `{name}` argument must be positive. Received: {name}={value!r}")
    return tuple(int(v) for v in items)


def number(value: Any, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """A real number (not a bool) as float, optionally > or >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"The `{name}` argument must be a number. Received: {name}={value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        op = ">" if strict else ">="
        raise ValueError(f"The `{name}` argument must be {op} {minimum}. Received: {name}={value!r}")
    return float(value)


def one_of(value: Any, choices: Sequence[str], name: str) -> str:
    """A case-insensitive choice among ``choices``, lower-cased."""
    if not isinstance(value, str) or value.lower() not in choices:
        options = ", ".join(f'"{c}"' for c in choices)
        raise ValueError(f"The `{name}` argument must be one of {options}. Received: {name}={value!r}")
    return value.lower()


def conv_length(n: int | None, k: int, s: int, padding: str, d: int = 1) -> int | None:
    """Output length of a sliding window (Keras' formula); None stays None."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - d * (k - 1) - 1) // s + 1


def spatial_input(input_shape: Sequence, layer: Any) -> tuple:
    """Check a channels_last 4D input shape (batch, rows, cols, channels) with known channels."""
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"{type(layer).__name__} expects a 4D input (batch, rows, cols, channels). "
            f"Received: input_shape={shape}"
        )
    if shape[-1] is None:
        raise ValueError(
            f"The channel dimension of the input to {type(layer).__name__} must be known. "
            f"Received: input_shape={shape}"
        )
    return shape
