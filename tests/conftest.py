"""Shared test setup: quiet TensorFlow, paths, and one lazily imported Keras."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "architectures"


@pytest.fixture(scope="session")
def keras():
    """Keras, imported once for the tests that need it (others stay TensorFlow-free)."""
    import keras as _keras

    return _keras


@pytest.fixture(scope="session")
def zoo() -> Path:
    return ZOO
