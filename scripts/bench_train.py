"""Benchmark: archspec's training path vs a hand-written Keras model trained with plain ``fit``.

In one process, alternating after a warm-up epoch, on CIFAR-shaped synthetic data (ResNet-20,
batch 128), 64x64x3 images (ResNet-50 vs keras.applications.ResNet50, batch 32) and 32x32x1 images
(LeNet-5, 4x as many per epoch): images/s of steady epochs for each (median over the rounds, with
the range), their ratio, and the achieved FLOP rate (2 FLOPs per MAC, training = 3x forward, MACs
from archspec's analyzer) against a large-matmul peak measured in the same run -- or, on a GPU,
against the GPU's fp16/bf16 tensor peak (archspec.tools.bench.GPU_PEAKS). It prints the machine
(CPU model, flags, cores, GPUs, versions) first. Not a test; run by hand:

    python scripts/bench_train.py [--precision auto] [--epochs 3] [--rounds 3] [--nets resnet20,resnet50_64,lenet5]
                                  [--fused-bn] [--conv-only] [--channels-first] [--intra N --inter N]

``--fused-bn`` also times the hand-written model with archspec's fused batch norm in training
(:func:`archspec.train.execution.fuse_batch_norms`: one ``FusedBatchNormV3`` op on the same
variables instead of Keras 3's moments + normalize); ``ARCHSPEC_FUSED_BN=0`` turns it off on
archspec's side (the lever of docs/training.md "Speed"). ``--channels-first`` also times the
hand-written ResNet-20 in NCHW; ``--conv-only`` the hand-written ResNet-20 without its batch norms
and ReLUs (the same convolutions: the fraction of the peak they allow is the ceiling of the
whole network's). ``--intra``/``--inter`` set TensorFlow's thread pools before it starts.
The last line is ``ratio=<x.xx>`` (geometric mean over the networks).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def matmul_peak(dtype: str = "float32", n: int = 2048, reps: int = 10, tries: int = 5) -> float:
    """Large-matmul FLOP/s (2 n^3 per product): the best of ``tries`` timings of ``reps``
    products (a single timing on a shared machine measured from 204 to 452 GFLOP/s)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    tf.matmul(a, b).numpy()
    best = 0.0
    for _ in range(tries):
        t = time.perf_counter()
        for _ in range(reps):
            c = tf.matmul(a, b)
        c.numpy()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))
    return best


def resnet50_64():
    import keras

    return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))


def resnet20(classes: int = 10, channels_first: bool = False, conv_only: bool = False):
    """He et al. 2016, CIFAR ResNet-20 (3 stages x 3 basic blocks, 16/32/64 filters, projection shortcuts);
    ``channels_first``: every layer in NCHW after a transpose of the NHWC input (the layout lever);
    ``conv_only``: without its batch norms and ReLUs (the same convolutions, adds and head: the
    ceiling of what the convolutions allow)."""
    import functools

    import keras

    layers = keras.layers
    if channels_first:
        fmt = dict(data_format="channels_first")
        layers = type("L", (), {n: functools.partial(getattr(keras.layers, n), **fmt)
                                for n in ("Conv2D", "GlobalAveragePooling2D")})
        layers.BatchNormalization = functools.partial(keras.layers.BatchNormalization, axis=1)
        layers.Activation, layers.Add, layers.Dense = keras.layers.Activation, keras.layers.Add, keras.layers.Dense
    if conv_only:
        layers = type("L", (), {n: getattr(keras.layers, n) for n in ("Conv2D", "GlobalAveragePooling2D", "Add",
                                                                       "Dense")})
        layers.BatchNormalization = lambda **kw: (lambda t: t)
        layers.Activation = lambda *a, **kw: (lambda t: t)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Permute((3, 1, 2))(inputs) if channels_first else inputs
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage and not block else 1
            y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
            y = layers.Activation("relu")(layers.BatchNormalization()(y))
            y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
            if strides != 1 or x.shape[1 if channels_first else -1] != filters:
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
    try:
        train(model_fn, cfg, output=out, verbose=0, log=lambda m: None, model_name=name, callbacks=[timer.callback])
    finally:
        shutil.rmtree(out, ignore_errors=True)  # a ResNet-50 run directory holds about 1 GB
    return _ips(timer.seconds[1:], args)


def _ips(seconds, args) -> float:
    n = args.images
    steps = math.ceil(n / args.batch_size)
    return steps * args.batch_size / (sum(seconds) / len(seconds))


def run_baseline(model_fn, data, args, fused: bool = False) -> float:
    """Hand-written Keras, default float32 policy, plain fit, on the same tf.data pipeline input."""
    import keras

    from archspec.errors import Loc
    from archspec.train import TrainConfig
    from archspec.train import data as D

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = model_fn()
    cfg = TrainConfig.from_sources({"data": data, "validation_split": 0, "test_split": 0})
    from archspec.train.checks import check_fit

    shape = tuple(model.inputs[0].shape[1:])
    d = D.load_data(data, cfg, Loc(), model_input=shape)
    ds, steps = D.pipeline(d.train, batch=args.batch_size, training=True, cfg=cfg,
                           fit=D.fit_fn(check_fit(d, shape, None, cfg, "baseline"), shape))
    if fused:  # archspec's training-time lever alone, on the hand-written model
        from archspec.train.execution import fuse_batch_norms

        fuse_batch_norms(model)
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
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", type=int, default=2560, help="synthetic training images per epoch (ResNet-20)")
    p.add_argument("--nets", default="resnet20,resnet50_64,lenet5")
    p.add_argument("--fused-bn", action="store_true", help="also time the hand-written model with a fused batch norm")
    p.add_argument("--channels-first", action="store_true",
                   help="also time the hand-written ResNet-20 built channels-first (NCHW)")
    p.add_argument("--conv-only", action="store_true",
                   help="also time the hand-written ResNet-20 without batch norms and ReLUs (the convolutions' ceiling)")
    p.add_argument("--intra", type=int, default=0, help="TensorFlow's intra-op threads (0: its default)")
    p.add_argument("--inter", type=int, default=0, help="TensorFlow's inter-op threads (0: its default)")
    args = p.parse_args(argv)

    import tensorflow as tf

    if args.intra or args.inter:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra)
        tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    from archspec.tools.bench import machine

    print(machine())
    print(f"fused batch norm (archspec): {os.environ.get('ARCHSPEC_FUSED_BN', '1') != '0'}; "
          f"oneDNN opts: {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}; "
          f"threads: intra {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}; precision {args.precision}; "
          f"load average {os.getloadavg()[0]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        return _bench(args, tf, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args, tf, tmp: Path) -> int:
    """The measurements (main's), with their data and run directories in ``tmp``."""
    import archspec
    from archspec.tools.bench import gpu_peak

    rng = np.random.default_rng(0)

    def npz(name, n, shape):
        path = tmp / f"{name}.npz"
        np.savez(path, x_train=rng.integers(0, 256, (n, *shape), dtype=np.uint8), y_train=rng.integers(0, 10, n))
        return f"npz:{path}"

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    peak32 = matmul_peak("float32")
    peak16 = matmul_peak("bfloat16") if not gpus else None
    print(f"matmul peak: float32 {peak32 / 1e9:.0f} GFLOP/s"
          + (f", bfloat16 {peak16 / 1e9:.0f} GFLOP/s" if peak16 else ""))
    tensor_peak = None
    if gpus:
        known = [gpu_peak(name) for name in gpus]
        tensor_peak = sum(known) if all(known) else None
        print(f"GPU fp16/bf16 tensor peak (datasheet, {len(gpus)} x {gpus[0]}): "
              + (f"{tensor_peak / 1e12:.0f} TFLOP/s" if tensor_peak else "unknown GPU"))

    # name: (archspec model, hand-written model, data, spec for the MACs, batch, images per epoch)
    nets = {
        # archspec's ResNet-20 spec with projection shortcuts (option B), like the baseline below
        "resnet20": (lambda: archspec.build(ROOT / "architectures" / "resnet20.yaml", shortcut="projection"),
                     resnet20, lambda: npz("cifar_like", args.images, (32, 32, 3)),
                     archspec.load(ROOT / "architectures" / "resnet20.yaml", shortcut="projection"), 128, args.images),
        "resnet50_64": (lambda: archspec.build(archspec.load("resnet50", input_shape=[64, 64, 3])), resnet50_64,
                        lambda: npz("imagenet64_like", args.images // 4, (64, 64, 3)),
                        archspec.load("resnet50", input_shape=[64, 64, 3]), 32, args.images // 4),
        "lenet5": (lambda: archspec.build(ROOT / "architectures" / "lenet5.yaml"), lenet5_keras,
                   lambda: npz("lenet_like", 4 * args.images, (32, 32, 1)),
                   archspec.load(ROOT / "architectures" / "lenet5.yaml"), 128, 4 * args.images),
    }
    ratios = []
    for name in args.nets.split(","):
        ours_fn, base_fn, make_data, spec, args.batch_size, images = nets[name]
        data = make_data()
        args.images, saved_images = images, args.images
        ours, base, fused, nchw, bare = [], [], [], [], []
        for r in range(args.rounds):
            ours.append(run_archspec(name, ours_fn, data, args, tmp / f"{name}_{r}"))
            base.append(run_baseline(base_fn, data, args))
            if args.fused_bn:
                fused.append(run_baseline(base_fn, data, args, fused=True))
            if args.channels_first and name == "resnet20":
                nchw.append(run_baseline(lambda: resnet20(channels_first=True), data, args))
            if args.conv_only and name == "resnet20":
                bare.append(run_baseline(lambda: resnet20(conv_only=True), data, args))
        args.images = saved_images
        macs = spec.analyze().macs
        ips_ours, ips_base = statistics.median(ours), statistics.median(base)
        train_flops = 2 * 3 * macs * ips_ours
        ratio = ips_ours / ips_base
        ratios.append(ratio)
        peaks = (f"{100 * train_flops / tensor_peak:.1f}% of the GPU tensor peak" if tensor_peak else
                 f"{100 * train_flops / peak32:.0f}% of float32 peak"
                 + (f", {100 * train_flops / peak16:.0f}% of bf16 peak" if peak16 else ""))
        print(f"{name} (batch {args.batch_size}): archspec {ips_ours:,.1f} img/s ({_spread(ours)}), "
              f"keras fit {ips_base:,.1f} img/s ({_spread(base)}), ratio {ratio:.2f}; {macs / 1e6:.2f} M MACs/image, "
              f"training {train_flops / 1e9:.0f} GFLOP/s = {peaks}")
        if fused:
            f = statistics.median(fused)
            print(f"{name}: keras fit with fused batch norm {f:,.1f} img/s ({_spread(fused)}), "
                  f"{f / ips_base:.2f}x plain keras fit, {100 * 6 * macs * f / peak32:.0f}% of float32 peak")
        if nchw:
            f = statistics.median(nchw)
            print(f"{name}: keras fit channels-first {f:,.1f} img/s ({_spread(nchw)}), "
                  f"{f / ips_base:.2f}x channels-last")
        if bare:
            f = statistics.median(bare)
            print(f"{name}: keras fit of its convolutions only (no batch norm, no ReLU) {f:,.1f} img/s "
                  f"({_spread(bare)}) = {100 * 6 * macs * f / peak32:.0f}% of float32 peak: the ceiling")
    after = matmul_peak("float32")
    print(f"matmul peak measured again at the end: float32 {after / 1e9:.0f} GFLOP/s"
          + (f" ({100 * after / peak32 - 100:+.0f}%: the percentages above used the first)" if abs(after / peak32 - 1) > .1
             else " (within 10% of the first)"))
    print(f"ratio={math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    return 0


def _spread(values) -> str:
    return f"{min(values):,.1f}-{max(values):,.1f} over {len(values)} rounds"


if __name__ == "__main__":
    sys.exit(main())
