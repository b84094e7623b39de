"""Inference speed: latency at batch 1, throughput at a larger batch, and the machine it ran on.

The protocol of :func:`latency` (what ``archspec bench`` and the tuner's latency objective use):

- the input is one fixed batch of ``batch`` examples drawn uniformly from [0, 1) (seed 0) in the
  model's input shape, float32, made once, outside the timing;
- the model runs as ``model(x, training=False)`` inside one ``tf.function`` (traced once, in
  graph mode, no XLA): Keras' ``predict`` adds a per-call cost (a dataset, callbacks) of about a
  millisecond, which is not the model's;
- ``warmup`` calls first (tracing, oneDNN's kernel selection, caches), untimed;
- then ``runs`` calls, each timed alone and ended by copying the output to the host (so the time
  includes the whole computation, on a GPU too); the result is their median, with the 10th and
  90th percentiles as the spread.

:func:`throughput` is ``batch / median`` of the same protocol at a larger batch. The machine's
description (:func:`machine`) and the GPU peak table (:data:`GPU_PEAKS`) are here too, for the
benchmark scripts.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

#: dense float16/bfloat16 tensor-core peaks (TFLOP/s, without sparsity), from the vendors'
#: datasheets, by a substring of the device name as TensorFlow reports it; the first match wins
GPU_PEAKS = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("V100", 125.0),
    ("T4", 65.0),
)

#: the CPU flags that decide speed: vector width, bfloat16, AMX
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")

#: zoo names whose built model equals a keras.applications model (tests/zoo/test_keras_apps.py)
APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
                "resnet152": "ResNet152"}


def gpu_peak(name: str) -> float | None:
    """The dense fp16/bf16 tensor peak in FLOP/s of the GPU called ``name``, or None if unknown."""
    for key, tflops in GPU_PEAKS:
        if key.lower() in name.lower():
            return tflops * 1e12
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, the flags of :data:`CPU_FLAGS` it has, cores, TF and Keras versions."""
    import keras
    import tensorflow as tf

    from archspec.train.precision import cpu_flags

    flags = cpu_flags()
    have = ",".join(f for f in CPU_FLAGS if f in flags) or "none of " + ",".join(CPU_FLAGS)
    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    return (f"cpu: {cpu_model()}; flags: {have}; cores: {os.cpu_count()}; "
            f"gpus: {', '.join(gpus) or 'none'}; tensorflow {tf.__version__}, keras {keras.__version__}")


@dataclass
class Timing:
    """Seconds per call: the median and the 10th/90th percentiles of ``runs`` calls at ``batch``."""

    batch: int
    runs: int
    median: float
    p10: float
    p90: float

    @property
    def per_second(self) -> float:
        """Examples per second at the median."""
        return self.batch / self.median

    def __str__(self) -> str:
        return (f"batch {self.batch}: {self.median * 1e3:.2f} ms median ({self.p10 * 1e3:.2f}-"
                f"{self.p90 * 1e3:.2f} ms, p10-p90 of {self.runs}), {self.per_second:,.0f} examples/s")


def example_input(model, batch: int):
    """The protocol's input: ``batch`` examples uniform in [0, 1), seed 0, float32."""
    import numpy as np

    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"the model's input shape {shape} has free dimensions: give the input")
    return np.random.default_rng(0).random((batch, *shape), dtype=np.float32)


def latency(model, batch: int = 1, *, warmup: int = 10, runs: int = 50, x=None) -> Timing:
    """Seconds per call of ``model`` on a batch of ``batch`` (see the module doc for the protocol)."""
    import tensorflow as tf

    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be at least 1 and warmup at least 0, not {runs} and {warmup}")
    x = tf.constant(example_input(model, batch) if x is None else x)
    call = tf.function(lambda t: model(t, training=False), jit_compile=False)
    out = call(x)
    for _ in range(warmup):
        out = call(x)
    _sync(out)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        _sync(call(x))
        times.append(time.perf_counter() - t)
    times.sort()
    return Timing(int(x.shape[0]), runs, statistics.median(times), _quantile(times, 0.1), _quantile(times, 0.9))


def throughput(model, batch: int = 64, *, warmup: int = 3, runs: int = 10) -> Timing:
    """:func:`latency` at a larger batch; ``.per_second`` is the throughput."""
    return latency(model, batch, warmup=warmup, runs=runs)


def _sync(out) -> None:
    import tensorflow as tf

    for t in tf.nest.flatten(out):
        t.numpy()


def _quantile(sorted_times: list, q: float) -> float:
    return sorted_times[min(len(sorted_times) - 1, int(q * len(sorted_times)))]


def applications_model(name: str, input_shape):
    """The keras.applications model that the zoo's ``name`` equals (:data:`APPLICATIONS`), or None."""
    import keras

    factory = APPLICATIONS.get(name)
    if factory is None:
        return None
    return getattr(keras.applications, factory)(weights=None, input_shape=tuple(input_shape))


def transfer(reference, model) -> None:
    """Copy ``reference``'s weights into ``model`` layer by layer (same names)."""
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())


@dataclass
class Row:
    """One model of :func:`compare`: its name, latency at batch 1, throughput timing, and its
    largest output difference from archspec's model on the same input."""

    model: str
    latency: Timing
    throughput: Timing
    max_diff: float


def compare(model, *, name: str | None = None, batch: int = 64, runs: int = 50, warmup: int = 10,
            log=print) -> list[Row]:
    """archspec's built ``model`` vs keras.applications' (for the zoo names of
    :data:`APPLICATIONS`, with the same weights) vs its batch-norm-folded copy: latency at batch 1,
    throughput at ``batch``, and each one's largest output difference on one input."""
    import numpy as np

    from archspec.tools.fold import fold_batchnorm

    models = [("archspec", model)]
    reference = applications_model(name, model.inputs[0].shape[1:]) if name else None
    if reference is not None:
        transfer(reference, model)
        models.append((f"keras.applications.{APPLICATIONS[name]}", reference))
    folded, report = fold_batchnorm(model)
    log(f"folding: {report}")
    models.append(("archspec, batch norm folded", folded))
    x = example_input(model, 2)
    ours = np.asarray(model(x, training=False))
    rows = []
    for label, m in models:
        diff = float(np.abs(np.asarray(m(x, training=False)) - ours).max())
        rows.append(Row(label, latency(m, 1, warmup=warmup, runs=runs),
                        throughput(m, batch, warmup=max(1, warmup // 3), runs=max(3, runs // 5)), diff))
        log(f"{label}: latency {rows[-1].latency}; throughput {rows[-1].throughput}; "
            f"max output difference {diff:.2g}")
    return rows
