"""Mixed precision (``--precision``) and XLA (``--jit-compile``) decisions, from the hardware.

- precision ``auto``: ``mixed_float16`` on GPUs of compute capability >= 7.0; ``mixed_bfloat16``
  on CPUs with native bfloat16 (AVX512_BF16 or AMX), measured 1.1-1.3x float32 for ResNet-20 on
  such a CPU; else ``float32``. The model's output layers always compute in float32.
- jit_compile ``auto``: XLA on GPUs and TPUs; off on CPUs, where it measured about 0.65x.

The decisions are pure functions of what the hardware reports (:func:`select_precision`,
:func:`select_jit`: CPU flags, GPU compute capabilities, TPU count), unit-tested with made-up
device lists; :func:`choose_precision` and :func:`choose_jit` feed them this machine's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from archspec._recursion import deep_recursion


#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set:
    """The flags of this machine's CPU (``/proc/cpuinfo``), empty where that cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_has_bf16(flags=None) -> bool:
    flags = cpu_flags() if flags is None else set(flags)
    return any(f in flags for f in BF16_FLAGS)


def select_precision(cpu: set, gpu_capabilities: list) -> str:
    """``auto``'s policy given the CPU's flags and the visible GPUs' compute capabilities
    (``[(8, 0), ...]``, empty without GPUs): float16 needs tensor cores (7.0) on every GPU."""
    if gpu_capabilities:
        return "mixed_float16" if min(tuple(c) for c in gpu_capabilities) >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_has_bf16(cpu) else "float32"


def select_jit(gpus: int, tpus: int = 0) -> bool:
    """``auto``'s XLA decision: on with an accelerator, off on a CPU alone."""
    return bool(gpus or tpus)


def gpu_capability() -> tuple | None:
    """The lowest compute capability among visible GPUs, or None without GPUs."""
    import tensorflow as tf

    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if "compute_capability" in details:
            caps.append(tuple(details["compute_capability"]))
    return min(caps) if caps else None


def choose_precision(name: str) -> str:
    if name != "auto":
        return name
    cap = gpu_capability()
    return select_precision(cpu_flags(), [cap] if cap is not None else [])


def choose_jit(name: str) -> bool:
    if name == "on":
        return True
    if name == "off":
        return False
    import tensorflow as tf

    return select_jit(len(tf.config.list_physical_devices("GPU")), len(tf.config.list_logical_devices("TPU")))


@contextlib.contextmanager
def global_policy(policy: str):
    """Keras' global dtype policy is ``policy`` inside the block, and what it was after it."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_model(model_fn, policy: str):
    """``model_fn()`` built under the dtype policy ``policy``, its outputs computing in float32
    (call it inside ``strategy.scope()``)."""
    with global_policy(policy):
        model = model_fn()
    if policy == "float32":
        return model
    with deep_recursion(model):  # clone_model walks the graph recursively
        return output_float32(model)


def output_float32(model):
    """A copy of ``model`` whose output layers compute in float32 (same names, same weights).

    With a mixed policy every layer computes in float16/bfloat16; the softmax (and the loss) must
    not. A functional model is cloned with the output layers' dtype set to float32.
    """
    import keras

    outputs = {t._keras_history.operation.name for t in model.outputs}
    if all(str(t.dtype) == "float32" for t in model.outputs):
        return model

    def clone(layer):
        config = layer.get_config()
        if layer.name in outputs:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
