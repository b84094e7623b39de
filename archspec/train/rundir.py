"""What a run writes in its directory when it starts (the resolved spec, ``run.json``'s record of
the command, settings and versions) and when it ends (the models -- never one of non-finite weights
--, the test metrics, the curves, the end of ``run.json``). See :mod:`archspec.train.artifacts`
for how each file is written and :mod:`archspec.train.record` for ``run.json``."""

from __future__ import annotations

import os
from pathlib import Path

import archspec.faults as faults
from archspec.train import artifacts
from archspec.train.config import TrainConfig


def write_start(run: Path, record, cfg: TrainConfig, spec_yaml: str | None, command: str | None, setup,
                compiled, resume, fp: dict, weights_report=None) -> None:
    import yaml

    from archspec.train.strategy import describe

    if spec_yaml is not None:
        doc = yaml.safe_load(spec_yaml) or {}
        doc["train"] = cfg.to_dict()
        artifacts.atomic_write(run / "spec.yaml", yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    info = {
        "command": command or artifacts.command_line(),
        "cwd": os.getcwd(),
        "seed": cfg.seed,
        "train": cfg.to_dict(),
        "strategy": describe(setup.strategy),
        "replicas": setup.replicas,
        "global_batch_size": cfg.batch_size,
        "per_replica_batch_size": cfg.batch_size // setup.replicas,
        "precision": setup.policy,
        "jit_compile": compiled.jit_compile,
        "loop": setup.loop,
        "steps_per_execution": compiled.steps_per_execution,
        "versions": artifacts.versions(),
        "data_fingerprint": fp["data"],  # evaluate checks the data is still what was trained on
    }
    weights = weights_report.to_dict() if weights_report else record.info.get("weights") if resume.initial_epoch else None
    if weights:  # the weights the run started from (kept on a resume)
        info["weights"] = weights
    if compiled.frozen is not None:
        info["frozen"] = compiled.frozen.to_dict()
    record.start(info, resumed_at=resume.initial_epoch, changes=resume.changes,
                 checkpoint_sha=resume.checkpoints.last_sha)


def write_end(run: Path, record, model, model_name: str, cfg: TrainConfig, status: str, finite: bool,
              cbs, test_metrics: dict, seconds: float, log) -> None:
    """The models (never one of non-finite weights), the test metrics, the curves and the end of
    run.json."""
    from archspec.train import checkpoint as ck
    from archspec.train.callbacks import keras_value, variables

    if finite:
        artifacts.save_model(model, run / "model.keras")
        faults.point("train.end.model")
        best = cbs.checkpoint.checkpoints.load_best()
        if best is not None:
            model_vars, opt_vars = variables(model)
            current = [keras_value(v) for v in model_vars + opt_vars]
            ck.assign(best, model_vars, opt_vars, where=run)
            try:
                artifacts.save_model(model, run / "best.keras")
            finally:
                for v, value in zip(model_vars + opt_vars, current):
                    v.assign(value)
    if test_metrics:
        artifacts.write_json(run / "metrics.json", test_metrics)
    else:  # no longer the model's: keep no stale figures beside it
        (run / "metrics.json").unlink(missing_ok=True)
    artifacts.plot_curves(run, cbs.rows, f"{model_name} on {cfg.data}", best=cbs.checkpoint.best,
                          test_metrics=test_metrics)
    warnings = cbs.checkpoint.warnings
    fields = dict(epochs_completed=len(cbs.rows), seconds=round(seconds, 2), test_metrics=test_metrics,
                  best_epoch=cbs.checkpoint.best)
    if warnings:
        fields["warnings"] = warnings
    if cbs.guard.tripped is not None:
        fields["nan_at"] = {"epoch": cbs.guard.tripped[0] + 1, "batch": cbs.guard.tripped[1] + 1}
    if not finite:
        fields["model_written"] = False
    faults.point("train.end.record")
    record.end(status, **fields)
    for w in warnings:
        log(f"warning: {w}")
