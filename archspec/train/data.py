"""Data sources (``--data NAME``) and the tf.data input pipeline.

Sources (``KIND:ARG``):

- ``sklearn:digits`` — the embedded default: 1,797 real 8x8 handwritten digits shipped inside
  scikit-learn (no download), a fixed stratified held-out test split (``test_split``, default 20%);
- ``npz:PATH`` — arrays ``x_train, y_train`` and optionally ``x_test, y_test``;
- ``images:DIR`` — one folder per class (``keras.utils.image_dataset_from_directory``);
- ``keras:mnist | keras:fashion_mnist | keras:cifar10 | keras:cifar100`` — Keras' loaders, from the
  Keras cache when offline;
- ``tfds:NAME`` — TensorFlow Datasets, when ``tensorflow-datasets`` is installed.

Images become float32 in [0, 1] with a channel axis; labels are integer class indices. The
pipeline caches, shuffles (seeded), repeats, batches with the *global* batch size, fits the
images to the model's input (resize or pad, when ``fit_input`` says so), applies the
augmentation layers (training only) and prefetches (AUTOTUNE). Repeating with a fixed number of
steps per epoch avoids tf.data's epoch-start stall (see FINDINGS).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archspec.errors import Loc, RunError, SpecError, did_you_mean
from archspec.train.config import TrainConfig

KINDS = ("sklearn", "npz", "images", "keras", "tfds")
KERAS_SETS = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}


@dataclass
class Part:
    """One split: numpy arrays ``x, y`` or an unbatched ``tf.data.Dataset`` of ``(x, y)``."""

    x: Any = None
    y: Any = None
    ds: Any = None
    n: int = 0

    def dataset(self):
        import tensorflow as tf

        if self.ds is not None:
            return self.ds
        return tf.data.Dataset.from_tensor_slices((self.x, self.y))


@dataclass
class Data:
    name: str
    train: Part
    test: Part | None
    val: Part | None
    num_classes: int | None
    shape: tuple  # one example's shape, e.g. (8, 8, 1)


# ---------------------------------------------------------------------------------- sources
def load_data(name: str, cfg: TrainConfig, loc: Loc, *, model_input: tuple | None = None) -> Data:
    """Load the source ``name`` and split it into train / validation / test parts."""
    kind, _, arg = name.partition(":")
    if kind not in KINDS or (not arg and kind != "sklearn"):
        raise SpecError(f"unknown data source `{name}`", loc, received=name,
                        hint=(did_you_mean(kind, KINDS) and f"{did_you_mean(kind, KINDS)[:-1]} (as `KIND:ARG`)?")
                        or "sources: sklearn:digits, npz:PATH, images:DIR, keras:mnist|fashion_mnist|cifar10|cifar100, tfds:NAME")
    loader = {"sklearn": _sklearn, "npz": _npz, "images": _images, "keras": _keras, "tfds": _tfds}[kind]
    data = loader(arg or "digits", cfg, loc, model_input)
    data.name = name
    if data.val is None and cfg.validation_split > 0:
        data.train, data.val = _split(data.train, cfg.validation_split, seed=1)
    return data


def _split(part: Part, fraction: float, *, seed: int) -> tuple[Part, Part]:
    """A seeded, fixed split: the last ``fraction`` of a permutation is held out."""
    n_out = max(1, int(round(part.n * fraction)))
    if part.ds is not None:
        ds = part.ds.shuffle(min(part.n, 50_000), seed=seed, reshuffle_each_iteration=False)
        return Part(ds=ds.skip(n_out), n=part.n - n_out), Part(ds=ds.take(n_out), n=n_out)
    order = np.random.default_rng(seed).permutation(part.n)
    a, b = order[:-n_out], order[-n_out:]
    return Part(part.x[a], part.y[a], n=len(a)), Part(part.x[b], part.y[b], n=len(b))


def _images_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
    if x.ndim == 3:  # (n, h, w) grayscale
        x = x[..., None]
    return x


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    return y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) or y.ndim == 1 and np.all(np.mod(y, 1) == 0) else y


def _arrays(x_train, y_train, x_test, y_test, cfg: TrainConfig, classes: int | None, name: str) -> Data:
    x_train, y_train = _images_float(x_train), _labels(y_train)
    if x_test is None and cfg.test_split > 0:
        full = Part(x_train, y_train, n=len(x_train))
        train, test = _split(full, cfg.test_split, seed=0)
    else:
        train = Part(x_train, y_train, n=len(x_train))
        test = Part(_images_float(x_test), _labels(y_test), n=len(x_test)) if x_test is not None else None
    if classes is None and np.issubdtype(y_train.dtype, np.integer):
        classes = int(y_train.max()) + 1
    return Data(name, train, test, None, classes, tuple(x_train.shape[1:]))


def _sklearn(arg: str, cfg, loc, model_input) -> Data:
    if arg != "digits":
        raise SpecError(f"unknown scikit-learn data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, ["digits"]) or "only sklearn:digits is embedded")
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    # a fixed, stratified held-out test split (independent of the training seed)
    from sklearn.model_selection import train_test_split

    if cfg.test_split > 0:
        x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=cfg.test_split, random_state=0,
                                                  stratify=d.target)
    else:
        x_tr, y_tr, x_te, y_te = x, d.target, None, None
    data = _arrays(x_tr, y_tr, x_te, y_te, cfg, 10, "sklearn:digits")
    return data


def _npz(arg: str, cfg, loc, model_input) -> Data:
    path = Path(arg).expanduser()
    if not path.is_file():
        raise SpecError("the npz file does not exist", loc, received=str(path),
                        hint="npz:PATH needs a file with arrays x_train, y_train[, x_test, y_test]")
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RunError(f"cannot read the npz file {path}: {exc}",
                       hint="the file exists but is not a readable .npz (np.savez) archive") from None
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing or (("x_test" in arrays) != ("y_test" in arrays)):
        raise SpecError(f"the npz file lacks {', '.join(missing) or 'x_test/y_test as a pair'}", loc,
                        received=sorted(arrays), hint="it needs x_train, y_train and optionally x_test, y_test")
    if len(arrays["x_train"]) != len(arrays["y_train"]):
        raise SpecError("x_train and y_train have different lengths", loc,
                        received={"x_train": arrays["x_train"].shape, "y_train": arrays["y_train"].shape})
    return _arrays(arrays["x_train"], arrays["y_train"], arrays.get("x_test"), arrays.get("y_test"), cfg, None, arg)


def _images(arg: str, cfg, loc, model_input) -> Data:
    import keras
    import tensorflow as tf

    root = Path(arg).expanduser()
    if not root.is_dir():
        raise SpecError("the image directory does not exist", loc, received=str(root),
                        hint="images:DIR needs one sub-folder per class")
    shape = tuple(model_input) if model_input and len(model_input) == 3 else (None, None, 3)
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(shape[2], "rgb")
    size = (shape[0], shape[1]) if shape[0] else (256, 256)
    kwargs = dict(labels="inferred", label_mode="int", color_mode=mode, image_size=size, batch_size=None,
                  shuffle=True, seed=0)
    try:
        if cfg.test_split > 0:
            train, test = keras.utils.image_dataset_from_directory(
                str(root), validation_split=cfg.test_split, subset="both", **kwargs)
        else:
            train, test = keras.utils.image_dataset_from_directory(str(root), **kwargs), None
    except ValueError as exc:
        raise SpecError(f"cannot read images: {exc}", loc, received=str(root)) from None
    classes = len(train.class_names)

    def scale(ds):
        return ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.cast(y, tf.int32)))

    n_train = int(train.cardinality().numpy())
    n_test = int(test.cardinality().numpy()) if test is not None else 0
    return Data(arg, Part(ds=scale(train), n=n_train), Part(ds=scale(test), n=n_test) if test is not None else None,
                None, classes, (size[0], size[1], {"grayscale": 1, "rgb": 3, "rgba": 4}[mode]))


def keras_cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def _keras(arg: str, cfg, loc, model_input) -> Data:
    if arg not in KERAS_SETS:
        raise SpecError(f"unknown Keras data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, KERAS_SETS) or "one of: " + ", ".join(KERAS_SETS))
    import socket

    import keras

    loader = getattr(keras.datasets, arg)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        (x_tr, y_tr), (x_te, y_te) = loader.load_data()
    except Exception as exc:  # noqa: BLE001  (offline: urllib, HTTP, hash and extraction errors)
        raise RunError(
            f"cannot load keras:{arg}: not in the Keras cache ({keras_cache_dir()}) and the download failed "
            f"({type(exc).__name__}: {str(exc)[:120]})",
            hint=f"put the files `keras.datasets.{arg}.load_data()` downloads into {keras_cache_dir()} "
                 "(run it once on a machine online), or use --data sklearn:digits / npz:PATH",
        ) from None
    finally:
        socket.setdefaulttimeout(old)
    return _arrays(x_tr, y_tr, x_te, y_te, cfg, KERAS_SETS[arg], f"keras:{arg}")


def _tfds(arg: str, cfg, loc, model_input) -> Data:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise SpecError("tfds:NAME needs tensorflow-datasets, which is not installed", loc, received=arg,
                        hint="pip install tensorflow-datasets") from None
    import tensorflow as tf

    try:
        (train, test), info = tfds.load(arg, split=["train", "test"], as_supervised=True, with_info=True)
    except tfds.core.registered.DatasetNotFoundError:
        names = tfds.list_builders(with_community_datasets=False)  # no network lookup
        raise SpecError(f"no TensorFlow Datasets data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, names) or "see tfds.list_builders()") from None
    except Exception as exc:  # noqa: BLE001  (offline, missing split, ...)
        raise RunError(f"cannot load tfds:{arg}: {str(exc)[:300]}",
                       hint="offline, TFDS reads prepared data sets from $TFDS_DATA_DIR "
                            "(default ~/tensorflow_datasets)") from None
    label = info.features[info.supervised_keys[1]]
    classes = getattr(label, "num_classes", None)

    def scale(ds):
        return ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.cast(y, tf.int32)))

    shape = tuple(info.features[info.supervised_keys[0]].shape)
    return Data(arg, Part(ds=scale(train), n=info.splits["train"].num_examples),
                Part(ds=scale(test), n=info.splits["test"].num_examples), None, classes, shape)


# ---------------------------------------------------------------------------------- fitting the model
def check_fit(data: Data, model_shape: tuple, units: int | None, cfg: TrainConfig, model_name: str):
    """How to bring the data's examples to the model's input: None, ``reshape``, ``resize``, ``pad``.

    Raises a SpecError naming both shapes (or both class counts) when they do not fit.
    """
    src, dst = tuple(data.shape), tuple(model_shape)
    loc = cfg.loc("data")
    how = None
    if None in dst or src == dst:
        how = None
    elif cfg.fit_input in ("resize", "pad") and len(src) == 3 and len(dst) == 3 and src[2] == dst[2]:
        how = cfg.fit_input
        if how == "pad" and (src[0] > dst[0] or src[1] > dst[1]):
            raise SpecError(f"cannot pad {src} images to the model input {dst}: they are larger",
                            cfg.loc("fit_input"), hint="use fit_input: resize")
    elif cfg.fit_input == "auto" and len(src) == 3 and len(dst) == 3 and src[2] == dst[2]:
        how = "resize"
    elif cfg.fit_input in ("reshape", "auto") and math.prod(src) == math.prod(dst):
        how = "reshape"
    else:
        same_channels = len(src) == len(dst) == 3 and src[2] == dst[2]
        raise SpecError(
            f"the data `{data.name}` has examples of shape {src} but the model `{model_name}` "
            f"takes inputs of shape {dst}", loc, received={"data": src, "model": dst},
            hint=("set `train: {fit_input: resize}` (or pad) in the spec, or --set train.fit_input=resize, "
                  f"or change the model's input (--set input_shape={list(src)})" if same_channels else
                  "the channel counts differ: change the model's input_shape (e.g. --set input_shape="
                  f"[{dst[0]},{dst[1]},{src[-1]}])" if len(src) == len(dst) == 3 else
                  f"change the model's input (e.g. --set input_shape={list(src)}) or use another data set"),
        )
    if units is not None and data.num_classes is not None and units > 1 and units != data.num_classes:
        raise SpecError(
            f"the data `{data.name}` has {data.num_classes} classes but the model `{model_name}` "
            f"has {units} outputs", loc, received={"data classes": data.num_classes, "model outputs": units},
            hint=f"set the model's class count to {data.num_classes} (e.g. --set classes={data.num_classes})",
        )
    return how


def fit_fn(how: str | None, model_shape: tuple):
    """A batched map function bringing images to ``model_shape`` (or None)."""
    import tensorflow as tf

    if how is None:
        return None
    dst = [int(d) for d in model_shape]
    if how == "resize":
        return lambda x, y: (tf.image.resize(x, dst[:2]), y)
    if how == "pad":
        return lambda x, y: (tf.image.resize_with_crop_or_pad(x, dst[0], dst[1]), y)
    return lambda x, y: (tf.reshape(x, [-1] + dst), y)


def pipeline(part: Part, *, batch: int, training: bool, cfg: TrainConfig, fit=None, augment=None,
             repeat: bool = True):
    """The tf.data pipeline of one split, and its number of steps per pass."""
    import tensorflow as tf

    ds = part.dataset()
    if cfg.cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(part.n, 50_000), seed=cfg.seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch)
    else:
        ds = ds.batch(batch)
        if repeat:
            ds = ds.repeat()
    if fit is not None:
        ds = ds.map(fit, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None and training:
        ds = ds.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    ds = ds.with_options(options)
    return ds, steps_for(part.n, batch)


def steps_for(n: int, batch: int) -> int:
    """Batches in a pass over ``n`` examples (the last one may be short)."""
    return max(1, math.ceil(n / batch))
