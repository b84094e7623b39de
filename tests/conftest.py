"""Shared test setup: quiet TensorFlow, paths, and one lazily imported Keras."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "architectures"


def pytest_collection_modifyitems(config, items):
    """The tests marked ``slow`` run first: xdist's worksteal then ends the suite on short tests
    instead of one worker finishing a 20-30 s test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def keras():
    """Keras, imported once for the tests that need it (others stay TensorFlow-free)."""
    import keras as _keras

    return _keras


@pytest.fixture(scope="session")
def zoo() -> Path:
    return ZOO
