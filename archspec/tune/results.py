"""A search's results: the table (CSV/JSON), the plot, the best model and the frozen best spec.

Reading them (:func:`results_table`, :func:`format_table`) is pure Python: ``archspec tune
--summary`` imports no TensorFlow. A trial's record (``archspec.json``) says whether the budget
rejected it in its own field, ``rejected``; ``status`` is for people.
"""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from pathlib import Path

import archspec.faults as faults
from archspec.train.artifacts import atomic_write, save_model
from archspec.tune.layout import FRONT, PROJECT, RECORD, SETTINGS


#: the status of a trial whose ``trial.json`` is truncated or corrupt (see archspec.tune.resume)
UNREADABLE = "unreadable"


def results_table(directory: str | Path) -> list[dict]:
    """One row per trial (finished or running), from the files in ``directory`` only. A trial
    whose ``trial.json`` cannot be read (truncated by a kill mid-write) has the status
    :data:`UNREADABLE` and no values; a folder without one yet (just created) has no row. A
    failed trial's ``error`` is the one its record keeps (else None). A trial the pruner stopped
    has the status ``pruned``, its best objective until then and the epochs it trained; with
    several objectives (``search.json``) ``front`` says whether a trial is on the Pareto front
    (else None); ``latency_ms`` is measured with ``--objective latency:min`` only."""
    project = Path(directory) / PROJECT
    rows = []
    for tdir in sorted(project.glob("trial_*")):
        try:
            rec = json.loads((tdir / RECORD).read_text())
        except (OSError, ValueError):
            rec = {}
        rec = rec if isinstance(rec, dict) else {}
        try:
            trial = json.loads((tdir / "trial.json").read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            trial = None
        if not isinstance(trial, dict):
            rows.append({"trial_id": tdir.name[len("trial_"):], "status": UNREADABLE, "rejected": False,
                         "objective": None, "params": rec.get("params"), "macs": rec.get("macs"),
                         "memory": rec.get("memory"), "epochs": None,
                         "trial_seconds": rec.get("trial_seconds"),
                         "fit_seconds": rec.get("fit_seconds"), "values": {}, "error": None,
                         "latency_ms": rec.get("latency_ms"), "front": None})
            continue
        values = dict(trial.get("hyperparameters", {}).get("values", {}))
        epochs = values.pop("tuner/epochs", None)
        values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        rejected = bool(rec.get("rejected"))
        status = rec["status"] if rejected else str(trial.get("status", "")).lower()
        score = None if rejected else trial.get("score")
        pruned = rec.get("pruned") if isinstance(rec.get("pruned"), dict) else None
        if pruned and status == "completed":  # keras-tuner holds the worst objective for it
            status, score = "pruned", pruned.get("best")
        if epochs is None and isinstance(rec.get("curve"), list) and status in ("completed", "pruned"):
            epochs = len(rec["curve"])
        rows.append({"trial_id": trial.get("trial_id", tdir.name[6:]), "status": status, "rejected": rejected,
                     "objective": score,
                     "params": rec.get("params"), "macs": rec.get("macs"),
                     "memory": rec.get("memory"), "epochs": epochs,
                     "trial_seconds": rec.get("trial_seconds"),
                     "fit_seconds": rec.get("fit_seconds"), "values": values,
                     "error": rec.get("error") if status == "failed" else None,
                     "latency_ms": rec.get("latency_ms"), "front": None})
    objectives = settings_objectives(directory)
    if len(objectives) > 1:
        from archspec.tune.pareto import pareto_front

        front = set(pareto_front(rows, objectives))
        for r in rows:
            r["front"] = str(r["trial_id"]) in front
    return rows


def read_settings(directory: str | Path) -> dict:
    """``search.json`` of the search in ``directory`` (``{}`` when absent or unreadable)."""
    try:
        settings = json.loads((Path(directory) / SETTINGS).read_text())
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def write_settings(directory: str | Path, settings: dict) -> None:
    """Write ``search.json`` (atomically)."""
    atomic_write(Path(directory) / SETTINGS, json.dumps(settings, indent=1))


def settings_objectives(directory: str | Path) -> list:
    """The objectives ``search.json`` names (:class:`archspec.tune.pareto.Objective`; [] when none)."""
    from archspec.tune.pareto import Objective

    out = []
    for item in read_settings(directory).get("objectives") or []:
        name, _, way = str(item).partition(":")
        out.append(Objective(name, way or "max"))
    return out


def trial_line(trial_dir: str, trial, objective: str) -> str:
    """One readable line per finished trial."""
    try:
        rec = json.loads((Path(trial_dir) / RECORD).read_text())
    except (OSError, ValueError):
        rec = {}
    status = rec.get("status") or str(trial.status).lower()
    values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
    shown = " ".join(f"{k}={fmt_value(v)}" for k, v in values.items())
    epochs = trial.hyperparameters.values.get("tuner/epochs")
    if rec.get("rejected"):
        return f"trial {trial.trial_id}: {status} ({shown})"
    score = "n/a" if trial.score is None else f"{trial.score:.4f}"
    pruned = rec.get("pruned") if isinstance(rec.get("pruned"), dict) else None
    if pruned:
        best = pruned.get("best")
        score = "n/a" if best is None else f"{best:.4f}"
        bar = pruned.get("threshold")
        status = (f"pruned at epoch {pruned.get('epoch')}" + (f" ({pruned.get('rule')} {bar:.4f})" if bar is not None
                                                              else ""))
    error = (rec.get("error") or "").strip().splitlines()
    return (f"trial {trial.trial_id}: {objective}={score} {status}"
            + (f" ({_clip(error[0], 200)})" if error and status == "failed" else "")
 + (f" (resumed after epoch {rec['resumed_epoch']})" if rec.get("resumed_epoch") else "")
            + (f" latency={rec['latency_ms']:.3f}ms" if rec.get("latency_ms") is not None else "")
            + (f" epochs={epochs}" if epochs is not None else "")
            + (f" params={rec['params']:,} MACs={rec['macs']:,}" if rec.get("params") is not None else "")
            + (f" {rec['trial_seconds']:.1f}s" if rec.get("trial_seconds") is not None else "") + f" | {shown}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def format_table(rows: list[dict]) -> str:
    """The rows as a text table; with several objectives a ``front`` column marks the Pareto front
    (``*``), and ``latency ms`` shows when it was measured."""
    names = sorted({k for r in rows for k in r["values"]})
    latency = any(r.get("latency_ms") is not None for r in rows)
    front = any(r.get("front") is not None for r in rows)
    head = (["trial", "status", "objective", "params", "MACs", "epochs"] + (["latency ms"] if latency else [])
            + (["front"] if front else []) + names)
    lines = [head]
    for r in rows:
        obj = "" if r["objective"] is None else f"{r['objective']:.4f}"
        lat = r.get("latency_ms")
        lines.append([str(r["trial_id"]), r["status"], obj,
                      "" if r["params"] is None else f"{r['params']:,}",
                      "" if r["macs"] is None else f"{r['macs']:,}",
                      "" if r["epochs"] is None else str(r["epochs"])]
                     + ([("" if lat is None else f"{lat:.3f}")] if latency else [])
                     + (["*" if r.get("front") else ""] if front else [])
                     + [fmt_value(r["values"].get(n, "")) for n in names])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def fmt_value(v) -> str:
    """A hyperparameter value as the tables show it (floats to 4 significant digits)."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_table(rows: list[dict], out: Path) -> None:
    """results.json and results.csv, each written atomically (a kill leaves the old or the new)."""
    atomic_write(out / "results.json", json.dumps(rows, indent=1))
    faults.point("tune.results")
    names = sorted({k for r in rows for k in r["values"]})
    cols = ["trial_id", "status", "objective", "params", "macs", "memory", "epochs",
            "trial_seconds", "fit_seconds"]
    cols += [c for c in ("latency_ms", "front") if any(r.get(c) is not None for r in rows)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols + names)
    for r in rows:
        w.writerow([r[c] for c in cols] + [r["values"].get(n, "") for n in names])
    atomic_write(out / "results.csv", buf.getvalue())


def influence(rows: list[dict]) -> list[tuple[str, float]]:
    """Hyperparameters ranked by how much the objective varies with them (|Spearman rho| for
    numbers, the share of variance between groups for categories), over completed trials."""
    import numpy as np

    done = [r for r in rows if r["objective"] is not None and r["status"] == "completed"]
    y = np.array([r["objective"] for r in done], dtype=float)
    out = []
    if len(done) < 3 or np.std(y) == 0:
        return out
    for name in sorted({k for r in done for k in r["values"]}):
        vals = [r["values"].get(name) for r in done]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            rx = np.argsort(np.argsort(vals)).astype(float)
            ry = np.argsort(np.argsort(y)).astype(float)
            c = 0.0 if np.std(rx) == 0 else abs(float(np.corrcoef(rx, ry)[0, 1]))
        else:
            keys = [json.dumps(v) for v in vals]
            total = float(((y - y.mean()) ** 2).sum())
            between = sum(((y[[k == g for k in keys]].mean() - y.mean()) ** 2) * keys.count(g)
                          for g in set(keys))
            c = float(between / total) if total else 0.0
        out.append((name, 0.0 if math.isnan(c) else c))
    return sorted(out, key=lambda t: -t[1])


#: what "influence" means, under the plot
INFLUENCE_NOTE = ("influence: how much the objective moves with a value, from 0 (not at all) to 1 -- "
                  "|Spearman rho| (rank correlation) for numbers, the share of the objective's "
                  "variance between the groups for choices")


def write_plot(rows: list[dict], path: Path, objective: str, direction: str, top: int = 2,
               log_scale: set | frozenset = frozenset(), costs: list | None = None, picked: str | None = None) -> None:
    """Objective per trial (the best marked; ``direction``: ``min`` or ``max``), and objective
    against the most influential hyperparameters, on a log axis for those in ``log_scale`` (the
    spaces sampled with ``sampling: log``); the note under it says what influence measures.
    With ``costs`` (several objectives), the objective against each cost instead of the
    hyperparameters, the Pareto front drawn and ``picked`` (best.yaml's trial) marked."""
    import matplotlib.pyplot as plt

    fig = results_figure(rows, objective, direction, top, log_scale, costs=costs, picked=picked)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=90, format="png")
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def results_figure(rows: list[dict], objective: str, direction: str, top: int = 2,
                   log_scale: set | frozenset = frozenset(), costs: list | None = None, picked: str | None = None):
    """The matplotlib figure :func:`write_plot` saves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = [] if costs else influence(rows)[:top]
    panels = 1 + (len(costs) if costs else len(ranked))
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.6), squeeze=False)
    for ax, cost in zip(axes[0][1:], costs or []):
        _front_panel(ax, rows, objective, direction, cost, picked)
    ax = axes[0][0]
    done = [(i, r) for i, r in enumerate(rows) if r["objective"] is not None and r["status"] != "pruned"]
    rejected = [i for i, r in enumerate(rows) if r["rejected"]]
    ax.plot([i for i, _ in done], [r["objective"] for _, r in done], "o", label="trial")
    if done:
        pick = max if direction == "max" else min
        best = pick(done, key=lambda t: t[1]["objective"])
        if picked is not None:
            best = next((t for t in done if str(t[1]["trial_id"]) == picked), best)
        ax.plot([best[0]], [best[1]["objective"]], "r*", ms=14, label="best" if picked is None else "picked")
    if rejected:
        ax.plot(rejected, [min([r["objective"] for _, r in done] or [0])] * len(rejected), "kx",
                label="rejected (budget)")
    pruned = [(i, r) for i, r in enumerate(rows) if r["status"] == "pruned" and r["objective"] is not None]
    if pruned:
        ax.plot([i for i, _ in pruned], [r["objective"] for _, r in pruned], "v", color="0.6",
                label="pruned (best until stopped)")
    ax.set(xlabel="trial", ylabel=objective, title="objective per trial")
    ax.legend(fontsize=7)
    for ax, (name, score) in zip(axes[0][1:], ranked):
        pts = [(r["values"].get(name), r["objective"]) for _, r in done if name in r["values"]]
        xs = [p[0] if isinstance(p[0], (int, float)) else str(p[0]) for p in pts]
        ax.plot(xs, [p[1] for p in pts], "o")
        numeric = bool(xs) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        if name in log_scale and numeric and min(xs) > 0:
            ax.set_xscale("log")
        measure = "|Spearman rho|" if numeric else "variance share"
        ax.set(xlabel=name + (" (log scale)" if ax.get_xscale() == "log" else ""), ylabel=objective,
               title=f"influence {score:.2f} ({measure})")
    if ranked:
        fig.text(0.5, 0.01, INFLUENCE_NOTE, ha="center", va="bottom", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.07 if ranked else 0, 1, 1))
    return fig


def write_results(tuner, out: str | Path | None = None, *, with_model: bool = True,
                  epochs: int | None = None) -> dict:
    """Write results.csv/json, results.png, best.yaml and best.keras; returns the paths.

    ``epochs``: the epochs each trial trained when not the spec's ``train.epochs`` (written
    into best.yaml so that training it from scratch repeats the trial).

    With several objectives or a ``--pick`` (``search.json``, :mod:`archspec.tune.pareto`):
    ``pareto/trial_ID.yaml`` for each trial of the front (others removed from there), and the
    trial ``--pick`` chooses as best; ``paths["front"]`` lists the front's ids. When no trial
    meets the pick's conditions nothing is picked: ``paths["unmet"]`` says so (best.yaml and
    best.keras are not written).
    """
    from archspec.tune.freeze import freeze
    from archspec.tune.hypermodel import quiet_optimizer_warning
    from archspec.tune.pareto import Objective, choose, parse_pick, pareto_front

    out = Path(out or Path(tuner.project_dir).parent)
    out.mkdir(parents=True, exist_ok=True)
    rows = results_table(out if (out / PROJECT).exists() else Path(tuner.project_dir).parent)
    write_table(rows, out)
    paths = {"csv": out / "results.csv", "json": out / "results.json"}
    objective = tuner.oracle.objective
    objectives = settings_objectives(out) or [Objective(objective.name, objective.direction)]
    pick_text = read_settings(out).get("pick")
    pick = parse_pick(pick_text, objectives)
    trained = {str(r["trial_id"]) for r in rows if _trained(r)}
    picked = None
    if pick is not None or len(objectives) > 1:
        row = choose(rows, objectives, pick)
        if row is None and trained:
            paths["unmet"] = f"no trial that trained meets `--pick {pick}` ({len(trained)} trained)"
        picked = None if row is None else str(row["trial_id"])
    log_scale = {p.name for p in tuner.oracle.hyperparameters.space if getattr(p, "sampling", None) == "log"}
    write_plot(rows, out / "results.png", objective.name, objective.direction, log_scale=log_scale,
               costs=[o.name for o in objectives[1:]] or None, picked=picked)
    paths["png"] = out / "results.png"

    def frozen(trial, note=""):
        values = dict(trial.hyperparameters.values)
        if epochs is not None:
            values.setdefault("tuner/epochs", epochs)
        return freeze(tuner.hypermodel, values, header=f"trial {trial.trial_id}: {objective.name}={trial.score:.4f}"
                      + note)

    if len(objectives) > 1:
        front = pareto_front(rows, objectives)
        paths["front"] = front
        folder = out / FRONT
        folder.mkdir(exist_ok=True)
        keep = {f"trial_{t}.yaml" for t in front}
        for old in folder.glob("trial_*.yaml"):
            if old.name not in keep:
                old.unlink()
        for trial_id in front:
            note = ", on the Pareto front of " + ", ".join(str(o) for o in objectives)
            atomic_write(folder / f"trial_{trial_id}.yaml", frozen(tuner.oracle.get_trial(trial_id), note)[0])
        paths["pareto"] = folder
    if pick is not None or len(objectives) > 1:
        best = [tuner.oracle.get_trial(picked)] if picked is not None else []
    else:
        # a rejected or pruned trial is COMPLETED for keras-tuner (scored as the worst objective): never the best
        ranked = tuner.oracle.get_best_trials(len(tuner.oracle.trials)) if trained else []
        best = [t for t in ranked if t.status == "COMPLETED" and str(t.trial_id) in trained]
    if not best:
        return paths
    trial = best[0]
    text, spec = frozen(trial, f", picked by --pick {pick}" if pick is not None else "")
    atomic_write(out / "best.yaml", text)
    paths["yaml"] = out / "best.yaml"
    if with_model:
        with quiet_optimizer_warning():
            model = tuner.load_model(trial)
        if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # so best.keras reloads quietly
        save_model(model, out / "best.keras")
        paths["keras"] = out / "best.keras"
    paths["best"] = {"trial_id": trial.trial_id, "score": trial.score,
                     "params": spec.analyze().total_params}
    return paths


def search_failure(rows: list[dict], budget=None, directory: str | Path | None = None, *,
                   stopped: int | None = None):
    """A :class:`~archspec.errors.RunError` saying why no trial of a search trained, or None when
    one did: how many trials failed and were rejected, and the first failure's error; when every
    trial was rejected, that, with the budget. ``directory``: the search's, named in the hint;
    ``stopped``: the number of failed trials in a row after which keras-tuner stopped the search."""
    from archspec.errors import RunError

    if any(_trained(r) for r in rows):
        return None
    if not rows:
        return RunError("the search ran no trial", hint="give --max-trials 1 or more")
    rejected = [r for r in rows if r["rejected"]]
    failed = [r for r in rows if not r["rejected"] and r["status"] == "failed"]
    other = [r for r in rows if not r["rejected"] and r["status"] != "failed"]
    limits = budget.describe() if budget is not None else ""
    by_size = [r for r in rejected if r["status"].startswith("rejected: past the size limits")]
    by = " and ".join(([f"the budget ({limits})" if limits else "the budget"] if len(by_size) < len(rejected) else [])
                      + (["archspec's size limits"] if by_size else []))
    if len(rejected) == len(rows):
        return RunError(f"every trial was rejected by {by}: {_trials(len(rows))}, none trained; the first, "
                        f"trial {rejected[0]['trial_id']}: {rejected[0]['status']}",
                        hint="raise the budget, or narrow the search spaces to smaller models"
                        if len(by_size) < len(rejected) else "narrow the search spaces to smaller models")
    counts = [f"{len(failed)} failed"] if failed else []
    if rejected:
        counts.append(f"{len(rejected)} rejected by {by}")
    if other:
        counts.append(f"{len(other)} not trained ({', '.join(sorted({r['status'] for r in other}))})")
    first = ""
    if failed:
        error = failed[0].get("error") or "no error recorded (see the trial's trial.json, `message`)"
        first = f"; the first failure, trial {failed[0]['trial_id']}:\n" + textwrap.indent(error, "    ")
    where = f" (each trial's error: {Path(directory) / PROJECT}/trial_*/{RECORD})" if directory else ""
    if stopped:
        counts[-1] += f" (keras-tuner stopped the search after {stopped} failed trials in a row)"
    return RunError(f"no trial of the search trained: of {_trials(len(rows))}, {', '.join(counts)}{first}",
                    hint="fix the cause and run the same command again with --overwrite" + where)


def _front_panel(ax, rows: list[dict], objective: str, direction: str, cost: str, picked: str | None) -> None:
    """Objective against one cost: every trial that trained, the members of the Pareto front (of
    all the objectives) in red, the front of this pair of objectives drawn as a step line, the
    picked trial starred."""
    from matplotlib.ticker import NullFormatter

    from archspec.tune.pareto import COSTS, Objective, pareto_front

    column = COSTS[cost]
    pts = [r for r in rows if _trained(r) and r.get(column) is not None]
    ax.plot([r[column] for r in pts], [r["objective"] for r in pts], "o", color="0.6", label="trial")
    members = [r for r in pts if r.get("front")]
    if members:
        ax.plot([r[column] for r in members], [r["objective"] for r in members], "o", color="C3",
                label="on the Pareto front")
    pair = set(pareto_front(pts, [Objective(objective, direction), Objective(cost, "min")]))
    line = sorted((r for r in pts if str(r["trial_id"]) in pair), key=lambda r: (r[column], r["objective"]))
    if line:
        ax.step([r[column] for r in line], [r["objective"] for r in line], "-", where="post", color="C3",
                lw=1, label=f"front of {objective}, {cost}")
    for r in pts:
        if str(r["trial_id"]) == picked:
            ax.plot([r[column]], [r["objective"]], "*", color="gold", mec="k", ms=15, label="picked (best.yaml)")
    if cost in ("params", "macs", "memory") and pts and min(r[column] for r in pts) > 0:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    unit = {"latency": " (ms, batch 1)", "memory": " (bytes)"}.get(cost, "")
    ax.set(xlabel=cost + unit, ylabel=objective, title=f"{objective} against {cost}")
    ax.legend(fontsize=7)


def _trained(row: dict) -> bool:
    return row["status"] == "completed" and not row["rejected"] and row["objective"] is not None


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"
