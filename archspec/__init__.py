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

import importlib
import importlib.abc
import sys
import threading
import warnings
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


# ----------------------------------------------------------------- Reloading saved models
# Keras finds the class of a layer in a .keras file only (a) in its registry, filled by
# ``keras.saving.register_keras_serializable`` when the class's module runs, or (b) by importing
# the module the config names, which it does for the packages keras, keras_hub, keras_cv and
# keras_nlp only (keras/src/saving/serialization_lib.py, ``_retrieve_class_or_fn``; the registry
# is ``GLOBAL_CUSTOM_OBJECTS`` in object_registration.py, a plain dict made when Keras is
# imported). So archspec's classes must be registered before ``load_model`` runs, and
# ``import archspec`` must not import TensorFlow to do it. Alternatives weighed: a
# ``custom_object_scope`` covers archspec's own calls only (``load_model`` below); filling the
# registry needs Keras imported; a ``.pth`` file runs at every interpreter start and depends on
# how archspec was installed. Chosen: if Keras is imported already, register now (TensorFlow is
# loaded then anyway); otherwise a one-shot import hook on ``sys.meta_path`` lets the ``keras``
# package import as usual and registers archspec's classes right after its ``__init__`` has run,
# then steps aside (hook removed, Keras' own loader put back). A failure to register warns and
# never breaks ``import keras``.

#: The modules whose import registers the classes archspec writes into saved models.
_SAVED_CLASSES = ("archspec.layers", "archspec.train.schedules")


def _register_saved_classes() -> None:
    """Import the modules of :data:`_SAVED_CLASSES` (they register themselves with Keras); warn,
    never raise, if one fails."""
    for module in _SAVED_CLASSES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 (an import hook must not break `import keras`)
            warnings.warn(f"archspec could not register its Keras classes ({module}: {type(exc).__name__}: "
                          f"{exc}); saved models using them load only after `import {module}` works",
                          RuntimeWarning, stacklevel=2)


class _RunAfter(importlib.abc.Loader):
    """A package's own loader, plus the hook's ``then()`` once the package's ``__init__`` has run."""

    def __init__(self, loader, hook: "_ImportHook"):
        self.loader = loader
        self.hook = hook

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            self.loader.exec_module(module)  # a failure leaves the hook in place for the next try
        finally:
            module.__loader__ = module.__spec__.loader = self.loader  # its own loader back
        if self.hook.remove():  # once, even if two specs were handed out
            self.hook.then()

    def __getattr__(self, name: str):  # anything else the import system asks: the package's loader
        return getattr(self.loader, name)


class _ImportHook(importlib.abc.MetaPathFinder):
    """On ``sys.meta_path`` until the top-level package ``name`` has been imported: answers a
    lookup of it with the other finders' spec (asked while this one stands aside, so no
    recursion), its loader wrapped so that ``then()`` runs right after the package has run,
    inside the import that loads it; then the hook removes itself. A lookup that only probes
    (``importlib.util.find_spec``, as TensorFlow does for Keras) leaves the hook in place."""

    def __init__(self, name: str, then):
        self.name = name
        self.then = then
        self._lock = threading.Lock()
        self._asking = threading.local()

    def find_spec(self, name, path=None, target=None):
        if name != self.name or getattr(self._asking, "now", False):
            return None
        self._asking.now = True
        try:
            spec = None
            for finder in [f for f in sys.meta_path if f is not self]:
                find = getattr(finder, "find_spec", None)
                spec = find(name, path, target) if find else None
                if spec is not None:
                    break
        finally:
            self._asking.now = False
        if spec is not None and spec.loader is not None:
            spec.loader = _RunAfter(spec.loader, self)
        return spec

    def remove(self) -> bool:
        """Take the hook off ``sys.meta_path``; False if it was off already."""
        with self._lock:
            if self not in sys.meta_path:
                return False
            sys.meta_path.remove(self)
            return True


def _register_when_keras_loads() -> None:
    if "keras" in sys.modules:
        _register_saved_classes()
    elif not any(isinstance(f, _ImportHook) and f.name == "keras" for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook("keras", _register_saved_classes))


_register_when_keras_loads()
