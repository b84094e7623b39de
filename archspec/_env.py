"""The process environment archspec sets before TensorFlow is first imported: one place."""

from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info and warning logs (unless the user set the level), before the
    first ``import tensorflow``/``keras``; later calls change nothing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
