"""Deep networks build, run and round-trip through ``.keras`` (archspec/_recursion.py).

Keras 3 walks a functional graph recursively (one Python frame per layer on the longest path)
whenever it constructs a model: from tensors, from a file, as a clone. archspec raises Python's
recursion limit around those calls; with the default limit of 1,000 a chain of about 1,000 layers
failed. The suite checks a 1,200-layer chain. Run by hand on a 2-core AMD EPYC, too slow for the
5-minute suite: a 3,000-layer chain (29-35 s: build, forward, round trip) and ResNet-1202 (4,208
layers: build 39-50 s, analyzer == Keras layer by layer with 19,421,274 trainable parameters,
.keras round trip 87-89 s, one eager training step 33 s). Its parameter count is checked by the
analyzer in test_zoo.py; ``scripts/check_deep.py`` runs the deep checks on any machine.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import archspec

CHAIN = """
name: chain1200
input: {shape: [2]}
body:
  - repeat:
      times: 3
      counter: j
      body:
        - repeat: {times: 400, body: [{identity: {}}]}  # the cheapest layer to build, save, load
"""


def test_deep_recursion_raises_the_limit_for_the_block_only_and_never_lowers_it():
    before = sys.getrecursionlimit()
    with archspec.deep_recursion(3_000) as limit:
        assert sys.getrecursionlimit() == limit >= 2 * 3_000 + 1_000
        with archspec.deep_recursion(10) as inner:
            assert inner == limit == sys.getrecursionlimit()
        assert sys.getrecursionlimit() == limit
    assert sys.getrecursionlimit() == before
    with pytest.raises(KeyError), archspec.deep_recursion():
        raise KeyError("restored on errors too")
    assert sys.getrecursionlimit() == before


def test_a_1200_layer_chain_builds_runs_and_round_trips_with_plain_keras(keras, tmp_path):
    before = sys.getrecursionlimit()
    model = archspec.build(archspec.loads(CHAIN))
    assert sys.getrecursionlimit() == before and len(model.layers) == 1_201
    x = np.random.default_rng(0).normal(size=(2, 2)).astype("float32")
    y = np.asarray(model(x))
    np.testing.assert_array_equal(y, x)
    path = tmp_path / "chain.keras"
    model.save(path)
    with archspec.deep_recursion(path) as limit:  # what a Keras user loading the file does
        assert limit >= 2 * 1_201 + 1_000
        loaded = keras.saving.load_model(path)
    assert sys.getrecursionlimit() == before
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(np.asarray(loaded(x)), y)
