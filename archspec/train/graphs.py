"""Release the traced graphs TensorFlow keeps after a model is gone (for searches and loops).

TensorFlow's ``tf.custom_gradient`` in graph mode registers each traced use under a fresh name
(``CustomGradient-<n>``) in the process-wide gradient registry and never removes it; the
registered closure holds the traced tensors, so the whole ``FuncGraph`` (and its C++ graph) stays
alive after the model, its optimizer and ``keras.backend.clear_session()`` are gone.
Keras 3's training step meets this through ``ReplicaContext.all_reduce`` (one entry per traced
train function): measured here, 22 graphs and ~4.5 MiB of resident memory kept per model built
and fitted in a loop, +28% over a 30-trial search. Upstream: tensorflow/tensorflow#97697 (open),
keras-team/tf-keras#286; keras-team/tf-keras#898 proposes the same purge in ``clear_session``.

The entries are only looked up while gradients are being traced; once a model's training step
is traced, or the model is gone, they are dead weight. :func:`released` drops the entries
registered inside its block, so a trial's graphs are freed with the trial.

The limit: a ``tf.function`` that is traced inside the block, outlives it, and is only
differentiated *later* (a forward-only trace put under a ``GradientTape`` afterwards) would then
raise "No gradient defined for operation 'IdentityN'". archspec's trials build, trace and train
a fresh model inside the block, and anything built after it traces anew.
"""

from __future__ import annotations

import contextlib

_PREFIX = "CustomGradient-"


def _registry() -> dict | None:
    try:
        from tensorflow.python.framework import ops
    except ImportError:  # pragma: no cover
        return None
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> set:
    """The custom-gradient entries registered so far."""
    registry = _registry()
    return {k for k in registry if k.startswith(_PREFIX)} if registry is not None else set()


def release_custom_gradients(keep: set) -> int:
    """Drop the custom-gradient entries not in ``keep``; how many were dropped."""
    registry = _registry()
    if registry is None:
        return 0
    stale = [k for k in registry if k.startswith(_PREFIX) and k not in keep]
    for k in stale:
        registry.pop(k, None)
    return len(stale)


@contextlib.contextmanager
def released():
    """Drop the custom-gradient entries registered inside the block when it ends."""
    keep = custom_gradient_names()
    try:
        yield
    finally:
        release_custom_gradients(keep)
