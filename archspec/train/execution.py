"""``steps_per_execution``: how many training steps one call into the compiled graph runs.

Keras' ``fit`` pays a fixed cost per call (Python, callbacks, a host sync): about a millisecond.
For a small model that is a large share of a step -- LeNet-5 at batch 128 computes for ~6 ms a
step on this 2-core CPU, and 16 steps per call measured 1.26-1.33x the images/s of one. For a
large model it is noise, and Keras' multi-step ``tf.while_loop`` measured *slower* (ResNet-20 at
batch 128: 0.6x), so ``auto`` only groups steps when a step is small:

- the model's multiply-accumulates per example are counted from its layers (every layer with a
  ``kernel``, ``depthwise_kernel`` or ``pointwise_kernel``: kernel size times output positions,
  nested models included; attention and recurrent layers are not counted);
- a step of fewer than ``SMALL_STEP_MACS`` (batch x MACs) runs ``ceil(SMALL_STEP_MACS / step)``
  steps per call, at most ``MAX_STEPS``;
- the count (``auto``'s or a given one) is then lowered to a divisor of the steps per epoch (and of the validation steps):
  Keras' multi-step loop runs whole groups, so a group that straddled the end of an epoch would
  train on extra batches and change the run.

Only the ``fit`` loop on one replica uses it: the custom distributed step runs one step per call,
and Keras' multi-step loop under MirroredStrategy failed here ("You must feed a value for
placeholder tensor 'while/cond/Placeholder_1'", Keras 3.15, TF 2.21).
"""

from __future__ import annotations

import math

KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")
SMALL_STEP_MACS = 1e9
MAX_STEPS = 16


def macs_per_example(model) -> float:
    """Forward multiply-accumulates per example of the layers with kernels (conv, depthwise and
    separable conv, dense): kernel size times output positions."""
    total = 0.0
    for layer in _leaf_layers(model):
        kernels = [k for k in (getattr(layer, name, None) for name in KERNELS) if hasattr(k, "shape")]
        if not kernels:
            continue
        try:
            out = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if isinstance(out, list) or not out or any(d is None for d in out[1:]):
            continue
        positions = math.prod(out[1:-1]) if len(out) > 2 else 1
        total += sum(math.prod(k.shape) for k in kernels) * positions
    return total


def _leaf_layers(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _leaf_layers(layer)
        else:
            yield layer


def largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def choose(setting, model, *, batch: int, steps: int, vsteps: int | None = None) -> int:
    """The steps per execution for ``setting`` (``auto`` or an integer) -- see the module doc."""
    if setting != "auto":
        want = int(setting)
    else:
        step_macs = macs_per_example(model) * batch
        if step_macs <= 0 or step_macs >= SMALL_STEP_MACS:
            return 1
        want = min(MAX_STEPS, math.ceil(SMALL_STEP_MACS / step_macs))
    return largest_divisor(math.gcd(steps, vsteps) if vsteps else steps, want)
