"""Reloading saved models: ``import archspec`` makes Keras find archspec's classes in ``.keras``
files, without importing TensorFlow itself (called from :mod:`archspec`).

Keras finds the class of a layer in a .keras file only (a) in its registry, filled by
``keras.saving.register_keras_serializable`` when the class's module runs, or (b) by importing
the module the config names, which it does for the packages keras, keras_hub, keras_cv and
keras_nlp only (keras/src/saving/serialization_lib.py, ``_retrieve_class_or_fn``; the registry
is ``GLOBAL_CUSTOM_OBJECTS`` in object_registration.py, a plain dict made when Keras is
imported). So archspec's classes must be registered before ``load_model`` runs, and
``import archspec`` must not import TensorFlow to do it. Alternatives weighed: a
``custom_object_scope`` covers archspec's own calls only (``archspec.load_model``); filling the
registry needs Keras imported; a ``.pth`` file runs at every interpreter start and depends on
how archspec was installed. Chosen: if Keras is imported already, register now (TensorFlow is
loaded then anyway); otherwise a one-shot import hook on ``sys.meta_path`` lets the ``keras``
package import as usual and registers archspec's classes right after its ``__init__`` has run,
then steps aside (hook removed, Keras' own loader put back). A failure to register warns and
never breaks ``import keras``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
import warnings

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


def register_when_keras_loads() -> None:
    """Register archspec's saved classes now if Keras is loaded, else right after it loads."""
    if "keras" in sys.modules:
        _register_saved_classes()
    elif not any(isinstance(f, _ImportHook) and f.name == "keras" for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook("keras", _register_saved_classes))

