"""Pruning (archspec.tune.prune): the median and ASHA rules against hand-computed values, their
warm-up and errors, and real keras-tuner searches (grid over a learning rate that learns and one
that does not; small digits arrays, 2 epochs): a pruned trial is recorded with its score and
epoch and is never the best, and a resumed search prunes against the trials of the first run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError
from archspec.tune.prune import Pruner, make_pruner, median, read_curves, rung_cutoff

# ------------------------------------------------------------------------------ median rule
COMPLETED = [[0.5, 0.7, 0.8], [0.3, 0.6, 0.9], [0.4, 0.65, 0.7]]


def test_median_rule_against_hand_computed_values():
    p = Pruner("median", startup_trials=3)
    # epoch 1: the completed trials had 0.5, 0.3, 0.4 -> median 0.4
    assert p.decide([0.39], COMPLETED, COMPLETED, maximize=True) == (True, 0.4)
    assert p.decide([0.4], COMPLETED, COMPLETED, maximize=True) == (False, 0.4)  # not worse: goes on
    # epoch 2: best up to epoch 2 of each: 0.7, 0.6, 0.65 -> median 0.65
    assert p.decide([0.2, 0.64], COMPLETED, COMPLETED, maximize=True) == (True, 0.65)
    assert p.decide([0.2, 0.66], COMPLETED, COMPLETED, maximize=True) == (False, 0.65)
    # the trial's best so far counts, not its last value (as keras-tuner scores a trial)
    assert p.decide([0.9, 0.1], COMPLETED, COMPLETED, maximize=True) == (False, 0.65)
    # a completed trial's dip does not lower the bar: best up to 2 of [0.9, 0.1] is 0.9
    dip = [[0.9, 0.1], [0.5, 0.5]]
    assert Pruner("median", startup_trials=2).decide([0.0, 0.6], dip, dip, maximize=True) == (True, 0.7)
    # an even count: the mean of the two middle values; trials shorter than the epoch left out
    two = [[0.5, 0.6], [0.3], [0.2, 0.2]]
    assert Pruner("median", startup_trials=3).decide([0.1, 0.39], two, two, maximize=True) == (True, 0.4)
    # a minimized objective (a loss): pruned when greater than the median
    losses = [[2.0, 1.0], [3.0, 1.5], [2.5, 0.5]]
    assert p.decide([2.4, 1.1], losses, losses, maximize=False) == (True, 1.0)
    assert p.decide([2.4, 0.9], losses, losses, maximize=False) == (False, 1.0)
    # a NaN objective (diverged) is pruned at once
    assert p.decide([math.nan], COMPLETED, COMPLETED, maximize=True)[0] is True
    assert median([3, 1, 2]) == 2 and median([4, 1, 2, 3]) == 2.5


def test_median_warm_up_startup_trials_and_epochs():
    # fewer completed trials than startup_trials: nothing is pruned, no threshold
    assert Pruner("median", startup_trials=4).decide([0.0], COMPLETED, COMPLETED, True) == (False, None)
    # epochs 1..warmup_epochs are never pruned; the first after them is
    p = Pruner("median", startup_trials=1, warmup_epochs=2)
    assert p.decide([0.0, 0.0], COMPLETED, COMPLETED, True) == (False, None)
    assert p.decide([0.0, 0.0, 0.0], COMPLETED, COMPLETED, True) == (True, 0.8)  # 0.8, 0.9, 0.7
    # no completed trial reached this epoch: no rule applies
    assert Pruner("median", startup_trials=1).decide([0.1] * 4, COMPLETED, COMPLETED, True) == (False, None)


# ------------------------------------------------------------------------------ ASHA
def test_asha_rungs_and_promotion_against_hand_computed_values():
    assert Pruner("asha").rungs(30) == [1, 3, 9, 27]
    assert Pruner("asha", min_epochs=2, reduction=2).rungs(20) == [2, 4, 8, 16]
    p = Pruner("asha", startup_trials=0, reduction=3)
    others = [[0.1, 0.2, v] for v in (0.9, 0.8, 0.7, 0.6, 0.5)]
    assert p.decide([0.1, 0.2], [], others, True) == (False, None)  # epoch 2: no rung
    # rung 3: six values (five others and its own): the top 6 // 3 = 2 go on, the 2nd best is 0.8
    assert p.decide([0.1, 0.2, 0.75], [], others, True) == (True, 0.8)
    assert p.decide([0.1, 0.2, 0.8], [], others, True) == (False, 0.8)
    assert p.decide([0.1, 0.2, 0.85], [], others, True) == (False, 0.85)  # now itself the 2nd best
    # fewer trials at the rung than the reduction: only the best goes on (Optuna's rule)
    assert p.decide([0.95], [], [[0.9]], True) == (False, 0.95)
    assert p.decide([0.85], [], [[0.9]], True) == (True, 0.9)
    # best so far at the rung, for the others too; a minimized objective keeps the smallest
    assert p.decide([0.3, 0.2, 0.25], [], [[0.1, 0.1, 0.4], [0.5, 0.5, 0.5]], False) == (True, 0.1)
    assert rung_cutoff([5, 1, 4, 2, 3, 6, 7, 8, 9], 3, maximize=True) == 7
    assert rung_cutoff([5, 1, 4, 2, 3, 6, 7, 8, 9], 3, maximize=False) == 3
    # its own warm-up: before startup_trials completed, or at an epoch <= warmup_epochs, nothing
    assert Pruner("asha", startup_trials=1).decide([0.0], [], [[0.9]], True) == (False, None)
    assert Pruner("asha", startup_trials=0, warmup_epochs=1).decide([0.0], [], [[0.9]], True) == (False, None)


@pytest.mark.parametrize("make, match, flag", [
    (lambda: Pruner("mean"), r"unknown pruning rule `mean`", "--prune"),
    (lambda: Pruner("asha", reduction=1), r"`--prune-reduction` must be an integer >= 2", "--prune-reduction"),
    (lambda: Pruner("median", startup_trials=-1), r"`--prune-startup` must be an integer >= 0", "--prune-startup"),
    (lambda: Pruner("asha", min_epochs=0), r"`--prune-min-epochs` must be an integer >= 1", "--prune-min-epochs"),
    (lambda: make_pruner(None, warmup_epochs=2), r"`--prune-warmup` needs `--prune median\|asha`", "--prune-warmup"),
])
def test_pruner_mistakes_are_located_at_their_flag(make, match, flag):
    with pytest.raises(SpecError, match=match) as err:
        make()
    assert err.value.loc.path == flag


def test_make_pruner_fills_the_defaults_and_keeps_a_pruner():
    assert make_pruner("asha", reduction=2, warmup_epochs=None) == Pruner("asha", reduction=2)
    p = Pruner("median", startup_trials=2)
    assert make_pruner(p) is p and make_pruner(p, warmup_epochs=1) == Pruner("median", 2, 1)
    assert make_pruner(None) is None


# ------------------------------------------------------------------------------ real searches
LR = """
name: tiny
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: 16, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: npz:DATA
  optimizer: {name: adam, learning_rate: {hp: choice, values: LRS, default: FIRST, name: lr}}
  batch_size: 50
  epochs: 2
"""


def lr_spec(data: Path, lrs: list[float]) -> archspec.Spec:
    """The tiny model, its learning rate a grid over ``lrs`` (tried in that order)."""
    return archspec.loads(LR.replace("DATA", str(data)).replace("LRS", json.dumps(lrs))
                          .replace("FIRST", json.dumps(lrs[0])))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """400 training and 100 test digits as an npz file (the validation split comes from train)."""
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype("float32")[..., None]
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=x[:400], y_train=d.target[:400], x_test=x[400:500], y_test=d.target[400:500])
    return path


@dataclass(frozen=True)
class PruneAfterFirst(Pruner):
    """Prunes every trial at epoch 1 once one trial completed: here the trial that learns, so the
    pruned trial's score is the higher one."""

    def decide(self, curve, completed, others, maximize):
        return (bool(completed), None)


def test_a_pruned_trial_never_becomes_best_even_with_the_higher_score(digits, tmp_path):
    from archspec.tune import search

    # trial 0 (lr 1e-7) learns nothing and completes; trial 1 (lr 0.01) learns and is pruned
    r = search(lr_spec(digits, [1e-7, 0.01]), directory=tmp_path, tuner="grid", max_trials=2,
               prune=PruneAfterFirst("median"), write_model=False, log=False)
    rows = {row["trial_id"]: row for row in r.rows}
    assert rows["0"]["status"] == "completed" and rows["0"]["epochs"] == 2 and rows["0"]["values"] == {"lr": 1e-7}
    assert rows["1"]["status"] == "pruned" and rows["1"]["epochs"] == 1 and rows["1"]["values"] == {"lr": 0.01}
    assert rows["1"]["objective"] > rows["0"]["objective"]  # the pruned trial scored higher ...
    assert r.best["trial_id"] == "0"                         # ... and is not the best
    assert (tmp_path / "best.yaml").read_text().startswith(
        f"# frozen by `archspec tune` from <string> (trial 0: val_accuracy={rows['0']['objective']:.4f})")
    assert [t.trial_id for t in r.tuner.oracle.get_best_trials(2)][0] == "0"  # keras-tuner's get_best
    assert r.tuner.get_best_hyperparameters()[0]["lr"] == 1e-7
    record = json.loads((tmp_path / "trials" / "trial_1" / "archspec.json").read_text())
    assert record["status"] == "pruned" and len(record["curve"]) == 1
    assert record["pruned"] == {"epoch": 1, "score": record["curve"][0], "best": record["curve"][0],
                                "threshold": None, "rule": "median"}
    assert rows["1"]["objective"] == record["curve"][0]
    table = json.loads((tmp_path / "results.json").read_text())
    assert [row["status"] for row in table] == ["completed", "pruned"]


def test_median_pruning_survives_a_resumed_search(digits, tmp_path):
    """The first run completes trial 0 (lr 0.01); run again with one more trial, the search prunes
    trial 1 (lr 1e-7) at epoch 1 against trial 0's curve, read back from its record."""
    from archspec.tune import search

    spec = lr_spec(digits, [0.01, 1e-7])
    pruner = Pruner("median", startup_trials=1)
    first = search(spec, directory=tmp_path, tuner="grid", max_trials=1, prune=pruner, write_model=False, log=False)
    assert [row["status"] for row in first.rows] == ["completed"]
    curve = read_curves(tmp_path)["0"]["curve"]
    assert read_curves(tmp_path) == {"0": {"curve": curve, "status": "completed"}} and len(curve) == 2
    again = search(spec, directory=tmp_path, tuner="grid", max_trials=2, prune=pruner, write_model=False, log=False)
    assert [row["status"] for row in again.rows] == ["completed", "pruned"]
    record = json.loads((tmp_path / "trials" / "trial_1" / "archspec.json").read_text())
    assert record["pruned"]["threshold"] == curve[0]  # the median of one completed trial at epoch 1
    assert record["pruned"]["score"] < curve[0] and record["pruned"]["epoch"] == 1
    assert again.best["trial_id"] == "0"


def test_hyperband_refuses_pruning_before_any_trial(tmp_path):
    from archspec.cli import main
    from archspec.tune import search

    with pytest.raises(SpecError, match="does not apply to hyperband: Hyperband stops trials on its own") as err:
        search(archspec.loads(LR.replace("LRS", "[0.1]").replace("FIRST", "0.1")), directory=tmp_path,
               tuner="hyperband", prune="median")
    assert err.value.loc.path == "--prune"
    assert not (tmp_path / "trials").exists()
    spec = Path(__file__).resolve().parents[2] / "architectures" / "search" / "lenet_search.yaml"
    assert main(["tune", str(spec), "--tuner", "hyperband", "--prune", "asha", "--directory", str(tmp_path)]) == 2
