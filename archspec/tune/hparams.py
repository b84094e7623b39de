"""TensorBoard's HParams dashboard for a search: ``DIRECTORY/hparams/``.

``tensorboard --logdir DIRECTORY/hparams`` shows every trial of the search in the HParams
dashboard: its hyperparameter values, its ``seed`` (the trial's random seed,
:func:`archspec.tune.trials.trial_seed`: with the values, it reproduces the trial) and its
metrics: the objective (the best epoch's, as keras-tuner scores it), ``params``, ``macs`` and,
when measured, ``latency_ms``; a trial that did not train (failed, rejected) has no objective.
Written by :func:`search` with the results, afresh each time (a resumed search rewrites it):
``hparams/`` holds the experiment's configuration, ``hparams/trial_N/`` each trial's run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from archspec.tune.layout import PROJECT, RECORD

HPARAMS = "hparams"  # in the search directory
#: the metrics of each trial's run besides the objective (the results table's columns)
COSTS = ("params", "macs", "latency_ms")


def write_hparams(directory: str | Path, rows: list[dict], objective: str) -> Path:
    """Write the HParams runs of the results table ``rows`` (:func:`results_table`) under
    ``directory/hparams`` (removed first) and return that folder."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    out = Path(directory) / HPARAMS
    shutil.rmtree(out, ignore_errors=True)
    names = sorted({k for r in rows for k in r["values"]})
    domains = {n: _domain(hp, [r["values"][n] for r in rows if n in r["values"]]) for n in names}
    params = [hp.HParam(n, domains[n]) for n in names] + [hp.HParam("seed"), hp.HParam("status")]
    metrics = [hp.Metric(objective)] + [hp.Metric(m) for m in COSTS]
    with tf.summary.create_file_writer(str(out)).as_default():
        hp.hparams_config(hparams=params, metrics=metrics)
    for row in rows:
        values = {n: _plain(row["values"][n]) for n in names if n in row["values"]}
        values["status"] = str(row["status"])
        seed = _record(directory, row["trial_id"]).get("seed")
        if seed is not None:
            values["seed"] = int(seed)
        with tf.summary.create_file_writer(str(out / f"trial_{row['trial_id']}")).as_default():
            hp.hparams(values, trial_id=str(row["trial_id"]))
            if row["objective"] is not None and row["status"] in ("completed", "pruned"):
                tf.summary.scalar(objective, float(row["objective"]), step=0)
            for cost in COSTS:
                if row.get(cost) is not None:
                    tf.summary.scalar(cost, float(row[cost]), step=0)
    return out


def _domain(hp, values: list):
    """The HParams domain of a hyperparameter's values across the trials (None: any)."""
    plain = [_plain(v) for v in values]
    if plain and all(isinstance(v, bool) for v in plain):
        return hp.Discrete([False, True])
    if plain and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in plain):
        return hp.RealInterval(float(min(plain)), float(max(plain)))
    if plain and all(isinstance(v, str) for v in plain):
        return hp.Discrete(sorted(set(plain)))
    return None


def _plain(value):
    """A value the HParams API takes (bool, int, float, str): others as JSON text."""
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _record(directory, trial_id) -> dict:
    try:
        record = json.loads((Path(directory) / PROJECT / f"trial_{trial_id}" / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
