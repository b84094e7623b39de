"""Deep networks: a raised Python recursion limit around the Keras calls that need it.

Keras 3 walks a functional graph recursively, one Python frame per layer on the longest path
(``keras.src.ops.function._build_map_helper``), whenever a ``keras.Model`` is constructed: when
one is built from tensors, loaded (``keras.saving.load_model``) or cloned
(``keras.models.clone_model``). With Python's default limit of 1,000 frames, a plain chain of
about 1,000 layers raises ``RecursionError``. Calling, training, saving, ``summary`` and
``count_params`` walk the graph in a loop (measured: fewer than 100 frames at 1,000 layers;
ResNet-1202's 4,208 layers train with ``fit`` at the default limit).

This module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import zipfile
from contextlib import contextmanager
from typing import Any, Iterator

FRAMES_PER_LAYER = 2  # measured 1 (a chain) and 0.3 (a ResNet): twice the worst case
MARGIN = 1_000  # the frames of Keras and TensorFlow around the walk, and the caller's own
DEFAULT_LAYERS = 5_000  # when the caller does not say: a limit of about 11,000 frames

_lock = threading.Lock()
_active: list[int] = []  # the limits the open contexts asked for (they may be on several threads)
_base = 0  # the limit before the first of them was opened


def _count(layers: Any) -> int:
    if layers is None:
        return DEFAULT_LAYERS
    if isinstance(layers, int):
        return layers
    if isinstance(layers, (str, os.PathLike)):  # a .keras file: the layers of its config
        try:
            with zipfile.ZipFile(layers) as z:
                return len(json.loads(z.read("config.json"))["config"]["layers"])
        except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
            return DEFAULT_LAYERS
    return len(getattr(layers, "layers", layers))  # a keras.Model, or any sized collection


@contextmanager
def deep_recursion(layers: Any = None) -> Iterator[int]:
    """Raise Python's recursion limit, for the block, to what a Keras graph of ``layers`` layers
    needs; restore it afterwards. Yields the limit in force.

    ``layers``: a number of layers (graph nodes), a ``keras.Model`` or the path of a ``.keras``
    file (their layers are counted), or None (enough for about 5,000 layers). The limit becomes
    ``max(current, 2 * layers + 1000 + the current stack depth)``; it is never lowered. archspec
    uses it wherever it builds, clones, saves or loads a model, so ``archspec.build``, ``archspec
    train`` and ``archspec export`` work at any depth. A model of more than about 1,000 layers
    that you load (or rebuild from tensors) with Keras itself needs it too::

        with archspec.deep_recursion():   # or deep_recursion("big.keras"): counts its layers
            model = keras.saving.load_model("resnet1202.keras")

    Keras' walk is pure Python, so Python 3.11 keeps its frames on the heap and the raised limit
    needs no bigger thread stack (measured: 4,200-layer ResNet-1202 and 3,000-layer chains on the
    main thread's 8 MiB stack). The limit is raised only as far as the graph needs, because a
    runaway recursion through C code (about 600 bytes of C stack per frame) would crash the
    process past roughly 12,000 frames instead of raising ``RecursionError``.
    """
    global _base
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    wanted = depth + FRAMES_PER_LAYER * _count(layers) + MARGIN
    with _lock:
        if not _active:
            _base = sys.getrecursionlimit()
        wanted = max(wanted, sys.getrecursionlimit())
        _active.append(wanted)
        sys.setrecursionlimit(wanted)
    try:
        yield wanted
    finally:
        with _lock:
            _active.remove(wanted)
            sys.setrecursionlimit(max(_active) if _active else _base)
