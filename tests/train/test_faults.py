"""Fault injection: a kill at every write of a run, damaged files, a full or read-only disk, two
processes on one directory, SIGTERM, reruns with other settings. For each: the exit status, the
message, and that every completed epoch's record and a finished run's record survive.

Kills are in-process (``ARCHSPEC_FAULT=POINT:N:crash`` raises :class:`archspec.faults.Killed`, which
nothing in archspec handles: no write happens after it, as after SIGKILL); tests/train/test_resume.py
and the SIGTERM test below use real signals in a child process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import archspec.faults as faults
from archspec.errors import FileError
from archspec.train import fit
from archspec.train.lock import hold

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
name: tiny
params: {classes: 10}
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: 32, activation: relu}
  - dense: {units: $classes, activation: softmax}
train:
  epochs: 2
  batch_size: 128
  precision: float32
  optimizer: {name: sgd, learning_rate: 0.05, momentum: 0.9}
"""


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def fault(monkeypatch):
    """``fault("point:N:action")`` arms one fault for this test (counters reset); ``fault(None)``
    disarms."""

    def arm(text: str | None):
        faults.reset()
        if text:
            monkeypatch.setenv(faults.ENV, text)
        else:
            monkeypatch.delenv(faults.ENV, raising=False)

    yield arm
    faults.reset()


def run(spec, out, log=None, **kw):
    return fit(spec, output=out, verbose=0, log=(log.append if log is not None else lambda m: None), **kw)


def history(out: Path) -> list[dict]:
    return json.loads((out / "history.json").read_text())


def record(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def state(path: Path) -> tuple[int, dict]:
    with np.load(path) as f:
        return int(f["epoch"]), json.loads(str(f["meta"]))


# where each write point is reached, and the epochs whose checkpoint is in place when it dies there
POINTS = [("train.checkpoint.write:2", 1), ("train.checkpoint.written:2", 1), ("train.checkpoint.replaced:2", 2),
          ("train.checkpoint.best:1", 1), ("train.history.written:2", 2), ("train.end.model:1", 2),
          ("train.end.record:1", 2)]


@pytest.mark.parametrize("point,kept", POINTS, ids=[p for p, _ in POINTS])
def test_a_kill_at_any_write_loses_no_completed_epoch_and_records_agree(spec, tmp_path, fault, keras, point, kept):
    out = tmp_path / "run"
    fault(point + ":crash")
    with pytest.raises(faults.Killed):
        run(spec, out)
    epoch, meta = state(out / "backup" / "state.npz")
    assert epoch == kept and [r["epoch"] for r in meta["history"]] == list(range(1, kept + 1))
    written = meta["history"]

    fault(None)
    log: list[str] = []
    result = run(spec, out, log)
    assert result.status == "completed" and result.initial_epoch == kept
    assert [r["epoch"] for r in history(out)] == [1, 2]
    # the rows of the epochs trained before the kill are the ones recorded then, not re-made
    assert history(out)[:kept] == written
    info = record(out)
    assert info["status"] == "completed" and info["epochs_completed"] == 2 and info["resumed_at_epoch"] == kept
    final_epoch, final_meta = state(out / "backup" / "state.npz")
    assert final_epoch == 2 and final_meta["history"] == history(out)
    assert info["checkpoint"]["epoch"] == 2 and len(info["checkpoint"]["sha256"]) == 64
    assert keras.saving.load_model(out / "model.keras").count_params() == 64 * 32 + 32 + 330
    assert (out / "best.keras").is_file()
    assert not list(out.glob(".*.tmp*")) and not list((out / "backup").glob(".*.tmp*"))


def test_a_finished_run_is_never_damaged_by_a_rerun(spec, tmp_path, keras):
    out = tmp_path / "run"
    run(spec, out)
    files = {name: (out / name).read_bytes() for name in ("run.json", "metrics.json", "history.json", "model.keras")}
    log: list[str] = []
    again = run(spec, out, log)  # the same command: nothing to do
    assert again.status == "completed" and again.test_metrics == json.loads(files["metrics.json"])
    assert any("finished already (completed after 2 epochs; test accuracy" in m and "nothing to do" in m for m in log)
    # other data: refused, naming the change and the ways out; nothing written
    npz = tmp_path / "other.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, x_train=rng.random((64, 8, 8)).astype("float32"), y_train=np.arange(64) % 10)
    with pytest.raises(FileError, match=r"cannot resume: the checkpoint of epoch 2 here is of a run with other "
                                        rf"settings \(data: sklearn:digits -> npz:{npz}\)") as err:
        run(spec, out, data=f"npz:{npz}")
    assert "-o DIR" in err.value.hint and "--fresh" in err.value.hint and "--resume-with-changes" in err.value.hint
    # another learning rate: refused the same way
    with pytest.raises(FileError, match=r"optimizer\.learning_rate: 0\.05 -> 0\.2"):
        run(spec, out, overrides={"optimizer.learning_rate": 0.2})
    for name, content in files.items():
        assert (out / name).read_bytes() == content, name


def test_resume_with_changes_applies_and_records_them(spec, tmp_path, keras):
    out = tmp_path / "run"
    first = run(spec, out)
    result = run(spec, out, overrides={"optimizer.learning_rate": 0.2, "epochs": 3}, resume_with_changes=True)
    assert result.initial_epoch == 2 and [r["epoch"] for r in result.history] == [1, 2, 3]
    # the new learning rate is the one used (the checkpoint's optimizer state holds the old one)
    assert [r["learning_rate"] for r in history(out)] == pytest.approx([0.05, 0.05, 0.2])
    info = record(out)
    assert info["changes"] == [{"from_epoch": 3, "changed": ["optimizer.learning_rate: 0.05 -> 0.2"],
                                "command": info["command"]}]
    assert info["train"]["optimizer"]["learning_rate"] == 0.2 and info["status"] == "completed"
    # the finished run it continued is kept in the record
    assert info["previous_runs"][0]["status"] == "completed"
    assert info["previous_runs"][0]["test_metrics"] == first.test_metrics


def _crash_in_epoch_3(spec, out, fault):
    """A 3-epoch run killed in epoch 3: state.npz is epoch 2, previous.npz epoch 1."""
    spec.write_text(SPEC.replace("epochs: 2", "epochs: 3"))
    fault("train.batch.epoch3:1:crash")
    with pytest.raises(faults.Killed):
        run(spec, out)
    fault(None)
    assert state(out / "backup" / "state.npz")[0] == 2 and state(out / "backup" / "previous.npz")[0] == 1


@pytest.mark.parametrize("damage", ["flip", "zeros"])
def test_a_damaged_checkpoint_falls_back_to_the_previous_one(spec, tmp_path, fault, keras, damage):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)
    path = out / "backup" / "state.npz"
    data = bytearray(path.read_bytes())
    if damage == "flip":  # one bad sector inside the archive
        data[len(data) // 2: len(data) // 2 + 512] = bytes(512)
    elif damage == "zeros":
        data = bytearray(len(data))
    path.write_bytes(bytes(data))
    log: list[str] = []
    result = run(spec, out, log)
    why = {"flip": "(fails its CRC check|SHA-256 is not one archspec recorded)", "zeros": "all zero bytes"}[damage]
    assert any(f"the checkpoint {path} is unusable" in m and "resuming from" in m and "previous.npz (epoch 1)" in m
               for m in log), log
    assert any(re.search(why, m) for m in log), log
    assert result.status == "completed" and result.initial_epoch == 1
    assert [r["epoch"] for r in history(out)] == [1, 2, 3]


def test_both_checkpoints_damaged_is_a_file_error_naming_them(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)
    (out / "backup" / "state.npz").write_bytes(b"")
    previous = out / "backup" / "previous.npz"
    previous.write_bytes(previous.read_bytes()[:3000])  # truncated
    with pytest.raises(FileError, match=r"no usable checkpoint: state\.npz: the file is empty; previous\.npz: not "
                                        r"a readable \.npz archive \(truncated or damaged") as err:
        run(spec, out)
    assert err.value.path == str(out / "backup") and "--fresh" in err.value.hint


def test_best_is_its_own_file(spec, tmp_path, keras):
    out = tmp_path / "run"
    run(spec, out)
    best, last = (out / "backup" / "best.npz").stat(), (out / "backup" / "state.npz").stat()
    assert best.st_ino != last.st_ino and best.st_nlink == 1


def test_lost_or_damaged_history_files_are_rebuilt_from_the_checkpoint(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)
    rows = history(out)
    (out / "history.json").unlink()
    (out / "history.csv").write_text("epoch,loss\n1,")
    (out / "run.json").write_text('{"status": "runn')
    result = run(spec, out)
    assert result.initial_epoch == 2 and history(out)[:2] == rows
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,")
    assert len((out / "history.csv").read_text().splitlines()) == 4
    assert record(out)["epochs_completed"] == 3


def test_a_full_disk_while_checkpointing_is_an_exit_2_and_the_run_resumes(spec, tmp_path, fault, capsys, keras):
    from archspec.cli import main

    out = tmp_path / "run"
    fault("train.checkpoint.write:2:enospc")
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "error: writing the checkpoint of epoch 2 failed: no space left on the device" in err
    assert "free some space" in err and "Traceback" not in err
    assert not list((out / "backup").glob(".*.tmp*"))  # no partial file left behind
    info = record(out)
    assert info["status"] == "failed" and "no space left" in info["error"] and info["epochs_completed"] == 1
    fault(None)
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 0
    assert record(out)["resumed_at_epoch"] == 1 and [r["epoch"] for r in history(out)] == [1, 2]


def test_a_failed_sync_to_the_disk_is_an_exit_2_naming_the_file(spec, tmp_path, fault, capsys, keras):
    """A checkpoint's fsync runs while the next epoch trains: its error stops the run at the next
    save, naming the file; the run resumes."""
    from archspec.cli import main

    out = tmp_path / "run"
    fault("train.checkpoint.sync:1:enospc")
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'backup' / 'state.npz'}: error: syncing a checkpoint to the disk failed: no space left" in err
    assert "Traceback" not in err
    assert record(out)["status"] == "failed" and record(out)["epochs_completed"] == 1
    fault(None)
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 0
    assert record(out)["resumed_at_epoch"] == 1 and [r["epoch"] for r in history(out)] == [1, 2]


@pytest.mark.parametrize("point", ["train.checkpoint.written:1", "train.checkpoint.write_best:1",
                                   "train.checkpoint.best:1"])
def test_a_failed_save_leaves_no_temporary_file(tmp_path, fault, point):
    """A save that fails after its files were written removes them (hundreds of MB for a large
    model) and the second names of the files it replaced; what was in place stays."""
    from archspec.train.checkpoint import Checkpoints

    ck = Checkpoints(tmp_path, log=lambda m: None)
    values = [np.arange(1000, dtype=np.float32)], [np.ones(10, np.float32)]
    ck.save(*values, 1, {}, best=True)
    ck.save(*values, 2, {}, best=True)
    fault(point + ":enospc")
    with pytest.raises(FileError, match=r"(writing the checkpoint of epoch 3|writing the best epoch's copy \(epoch 3; "
                                        r"its checkpoint state\.npz is in place\)) failed: no space left"):
        ck.save(*values, 3, {}, best=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz", "checksums.json", "previous.npz", "state.npz"]
    assert ck.load().epoch == (2 if point.endswith("written:1") else 3)


def test_an_error_in_the_sync_thread_is_raised_by_the_next_save(tmp_path, fault):
    """Whatever the sync thread raises reaches the caller (here a simulated kill), not stderr."""
    from archspec.train.checkpoint import Checkpoints

    ck = Checkpoints(tmp_path, log=lambda m: None)
    values = [np.arange(10, dtype=np.float32)], []
    fault("train.checkpoint.sync:1:crash")
    ck.save(*values, 1, {}, best=False)
    with pytest.raises(faults.Killed, match="train.checkpoint.sync"):
        ck.save(*values, 2, {}, best=False)


def test_a_state_file_is_read_back_byte_for_byte(tmp_path):
    from archspec.train.checkpoint import _reads_back

    data = np.arange(3 * 1000, dtype=np.uint8).tobytes()
    path = tmp_path / "f"
    path.write_bytes(data)
    assert _reads_back(path, memoryview(data), chunk=1024)
    for other in (data[:-1], data + b"\0", data[:1500] + b"\xff" + data[1501:]):
        path.write_bytes(other)
        assert not _reads_back(path, memoryview(data), chunk=1024)


def test_a_read_only_output_directory_is_an_exit_2(spec, tmp_path, fault, capsys):
    from archspec.cli import main

    fault("lock.create:1:erofs")
    assert main(["train", str(spec), "-o", str(tmp_path / "ro"), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'ro'}: error: creating the run directory failed: the file system is read-only" in err
    assert "a writable disk (-o DIR)" in err


def test_a_run_directory_in_use_is_refused_naming_the_holder(spec, tmp_path, capsys):
    from archspec.cli import main

    out = tmp_path / "run"
    with hold(out):
        assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 2
        err = capsys.readouterr().err
        assert f"{out}: error: the run directory is in use by another process (pid {os.getpid()}" in err
        # a second process, for real (flock is per open file: another process sees it held)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop(faults.ENV, None)
        proc = subprocess.run([sys.executable, "-m", "archspec", "train", str(spec), "-o", str(out)], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and f"in use by another process (pid {os.getpid()}" in proc.stderr
    assert not (out / "run.json").exists()


def test_files_get_the_umask_mode(spec, tmp_path, keras):
    out = tmp_path / "run"
    run(spec, out)
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("run.json", "history.json", "history.csv", "metrics.json", "model.keras", "best.keras",
                 "spec.yaml", "backup/state.npz"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_stale_temporary_files_of_a_killed_process_are_removed(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)
    stale = [out / ".model.abc123.tmp.keras", out / "backup" / ".state.npz.xyz.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    run(spec, out)
    assert not any(p.exists() for p in stale)


def test_no_model_of_nan_weights_and_a_warning_on_divergence(spec, tmp_path, keras):
    out = tmp_path / "nan"
    spec.write_text(SPEC.replace("learning_rate: 0.05", "learning_rate: 1.0e+30"))
    log: list[str] = []
    result = run(spec, out, log)
    assert result.status == "nan" and result.history == []
    assert not (out / "model.keras").exists() and not (out / "best.keras").exists()
    info = record(out)
    assert info["status"] == "nan" and info["model_written"] is False and info["nan_at"]["epoch"] == 1
    assert any(re.fullmatch(r"loss became NaN at epoch 1, batch \d+: stopped; no epoch completed: no model is "
                            r"written", m) for m in log), log

    from archspec.train.callbacks import EpochCheckpoint, NanGuard

    cb = EpochCheckpoint(None, NanGuard(), run=tmp_path, monitor="loss", higher_is_better=False, write=False,
                         log=log.append)
    for epoch, loss in enumerate([2.3, 0.9, 0.5, 40.0, 1e31], start=1):
        cb.rows.append({"epoch": epoch, "loss": loss})
        cb._check_divergence(cb.rows[-1])
    assert cb.warnings == ["the training loss diverged: 1e+31 at epoch 5 (lowest 0.5 at epoch 3)"]


def test_evaluate_needs_the_run_record_or_data_and_names_a_damaged_model(spec, tmp_path, capsys, keras):
    from archspec.cli import main

    out = tmp_path / "run"
    run(spec, out)
    (out / "run.json").rename(out / "run.json.bak")
    assert main(["evaluate", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'run.json'}: error: the run record is missing: which data the run was trained on is unknown" in err
    assert "--data NAME" in err
    (out / "run.json.bak").rename(out / "run.json")
    model = out / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    assert main(["evaluate", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{model}: error: not a loadable .keras model: truncated or damaged" in err and "Traceback" not in err
    # the same training command sees the damaged model and writes it again
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 0
    assert keras.saving.load_model(model).count_params() == 64 * 32 + 32 + 330


# ---------------------------------------------------------------- found by a hostile review
def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_in_a_finished_run_changes_no_record(spec, tmp_path, keras):
    out = tmp_path / "run"
    run(spec, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"}
    _flip(out / "backup" / "state.npz")
    log: list[str] = []
    result = run(spec, out, log)
    assert result.status == "completed" and any("nothing to do" in m for m in log)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before


def test_a_damaged_state_never_replaces_the_good_previous_one(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)  # state: epoch 2, previous: epoch 1
    _flip(out / "backup" / "state.npz")
    fault("train.checkpoint.replaced:1:crash")  # resumed from previous (1), killed as epoch 2 is in place
    with pytest.raises(faults.Killed):
        run(spec, out)
    fault(None)
    assert state(out / "backup" / "state.npz")[0] == 2
    assert state(out / "backup" / "previous.npz")[0] == 1  # the good one, not the damaged file linked over it


def test_a_lost_checksum_file_keeps_the_intact_checkpoints_usable(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    _crash_in_epoch_3(spec, out, fault)
    (out / "backup" / "checksums.json").unlink()
    fault("train.batch.epoch4:1:crash")
    spec.write_text(SPEC.replace("epochs: 2", "epochs: 4"))
    with pytest.raises(faults.Killed):  # epoch 3 saved, its previous (2) written before the list was
        run(spec, out)
    fault(None)
    _flip(out / "backup" / "state.npz")
    log: list[str] = []
    result = run(spec, out, log)
    assert result.initial_epoch == 2 and any("resuming from" in m and "previous.npz (epoch 2)" in m for m in log)


def test_fresh_with_settings_that_cannot_run_leaves_the_run(spec, tmp_path, keras):
    out = tmp_path / "run"
    run(spec, out)
    files = sorted(p.name for p in out.iterdir())
    with pytest.raises(Exception, match="TPU"):
        run(spec, out, fresh=True, overrides={"strategy": "tpu"})
    assert sorted(p.name for p in out.iterdir()) == files and record(out)["status"] == "completed"


def test_evaluate_refuses_changed_data_unless_told(spec, tmp_path, capsys, keras):
    from archspec.cli import main

    rng = np.random.default_rng(0)
    npz = tmp_path / "d.npz"
    x, y = rng.random((200, 8, 8)).astype("float32"), np.arange(200) % 10
    np.savez(npz, x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    out = tmp_path / "run"
    run(spec, out, data=f"npz:{npz}")
    np.savez(npz, x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=(y[160:] + 1) % 10)
    assert main(["evaluate", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: the test split of npz:{npz} changed since the run was trained and tested on it" in err
    assert f"--data npz:{npz}" in err
    assert main(["evaluate", str(out), "--data", f"npz:{npz}"]) == 0


def test_a_change_that_never_applied_leaves_no_record(spec, tmp_path, fault, keras):
    out = tmp_path / "run"
    run(spec, out)
    fault("train.batch.epoch3:1:crash")
    with pytest.raises(faults.Killed):
        run(spec, out, overrides={"optimizer.learning_rate": 0.2, "epochs": 3}, resume_with_changes=True)
    fault(None)
    assert record(out)["changes"][0]["changed"] == ["optimizer.learning_rate: 0.05 -> 0.2"]
    run(spec, out, overrides={"epochs": 3})  # the original settings: the change never trained an epoch
    assert "changes" not in record(out)
    assert [r["learning_rate"] for r in history(out)] == pytest.approx([0.05, 0.05, 0.05])


def test_an_interrupted_run_brings_its_records_to_the_checkpoint(spec, tmp_path, fault, capsys, keras):
    from archspec.cli import main

    out = tmp_path / "run"
    fault("train.checkpoint.replaced:2:term")  # SIGTERM after epoch 2's state, before its records
    assert main(["train", str(spec), "-o", str(out), "--verbose", "0"]) == 143
    info = record(out)
    assert info["status"] == "interrupted" and info["epochs_completed"] == 2
    assert [r["epoch"] for r in history(out)] == [1, 2] and info["checkpoint"]["epoch"] == 2
    assert "interrupted after epoch 2" in capsys.readouterr().out
