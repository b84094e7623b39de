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
from typing import Any, Callable

import numpy as np

from archspec.errors import FileError, Loc, RunError, SpecError, did_you_mean, os_error
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
    #: the file the arrays came from (``npz:PATH``), for errors that name it; None for other sources
    file: str | None = None
    #: the names of the arrays in that file (``("x_test", "y_test")``)
    names: tuple | None = None
    #: which rows of those arrays this split holds (None: all, in order), for errors that name an example
    rows: Any = None

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
def check_source(name: str, loc: Loc) -> None:
    """The checks of a source name that need no TensorFlow and read no data: the kind, the data
    set's name, that the file or folder exists, that TensorFlow Datasets is installed. Run before
    TensorFlow is imported (:func:`preflight`), and again by :func:`load_data`."""
    kind, _, arg = name.partition(":")
    if kind not in KINDS or (not arg and kind != "sklearn"):
        raise SpecError(f"unknown data source `{name}`", loc, received=name,
                        hint=(did_you_mean(kind, KINDS) and f"{did_you_mean(kind, KINDS)[:-1]} (as `KIND:ARG`)?")
                        or "sources: sklearn:digits, npz:PATH, images:DIR, keras:mnist|fashion_mnist|cifar10|cifar100, tfds:NAME")
    arg = arg or "digits"
    if kind == "sklearn" and arg != "digits":
        raise SpecError(f"unknown scikit-learn data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, ["digits"]) or "only sklearn:digits is embedded")
    if kind == "npz" and not Path(arg).expanduser().is_file():
        raise SpecError("the npz file does not exist", loc, received=str(Path(arg).expanduser()),
                        hint="npz:PATH needs a file with arrays x_train, y_train[, x_test, y_test]")
    if kind == "images" and not Path(arg).expanduser().is_dir():
        raise SpecError("the image directory does not exist", loc, received=str(Path(arg).expanduser()),
                        hint="images:DIR needs one sub-folder per class")
    if kind == "keras" and arg not in KERAS_SETS:
        raise SpecError(f"unknown Keras data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, KERAS_SETS) or "one of: " + ", ".join(KERAS_SETS))
    if kind == "tfds":
        import importlib.util

        if importlib.util.find_spec("tensorflow_datasets") is None:
            raise SpecError("tfds:NAME needs tensorflow-datasets, which is not installed", loc, received=arg,
                            hint="pip install 'archspec-keras[tfds]' (or pip install tensorflow-datasets)")


def preflight(cfg: TrainConfig, model_input: tuple, units: int | None, model_name: str,
              suggest: Callable[[str, Any], str | None] | None = None) -> Data | None:
    """Everything about the data that can be checked before TensorFlow is imported (which costs
    seconds): the source names, and for sources read with numpy (``sklearn:``, ``npz:``) the
    arrays and their fit to the model's input (:func:`check_fit`). Returns the loaded data of
    those sources (to train on, not loaded twice), else None."""
    check_source(cfg.data, cfg.loc("data"))
    if cfg.validation_data:
        check_source(cfg.validation_data, cfg.loc("validation_data"))
    if cfg.data.partition(":")[0] not in ("sklearn", "npz"):
        return None
    data = load_data(cfg.data, cfg, cfg.loc("data"), model_input=model_input)
    if not cfg.validation_data:  # else the validation split comes later, from its own source
        from archspec.train.checks import check_fit

        check_fit(data, model_input, units, cfg, model_name, suggest=suggest)
    return data


def load_data(name: str, cfg: TrainConfig, loc: Loc, *, model_input: tuple | None = None) -> Data:
    """Load the source ``name`` and split it into train / validation / test parts."""
    check_source(name, loc)
    kind, _, arg = name.partition(":")
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

    def take(rows):
        source_rows = rows if part.rows is None else part.rows[rows]
        return Part(part.x[rows], part.y[rows], n=len(rows), file=part.file, names=part.names, rows=source_rows)

    return take(a), take(b)


#: dtype kinds archspec trains on: booleans, signed and unsigned integers, floats
NUMERIC = "biuf"
_INT32 = np.iinfo(np.int32)


def _images_float(x: np.ndarray) -> np.ndarray:
    """Images as float32 (uint8 scaled to [0, 1]) with a channel axis; arrays that are not numbers
    are left as they are, for :func:`check_arrays` to name."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif x.dtype.kind in NUMERIC:
        x = x.astype(np.float32)
    if x.ndim == 3:  # (n, h, w) grayscale
        x = x[..., None]
    return x


def _labels(y: np.ndarray) -> np.ndarray:
    """Labels as int32 class indices where they are whole numbers in int32's range (one-hot rows
    become indices); anything else is left as it is, for :func:`check_arrays` to name."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.dtype.kind in NUMERIC:  # one-hot
        y = y.argmax(axis=1)
    if y.dtype.kind not in NUMERIC:
        return y
    if y.size and y.dtype.kind == "f" and not (y.ndim == 1 and np.all(np.mod(y, 1) == 0)):  # NaN, 0.5, ...
        return y
    if y.size and y.dtype.kind != "b" and (y.min() < _INT32.min or y.max() > _INT32.max):
        return y
    return y.astype(np.int32)


def _arrays(x_train, y_train, x_test, y_test, cfg: TrainConfig, classes: int | None, name: str,
            file: str | None = None) -> Data:
    """Train and test parts of the arrays (the test part held out of the training arrays when
    there is none); ``file`` is where they came from, for :func:`check_arrays`'s errors."""
    x_train, y_train = _images_float(x_train), _labels(y_train)
    names = ("x_train", "y_train") if file else None
    full = Part(x_train, y_train, n=len(x_train), file=file, names=names)
    if x_test is None and cfg.test_split > 0:
        train, test = _split(full, cfg.test_split, seed=0)
    else:
        train = full
        test = (Part(_images_float(x_test), _labels(y_test), n=len(x_test), file=file,
                     names=("x_test", "y_test") if file else None) if x_test is not None else None)
    # an npz file declares no class count: its labels are checked against the model's outputs
    # (check_arrays), and a model may have outputs for classes this file lacks
    return Data(name, train, test, None, classes, tuple(x_train.shape[1:]))


def _sklearn(arg: str, cfg, loc, model_input) -> Data:
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


NPZ_HINT = "npz:PATH reads arrays saved with np.savez(PATH, x_train=..., y_train=...[, x_test=..., y_test=...])"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip member, an empty zip
_NPY_MAGIC = b"\x93NUMPY"


def _npz(arg: str, cfg, loc, model_input) -> Data:
    path = Path(arg).expanduser()  # it exists: check_source
    arrays = _read_npz(path)
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing or (("x_test" in arrays) != ("y_test" in arrays)):
        lacks = (", ".join(missing)
                 or ("y_test" if "x_test" in arrays else "x_test") + " (x_test and y_test go together)")
        raise FileError(path, f"the npz file lacks {lacks}; it holds {sorted(arrays)}",
                        hint="it needs x_train, y_train and optionally x_test, y_test")
    for key, value in arrays.items():
        if key in ("x_train", "y_train", "x_test", "y_test") and np.ndim(value) == 0:
            raise FileError(path, f"{key} in the npz file is a single value, not an array of examples",
                            hint=f"{key} needs one entry per example (its first axis)")
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if x in arrays and len(arrays[x]) != len(arrays[y]):
            raise FileError(path, f"{x} and {y} have different lengths: {x} has shape {arrays[x].shape}, "
                                  f"{y} has shape {arrays[y].shape}",
                            hint=f"{x} and {y} need one entry per example each, in the same order")
    return _arrays(arrays["x_train"], arrays["y_train"], arrays.get("x_test"), arrays.get("y_test"), cfg, None, arg,
                   str(path))


def _read_npz(path: Path) -> dict:
    """The arrays of an .npz file, or a FileError saying why the file cannot be used: empty,
    blank, not an archive at all, truncated or corrupt, or holding pickled Python objects.
    archspec never unpickles a data file (``allow_pickle=False``): a pickle can run code."""
    import struct
    import zipfile
    import zlib

    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise os_error(path, exc, "reading the npz file") from None
    damaged = "it was probably cut off or damaged while being written or copied: write or copy it again"
    if not head:
        raise FileError(path, "the npz file is empty (0 bytes)", hint=damaged)
    if not head.strip(b"\0") and _all_zero(path):
        raise FileError(path, f"the npz file is all zero bytes ({path.stat().st_size:,} of them), not an .npz "
                              "archive", hint="a disk or copy failure left it blank: write or copy it again")
    if head.startswith(_NPY_MAGIC):
        raise FileError(path, "the file is a single .npy array, not an .npz archive of x_train, y_train",
                        hint=NPZ_HINT)
    if not head.startswith(_ZIP_MAGIC):
        raise FileError(path, f"the file is not an .npz archive ({_looks_like(path, head)})", hint=NPZ_HINT)
    broken = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, struct.error, NotImplementedError)
    try:
        npz = np.load(path, allow_pickle=False)
    except broken:
        raise FileError(path, "the file is a truncated or corrupt .npz archive", hint=damaged) from None
    arrays = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except broken:
                if _holds_objects(npz, key):
                    raise FileError(
                        path, f"{key} in the npz file holds Python objects (dtype object, stored pickled), "
                              "which archspec does not load",
                        hint=f"save {key} as a numeric array, e.g. np.asarray({key}, dtype=np.float32) (examples "
                             "of different sizes must be resized or padded to one shape first)") from None
                raise FileError(path, f"the file is a truncated or corrupt .npz archive ({key} cannot be read)",
                                hint=damaged) from None
    return arrays


def _all_zero(path: Path, chunk: int = 1 << 20) -> bool:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            if block.strip(b"\0"):
                return False
    return True


def _looks_like(path: Path, head: bytes) -> str:
    """A few words on what a file that is not an archive holds: text, or its first bytes."""
    with open(path, "rb") as f:
        start = f.read(200)
    kinds = {b"\x1f\x8b": "gzip data", b"\x80": "a Python pickle", b"\x89PNG": "a PNG image",
             b"\xff\xd8\xff": "a JPEG image", b"\x89HDF": "an HDF5 file"}
    for magic, kind in kinds.items():
        if head.startswith(magic):
            return f"it holds {kind}"
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head!r}"
    first = text.splitlines()[0] if text.strip() else text
    return f"it holds text: {first[:40]!r}" + ("..." if len(first) > 40 else "")


def _holds_objects(npz, key: str) -> bool:
    """Whether the member ``key`` of an open NpzFile is an array of Python objects (its header says so)."""
    import zipfile

    fmt = np.lib.format
    try:
        with npz.zip.open(key + ".npy") as member:
            version = fmt.read_magic(member)
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            return header(member)[2].hasobject
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return False


def _images(arg: str, cfg, loc, model_input) -> Data:
    import keras
    import tensorflow as tf

    root = Path(arg).expanduser()
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
    except ImportError as exc:  # installed, but a package it needs is not
        missing = getattr(exc, "name", None) or str(exc)
        raise SpecError(f"tensorflow-datasets cannot be imported: it needs the package `{missing}`, which is "
                        "not installed", loc, received=arg,
                        hint=f"pip install {missing} (pip install 'archspec-keras[tfds]' installs what TFDS needs)") from None
    import tensorflow as tf

    try:
        (train, test), info = tfds.load(arg, split=["train", "test"], as_supervised=True, with_info=True)
    except tfds.core.registered.DatasetNotFoundError:
        names = tfds.list_builders(with_community_datasets=False)  # no network lookup
        raise SpecError(f"no TensorFlow Datasets data set `{arg}`", loc, received=arg,
                        hint=did_you_mean(arg, names) or "see tfds.list_builders()") from None
    except ImportError as exc:  # a package TFDS imports when it prepares this data set
        missing = getattr(exc, "name", None) or str(exc)
        raise SpecError(f"tfds:{arg} needs the package `{missing}`, which is not installed", loc, received=arg,
                        hint=f"pip install {missing}") from None
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
