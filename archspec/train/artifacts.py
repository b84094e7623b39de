"""The run directory: every file written atomically (temp file in the same folder, then rename).

::

    RUN/
      model.keras        the last model (last good one after a NaN stop)
      best.keras         the best model by the monitored metric (val_loss, else loss)
      spec.yaml          the resolved spec, with the complete train section (every default)
      history.csv/.json  one row per epoch (loss, metrics, val_*, learning_rate, seconds)
      metrics.json       final held-out test metrics, e.g. {"accuracy": 0.97, "loss": 0.1}
      curves.png         training curves (matplotlib)
      run.json           command, seed, library versions, strategy, replicas, precision, status
      tensorboard/       TensorBoard logs
      backup/            BackupAndRestore state (resume after a kill)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

import archspec.faults as faults
from archspec._recursion import deep_recursion
from archspec._version import __version__
from archspec.errors import os_error

#: what a run writes in its directory (``--fresh`` removes these, and only these: not the lock)
RUN_FILES = ("backup", "history.csv", "history.json", "metrics.json", "model.keras", "best.keras", "curves.png",
             "run.json", "spec.yaml", "tensorboard")


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` so that a reader (or a crash) never sees half a file."""
    path = Path(path)
    with _replacing(path, ".tmp", "writing") as (fd, _):
        with os.fdopen(fd, "wb") as f:
            faults.point("artifacts.write", path)
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    return path


@contextlib.contextmanager
def _replacing(path: Path, suffix: str, doing: str):
    """A new temporary file ``(fd, name)`` beside ``path`` for the block to fill; then renamed over
    ``path``. Removed if the block fails; an OSError (full disk, read-only) becomes a FileError
    naming ``path``."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        yield fd, tmp
        _publish(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise os_error(path, exc, doing) from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def _publish(tmp: str | Path, path: Path) -> None:
    """Give ``tmp`` (mkstemp makes 0600 files) the mode a new file gets, and rename it to ``path``."""
    os.chmod(tmp, 0o666 & ~umask())
    os.replace(tmp, path)


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (/proc), else set back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_temporaries(run: str | Path) -> None:
    """Remove the temporary files a killed process left in ``run`` and ``run/backup`` (call with
    the run directory locked: nobody else is writing them)."""
    for folder in (Path(run), Path(run) / "backup"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp*"):
                if tmp.is_file():
                    tmp.unlink(missing_ok=True)


def clear_run(run: str | Path) -> None:
    """Remove what a previous run wrote in ``run`` (:data:`RUN_FILES`), to start over."""
    import shutil

    for name in RUN_FILES:
        target = Path(run) / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def write_json(path: str | Path, obj) -> Path:
    return atomic_write(path, json.dumps(_finite(obj), indent=1, sort_keys=False) + "\n")


def _finite(obj):
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def save_model(model, path: str | Path) -> Path:
    """``model.save`` to a temp ``.keras`` file beside ``path``, then rename.

    The saved compile config says ``steps_per_execution: 1`` whatever the run used: a model
    reloaded to ``fit`` with its own ``steps_per_epoch`` must not run whole groups of steps.
    """
    path = Path(path)
    config = getattr(getattr(model, "_compile_config", None), "config", None)
    spe = config.get("steps_per_execution") if isinstance(config, dict) else None
    if spe not in (None, 1):
        config["steps_per_execution"] = 1
    try:
        with _replacing(path, ".tmp.keras", "writing the model") as (fd, tmp):
            os.close(fd)
            faults.point("artifacts.save_model", path)
            with deep_recursion(model):  # a deep model: see archspec/_recursion.py
                model.save(tmp)
    finally:
        if spe not in (None, 1):
            config["steps_per_execution"] = spe
    return path


def model_file_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a complete ``.keras`` archive (missing, truncated, damaged), or None."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        return "the file is missing"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"truncated or damaged ({exc})"
    return f"its member {bad} is damaged (CRC check)" if bad else None


def load_model(path: str | Path, *, hint: str | None = None):
    """``keras.saving.load_model`` of a ``.keras`` file written by archspec or Keras (archspec's
    layers and schedules registered first), or a FileError naming the file and why it cannot be
    loaded (missing, truncated, damaged, not a Keras model) instead of Keras' traceback."""
    from archspec.errors import FileError

    path = Path(path)
    problem = model_file_problem(path)
    if problem:
        raise FileError(path, f"not a loadable .keras model: {problem}", hint=hint)
    import keras

    import archspec.layers  # noqa: F401  (custom layers must be registered before loading)
    import archspec.train.schedules  # noqa: F401  (and the learning-rate schedules of a run)

    try:
        with deep_recursion(path):  # Keras walks a loaded graph recursively
            return keras.saving.load_model(path)
    except (ValueError, OSError, KeyError, EOFError, TypeError) as exc:
        raise FileError(path, f"not a loadable .keras model: {str(exc)[:300]}", hint=hint) from None


def write_history(run: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(run / "history.csv", buf.getvalue())
    write_json(run / "history.json", rows)


def read_history(run: Path) -> list[dict]:
    try:
        return json.loads((run / "history.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []


def plot_curves(run: Path, rows: list[dict], title: str, *, best: dict | None = None,
                test_metrics: dict | None = None) -> Path | None:
    """``curves.png``: loss (left) and the other metrics (right), train and validation; ``best``
    (``{"epoch", "monitor", "value"}``, the checkpoint's best epoch) is marked on both by a
    labelled vertical line and on its curve by a star; ``test_metrics`` (the held-out scores)
    are in the title and drawn as dotted levels. See :func:`curves_figure`."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = curves_figure(rows, title, best=best, test_metrics=test_metrics)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write(run / "curves.png", buf.getvalue())


def curves_figure(rows: list[dict], title: str, *, best: dict | None = None, test_metrics: dict | None = None):
    """The matplotlib figure :func:`plot_curves` saves (the caller closes it)."""
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    names = [k for k in rows[0] if k not in ("epoch", "learning_rate", "seconds") and not k.startswith("val_")]
    metrics = [k for k in names if k != "loss"]
    test = {k: v for k, v in (test_metrics or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
    fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(10 if metrics else 5, 3.8), squeeze=False)
    for ax, keys in zip(axes[0], (["loss"], metrics)):
        for k in keys:
            color = None
            for prefix, style in (("", "-"), ("val_", "--")):
                ys = [r.get(prefix + k) for r in rows]
                if any(y is not None for y in ys):
                    (line,) = ax.plot(epochs, [math.nan if y is None else y for y in ys], style, marker=".",
                                      label=prefix + k, color=color)
                    color = line.get_color()
            if k in test:
                ax.axhline(test[k], linestyle=":", color=color, label=f"test {k} {test[k]:.4f}")
        if best is not None and best.get("epoch") is not None:
            monitor, value = best.get("monitor") or "", best.get("value")
            ax.axvline(best["epoch"], color="0.35", linewidth=1, linestyle="-.",
                       label=f"best epoch {best['epoch']}" + (f" ({monitor} {value:.4g})" if value is not None else ""))
            if monitor.removeprefix("val_") in keys and value is not None:
                ax.plot([best["epoch"]], [value], marker="*", markersize=12, color="0.2", linestyle="none")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[0][0].set_ylabel("loss")
    if test:
        order = [k for k in test if k != "loss"] + [k for k in test if k == "loss"]
        title += "\ntest: " + ", ".join(f"{k} {test[k]:.4f}" for k in order)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def versions() -> dict:
    import keras
    import tensorflow as tf

    # the root package is loaded (it is the parent of this module) but never imported from the
    # library (layering): read its version from the module table
    out = {"archspec": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
           "keras": keras.__version__, "numpy": __import__("numpy").__version__, "platform": platform.platform()}
    try:
        import sklearn

        out["scikit-learn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def command_line(argv: list[str] | None = None) -> str:
    import shlex

    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith(("__main__.py", "cli.py")):
        argv[0] = "archspec"
    elif argv:
        argv[0] = Path(argv[0]).name
    return " ".join(shlex.quote(a) for a in argv)
