"""The deep networks too slow for the 5-minute suite, checked end to end on this machine.

    .venv/bin/python scripts/check_deep.py            # ResNet-1202 and a 3,000-layer chain
    .venv/bin/python scripts/check_deep.py --chain    # the chain only (~30 s)

ResNet-1202 (the ResNet paper's CIFAR network, ``architectures/resnet_cifar.yaml --set n=200``:
19,421,274 trainable parameters, the paper's 19.4 M): the analyzer equals the built Keras model
layer by layer (shapes, trainable and non-trainable counts), one training step runs with finite
gradients, and the ``.keras`` file reloads with plain Keras to the same outputs. The chain: 3,000
layers build, run and round-trip. Prints the CPU and each step's time; exits 1 on a mismatch.
``tests/test_builder_depth.py`` keeps a 1,200-layer chain in the suite.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archspec  # noqa: E402
from tests.kerascheck import assert_analyzer_equals_keras  # noqa: E402

# a repeat runs at most 1,000 times: three of them
CHAIN = ("name: chain3000\ninput: {shape: [2]}\nbody:\n  - repeat:\n      times: 3\n      counter: j\n"
         "      body:\n        - repeat: {times: 1000, body: [{identity: {}}]}\n")


def cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        flags = next(l.split(":", 1)[1].split() for l in info.splitlines() if l.startswith("flags"))
        return f"{model}; " + " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags)
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def round_trip(model, x, tmp: Path) -> None:
    import keras

    path = tmp / f"{model.name}.keras"
    timed("save", lambda: model.save(path))
    with archspec.deep_recursion(path):  # what a Keras user loading a deep model does
        loaded = timed("load with plain Keras", lambda: keras.saving.load_model(path))
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def check_chain(tmp: Path) -> None:
    print("3,000-layer chain", flush=True)
    model = timed("build", lambda: archspec.build(archspec.loads(CHAIN)))
    assert len(model.layers) == 3_001
    x = np.random.default_rng(0).normal(size=(2, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    round_trip(model, x, tmp)


def check_resnet1202(tmp: Path) -> None:
    import keras
    import tensorflow as tf

    print("ResNet-1202 (resnet_cifar.yaml, n=200)", flush=True)
    spec = timed("analyze", lambda: archspec.load(ROOT / "architectures" / "resnet_cifar.yaml", n=200))
    trainable = sum(n.result.params for n in spec.graph.layers)
    assert trainable == 19_421_274, trainable
    model = timed("build", lambda: archspec.build(spec))
    timed("analyzer == Keras, layer by layer", lambda: assert_analyzer_equals_keras(spec, model))
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[[1, 7]]

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_weights)
        assert all(g is not None and bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads)
        keras.optimizers.SGD(0.01).apply_gradients(zip(grads, model.trainable_weights))

    timed("one training step (eager)", step)
    round_trip(model, x, tmp)
    print(f"  {len(model.layers):,} layers, {trainable:,} trainable parameters", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", action="store_true", help="only the 3,000-layer chain")
    args = parser.parse_args()
    print(f"CPU: {cpu()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        check_chain(Path(tmp))
        if not args.chain:
            check_resnet1202(Path(tmp))
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
