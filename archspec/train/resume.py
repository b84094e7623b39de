"""Where a run starts: the newest good checkpoint of its backup folder, loaded into the model after
checking it is of this run (:mod:`archspec.train.fingerprint`), with the history and the best epoch
it holds (:mod:`archspec.train.checkpoint`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archspec.train import artifacts


@dataclass
class Resume:
    """What the checkpoint gives a run: where it starts, the history up to there, the best epoch,
    and the settings that changed since (accepted with ``resume_with_changes``)."""

    checkpoints: object
    initial_epoch: int = 0
    rows: list = field(default_factory=list)
    best: dict | None = None
    changes: list = field(default_factory=list)


def load_checkpoint(model, strategy, work: Path, fp: dict, *, allow_changes: bool,
                    log: Callable[[str], None]) -> Resume:
    """Load the newest good checkpoint into the model (inside the strategy's scope), after
    checking it is of this run (its fingerprint); the history and best epoch it holds."""
    from archspec.errors import FileError
    from archspec.train import checkpoint as ck
    from archspec.train.fingerprint import changes

    checkpoints = ck.Checkpoints(work / "backup", log)
    resume = Resume(checkpoints)
    with strategy.scope():
        state = checkpoints.load()
        if state is None:  # none, or an older archspec's Keras BackupAndRestore files
            resume.initial_epoch = checkpoints.load_keras_format(model)
            resume.rows = [r for r in artifacts.read_history(work) if r.get("epoch", 0) <= resume.initial_epoch]
            return resume
        resume.changes = changes(state.meta.get("fingerprint"), fp)
        if resume.changes and not allow_changes:
            raise FileError(work, f"cannot resume: the checkpoint of epoch {state.epoch} here is of a run with other "
                                  "settings (" + "; ".join(resume.changes) + ")",
                            hint="train into a new directory (-o DIR), start over here (--fresh), or continue "
                                 "this run with the changes recorded in run.json (--resume-with-changes)")
        assign_state(model, state, where=work)
    resume.initial_epoch = state.epoch
    resume.rows = state.meta.get("history")
    if resume.rows is None:  # a checkpoint of archspec <= 0.9: the history files
        resume.rows = [r for r in artifacts.read_history(work) if r.get("epoch", 0) <= state.epoch]
    resume.best = state.meta.get("best")
    return resume


def assign_state(model, state, *, where: Path) -> None:
    """Put a checkpoint's ``state`` into the model's and its optimizer's variables (inside the
    model's strategy scope; the optimizer built first if need be); the configured learning rate
    stays: an optimizer variable, but a setting of this run. A FileError when it is another
    model's (:func:`archspec.train.checkpoint.assign`)."""
    from archspec.train import checkpoint as ck
    from archspec.train.callbacks import keras_value, variables

    opt = model.optimizer
    if opt is not None and not opt.built:  # its variables must exist to receive the state
        opt.build(model.trainable_variables)
    model_vars, opt_vars = variables(model)
    keep = [(v, keras_value(v)) for v in opt_vars if v.path.endswith("learning_rate")]
    ck.assign(state, model_vars, opt_vars, where=where)
    for v, value in keep:
        v.assign(value)
