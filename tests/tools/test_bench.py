"""Inference timing (archspec/tools/bench.py) and ``archspec bench``: the protocol's shape, not speed."""

from __future__ import annotations

import pytest

from archspec.tools.bench import Timing, compare, example_input, latency, throughput


@pytest.fixture
def tiny(keras):
    keras.backend.clear_session()
    L = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = L.BatchNormalization(name="bn")(L.Conv2D(4, 3, use_bias=False, name="conv")(inputs))
    x = L.Dense(2, name="fc")(L.GlobalAveragePooling2D()(x))
    yield keras.Model(inputs, x)
    keras.backend.clear_session()


def test_latency_times_runs_calls_at_the_batch(tiny):
    t = latency(tiny, 1, warmup=2, runs=7)
    assert isinstance(t, Timing) and (t.batch, t.runs) == (1, 7)
    assert 0 < t.p10 <= t.median <= t.p90
    assert t.per_second == pytest.approx(1 / t.median)
    t64 = throughput(tiny, 16, warmup=1, runs=3)
    assert (t64.batch, t64.runs) == (16, 3) and t64.per_second == pytest.approx(16 / t64.median)
    assert "batch 16:" in str(t64) and "p10-p90 of 3" in str(t64)


def test_protocol_input_is_fixed_and_in_the_unit_interval(tiny):
    a, b = example_input(tiny, 3), example_input(tiny, 3)
    assert a.shape == (3, 8, 8, 3) and str(a.dtype) == "float32"
    assert (a == b).all() and 0 <= a.min() and a.max() < 1


def test_bad_counts_and_free_dimensions_are_refused(keras, tiny):
    with pytest.raises(ValueError, match="runs must be at least 1"):
        latency(tiny, runs=0)
    free = keras.Model(i := keras.Input((None, 3)), keras.layers.Dense(2)(i))
    with pytest.raises(ValueError, match=r"input shape \(None, 3\) has free dimensions"):
        latency(free)


def test_compare_includes_the_folded_model_with_equal_outputs(tiny):
    lines = []
    rows = compare(tiny, batch=4, runs=3, warmup=1, log=lines.append)
    assert [r.model for r in rows] == ["archspec", "archspec, batch norm folded"]
    assert rows[0].max_diff == 0 and rows[1].max_diff < 1e-5
    assert lines[0] == "folding: folded 1 batch norm(s), kept 0"


def test_bench_command_on_a_zoo_spec(capsys):
    from archspec.cli import main

    assert main(["bench", "lenet5", "--runs", "3", "--warmup", "1", "--batch", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cpu: ") and "tensorflow" in out[0]
    assert out[-1].startswith("archspec, batch norm folded vs archspec: latency ")
    assert main(["bench", "lenet5", "--runs", "0"]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err
