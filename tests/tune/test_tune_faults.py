"""Search directories that never lie: a trial run again after a kill repeats its score, a truncated
file is named (not a traceback) and a removed trial runs again, one search per directory.

In-process and small (a two-layer model on the UCI digits, one epoch a trial): the kill is
``ARCHSPEC_FAULT=...:crash`` (archspec.faults.Killed, an in-process stand-in for SIGKILL); one
subprocess checks that a second search stops before importing TensorFlow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")
import archspec.faults as faults  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.errors import FileError  # noqa: E402
from archspec.train.lock import hold  # noqa: E402
from archspec.tune import search  # noqa: E402
from archspec.tune.layout import PROJECT, RECORD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
name: tiny_search
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: {hp: choice, values: [4, 8, 16], default: 8, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: sklearn:digits
  optimizer:
    name: adam
    learning_rate: {hp: float, min: 1.0e-3, max: 1.0e-1, sampling: log, default: 1.0e-2, name: lr}
  batch_size: 64
  epochs: 1
"""
TRIALS = 2
SEED = 5  # not 0: keras-tuner draws its own seed at random for 0


def _search(spec, directory, **kw):
    return search(spec, directory=directory, max_trials=TRIALS, seed=SEED, write_model=False, log=False, **kw)


def _tune_args(spec, directory):
    return ["tune", str(spec), "--directory", str(directory), "--max-trials", str(TRIALS),
            "--seed", str(SEED), "--no-model"]


def _records(directory) -> dict:
    return {p.parent.name: json.loads(p.read_text())
            for p in (Path(directory) / PROJECT).glob("trial_*/" + RECORD)}


def _scores(rows) -> dict:
    return {r["trial_id"]: r["objective"] for r in rows}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny_search.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def straight(spec, tmp_path_factory):
    """A search never killed: its directory and its rows."""
    directory = tmp_path_factory.mktemp("straight")
    result = _search(spec, directory)
    assert [r["status"] for r in result.rows] == ["completed"] * TRIALS
    return directory, result.rows


@pytest.fixture
def fault(monkeypatch):
    """Set ARCHSPEC_FAULT for this test, with archspec.faults' counters at zero."""
    def arm(text: str):
        faults.reset()
        monkeypatch.setenv(faults.ENV, text)

    yield arm
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.reset()


def test_a_trial_run_again_after_a_kill_scores_as_in_a_search_never_killed(spec, straight, fault, monkeypatch,
                                                                         tmp_path):
    """Each trial's random numbers come from the search's seed and its id alone: trial 2, killed
    once trained and run again by the resumed search (in a process that has run other trials
    since the search's seed was set), scores what it scores in the straight search."""
    _, rows = straight
    killed = tmp_path / "killed"
    fault("tune.trial_trained:2:crash")  # the 2nd trial (id "1") trained, not yet recorded
    with pytest.raises(faults.Killed):
        _search(spec, killed)
    before = _records(killed)
    assert set(before) == {"trial_0"}
    monkeypatch.delenv(faults.ENV)
    resumed = _search(spec, killed)
    assert _scores(resumed.rows) == pytest.approx(_scores(rows), abs=1e-6)
    after = _records(killed)
    assert after["trial_0"] == before["trial_0"]  # trial 1 was not run again (same pid, same start)
    assert set(after) == {"trial_0", "trial_1"}


def test_a_truncated_trial_json_is_named_and_removing_its_trial_runs_it_again(spec, straight, capsys, tmp_path):
    source, rows = straight
    directory = tmp_path / "search"
    shutil.copytree(source, directory)
    path = directory / PROJECT / "trial_0" / "trial.json"
    path.write_text(path.read_text()[:60])  # a kill in the middle of keras-tuner's write
    with pytest.raises(FileError) as err:
        _search(spec, directory)
    assert err.value.path == str(path)
    assert err.value.message.startswith("truncated or corrupt JSON (")
    assert str(path.parent) in err.value.hint and "--overwrite" in err.value.hint
    # the command: exit 2, the message and no traceback on stderr
    assert main(_tune_args(spec, directory)) == 2
    text = capsys.readouterr().err
    assert f"{path}: error: truncated or corrupt JSON" in text and "Hint: remove the folder" in text
    assert "Traceback" not in text
    # --summary still reads the others, and says which trial it cannot read
    assert main(["tune", "--summary", str(directory)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^0\s+unreadable", out, re.M), out
    assert "2 trials: 1 completed, 0 rejected, 0 other, 1 unreadable" in out
    # what the hint says: without that folder the trial runs again, and no other trial is touched
    # (keras-tuner alone would stop with a KeyError, or number the next trial 1 and overwrite trial_1)
    records = _records(directory)
    shutil.rmtree(path.parent)
    result = _search(spec, directory)
    assert [r["status"] for r in result.rows] == ["completed"] * TRIALS
    after = _records(directory)
    assert after["trial_1"] == records["trial_1"]
    assert after["trial_0"]["started"] > records["trial_1"]["started"]  # run again
    assert _scores(result.rows)["1"] == _scores(rows)["1"]


@pytest.mark.parametrize("name, text, hint", [
    ("oracle.json", "", r"the oracle's state is lost: start the search over with --overwrite"),
    ("tuner0.json", "{", r"it holds no state .* write `\{\}` into it to resume"),
    ("trial_1/build_config.json", "[]", r"remove the folder \S+trial_1 to run that trial again"),
], ids=["oracle", "tuner", "build_config"])
def test_every_file_keras_tuner_reads_to_resume_is_checked_first(spec, straight, tmp_path, name, text, hint):
    """The oracle's and the tuner's state, and a completed trial's build_config.json (read to load
    the best model): named before keras-tuner reads them (and before TensorFlow is imported)."""
    source, _ = straight
    directory = tmp_path / "search"
    shutil.copytree(source, directory)
    path = directory / PROJECT / name
    path.write_text(text)
    with pytest.raises(FileError, match=r"truncated or corrupt JSON \(") as err:
        _search(spec, directory)
    assert err.value.path == str(path)
    assert re.search(hint, err.value.hint), err.value.hint


def _env(**extra) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", **extra)
    for name in ("TF_CONFIG", faults.ENV, "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    return env


def test_a_second_search_in_the_same_directory_stops_at_once(spec, capsys, tmp_path):
    directory = tmp_path / "search"
    with hold(directory, what="search directory"):
        assert main(_tune_args(spec, directory)) == 2
        text = capsys.readouterr().err
        assert f"{directory}: error: the search directory is in use by another process (pid {os.getpid()} " in text
        assert "another --directory" in text
        # another process: the same, before it imports TensorFlow (-X importtime lists every import)
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "archspec", *_tune_args(spec, directory)],
                              env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert f"in use by another process (pid {os.getpid()} " in proc.stderr
        assert not re.search(r"\|\s+(tensorflow|keras|keras_tuner)$", proc.stderr, re.M)
    assert not (directory / PROJECT).exists()  # neither search wrote anything


def test_a_chief_and_its_workers_share_the_directory_two_copies_of_one_do_not(tmp_path):
    from archspec.tune.search import _locked

    with _locked(tmp_path, None), _locked(tmp_path, "tuner0"), _locked(tmp_path, "tuner1"):
        with pytest.raises(FileError, match=rf"search directory is in use .*pid {os.getpid()} "):
            with _locked(tmp_path, None):
                pass
        with pytest.raises(FileError, match=r"worker `tuner0`\) is in use .*\n  Hint: .*own KERASTUNER_TUNER_ID"):
            with _locked(tmp_path, "tuner0"):
                pass
    with _locked(tmp_path, None):  # released when the search ends
        pass
