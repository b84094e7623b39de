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


# ------------------------------------------------------------------ fused batch norm in training
#: ``ARCHSPEC_FUSED_BN=0`` turns the fusion off (to measure it, or to rule it out)
FUSED_BN_ENV = "ARCHSPEC_FUSED_BN"
#: the smallest epsilon TensorFlow's fused kernel takes; a layer's smaller epsilon down to
#: :data:`FUSABLE_EPSILON` (1e-5, PyTorch's default, which many specs use) trains with this one
FUSED_MIN_EPSILON = 1.001e-5
FUSABLE_EPSILON = 1e-5


def fusable(layer) -> bool:
    """Whether the Keras ``BatchNormalization`` ``layer`` can train with the fused kernel: exactly
    that class, on 4-D channels-last inputs, not synchronized across replicas, epsilon at least
    :data:`FUSABLE_EPSILON`."""
    import keras

    if type(layer) is not keras.layers.BatchNormalization or getattr(layer, "synchronized", False):
        return False
    axis = layer.axis if isinstance(layer.axis, int) else None
    try:
        rank = len(layer.input.shape)
    except (AttributeError, ValueError):
        return False
    return rank == 4 and axis in (-1, 3) and layer.epsilon >= FUSABLE_EPSILON


def fuse_batch_norms(model) -> int:
    """Train the model's fusable batch norms (:func:`fusable`) with one ``FusedBatchNormV3`` op
    each, on the same variables, and return how many.

    Keras 3's ``BatchNormalization`` computes the batch moments and the normalization as separate
    ops (several passes over the activations, each with its gradient); TensorFlow's fused kernel
    does it in one. The change is to the layer object's ``call`` alone: its class and config stay
    Keras', so a saved model is a plain ``BatchNormalization``, and inference (``training=False``),
    a frozen layer (``trainable=False``) and masked calls take Keras' own path. The moving averages
    follow Keras' rule (the batch variance without Bessel's correction, ``momentum``); outputs and
    gradients agree with Keras' within float rounding. An epsilon of 1e-5 trains as 1.001e-5 (the
    kernel's minimum; 1e-8 more in ``var + eps``). ``ARCHSPEC_FUSED_BN=0`` turns it off.
    """
    import os

    if os.environ.get(FUSED_BN_ENV, "1") == "0":
        return 0
    count = 0
    for layer in _leaf_layers(model):
        if fusable(layer) and "call" not in vars(layer):
            object.__setattr__(layer, "call", _fused_call(layer))
            count += 1
    return count


def unfuse_batch_norms(model) -> None:
    """Undo :func:`fuse_batch_norms` (the layers call Keras' own ``call`` again)."""
    for layer in _leaf_layers(model):
        if "call" in vars(layer):
            object.__delattr__(layer, "call")


def _fused_call(layer):
    import tensorflow as tf

    keras_call = type(layer).call.__get__(layer)

    def call(inputs, training=None, mask=None):
        if not training or not layer.trainable or mask is not None:
            return keras_call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        gamma = layer.gamma if layer.scale else tf.ones((channels,), "float32")
        beta = layer.beta if layer.center else tf.zeros((channels,), "float32")
        y, mean, var = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(gamma, "float32"), tf.cast(beta, "float32"),
            epsilon=max(layer.epsilon, FUSED_MIN_EPSILON),
            is_training=True)
        # the kernel's variance has Bessel's correction (n / (n - 1)); Keras' moving average does not
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), "float32")
        var = var * (n - 1.0) / n
        m = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * m + tf.cast(mean, layer.moving_mean.dtype) * (1.0 - m))
        layer.moving_variance.assign(layer.moving_variance * m
                                     + tf.cast(var, layer.moving_variance.dtype) * (1.0 - m))
        return y

    return call
