"""``archspec evaluate``: a saved run's model on its data set's test split (or other data, or
other weights), with the checks that keep the number honest: the run record names the data, the
test split is the one the run was tested on, the model file is whole."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from archspec._env import quiet_tensorflow
from archspec.errors import Loc, SpecError, command_line
from archspec.train import artifacts
from archspec.train.config import TrainConfig


def _log(msg: str) -> None:
    print(msg, flush=True)


def evaluate_run(run_dir: str | Path, *, data: str | None = None, batch_size: int | None = None,
                 log: Callable[[str], None] = _log, weights: str | Path | None = None,
                 weights_strict: bool = False, adapt_input: bool = False) -> dict:
    """Re-evaluate a saved run (its ``model.keras``) on its data set's test split, or ``data``;
    with ``weights``, those weights loaded into the run's model first (the report logged)."""
    import json

    from archspec.errors import FileError
    from archspec.train import data as data_mod
    from archspec.train.record import RUN_JSON

    run = Path(run_dir)
    if not (run / "model.keras").is_file():
        raise SpecError("not a run directory: no model.keras", Loc(str(run)),
                        hint="give the directory `archspec train` wrote (--output)")
    trained_on = None
    try:
        info = json.loads((run / RUN_JSON).read_text())
        saved, trained_on = info["train"], info.get("data_fingerprint")
        if not isinstance(saved, dict):
            raise ValueError("no train section")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if not data:  # evaluating on the default data set would be a number about nothing
            cause = "missing" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc})"
            raise FileError(run / RUN_JSON, f"the run record is {cause}: which data the run was trained on is "
                                            "unknown", hint="say what to evaluate on: --data NAME (e.g. npz:PATH)") from None
        saved = {}
    overrides = {}
    if data:
        overrides["data"] = (data, command_line("--data"))
    if batch_size:
        overrides["batch_size"] = (batch_size, command_line("--batch-size"))
    saved = {k: v for k, v in saved.items() if k not in ("strategy",)}
    cfg = TrainConfig.from_sources(saved, overrides)
    data_mod.check_source(cfg.data, cfg.loc("data"))  # a misspelt --data: before TensorFlow
    quiet_tensorflow()
    model = artifacts.load_model(run / "model.keras",
                                 hint=f"run the training command again (it resumes from {run / 'backup'} and "
                                      "writes the model at the end)")
    if weights:
        from archspec.weights import load_weights

        log(f"weights: {load_weights(model, weights, strict=weights_strict, adapt_input=adapt_input)}")
    in_shape = tuple(model.inputs[0].shape[1:])
    d = data_mod.load_data(cfg.data, cfg, cfg.loc("data"), model_input=in_shape)
    from archspec.train.checks import check_fit

    how = check_fit(d, in_shape, model.outputs[0].shape[-1], cfg, model.name)
    part = d.test if d.test is not None and d.test.n else d.train
    if not data and trained_on:
        from archspec.train.fingerprint import data_fingerprint

        now = data_fingerprint(d)
        split = "test" if part is d.test else "train"
        before, after = (trained_on.get("sha256") or {}).get(split), (now.get("sha256") or {}).get(split)
        if trained_on.get("source") == now.get("source") and before and after and before != after:
            raise FileError(run / RUN_JSON, f"the {split} split of {cfg.data} changed since the run was trained "
                                            "and tested on it", hint=f"to evaluate on it as it is now, say so: "
                                                                     f"--data {cfg.data}")
    ds, _ = data_mod.pipeline(part, batch=cfg.batch_size, training=False, cfg=cfg,
                              fit=data_mod.fit_fn(how, in_shape), repeat=False)
    result = {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}
    log(f"{run}: {cfg.data} ({part.n:,} examples): " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result
