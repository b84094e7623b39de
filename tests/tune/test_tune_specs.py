"""A search takes every spec `archspec train` takes, with train's data handling: the zoo's LeNet-5
(32x32 inputs) searched on the 8x8 digits its `train: {fit_input: resize}` resizes; a spec whose
input cannot take the data stopped before any trial with train's located error; a search in
which no trial trained says why (exit 1), each failed trial's error recorded, no traceback.

In-process, one epoch, at most a few trials of small models on the UCI digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archspec
from archspec.errors import RunError

pytest.importorskip("keras_tuner")
from archspec import tune  # noqa: E402
from archspec.cli import main  # noqa: E402
from archspec.tune.layout import PROJECT, RECORD  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LENET5 = ROOT / "architectures" / "lenet5.yaml"

#: takes 8x8x3 images: the digits have one channel, which no fit_input changes
RGB = """\
name: rgb_net
params:
  input_shape: [8, 8, 3]
input: {shape: $input_shape}
body:
  - flatten
  - dense: {units: {hp: choice, values: [4, 8], default: 4, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
"""

#: categorical_crossentropy wants one-hot labels, the digits have class indices: every fit fails
WRONG_LOSS = """\
name: wrong_loss
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: {hp: choice, values: VALUES, default: 4, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  loss: categorical_crossentropy
  batch_size: 128
  epochs: 1
"""
LOSS_ERROR = "Arguments `target` and `output` must have the same rank"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(directory: Path) -> list[dict]:
    return json.loads((directory / "results.json").read_text())


def _records(directory: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in (directory / PROJECT).glob("trial_*/" + RECORD)}


# ------------------------------------------------------------------------------ the data, as train takes it
def test_lenet5_from_the_zoo_is_searched_on_the_8x8_digits_resized_to_its_32x32_input(tmp_path, capsys):
    code = main(["tune", str(LENET5), "--max-trials", "1", "--epochs", "1", "-d", str(tmp_path), "--no-model"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    [row] = _rows(tmp_path)
    assert row["status"] == "completed" and row["params"] == 60_806
    assert 0.1 < row["objective"] <= 1  # a trained score (1437 resized digits, one epoch)
    assert "best: trial 0 val_accuracy=" in out
    assert "hp:" not in (tmp_path / "best.yaml").read_text()


def test_search_data_is_brought_to_the_model_input_as_train_brings_each_batch():
    """Resized once up front with the function train maps over its batches: the same numbers."""
    from archspec.train.data import fit_fn
    from archspec.tune.data import check_data, fit_arrays

    spec = archspec.load(LENET5)
    data, how, shape = check_data(None, spec)
    assert (how, shape, data.shape) == ("resize", (32, 32, 1), (8, 8, 1))
    (x, y), (xv, yv) = fit_arrays(data, how, shape)
    assert x.shape == (data.train.n, 32, 32, 1) and xv.shape == (data.val.n, 32, 32, 1)
    assert (y == data.train.y).all() and (yv == data.val.y).all()
    batch = fit_fn(how, shape)(data.train.x[:32], data.train.y[:32])[0].numpy()
    assert (x[:32] == batch).all()


@pytest.mark.parametrize("flag", [[], ["--data", "sklearn:digits"]])
def test_a_spec_whose_input_cannot_take_the_data_stops_before_any_trial_as_train_does(tmp_path, capsys, flag):
    spec = _write(tmp_path, "rgb.yaml", RGB)
    assert main(["train", str(spec), "--epochs", "1", "-o", str(tmp_path / "run"), *flag]) == 2
    train_err = capsys.readouterr().err
    search = tmp_path / "search"
    assert main(["tune", str(spec), "--max-trials", "2", "--epochs", "1", "-d", str(search), *flag]) == 2
    out, err = capsys.readouterr()
    assert err == train_err
    where = "<command line>: at `--data`" if flag else "<defaults>: at `train.data`"
    assert err.startswith(f"{where}: error: the data `sklearn:digits` has examples of shape (8, 8, 1) but the "
                          "model `rgb_net` takes inputs of shape (8, 8, 3)")
    assert "--set input_shape=[8,8,1]" in err  # checked by the analyzer: a hint that works
    assert "Traceback" not in out + err and "trial" not in out
    assert not (search / PROJECT).exists()  # no trial ran


def test_the_check_reads_the_model_from_the_analyzer_without_tensorflow():
    """The spaces at their defaults; TensorFlow (seconds to import) is not needed to refuse the data."""
    script = f"""
import sys
import archspec
from archspec.errors import SpecError
from archspec.tune.data import check_data
spec = archspec.loads({RGB.replace("[8, 8, 3]", "[8, 8, 1]").replace("units: 10,", "units: 5,")!r})
try:
    check_data("sklearn:digits", spec)
except SpecError as err:
    print(err.loc.path, "|", err.message)
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "--data | the data `sklearn:digits` has 10 classes but the model `rgb_net` has 5 outputs", "False False"]


# ------------------------------------------------------------------------------ no trial trained
def test_a_search_whose_every_trial_fails_exits_1_with_the_reason(tmp_path, capsys):
    spec = _write(tmp_path, "loss.yaml", WRONG_LOSS.replace("VALUES", "[4, 8]"))
    search = tmp_path / "search"
    assert main(["tune", str(spec), "--max-trials", "2", "-d", str(search), "--no-model"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err  # keras-tuner's own print of each failed trial, too
    assert err.startswith("error: no trial of the search trained: of 2 trials, 2 failed; the first failure, "
                          "trial 0:\n    ValueError: " + LOSS_ERROR)
    assert f"each trial's error: {search / PROJECT}/trial_*/{RECORD}" in err
    assert out.count(f"failed (ValueError: {LOSS_ERROR}") == 2  # each trial's line says why
    records = _records(search)
    assert {r["status"] for r in records.values()} == {"failed"}
    assert all(r["error"].startswith("ValueError: " + LOSS_ERROR) for r in records.values())
    rows = _rows(search)  # the results are written all the same
    assert [r["status"] for r in rows] == ["failed", "failed"] and rows[0]["error"].startswith("ValueError")
    assert not (search / "best.yaml").exists()


def test_keras_tuners_stop_after_failures_in_a_row_is_saved_and_said(tmp_path, capsys):
    spec = _write(tmp_path, "loss.yaml", WRONG_LOSS.replace("VALUES", "[4, 8, 12, 16, 20]"))
    with pytest.raises(RunError, match=r"of 3 trials, 3 failed \(keras-tuner stopped the search after 3 failed "
                                       r"trials in a row\)") as err:
        tune.search(spec, directory=tmp_path, max_trials=5, write_model=False, log=False)
    assert LOSS_ERROR in err.value.message
    # keras-tuner raises before saving the last trial: saved, and no longer a running trial
    last = json.loads((tmp_path / PROJECT / "trial_2" / "trial.json").read_text())
    assert last["status"] == "FAILED" and "Traceback" in last["message"]
    oracle = json.loads((tmp_path / PROJECT / "oracle.json").read_text())
    assert oracle["ongoing_trials"] == {}
    assert "Traceback" not in "".join(capsys.readouterr())


def test_a_search_whose_budget_rejects_every_trial_says_so(tmp_path, capsys):
    spec = _write(tmp_path, "rgb.yaml", RGB.replace("[8, 8, 3]", "[8, 8, 1]"))
    search = tmp_path / "search"
    args = ["tune", str(spec), "--max-trials", "2", "--epochs", "1", "-d", str(search), "--max-params", "100"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "error: every trial was rejected by the budget (max_params=100): 2 trials, none trained; the first, "
        "trial 0: rejected: params 310 > 100",
        "  Hint: raise the budget, or narrow the search spaces to smaller models"]
    assert "Traceback" not in out + err
    assert out.splitlines()[:2] == ["trial 0: rejected: params 310 > 100 (units=4)",
                                    "trial 1: rejected: params 610 > 100 (units=8)"]
    assert not (search / "best.yaml").exists()  # a rejected trial is never the best


def test_the_reason_counts_failed_and_rejected_trials():
    from archspec.tune.results import search_failure

    def row(i, status, rejected=False, objective=None, error=None):
        return {"trial_id": str(i), "status": status, "rejected": rejected, "objective": objective, "error": error}

    assert search_failure([row(0, "failed", error="E"), row(1, "completed", objective=0.5)]) is None
    assert search_failure([row(0, "rejected: params 9k > 1k", True, 0.0)]).message == (
        "every trial was rejected by the budget: 1 trial, none trained; the first, trial 0: rejected: params 9k > 1k")
    mixed = search_failure([row(0, "rejected: params 9k > 1k", True, 0.0), row(1, "failed", error="Boom: x\ny"),
                            row(2, "running")], tune.Budget(max_params=1000))
    assert mixed.message == ("no trial of the search trained: of 3 trials, 1 failed, 1 rejected by the budget "
                             "(max_params=1k), 1 not trained (running); the first failure, trial 1:\n"
                             "    Boom: x\n    y")
    limits = search_failure([row(0, "rejected: past the size limits (layer `d` has 1e12 parameters)", True, 0.0)])
    assert limits.message.startswith("every trial was rejected by archspec's size limits: 1 trial, none trained")
    assert search_failure([]).message == "the search ran no trial"


def test_train_fields_on_the_command_line_apply_to_every_trial_as_train_hints(tmp_path, capsys):
    """train's hint for a size mismatch is `--set train.fit_input=resize`: tune takes it too."""
    spec = _write(tmp_path, "big.yaml", RGB.replace("[8, 8, 3]", "[12, 12, 1]"))
    search = tmp_path / "search"
    assert main(["tune", str(spec), "--max-trials", "1", "--epochs", "1", "-d", str(search), "--no-model"]) == 2
    assert "--set train.fit_input=resize" in capsys.readouterr().err
    code = main(["tune", str(spec), "--max-trials", "1", "--epochs", "1", "-d", str(search), "--no-model",
                 "--set", "train.fit_input=resize", "--set", "train.batch_size=256"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [row] = _rows(search)
    assert row["status"] == "completed" and 0 < row["objective"] <= 1
    # a misspelt field: located on the command line, with did-you-mean, before any trial
    assert main(["tune", str(spec), "--max-trials", "1", "-d", str(tmp_path / "s2"), "--set", "train.epocs=1"]) == 2
    err = capsys.readouterr().err
    assert "<command line>: at `--set train.epocs`: error: unknown train field `epocs`" in err
    assert "did you mean `epochs`" in err and not (tmp_path / "s2" / PROJECT).exists()


def test_the_search_config_takes_the_overrides_over_the_spec():
    from archspec.tune.hypermodel import HyperModel

    hm = HyperModel(LENET5, train_overrides={"batch_size": 256, "optimizer.momentum": 0.5})
    cfg = hm.train_config()
    assert cfg.batch_size == 256 and cfg.optimizer.args["momentum"] == 0.5
    assert cfg.fit_input == "resize"  # the spec's own setting kept


def test_the_results_plot_uses_log_axes_for_log_spaces_and_says_what_influence_is():
    import matplotlib.pyplot as plt

    from archspec.tune.results import INFLUENCE_NOTE, results_figure

    rows = [{"trial_id": str(i), "status": "completed", "rejected": False, "objective": 0.5 + 0.1 * i,
             "values": {"lr": lr, "units": u, "act": a}}
            for i, (lr, u, a) in enumerate([(1e-3, 8, "relu"), (2e-3, 16, "tanh"), (4e-3, 32, "relu"),
                                            (8e-3, 64, "tanh")])]
    fig = results_figure(rows, "val_accuracy", "max", top=3, log_scale={"lr", "units"})
    by_name = {ax.get_xlabel().split(" ")[0]: ax for ax in fig.axes[1:]}
    # a 1e-3..8e-3 range (8x: the old rule wanted 50x) and an int space, both sampled log
    assert by_name["lr"].get_xscale() == "log" and by_name["lr"].get_xlabel() == "lr (log scale)"
    assert by_name["units"].get_xscale() == "log"
    assert by_name["lr"].get_title() == "influence 1.00 (|Spearman rho|)"
    assert by_name["act"].get_xscale() == "linear" and by_name["act"].get_title().endswith("(variance share)")
    assert INFLUENCE_NOTE in [t.get_text() for t in fig.texts]
    plt.close(fig)
