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

from archspec._recursion import deep_recursion
from archspec.errors import Loc, SpecError, command_line
from archspec.train import artifacts
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
        callbacks: list | None = None, command: str | None = None) -> RunResult:
    """Train a spec (a :class:`~archspec.spec.Spec` or a path) as its ``train:`` section says.

    ``overrides`` maps train fields (dotted: ``optimizer.learning_rate``) to ``(value, Loc|None)``
    or plain values; ``data`` is a data source name (``npz:PATH``) in place of ``train.data``.
    The run directory is ``output`` (default ``runs/<spec name>``); running again resumes it,
    unless ``fresh`` clears the run's files first. See :func:`train` for the rest.

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
    if fresh:
        artifacts.clear_run(output)
    return train(lambda: build(spec), cfg, output=output, model_name=spec.name, spec_yaml=spec.to_yaml(),
                 command=command, verbose=verbose, logical_cpus=logical_cpus, log=log, callbacks=callbacks)


def train(model_fn: Callable, cfg: TrainConfig, *, output: str | Path, model_name: str = "model",
          spec_yaml: str | None = None, command: str | None = None, verbose: int | None = None,
          logical_cpus: int | None = None, log: Callable[[str], None] = _log,
          callbacks: list | None = None) -> RunResult:
    """Train the model ``model_fn()`` (called inside ``strategy.scope()``) as ``cfg`` says.

    Writes the run directory ``output`` (see :mod:`archspec.train.artifacts`); running the same
    call again resumes at the last completed epoch. ``callbacks``: more Keras callbacks, called
    after archspec's own (checkpoint, NaN guard, history) in every loop.

    Example:
        >>> import keras
        >>> def net():
        ...     return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                              keras.layers.Dense(10, activation="softmax")])
        >>> result = train(net, TrainConfig(epochs=2), output="runs/tiny")   # doctest: +SKIP
        >>> result.test_metrics["accuracy"] > 0.8                               # doctest: +SKIP
    """
    quiet_tensorflow()
    if logical_cpus:  # before TensorFlow initializes its devices
        from archspec.train.strategy import configure_logical_cpus

        configure_logical_cpus(logical_cpus)
    from archspec.train import precision

    t_start = time.perf_counter()
    setup = _setup(cfg)
    with precision.global_policy(setup.policy):  # restored after the run
        return _run(model_fn, cfg, setup, output=Path(output), model_name=model_name, spec_yaml=spec_yaml,
                    command=command, verbose=verbose, log=log, extra_callbacks=callbacks, t_start=t_start)


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
    recorder: object
    all: list
    initial_epoch: int


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


def _inputs(cfg: TrainConfig, model, model_name: str, replicas: int) -> _Inputs:
    """Load the data, check it fits the model, and make the training and validation pipelines."""
    from archspec.train import augment as aug
    from archspec.train import data as data_mod

    in_shape = tuple(model.inputs[0].shape[1:])
    data = data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=in_shape)
    if cfg.validation_data:
        vdata = data_mod.load_data(cfg.validation_data, cfg, cfg.loc("validation_data"), model_input=in_shape)
        data.val = vdata.test or vdata.train
    how = data_mod.check_fit(data, in_shape, model.outputs[0].shape[-1], cfg, model_name)
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


def _callbacks(model, cfg: TrainConfig, setup: _Setup, run: Path, work: Path, has_val: bool,
               extra: list | None) -> _Callbacks:
    """archspec's callbacks (checkpoint, NaN guard, history), early stopping, TensorBoard and
    ``extra``; the checkpoint is restored here, inside the strategy's scope."""
    import keras

    from archspec.train import callbacks as cb
    from archspec.train.compile import direction

    guard = cb.NanGuard()
    checkpoint = cb.EpochCheckpoint(work / "backup", guard)
    with setup.strategy.scope():
        initial_epoch = checkpoint.restore(model)
    stop = cfg.early_stopping
    monitor = stop.monitor if stop else ("val_loss" if has_val else "loss")
    mode = stop.mode if stop and stop.mode != "auto" else direction(monitor) or "min"
    recorder = cb.RunRecorder(work, guard, monitor=monitor, higher_is_better=mode == "max",
                              write=setup.role.is_chief, initial_epoch=initial_epoch,
                              on_best=checkpoint.keep_as_best)
    every = [checkpoint, guard, recorder]
    if stop:
        every.append(keras.callbacks.EarlyStopping(**stop.to_dict()))
    if setup.role.is_chief:
        every.append(keras.callbacks.TensorBoard(log_dir=str(run / "tensorboard"), write_graph=False))
    every += list(extra or [])
    return _Callbacks(guard, checkpoint, recorder, every, initial_epoch)


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


def _status(model, cfg: TrainConfig, cbs: _Callbacks, log: Callable[[str], None]) -> str:
    """``nan`` (the last good checkpoint restored), ``early_stopped`` or ``completed``."""
    if cbs.guard.tripped is not None:
        epoch, batch = cbs.guard.tripped
        kept = cbs.checkpoint.restore_last_good()
        log(f"loss became NaN at epoch {epoch + 1}, batch {batch + 1}: stopped; "
            + (f"kept the checkpoint of epoch {len(cbs.recorder.rows)}" if kept else "no epoch completed"))
        return "nan"
    rows = cbs.recorder.rows
    if model.stop_training or (rows and rows[-1]["epoch"] < cfg.epochs):
        return "early_stopped"
    return "completed"


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
         log, extra_callbacks, t_start: float) -> RunResult:
    run = output
    work = run if setup.role.is_chief else run / f".worker-{setup.role.task_id}"
    work.mkdir(parents=True, exist_ok=True)
    model = _build(model_fn, setup)
    inputs = _inputs(cfg, model, model_name, setup.replicas)
    compiled = _compile(model, cfg, setup, inputs)
    _log_start(log, model, cfg, setup, inputs, compiled, model_name, work)
    cbs = _callbacks(model, cfg, setup, run, work, inputs.val_ds is not None, extra_callbacks)
    if setup.role.is_chief:
        _write_start(run, cfg, spec_yaml, command, setup, compiled)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    _epochs(model, cfg, setup, compiled, inputs, cbs, verbose)
    status = _status(model, cfg, cbs, log)
    test_metrics = _test(model, cfg, setup, compiled, inputs, log) if status != "nan" else {}
    seconds = time.perf_counter() - t_start
    if setup.role.is_chief:
        _write_end(run, model, model_name, cfg, status, cbs, test_metrics, seconds)
    elif work != run:
        shutil.rmtree(work / "tensorboard", ignore_errors=True)
    log(f"{status} in {seconds:.1f} s; run directory {run}")
    return RunResult(run, status, cbs.recorder.rows, test_metrics, cbs.initial_epoch, setup.replicas, setup.loop,
                     seconds, model)


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


# ------------------------------------------------------------------ the run directory
def _write_start(run: Path, cfg: TrainConfig, spec_yaml: str | None, command: str | None, setup: _Setup,
                 compiled) -> None:
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
        "status": "running",
    }
    artifacts.write_json(run / "run.json", info)


def _write_end(run: Path, model, model_name: str, cfg: TrainConfig, status: str, cbs: _Callbacks,
               test_metrics: dict, seconds: float) -> None:
    """The models, the test metrics, the curves and the end of run.json."""
    import json

    artifacts.save_model(model, run / "model.keras")
    cbs.checkpoint.save_best_model(run / "best.keras")
    if test_metrics:
        artifacts.write_json(run / "metrics.json", test_metrics)
    artifacts.plot_curves(run, cbs.recorder.rows, f"{model_name} on {cfg.data}")
    try:
        info = json.loads((run / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    info.update(status=status, epochs_completed=len(cbs.recorder.rows), resumed_at_epoch=cbs.initial_epoch,
                seconds=round(seconds, 2), test_metrics=test_metrics)
    if cbs.guard.tripped is not None:
        info["nan_at"] = {"epoch": cbs.guard.tripped[0] + 1, "batch": cbs.guard.tripped[1] + 1}
    artifacts.write_json(run / "run.json", info)


def evaluate_run(run_dir: str | Path, *, data: str | None = None, batch_size: int | None = None,
                 log: Callable[[str], None] = _log) -> dict:
    """Re-evaluate a saved run (its ``model.keras``) on its data set's test split, or ``data``."""
    import json

    quiet_tensorflow()
    from archspec.train import data as data_mod

    run = Path(run_dir)
    if not (run / "model.keras").is_file():
        raise SpecError("not a run directory: no model.keras", Loc(str(run)),
                        hint="give the directory `archspec train` wrote (--output)")
    try:
        saved = json.loads((run / "run.json").read_text()).get("train", {})
    except (OSError, ValueError):
        saved = {}
    overrides = {}
    if data:
        overrides["data"] = (data, command_line("--data"))
    if batch_size:
        overrides["batch_size"] = (batch_size, command_line("--batch-size"))
    saved = {k: v for k, v in saved.items() if k not in ("strategy",)}
    cfg = TrainConfig.from_sources(saved, overrides)
    import keras

    import archspec.layers  # noqa: F401  (custom layers)
    import archspec.train.schedules  # noqa: F401  (the warm-up schedule)

    with deep_recursion(run / "model.keras"):  # Keras walks a loaded graph recursively
        model = keras.saving.load_model(run / "model.keras")
    in_shape = tuple(model.inputs[0].shape[1:])
    d = data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=in_shape)
    how = data_mod.check_fit(d, in_shape, model.outputs[0].shape[-1], cfg, model.name)
    part = d.test if d.test is not None and d.test.n else d.train
    ds, _ = data_mod.pipeline(part, batch=cfg.batch_size, training=False, cfg=cfg,
                              fit=data_mod.fit_fn(how, in_shape), repeat=False)
    result = {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}
    log(f"{run}: {cfg.data} ({part.n:,} examples): " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result
