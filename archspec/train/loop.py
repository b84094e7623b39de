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
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archspec._recursion import deep_recursion
from archspec.errors import SpecError
from archspec.train import artifacts
from archspec.train.config import TrainConfig

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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if logical_cpus:  # before TensorFlow initializes its devices
        from archspec.train.strategy import configure_logical_cpus

        configure_logical_cpus(logical_cpus)
    import keras

    previous = keras.mixed_precision.global_policy().name
    try:
        return _train(model_fn, cfg, output=output, model_name=model_name, spec_yaml=spec_yaml, command=command,
                      verbose=verbose, logical_cpus=logical_cpus, log=log, extra_callbacks=callbacks)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(model_fn, cfg, *, output, model_name, spec_yaml, command, verbose, logical_cpus, log,
           extra_callbacks) -> RunResult:
    t_start = time.perf_counter()
    import keras
    import tensorflow as tf

    from archspec.train import augment as aug
    from archspec.train import callbacks as cb
    from archspec.train import data as data_mod
    from archspec.train import objects, precision, strategy as strat

    strategy = strat.make_strategy(cfg.strategy, cfg.loc("strategy"))  # first: MWMS configures TF
    keras.utils.set_random_seed(cfg.seed)
    role = strat.role(strategy)
    replicas = strategy.num_replicas_in_sync
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    # Keras 3 fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), and under
    # MirroredStrategy it runs but drifts from the one-device trajectory (measured: 4% after one
    # epoch at the same global batch and seed) while the custom step follows it to 1e-6.
    loop = cfg.loop if cfg.loop != "auto" else ("custom" if multi_worker or replicas > 1 else "fit")
    policy = precision.choose_precision(cfg.precision)
    jit = precision.choose_jit(cfg.jit_compile)
    precision.set_policy(policy)

    run = Path(output)
    work = run if role.is_chief else run / f".worker-{role.task_id}"
    work.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = model_fn()
        if policy != "float32":
            with deep_recursion(model):  # clone_model walks the graph recursively
                model = precision.output_float32(model)
    in_shape = tuple(model.inputs[0].shape[1:])
    units = model.outputs[0].shape[-1]

    data = data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=in_shape)
    if cfg.validation_data:
        vdata = data_mod.load_data(cfg.validation_data, cfg, cfg.loc("validation_data"), model_input=in_shape)
        data.val = vdata.test or vdata.train
    how = data_mod.check_fit(data, in_shape, units, cfg, model_name)
    fit = data_mod.fit_fn(how, in_shape)
    augment = aug.make_augmentation(cfg, in_shape)
    gb = cfg.batch_size
    if gb % replicas:
        raise SpecError(f"the global batch size {gb} is not divisible by the {replicas} replicas",
                        cfg.loc("batch_size"), received=gb, hint=f"use a multiple of {replicas}")
    train_ds, steps = data_mod.pipeline(data.train, batch=gb, training=True, cfg=cfg, fit=fit, augment=augment)
    val_ds = vsteps = None
    if data.val is not None and data.val.n:
        val_ds, vsteps = data_mod.pipeline(data.val, batch=gb, training=False, cfg=cfg, fit=fit)

    spe = 1
    if loop == "fit" and replicas == 1:  # Keras' multi-step loop fails under MirroredStrategy (measured)
        from archspec.train import execution

        spe = execution.choose(cfg.steps_per_execution, model, batch=gb, steps=steps, vsteps=vsteps)
    with strategy.scope():
        optimizer = objects.make_optimizer(cfg, steps)
        loss = objects.make_loss(cfg, model)
        metrics = objects.make_metrics(cfg, loss)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit, steps_per_execution=spe)

    log(f"archspec train: {model_name} ({model.count_params():,} parameters) on {cfg.data}: "
        f"{data.train.n:,} train / {data.val.n if data.val else 0:,} validation / "
        f"{data.test.n if data.test else 0:,} test examples"
        + (f", {'x'.join(map(str, data.shape))} -> {how} to {'x'.join(map(str, in_shape))}" if how else ""))
    log(f"strategy {strat.describe(strategy)}: {replicas} replica(s), global batch {gb} = "
        f"{gb // replicas} per replica; {steps} steps/epoch; precision {policy}; "
        f"jit_compile {'on' if jit else 'off'}; loop {loop}" + (f", {spe} steps per execution" if spe > 1 else "")
        + ("" if role.is_chief else f"; worker {role.task_id} (artifacts in {work})"))

    guard = cb.NanGuard()
    backup = cb.AtomicBackupAndRestore(str(work / "backup"), guard)
    monitor = (cfg.early_stopping or {}).get("monitor") or ("val_loss" if val_ds is not None else "loss")
    recorder = cb.RunRecorder(work, guard, monitor=monitor, write=role.is_chief, on_best=backup.keep_as_best)
    callbacks = [backup, guard, recorder]
    if cfg.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(**cfg.early_stopping))
    if role.is_chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run / "tensorboard"), write_graph=False))
    callbacks += list(extra_callbacks or [])
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2

    if role.is_chief:
        _write_start(run, cfg, spec_yaml, command, strategy, replicas, policy, jit, loop, spe)

    if loop == "fit":
        model.fit(train_ds, epochs=cfg.epochs, steps_per_epoch=steps, validation_data=val_ds,
                  validation_steps=vsteps, callbacks=callbacks, verbose=verbose, shuffle=False)
    else:
        from archspec.train.custom import CustomLoop

        CustomLoop(model, strategy, cfg, metrics, jit=jit).fit(
            train_ds, steps, val_ds, vsteps, callbacks=callbacks, verbose=verbose)

    status = "completed"
    if guard.tripped is not None:
        status = "nan"
        epoch, batch = guard.tripped
        kept = backup.restore_last_good()
        log(f"loss became NaN at epoch {epoch + 1}, batch {batch + 1}: stopped; "
            + (f"kept the checkpoint of epoch {len(recorder.rows)}" if kept else "no epoch completed"))
    elif model.stop_training or (recorder.rows and recorder.rows[-1]["epoch"] < cfg.epochs):
        status = "early_stopped"

    test_metrics = {}
    if data.test is not None and data.test.n and status != "nan":
        test_ds, tsteps = data_mod.pipeline(data.test, batch=gb, training=False, cfg=cfg, fit=fit, repeat=False)
        if loop == "fit":
            test_metrics = model.evaluate(test_ds, verbose=0, return_dict=True)
        else:
            test_metrics = CustomLoop(model, strategy, cfg, metrics, jit=jit).evaluate(test_ds)
        test_metrics = {k: float(v) for k, v in test_metrics.items()}
        log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in test_metrics.items()))

    seconds = time.perf_counter() - t_start
    if role.is_chief:
        artifacts.save_model(model, run / "model.keras")
        backup.save_best_model(run / "best.keras")
        if test_metrics:
            artifacts.write_json(run / "metrics.json", test_metrics)
        artifacts.plot_curves(run, recorder.rows, f"{model_name} on {cfg.data}")
        _write_end(run, status, guard, recorder, test_metrics, seconds)
    elif work != run:
        shutil.rmtree(work / "tensorboard", ignore_errors=True)
    log(f"{status} in {seconds:.1f} s; run directory {run}")
    return RunResult(run, status, recorder.rows, test_metrics, recorder.initial_epoch, replicas, loop, seconds, model)


def _write_start(run: Path, cfg, spec_yaml, command, strategy, replicas, policy, jit, loop, spe) -> None:
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
        "strategy": describe(strategy),
        "replicas": replicas,
        "global_batch_size": cfg.batch_size,
        "per_replica_batch_size": cfg.batch_size // replicas,
        "precision": policy,
        "jit_compile": jit,
        "loop": loop,
        "steps_per_execution": spe,
        "versions": artifacts.versions(),
        "status": "running",
    }
    artifacts.write_json(run / "run.json", info)


def _write_end(run: Path, status, guard, recorder, test_metrics, seconds) -> None:
    import json

    try:
        info = json.loads((run / "run.json").read_text())
    except (OSError, ValueError):
        info = {}
    info.update(status=status, epochs_completed=len(recorder.rows), resumed_at_epoch=recorder.initial_epoch,
                seconds=round(seconds, 2), test_metrics=test_metrics)
    if guard.tripped is not None:
        info["nan_at"] = {"epoch": guard.tripped[0] + 1, "batch": guard.tripped[1] + 1}
    artifacts.write_json(run / "run.json", info)


def evaluate_run(run_dir: str | Path, *, data: str | None = None, batch_size: int | None = None,
                 log: Callable[[str], None] = _log) -> dict:
    """Re-evaluate a saved run (its ``model.keras``) on its data set's test split, or ``data``."""
    import json

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from archspec.errors import Loc
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
        overrides["data"] = (data, Loc("<command line>", 0, 0, "--data"))
    if batch_size:
        overrides["batch_size"] = (batch_size, Loc("<command line>", 0, 0, "--batch-size"))
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
