"""archspec: neural-network architectures as YAML, checked without TensorFlow, built into Keras.

>>> import archspec
>>> spec = archspec.load("architectures/vgg16.yaml", classes=10)   # doctest: +SKIP
>>> archspec.summary(spec).total_params                              # doctest: +SKIP
>>> model = archspec.build(spec)                                     # a keras.Model  # doctest: +SKIP
>>> run = archspec.fit("architectures/lenet5.yaml", output="runs/lenet5")   # doctest: +SKIP
>>> best = archspec.search("architectures/search/lenet_search.yaml",        # doctest: +SKIP
...                        directory="runs/search", max_trials=4)

This module is the facade over the pipeline (docs/architecture.md): spec -> analyze -> build ->
train (``fit``) -> tune (``search``). Importing it (also ``from archspec import *``) does not
import TensorFlow: ``load``, ``loads`` and ``summary`` stay pure Python; ``build``, ``fit`` and
``search`` import Keras (and keras-tuner) on first use.

Saved models reload after ``import archspec``: a ``.keras`` file with archspec's own layers
(:mod:`archspec.layers`) loads with ``keras.saving.load_model`` whether Keras was imported
before or after archspec, or with :func:`load_model` (a FileError for a bad file). How: see
"Reloading saved models" below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec._version import __version__
from archspec._recursion import deep_recursion  # pure Python: imports no TensorFlow
from archspec.errors import ArchspecError, FileError, RunError, SpecError
from archspec.ops import register_layer
from archspec.spec import Spec
from archspec.spec import load as _load
from archspec.spec import loads as _loads

__all__ = ["__version__", "Spec", "SpecError", "FileError", "RunError", "ArchspecError", "build", "check_train", "deep_recursion",
           "fit", "load", "load_model", "load_weights", "loads", "register_layer", "search", "summary"]


def load(path: str | Path, *, include_path=(), **params: Any) -> Spec:
    """Read, validate and resolve the spec file at ``path`` (its ``train:`` section included);
    ``params`` override its ``params``. Raises :class:`SpecError`, located, for any mistake.
    ``extends``/``use`` may name files in the spec's folder, the zoo and ``include_path``."""
    return check_train(_load(path, include_path=include_path, **params))


def loads(text: str, *, file: str = "<string>", include_path=(), **params: Any) -> Spec:
    """Like :func:`load`, from YAML text (relative ``use``/``extends`` paths: from the cwd)."""
    return check_train(_loads(text, file=file, include_path=include_path, **params))


def check_train(spec: Spec) -> Spec:
    """Check the spec's ``train:`` section without TensorFlow (unknown fields with "did you
    mean", types, ranges, names of strategies and schedules), as ``archspec train`` will."""
    if spec.train is not None:
        from archspec.train.config import TrainConfig

        TrainConfig.from_sources(spec.train)
    return spec


def summary(spec: Spec | str | Path, *, limits: bool = True, **params: Any):
    """Analyze a spec (or path): per-layer shapes, parameters, MACs, receptive fields.

    Returns an :class:`archspec.analyze.Analysis`; ``print(format_table(a))`` shows it, and
    ``a.to_dict()`` is the stable JSON form. A model past the size limits (docs/language.md,
    "Limits") raises a located SpecError unless ``limits=False``.
    """
    if not isinstance(spec, Spec):
        spec = load(spec, **params)
    elif params:
        spec = spec.with_params(**params)
    return spec.analyze(limits=limits)


def build(spec: Spec | str | Path, features=None, **params: Any):
    """Build a spec (or path) into a ``keras.Model`` (see :func:`archspec.builder.build`); a
    spec's ``init: {weights: PATH, ...}`` is loaded into it (:func:`load_weights`, whose report
    says what was transferred). ``features=[NAME, ...]`` (else the spec's ``features:``) makes
    a multi-output backbone of those layers (``Spec.feature_info`` gives their channels and
    reductions); weights load into it by name all the same."""
    from archspec.builder import build as _build
    from archspec.spec import as_spec

    spec = as_spec(spec, **params)
    model = _build(spec, features=features)
    if spec.init:
        load_weights(model, spec.init["path"], strict=spec.init.get("strict", False),
                     adapt_input=spec.init.get("adapt_input", False))
    return model


def load_weights(model, source: str | Path, *, strict: bool = False, adapt_input: bool = False):
    """Load a file's weights into a built model by layer name; returns the transfer report (see
    :func:`archspec.weights.load_weights` and docs/transfer.md)."""
    from archspec.weights import load_weights as _load_weights

    return _load_weights(model, source, strict=strict, adapt_input=adapt_input)


def load_model(path: str | Path):
    """Reload a ``.keras`` file (one archspec saved, or any Keras model): archspec's layers and
    learning-rate schedules registered first, then ``keras.saving.load_model``. A missing,
    truncated or damaged file raises :class:`FileError` naming it and why, not Keras' traceback
    (:func:`archspec.train.artifacts.load_model`)."""
    from archspec.train.artifacts import load_model as _load_model

    return _load_model(path)


def fit(spec: Spec | str | Path, **kwargs: Any):
    """Train a spec (or path) with its ``train:`` section; see :func:`archspec.train.fit`."""
    from archspec.train import fit as _fit

    return _fit(spec, **kwargs)


def search(spec: Spec | str | Path, **kwargs: Any):
    """Search the spec's ``{hp: ...}`` spaces with keras-tuner; see :func:`archspec.tune.search`."""
    from archspec.tune import search as _search

    return _search(spec, **kwargs)


def __getattr__(name: str):
    if name == "HyperModel":  # imports keras_tuner; not in __all__, so `import *` stays TF-free
        from archspec.tune import HyperModel

        return HyperModel
    raise AttributeError(f"module 'archspec' has no attribute {name!r}")


from archspec._registration import register_when_keras_loads as _register_when_keras_loads  # noqa: E402

_register_when_keras_loads()  # saved models with archspec's layers reload after `import archspec`
