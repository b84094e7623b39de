"""Several objectives (archspec.tune.pareto): the Pareto front of a table with known values, the
--objective and --pick forms and their located errors (exit 2), and `archspec tune` end to end
once (grid over the hidden width, accuracy against parameters and latency, median pruning): the
front marked in the table, each of its trials frozen to pareto/trial_ID.yaml and loadable, best.yaml
the trial --pick chooses, a pick no trial meets an error at --pick after the results are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archspec
from archspec.errors import SpecError
from archspec.tune.pareto import (Objective, Pick, choose, dominates, knee, parse_objectives, parse_pick,
                                  pareto_front)

ROOT = Path(__file__).resolve().parents[2]
ACC, PARAMS, MACS = Objective("val_accuracy", "max"), Objective("params", "min"), Objective("macs", "min")


def row(trial_id, objective, params, macs=100, status="completed", rejected=False, latency=None):
    return {"trial_id": trial_id, "status": status, "rejected": rejected, "objective": objective,
            "params": params, "macs": macs, "memory": 4 * params, "latency_ms": latency}


#: hand-checked: B and I tie (both on the front), C is dominated by B, D by A; F scored best with
#: the fewest parameters but was pruned, G rejected, H failed: none of them is ever on the front
TABLE = [row("A", 0.90, 1000), row("B", 0.85, 500), row("C", 0.80, 800), row("D", 0.90, 1200),
         row("E", 0.95, 5000), row("F", 0.99, 10, status="pruned"),
         row("G", None, 20, status="rejected: params 20 > 10", rejected=True),
         row("H", None, 30, status="failed"), row("I", 0.85, 500)]


def test_the_front_is_exactly_the_non_dominated_set():
    assert pareto_front(TABLE, [ACC, PARAMS]) == ["A", "B", "E", "I"]
    # brute force over the trials that trained to the end: no front member is dominated, every
    # other trial is
    trained = [r for r in TABLE if r["status"] == "completed"]
    for r in trained:
        dominated = any(dominates(o, r, [ACC, PARAMS]) for o in trained)
        assert dominated == (r["trial_id"] not in {"A", "B", "E", "I"}), r["trial_id"]
    assert dominates(TABLE[1], TABLE[2], [ACC, PARAMS]) and not dominates(TABLE[1], TABLE[8], [ACC, PARAMS])
    # a third objective: C has the fewest MACs, so nothing dominates it any more
    three = [dict(r, macs=50) if r["trial_id"] == "C" else r for r in TABLE]
    assert pareto_front(three, [ACC, PARAMS, MACS]) == ["A", "B", "C", "E", "I"]
    # one objective: the front is the best trial(s)
    assert pareto_front(TABLE, [ACC]) == ["E"]
    # a trial without a value for an objective (latency not measured) is left out
    assert pareto_front(TABLE, [ACC, Objective("latency", "min")]) == []


@pytest.mark.parametrize("text, chosen", [
    ("knee", "A"),  # scaled over the front: A (0.5, 0.11) is nearest the ideal point; B and E are at 1
    ("max:val_accuracy", "E"),
    ("max:val_accuracy@params<2k", "A"),      # A and D tie at 0.90: fewer parameters wins
    ("min:params", "B"),                      # B and I tie in everything: the first
    ("min:params@val_accuracy>=0.9", "A"),
    ("max:val_accuracy@params<=1.2k,params>1000", "D"),
    ("knee@params<=800", "B"),
    ("min:memory@val_accuracy>0.9", "E"),     # memory: a cost of every trial, objective or not
])
def test_pick_forms_against_hand_computed_choices(text, chosen):
    pick = parse_pick(text, [ACC, PARAMS])
    assert choose(TABLE, [ACC, PARAMS], pick)["trial_id"] == chosen


def test_pick_defaults_and_nothing_met():
    assert parse_pick(None, [ACC]) is None and parse_pick(None, [ACC, PARAMS]) == Pick()
    assert choose(TABLE, [ACC], None)["trial_id"] == "E"  # one objective: the best, never F (pruned)
    assert knee(TABLE, [ACC, PARAMS])["trial_id"] == "A"
    assert choose(TABLE, [ACC, PARAMS], parse_pick("max:val_accuracy@params<10", [ACC, PARAMS])) is None
    assert parse_pick("max:val_accuracy@params<1.5M", [ACC]).conditions == (("params", "<", 1_500_000),)


@pytest.mark.parametrize("text, match", [
    ("best", r"`--pick best` is not `knee` or `max:NAME`/`min:NAME`"),
    ("max:latency", r"`--pick` names `latency`, which the search does not record"),
    ("max:val_accuracy@flops<1", r"`--pick` names `flops`"),
    ("max:val_accuracy@params<lots", r"`params<lots` in `--pick max:val_accuracy@params<lots` is not NAME<NUMBER"),
    ("max:val_accuracy@params<1X", r"is not NAME<NUMBER"),
])
def test_pick_mistakes_are_located_at_pick(text, match):
    with pytest.raises(SpecError, match=match) as err:
        parse_pick(text, [ACC, PARAMS])
    assert err.value.loc.path == "--pick"


@pytest.mark.parametrize("given, match", [
    (["val_accuracy", "val_loss"], "give exactly one metric objective"),
    (["params:min"], "give a metric objective too"),
    (["val_accuracy", "params:max"], "the cost `params` can only be minimized"),
    (["val_accuracy", "params", "params:min"], "the objective `params` is given twice"),
    (["val accuracy"], "is not NAME or NAME:min|max"),
])
def test_objective_mistakes_are_located_at_objective(given, match):
    with pytest.raises(SpecError, match=match) as err:
        parse_objectives(given)
    assert err.value.loc.path == "--objective"


def test_objectives_put_the_metric_first_with_its_direction():
    assert parse_objectives(["latency:min", "val_loss"]) == [Objective("val_loss", "min"),
                                                             Objective("latency", "min")]
    assert parse_objectives("val_accuracy") == [ACC]
    assert [str(o) for o in parse_objectives(["val_accuracy", "macs"])] == ["val_accuracy:max", "macs:min"]


def test_cli_refuses_a_bad_pick_before_any_trial(tmp_path, capsys):
    from archspec.cli import main

    spec = ROOT / "architectures" / "search" / "lenet_search.yaml"
    assert main(["tune", str(spec), "--directory", str(tmp_path), "--pick", "max:latency"]) == 2
    err = capsys.readouterr().err
    assert "--pick" in err and "latency: add --objective latency:min" in err
    assert not (tmp_path / "trials").exists()


# ------------------------------------------------------------------------------ end to end
WIDTH = """
name: width
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: {hp: choice, values: [2, 8, 32], default: 2, name: units}, activation: relu}
  - dense: {units: 10, activation: softmax}
train:
  data: npz:DATA
  optimizer: {name: adam, learning_rate: 0.01}
  batch_size: 50
  epochs: 2
"""
#: parameters of each width: 64*u + u + u*10 + 10
PARAMS_OF = {2: 160, 8: 610, 32: 2410}


def test_cli_end_to_end_front_pareto_files_and_pick(tmp_path, capsys):
    import numpy as np
    from sklearn.datasets import load_digits

    from archspec.cli import main

    d = load_digits()
    x = (d.images / 16.0).astype("float32")[..., None]
    np.savez(tmp_path / "digits.npz", x_train=x[:400], y_train=d.target[:400], x_test=x[400:500],
             y_test=d.target[400:500])
    spec = tmp_path / "width.yaml"
    spec.write_text(WIDTH.replace("DATA", str(tmp_path / "digits.npz")))
    out = tmp_path / "search"
    cmd = ["tune", str(spec), "--tuner", "grid", "--max-trials", "3", "--directory", str(out), "--no-model",
           "--objective", "val_accuracy", "--objective", "params:min", "--objective", "latency:min",
           "--prune", "median", "--prune-startup", "1", "--pick", "max:val_accuracy@params<1k"]
    assert main(cmd) == 0
    text = capsys.readouterr().out
    rows = json.loads((out / "results.json").read_text())
    assert [PARAMS_OF[r["values"]["units"]] for r in rows] == [r["params"] for r in rows]
    trained = [r for r in rows if r["status"] == "completed"]
    assert trained and all(r["latency_ms"] > 0 for r in trained)
    objectives = parse_objectives(["val_accuracy", "params:min", "latency:min"])
    front = pareto_front(rows, objectives)
    assert front and [r["trial_id"] for r in rows if r["front"]] == front
    assert not any(r["front"] for r in rows if r["status"] == "pruned")
    # the table marks the front; the front's line names its trials
    head = next(line for line in text.splitlines() if line.split()[:2] == ["trial", "status"])
    assert head.split()[:9] == ["trial", "status", "objective", "params", "MACs", "epochs", "latency", "ms", "front"]
    assert f"Pareto front of val_accuracy:max, params:min, latency:min: trials {', '.join(front)}" in text
    # every front member frozen and loadable, with the trial's parameters; nothing else there
    assert sorted(p.name for p in (out / "pareto").iterdir()) == sorted(f"trial_{t}.yaml" for t in front)
    by_id = {r["trial_id"]: r for r in rows}
    for t in front:
        frozen = archspec.load(out / "pareto" / f"trial_{t}.yaml")
        assert frozen.spaces == [] and frozen.analyze().total_params == by_id[t]["params"]
    # best.yaml: the best accuracy among trials under 1k parameters that trained to the end
    under = [r for r in trained if r["params"] < 1000]
    best = max(under, key=lambda r: (r["objective"], -r["params"]))
    assert (out / "best.yaml").read_text().startswith(f"# frozen by `archspec tune` from {spec} (trial "
                                                      f"{best['trial_id']}: val_accuracy=")
    assert "picked by --pick max:val_accuracy@params<1k" in text
    assert archspec.load(out / "best.yaml").analyze().total_params == best["params"]
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    # --summary shows the front too; a pick no trial meets: exit 2 at --pick, results kept
    assert main(["tune", "--summary", str(out)]) == 0
    assert " front" in capsys.readouterr().out
    assert main(cmd[:-1] + ["max:val_accuracy@params<100"]) == 2
    err = capsys.readouterr().err
    assert "--pick" in err and "no trial that trained meets `--pick max:val_accuracy@params<100`" in err
    assert json.loads((out / "results.json").read_text()) == rows
