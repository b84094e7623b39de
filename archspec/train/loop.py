"""One training path for every strategy: data, model, compile, callbacks, artifacts.

The epoch loop itself has two drivers sharing everything else (callbacks, metrics, checkpoints,
progress bars, artifacts):

- ``fit``: Keras' ``model.fit`` — used with one replica (one device, one GPU, the CPU);
- ``custom``: a distributed step — ``strategy.experimental_distribute_dataset``, ``strategy.run``
  of a ``tf.function`` step with ``tf.GradientTape`` and ``tf.nn.compute_average_loss`` over the
  *global* batch, the Keras optimizer's ``apply_gradients``, metrics reduced across replicas —
  used with several replicas: MultiWorkerMirroredStrategy, where Keras 3's ``fit`` fails on the
  first step (keras-team/keras#20585), and MirroredStrategy/TPUs, where ``fit`` runs but drifts from
  the one-device trajectory (measured here; the custom step follows it to float round-off).
  ``loop: fit|custom`` forces either (the tests compare both).

The model is built, and the optimizer, loss and metrics are created, inside ``strategy.scope()``.

:func:`fit` trains a spec; :func:`train` any model function. A run is a sequence of named steps:
strategy, build, data, compile, callbacks (with the resume), the epochs, the test evaluation and
the run directory.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import archspec.faults as faults
from archspec.errors import SpecError, command_line
from archspec.train import artifacts, rundir
from archspec.train.resume import Resume, load_checkpoint
from archspec.train.config import TrainConfig
from archspec._env import quiet_tensorflow

if TYPE_CHECKING:
    from archspec.spec import Spec

EXIT_NAN = 3


@dataclass
class RunResult:
    """What a run produced. ``status``: ``completed``, ``early_stopped`` or ``nan``."""

    run_dir: Path
    status: str
    history: list = field(default_factory=list)
    test_metrics: dict = field(default_factory=dict)
    initial_epoch: int = 0
    replicas: int = 1
    loop: str = "fit"
    seconds: float = 0.0
    model: object = None


def _log(msg: str) -> None:
    print(msg, flush=True)


def fit(spec: Spec | str | Path, *, output: str | Path | None = None, overrides: dict | None = None,
        data: str | None = None, fresh: bool = False, verbose: int | None = None,
        logical_cpus: int | None = None, log: Callable[[str], None] = _log,
        callbacks: list | None = None, command: str | None = None,
        resume_with_changes: bool = False, weights: str | Path | None = None, weights_strict: bool = False,
        adapt_input: bool = False) -> RunResult:
    """Train a spec (a :class:`~archspec.spec.Spec` or a path) as its ``train:`` section says.

    ``overrides`` maps train fields (dotted: ``optimizer.learning_rate``) to ``(value, Loc|None)``
    or plain values; ``data`` is a data source name (``npz:PATH``) in place of ``train.data``.
    The run directory is ``output`` (default ``runs/<spec name>``); running again resumes it,
    unless ``fresh`` clears the run's files first. See :func:`train` for the rest, for
    ``resume_with_changes`` and for ``weights``.

    Example:
        >>> result = fit("architectures/lenet5.yaml", output="runs/lenet5")   # doctest: +SKIP
        >>> result.status, sorted(result.test_metrics)                       # doctest: +SKIP
        ('completed', ['accuracy', 'loss'])
    """
    from archspec.builder import build
    from archspec.spec import as_spec

    spec = as_spec(spec)
    given = {k: (v if isinstance(v, tuple) and len(v) == 2 else (v, None)) for k, v in (overrides or {}).items()}
    if data is not None:
        given["data"] = (data, command_line("--data"))
    cfg = TrainConfig.from_sources(spec.train, given)
    output = Path(output or Path("runs") / spec.name)
    # the data's names, files, arrays and fit to the model, before TensorFlow (seconds) is imported
    from archspec.train.data import preflight
    from archspec.train.hints import spec_suggester

    suggest = spec_suggester(spec)
    outputs = spec.output_shapes[0]
    preloaded = preflight(cfg, spec.input_shapes[0], outputs[-1] if outputs else None, spec.name, suggest)
    from archspec.train.finetune import check as check_finetune

    check_finetune(cfg, [n.name for n in spec.graph.layers if not n.shares])  # freeze/lr_groups globs, before TensorFlow
    if weights is None and spec.init:  # the spec's init: {weights: PATH, strict, adapt_input}
        weights, weights_strict = spec.init["path"], spec.init.get("strict", False)
        adapt_input = spec.init.get("adapt_input", False)
    return train(lambda: build(spec, features=False), cfg, output=output, model_name=spec.name, spec_yaml=spec.to_yaml(),
                 command=command, verbose=verbose, logical_cpus=logical_cpus, log=log, callbacks=callbacks,
                 fresh=fresh, resume_with_changes=resume_with_changes, preloaded=preloaded, suggest=suggest,
                 weights=weights, weights_strict=weights_strict, adapt_input=adapt_input)


def train(model_fn: Callable, cfg: TrainConfig, *, output: str | Path, model_name: str = "model",
          spec_yaml: str | None = None, command: str | None = None, verbose: int | None = None,
          logical_cpus: int | None = None, log: Callable[[str], None] = _log,
          callbacks: list | None = None, fresh: bool = False, resume_with_changes: bool = False,
          preloaded=None, suggest=None, weights: str | Path | None = None, weights_strict: bool = False,
          adapt_input: bool = False) -> RunResult:
    """Train the model ``model_fn()`` (called inside ``strategy.scope()``) as ``cfg`` says.

    Writes the run directory ``output`` (see :mod:`archspec.train.artifacts`), which this process
    locks (:mod:`archspec.train.lock`); running the same call again resumes at the last completed
    epoch, or does nothing when the run has finished (more ``epochs`` continue it; ``fresh``
    starts over). A resume whose model, data or train settings differ from the checkpoint's
    (:mod:`archspec.train.fingerprint`) is refused, naming the changes, unless
    ``resume_with_changes``, which records them. ``callbacks``: more Keras callbacks, called
    after archspec's own (NaN guard, checkpoint) in every loop. ``preloaded`` (the data of
    ``cfg.data``, loaded) and ``suggest`` (hints that change the model, see
    :mod:`archspec.train.hints`) come from :func:`fit`, which checks the data before TensorFlow.
    ``weights``: a file to load into a fresh run's model before training
    (:func:`archspec.weights.load_weights` with ``strict=weights_strict`` and ``adapt_input``; the
    report is logged and written into ``run.json``); a resume continues from its checkpoint instead.

    Example:
        >>> import keras
        >>> def net():
        ...     return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                              keras.layers.Dense(10, activation="softmax")])
        >>> result = train(net, TrainConfig(epochs=2), output="runs/tiny")   # doctest: +SKIP
        >>> result.test_metrics["accuracy"] > 0.8                               # doctest: +SKIP
    """
    from archspec.train.lock import hold

    t_start = time.perf_counter()
    output = Path(output)
    chief, worker_dir = _role_from_env()
    with hold(output, name=".lock" if chief else f".lock-{worker_dir}"):  # before TensorFlow: fails fast
        own = output if chief else output / worker_dir
        artifacts.remove_temporaries(own)
        quiet_tensorflow()
        if logical_cpus:  # before TensorFlow initializes its devices
            from archspec.train.strategy import configure_logical_cpus

            configure_logical_cpus(logical_cpus)
        from archspec.train import precision

        setup = _setup(cfg)
        with precision.global_policy(setup.policy):  # restored after the run
            return _run(model_fn, cfg, setup, output=output, model_name=model_name, spec_yaml=spec_yaml,
                        command=command, verbose=verbose, log=log, extra_callbacks=callbacks, t_start=t_start,
                        resume_with_changes=resume_with_changes, preloaded=preloaded, suggest=suggest,
                        fresh=fresh, weights=(weights, weights_strict, adapt_input) if weights else None)


def _role_from_env() -> tuple[bool, str]:
    """Whether this process writes the run directory (no ``TF_CONFIG``, or its chief: the
    ``chief`` task, else worker 0), and a worker's own folder in it (``.worker-N``)."""
    import json

    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return True, ""
    task = tf_config.get("task") or {}
    if not task:
        return True, ""
    kind, index = task.get("type"), int(task.get("index", 0))
    has_chief = bool((tf_config.get("cluster") or {}).get("chief"))
    chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
    return chief, "" if chief else f".worker-{index}"


# ------------------------------------------------------------------ the steps of a run
@dataclass
class _Setup:
    """Where and how the run trains: strategy, this process's role, loop driver, precision, XLA."""

    strategy: object
    role: object
    replicas: int
    loop: str
    policy: str
    jit: bool


@dataclass
class _Inputs:
    """The data and its pipelines."""

    data: object
    how: str | None  # how the examples are fitted to the model input (resize, pad, ...), or None
    fit: object      # the batched map function doing it
    train_ds: object
    steps: int
    val_ds: object = None
    vsteps: int | None = None


@dataclass
class _Callbacks:
    guard: object
    checkpoint: object
    all: list
    initial_epoch: int

    @property
    def rows(self) -> list:
        return self.checkpoint.rows


def _setup(cfg: TrainConfig) -> _Setup:
    """The strategy (first: MultiWorkerMirroredStrategy configures TensorFlow), the loop driver,
    precision and XLA."""
    import keras
    import tensorflow as tf

    from archspec.train import precision
    from archspec.train import strategy as strat

    strategy = strat.make_strategy(cfg.strategy, cfg.loc("strategy"))
    keras.utils.set_random_seed(cfg.seed)
    replicas = strategy.num_replicas_in_sync
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    # Keras 3 fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), and under
    # MirroredStrategy it runs but drifts from the one-device trajectory (measured: 4% after one
    # epoch at the same global batch and seed) while the custom step follows it to 1e-6.
    loop = cfg.loop if cfg.loop != "auto" else ("custom" if multi_worker or replicas > 1 else "fit")
    return _Setup(strategy, strat.role(strategy), replicas, loop, precision.choose_precision(cfg.precision),
                  precision.choose_jit(cfg.jit_compile))


def _build(model_fn: Callable, setup: _Setup):
    from archspec.train import precision

    with setup.strategy.scope():
        return precision.build_model(model_fn, setup.policy)


def _inputs(cfg: TrainConfig, model, model_name: str, replicas: int, preloaded=None, suggest=None) -> _Inputs:
    """Load the data (unless ``preloaded``), check it fits the model, and make the training and
    validation pipelines."""
    from archspec.train import augment as aug
    from archspec.train import data as data_mod

    in_shape = tuple(model.inputs[0].shape[1:])
    data = preloaded or data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=in_shape)
    if cfg.validation_data:
        vdata = data_mod.load_data(cfg.validation_data, cfg, cfg.loc("validation_data"), model_input=in_shape)
        data.val = vdata.test or vdata.train
    from archspec.train.checks import check_fit

    how = check_fit(data, in_shape, model.outputs[0].shape[-1], cfg, model_name, suggest=suggest)
    fit = data_mod.fit_fn(how, in_shape)
    gb = cfg.batch_size
    if gb % replicas:
        raise SpecError(f"the global batch size {gb} is not divisible by the {replicas} replicas",
                        cfg.loc("batch_size"), received=gb, hint=f"use a multiple of {replicas}")
    train_ds, steps = data_mod.pipeline(data.train, batch=gb, training=True, cfg=cfg, fit=fit,
                                        augment=aug.make_augmentation(cfg, in_shape))
    inputs = _Inputs(data, how, fit, train_ds, steps)
    if data.val is not None and data.val.n:
        inputs.val_ds, inputs.vsteps = data_mod.pipeline(data.val, batch=gb, training=False, cfg=cfg, fit=fit)
    return inputs


def _compile(model, cfg: TrainConfig, setup: _Setup, inputs: _Inputs):
    from archspec.train.compile import compile_model

    # Keras' multi-step loop fails under MirroredStrategy (measured): one step per call there
    group = setup.loop == "fit" and setup.replicas == 1
    with setup.strategy.scope():
        return compile_model(model, cfg, steps_per_epoch=inputs.steps, validation_steps=inputs.vsteps,
                             group_steps=group)


def _callbacks(model, cfg: TrainConfig, setup: _Setup, run: Path, has_val: bool, resume: Resume, record,
               fp: dict, extra: list | None, log) -> _Callbacks:
    """archspec's callbacks (NaN guard, checkpoint), early stopping, TensorBoard and ``extra``."""
    import keras

    from archspec.train import callbacks as cb
    from archspec.train.compile import direction

    guard = cb.NanGuard()
    stop = cfg.early_stopping
    monitor = stop.monitor if stop else ("val_loss" if has_val else "loss")
    mode = stop.mode if stop and stop.mode != "auto" else direction(monitor) or "min"
    checkpoint = cb.EpochCheckpoint(resume.checkpoints, guard, run=run, monitor=monitor,
                                    higher_is_better=mode == "max", write=setup.role.is_chief,
                                    record=record if setup.role.is_chief else None, fingerprint=fp,
                                    rows=resume.rows, best=resume.best, log=log)
    every = [guard, checkpoint]
    if stop:
        every.append(keras.callbacks.EarlyStopping(**stop.to_dict()))
    if setup.role.is_chief:
        every.append(keras.callbacks.TensorBoard(log_dir=str(run / "tensorboard"), write_graph=False))
    from archspec.train.finetune import make_unfreezer

    unfreezer = make_unfreezer(model, cfg, resume.initial_epoch, log)
    if unfreezer is not None:
        every.append(unfreezer)
    every += list(extra or [])
    return _Callbacks(guard, checkpoint, every, resume.initial_epoch)


def _epochs(model, cfg: TrainConfig, setup: _Setup, compiled, inputs: _Inputs, cbs: _Callbacks,
            verbose: int) -> None:
    if setup.loop == "fit":
        model.fit(inputs.train_ds, epochs=cfg.epochs, steps_per_epoch=inputs.steps, validation_data=inputs.val_ds,
                  validation_steps=inputs.vsteps, callbacks=cbs.all, verbose=verbose, shuffle=False,
                  initial_epoch=cbs.initial_epoch)
        return
    from archspec.train.custom import CustomLoop

    CustomLoop(model, setup.strategy, cfg, compiled.metrics, jit=compiled.jit_compile).fit(
        inputs.train_ds, inputs.steps, inputs.val_ds, inputs.vsteps, callbacks=cbs.all, verbose=verbose,
        initial_epoch=cbs.initial_epoch)


def _status(model, cfg: TrainConfig, setup: _Setup, cbs: _Callbacks, log: Callable[[str], None]) -> tuple[str, bool]:
    """``nan`` (the last good checkpoint restored), ``early_stopped`` or ``completed``; and whether
    the model now holds finite weights (else no model file may be written)."""
    rows = cbs.rows
    if cbs.guard.tripped is None and _finite(model):
        if model.stop_training or (rows and rows[-1]["epoch"] < cfg.epochs):
            return "early_stopped", True
        return "completed", True
    from archspec.train import checkpoint as ck
    from archspec.train.callbacks import variables

    state = cbs.checkpoint.checkpoints.load()
    if state is not None:
        with setup.strategy.scope():
            ck.assign(state, *variables(model), where=cbs.checkpoint.checkpoints.dir)
    what = (f"loss became NaN at epoch {cbs.guard.tripped[0] + 1}, batch {cbs.guard.tripped[1] + 1}"
            if cbs.guard.tripped is not None else "the weights hold NaN or infinite values")
    log(f"{what}: stopped; " + (f"kept the checkpoint of epoch {state.epoch}" if state is not None else
                                "no epoch completed: no model is written"))
    return "nan", state is not None and _finite(model)


def _finite(model) -> bool:
    import numpy as np

    from archspec.train.callbacks import keras_value

    for v in model.weights:
        value = np.asarray(keras_value(v))
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return False
    return True


def _test(model, cfg: TrainConfig, setup: _Setup, compiled, inputs: _Inputs, log) -> dict:
    """Loss and metrics on the held-out test split ({} without one)."""
    from archspec.train import data as data_mod

    test = inputs.data.test
    if test is None or not test.n:
        return {}
    ds, _ = data_mod.pipeline(test, batch=cfg.batch_size, training=False, cfg=cfg, fit=inputs.fit, repeat=False)
    if setup.loop == "fit":
        metrics = model.evaluate(ds, verbose=0, return_dict=True)
    else:
        from archspec.train.custom import CustomLoop

        metrics = CustomLoop(model, setup.strategy, cfg, compiled.metrics, jit=compiled.jit_compile).evaluate(ds)
    metrics = {k: float(v) for k, v in metrics.items()}
    log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return metrics


def _run(model_fn, cfg: TrainConfig, setup: _Setup, *, output: Path, model_name, spec_yaml, command, verbose,
         log, extra_callbacks, t_start: float, resume_with_changes: bool = False, preloaded=None,
         suggest=None, fresh: bool = False, weights: tuple | None = None) -> RunResult:
    from archspec.train.fingerprint import fingerprint
    from archspec.train.record import RunRecord

    run = output
    chief = setup.role.is_chief
    work = run if chief else run / f".worker-{setup.role.task_id}"
    model = _build(model_fn, setup)
    inputs = _inputs(cfg, model, model_name, setup.replicas, preloaded, suggest)
    compiled = _compile(model, cfg, setup, inputs)
    fp = fingerprint(cfg, inputs.data, spec_yaml=spec_yaml, model=model)
    weight_file = _read_weights(weights) if weights and fresh else None  # a bad file: the old run intact
    if fresh:  # only now: settings that cannot run (a strategy, the data) leave the old run intact
        artifacts.clear_run(work)
    resume = load_checkpoint(model, setup.strategy, work, fp, allow_changes=resume_with_changes, log=log)
    weights_report = None
    if weights and resume.initial_epoch:
        log(f"--weights {weights[0]} not loaded: resuming, the checkpoint's weights win (--fresh starts over)")
    elif weights:  # before anything is written: a file that does not fit leaves the run directory as it was
        from archspec.weights import transfer

        weights_report = transfer(model, weight_file or _read_weights(weights), strict=weights[1],
                                  adapt_input=weights[2])
        log(f"weights: {weights_report}")
    record = RunRecord(run, write=chief)
    if _finished(record, resume, cfg):  # before any write: a finished run is left as it is
        return _nothing_to_do(run, record, resume, model, setup, log, t_start)
    if chief and resume.initial_epoch:  # the history files are views of the checkpoint
        artifacts.write_history(run, resume.rows)
    if resume.initial_epoch >= cfg.epochs:
        log(f"the checkpoint is at epoch {resume.initial_epoch}, not before the {cfg.epochs} epochs asked: "
            "no epoch to train")
    _log_start(log, model, cfg, setup, inputs, compiled, model_name, work)
    if compiled.frozen is not None:
        log(str(compiled.frozen))
    if resume.initial_epoch:
        log(f"resuming from the checkpoint of epoch {resume.initial_epoch} in {work / 'backup'}"
            + (" with changes: " + "; ".join(resume.changes) if resume.changes else ""))
    cbs = _callbacks(model, cfg, setup, run, inputs.val_ds is not None, resume, record, fp, extra_callbacks, log)
    if chief:
        rundir.write_start(run, record, cfg, spec_yaml, command, setup, compiled, resume, fp, weights_report)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    try:
        _epochs(model, cfg, setup, compiled, inputs, cbs, verbose)
        cbs.checkpoint.checkpoints.wait()  # the last epoch's files on the disk before the run says it ended
        status, finite = _status(model, cfg, setup, cbs, log)
        test_metrics = _test(model, cfg, setup, compiled, inputs, log) if status != "nan" else {}
        seconds = time.perf_counter() - t_start
        if chief:
            rundir.write_end(run, record, model, model_name, cfg, status, finite, cbs, test_metrics, seconds, log)
        elif work != run:
            shutil.rmtree(work / "tensorboard", ignore_errors=True)
    except faults.Killed:  # a simulated SIGKILL (tests): nothing more may be written
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into Terminated by the CLI
        from archspec.errors import Terminated

        cbs.checkpoint.settle()
        record.stop("interrupted", "SIGTERM" if isinstance(exc, Terminated) else "SIGINT (Ctrl-C)")
        log(f"interrupted after epoch {cbs.checkpoint.checkpoints.last_epoch}; the same command resumes from "
            "its checkpoint")
        raise
    except BaseException as exc:
        from archspec.errors import ArchspecError

        cbs.checkpoint.settle()
        record.stop("failed", str(exc) if isinstance(exc, ArchspecError) else f"{type(exc).__name__}: {exc}")
        raise
    log(f"{status} in {seconds:.1f} s; run directory {run}")
    return RunResult(run, status, cbs.rows, test_metrics, cbs.initial_epoch, setup.replicas, setup.loop,
                     seconds, model)


def _read_weights(weights: tuple):
    from archspec.weights import read_weights

    return read_weights(weights[0])


def _finished(record, resume: Resume, cfg: TrainConfig) -> bool:
    """A finished run (completed or early stopped, its model intact) asked for no more epochs
    than it had."""
    from archspec.train.record import FINISHED

    if record.status not in FINISHED or not resume.initial_epoch or \
            artifacts.model_file_problem(record.path.parent / "model.keras"):
        return False
    asked = (record.info.get("train") or {}).get("epochs")
    return resume.initial_epoch >= cfg.epochs or asked == cfg.epochs


def _nothing_to_do(run: Path, record, resume: Resume, model, setup: _Setup, log, t_start: float) -> RunResult:
    metrics = record.info.get("test_metrics") or {}
    shown = ", ".join(f"test {k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)))
    log(f"{run}: finished already ({record.status} after {resume.initial_epoch} epochs"
        + (f"; {shown}" if shown else "") + "): nothing to do. To train further raise --epochs; to start "
        f"over add --fresh; to evaluate again: archspec evaluate {run}")
    return RunResult(run, record.status, resume.rows, metrics, resume.initial_epoch, setup.replicas, setup.loop,
                     time.perf_counter() - t_start, model)


def _log_start(log, model, cfg: TrainConfig, setup: _Setup, inputs: _Inputs, compiled, model_name: str,
               work: Path) -> None:
    from archspec.train.strategy import describe

    data, gb, in_shape = inputs.data, cfg.batch_size, tuple(model.inputs[0].shape[1:])
    log(f"archspec train: {model_name} ({model.count_params():,} parameters) on {cfg.data}: "
        f"{data.train.n:,} train / {data.val.n if data.val else 0:,} validation / "
        f"{data.test.n if data.test else 0:,} test examples"
        + (f", {'x'.join(map(str, data.shape))} -> {inputs.how} to {'x'.join(map(str, in_shape))}"
           if inputs.how else ""))
    spe = compiled.steps_per_execution
    log(f"strategy {describe(setup.strategy)}: {setup.replicas} replica(s), global batch {gb} = "
        f"{gb // setup.replicas} per replica; {inputs.steps} steps/epoch; precision {setup.policy}; "
        f"jit_compile {'on' if compiled.jit_compile else 'off'}; loop {setup.loop}"
        + (f", {spe} steps per execution" if spe > 1 else "")
        + ("" if setup.role.is_chief else f"; worker {setup.role.task_id} (artifacts in {work})"))
