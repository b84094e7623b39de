"""Benchmark: archspec's training path vs a hand-written Keras model trained with plain ``fit``.

In one process, alternating after a warm-up epoch, on CIFAR-shaped synthetic data (ResNet-20) and
32x32x1 synthetic images (LeNet-5, 4x as many per epoch): images/s of steady epochs for each, their ratio, and the
achieved MAC rate against a measured large-matmul peak. Not a test; run by hand:

    python scripts/bench_train.py [--precision auto] [--epochs 3] [--rounds 2] [--nets resnet20,lenet5]

The last line is ``ratio=<x.xx>`` (geometric mean over the networks).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def matmul_peak(dtype: str = "float32", n: int = 2048, reps: int = 20) -> float:
    """Large-matmul FLOP/s (2 n^3 per product)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    tf.matmul(a, b).numpy()
    t = time.perf_counter()
    for _ in range(reps):
        c = tf.matmul(a, b)
    c.numpy()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def resnet20(classes: int = 10):
    """He et al. 2016, CIFAR ResNet-20 (3 stages x 3 basic blocks, 16/32/64 filters, projection shortcuts)."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage and not block else 1
            y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            if strides != 1 or x.shape[-1] != filters:
                x = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x))
            x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x), name="resnet20")


def lenet5_keras():
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(6, 5, activation="tanh")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(120, 5, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="lenet5")


class EpochTimer:
    def __init__(self):
        import keras

        class _T(keras.callbacks.Callback):
            def on_epoch_begin(s, epoch, logs=None):
                s.t = time.perf_counter()

            def on_epoch_end(s, epoch, logs=None):
                self.seconds.append(time.perf_counter() - s.t)

        self.seconds: list[float] = []
        self.callback = _T()


def run_archspec(name, model_fn, data, args, out: Path) -> float:
    from archspec.train import TrainConfig, train

    cfg = TrainConfig.from_sources({"data": data, "epochs": args.epochs, "batch_size": args.batch_size,
                                    "precision": args.precision, "jit_compile": args.jit_compile,
                                    "validation_split": 0, "test_split": 0, "seed": 0,
                                    "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}})
    timer = EpochTimer()  # last callback: its epoch includes archspec's checkpoint, history and TensorBoard work
    train(model_fn, cfg, output=out, verbose=0, log=lambda m: None, model_name=name, callbacks=[timer.callback])
    return _ips(timer.seconds[1:], args)


def _ips(seconds, args) -> float:
    n = args.images
    steps = math.ceil(n / args.batch_size)
    return steps * args.batch_size / (sum(seconds) / len(seconds))


def run_baseline(model_fn, data, args) -> float:
    """Hand-written Keras, default float32 policy, plain fit, on the same tf.data pipeline input."""
    import keras

    from archspec.errors import Loc
    from archspec.train import TrainConfig
    from archspec.train import data as D

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = model_fn()
    cfg = TrainConfig.from_sources({"data": data, "validation_split": 0, "test_split": 0})
    d = D.load_data(data, cfg, Loc())
    shape = tuple(model.inputs[0].shape[1:])
    ds, steps = D.pipeline(d.train, batch=args.batch_size, training=True, cfg=cfg,
                           fit=D.fit_fn(D.check_fit(d, shape, None, cfg, "baseline"), shape))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(ds, epochs=args.epochs, steps_per_epoch=steps, verbose=0, callbacks=[timer.callback], shuffle=False)
    return _ips(timer.seconds[1:], args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--precision", default="auto")
    p.add_argument("--jit-compile", default="auto")
    p.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, default=2560, help="synthetic training images per epoch")
    p.add_argument("--nets", default="resnet20,lenet5")
    args = p.parse_args(argv)

    import archspec

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    rng = np.random.default_rng(0)
    npz = tmp / "cifar_like.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, args.images))
    npz1 = tmp / "lenet_like.npz"  # LeNet epochs are short: more images so per-epoch costs amortize
    np.savez(npz1, x_train=rng.integers(0, 256, (4 * args.images, 32, 32, 1), dtype=np.uint8),
             y_train=rng.integers(0, 10, 4 * args.images))
    peak32 = matmul_peak("float32")
    peak16 = matmul_peak("bfloat16")
    print(f"matmul peak: float32 {peak32 / 1e9:.0f} GFLOP/s, bfloat16 {peak16 / 1e9:.0f} GFLOP/s")

    nets = {
        # archspec's ResNet-20 spec with projection shortcuts (option B), like the baseline below
        "resnet20": (lambda: archspec.build(ROOT / "architectures" / "resnet20.yaml", shortcut="projection"),
                     resnet20, f"npz:{npz}", None),
        "lenet5": (lambda: archspec.build(ROOT / "architectures" / "lenet5.yaml"), lenet5_keras, f"npz:{npz1}",
                   ROOT / "architectures" / "lenet5.yaml"),
    }
    ratios = []
    for name in args.nets.split(","):
        ours_fn, base_fn, data, spec = nets[name]
        if name == "lenet5":
            args_images = args.images
            args.images = 4 * args.images
        ours, base = [], []
        for r in range(args.rounds):
            ours.append(run_archspec(name, ours_fn, data, args, tmp / f"{name}_{r}"))
            base.append(run_baseline(base_fn, data, args))
        if name == "lenet5":
            args.images = args_images
        ips_ours, ips_base = max(ours), max(base)
        import keras

        from archspec.train.execution import macs_per_example

        macs = archspec.summary(spec).macs if spec else macs_per_example(base_fn())
        train_flops = 2 * 3 * macs * ips_ours
        ratio = ips_ours / ips_base
        ratios.append(ratio)
        print(f"{name}: archspec {ips_ours:,.0f} img/s, keras fit {ips_base:,.0f} img/s, ratio {ratio:.2f}; "
              f"{macs / 1e6:.2f} M MACs/image, training {train_flops / 1e9:.0f} GFLOP/s = "
              f"{100 * train_flops / peak32:.0f}% of float32 peak, {100 * train_flops / peak16:.0f}% of bf16 peak")
        del keras
    print(f"ratio={math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
