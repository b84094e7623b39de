"""Benchmark archspec's tuning overhead (not a test; run by hand).

    .venv/bin/python scripts/bench_tune.py [--trials 8] [--epochs 3]
    .venv/bin/python scripts/bench_tune.py --memory [--trials 30]
    .venv/bin/python scripts/bench_tune.py --memory --isolate [--trials 100]
    .venv/bin/python scripts/bench_tune.py --parallel [2] [--trials 8] [--epochs 5]
    .venv/bin/python scripts/bench_tune.py --prune [--trials 20] [--epochs 10] [--prune-startup 3]
                                           [--prune-warmup 1]

Default mode: the search space of architectures/search/lenet_search.yaml written twice, as a
hand-written keras-tuner build function and as the YAML spec (archspec.HyperModel), searched by
the same tuner class (RandomSearch), same seed, same data (sklearn digits), same epochs. For each
trial it measures the wall time outside ``fit`` (build, compile, resolve + analyze for archspec,
keras-tuner's bookkeeping and its garbage collections) and prints the medians (the first trial, which pays TensorFlow's
warm-up, is left out), archspec's extra overhead as a share of its trial time (goal: < 3%), and
last ``ratio=<archspec overhead / hand-written overhead>``.

``--memory``: resident memory (VmRSS) after trial 5 and after the last of N small archspec trials;
the session is cleared between trials, so the two should be within 10%.

``--prune``: one run, two searches of architectures/search/lenet_search.yaml on the embedded
digits (``sklearn:digits``) with :func:`archspec.tune.search`, random search, same seed, same
number of trials, same epochs per trial: without pruning, then with ``--prune median``. Random
search draws the same values whatever the scores, and each trial's seed depends only on the
search's seed and its id, so the two runs train the same trials until the pruner stops one. First
a header (CPU model and flags, cores, Python, TensorFlow, Keras, keras-tuner), then for each run
the best trial's validation accuracy (on ``--validation-split`` of the training split, default
0.2: the spec's 0.1 leaves 144 digits, on which trials tie at 100%), its test accuracy (best.keras on the held-out test split,
never seen by the search; goal: within 0.5 points), the epochs spent (sum over trials; goal:
pruning spends at most half), pruned trials and wall time; last ``ratio=<epochs pruned /
epochs unpruned>``.

``--memory --isolate``: the same, for the search's own process with every trial in a child
process (``search(..., isolate=True)``, the parent builds no model): its resident memory after
trial 5 and after the last of N (default 100) trials.

``--parallel``: the wall time of ``archspec tune --parallel 2`` against the same command without
it (both as whole processes, TensorFlow's import included; lenet_search on the embedded digits,
random search, same seed, same trials: the same values and trial seeds), and each one's best
trial; last ``ratio=<parallel wall / sequential wall>`` (below 1: faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

import archspec  # noqa: E402
from archspec import tune  # noqa: E402

SPEC = ROOT / "architectures" / "search" / "lenet_search.yaml"


class HandModel(kt.HyperModel):
    """The same space as lenet_search.yaml, written by hand."""

    fit_seconds = 0.0

    def build(self, hp):
        filters = hp.Int("filters", 8, 48, step=8, default=16)
        depth = hp.Int("depth", 0, 2, default=1)
        units = hp.Choice("units", [32, 64, 128], default=64)
        dropout = hp.Boolean("dropout", default=True)
        with hp.conditional_scope("dropout", [True]):
            rate = hp.Float("dropout_rate", 0.1, 0.5, step=0.1, default=0.2)
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
        x = inp = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="c1")(x)
        for k in range(depth):
            x = keras.layers.Conv2D(filters * 2, 3, padding="same", activation="relu",
                                    name=f"c{k + 2}")(x)
        x = keras.layers.MaxPooling2D(2, name="s2")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(units, activation="relu", name="f")(x)
        if dropout:
            x = keras.layers.Dropout(rate, name="drop")(x)
        out = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
        model = keras.Model(inp, out, name="lenet_search")
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        t0 = time.perf_counter()
        history = model.fit(*args, batch_size=32, **kwargs)
        self.fit_seconds = time.perf_counter() - t0
        return history


class HandTuner(kt.RandomSearch):
    """Plain keras-tuner RandomSearch, timed like archspec's tuners time themselves."""

    times: list

    def run_trial(self, trial, *args, **kwargs):
        t0 = time.perf_counter()
        result = super().run_trial(trial, *args, **kwargs)
        self.times.append((time.perf_counter() - t0, self.hypermodel.fit_seconds,
                           dict(trial.hyperparameters.values)))
        return result


def overhead(trials: int, epochs: int, seed: int) -> None:
    (x, y), val = tune.load_data("sklearn:digits", spec=archspec.load(SPEC))
    fit = dict(validation_data=val, epochs=epochs, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        keras.utils.set_random_seed(seed)
        hand = HandTuner(HandModel(), objective="val_accuracy", max_trials=trials, seed=seed,
                         directory=tmp, project_name="hand", overwrite=True)
        hand.times = []
        hand.search(x, y, **fit)
        keras.utils.set_random_seed(seed)
        ours = tune.make_tuner(archspec.HyperModel(SPEC), "random", directory=Path(tmp) / "spec",
                               max_trials=trials, seed=seed, overwrite=True)
        ours.search(x, y, **fit)
        rows = tune.results_table(Path(tmp) / "spec")
    spec_times = [(r["trial_seconds"], r["fit_seconds"], r["values"]) for r in rows]
    same = sum(a[2] == b[2] for a, b in zip(hand.times, spec_times))
    print(f"{trials} trials x {epochs} epochs, seed {seed}; identical hp values in {same}/{trials} trials")
    print(f"{'':10s} {'trial s':>8s} {'fit s':>8s} {'outside fit s':>14s}")
    med = {}
    for name, times in (("hand", hand.times), ("archspec", spec_times)):
        steady = times[1:] or times
        t = statistics.median(a for a, _, _ in steady)
        f = statistics.median(b for _, b, _ in steady)
        o = statistics.median(a - b for a, b, _ in steady)
        med[name] = (t, f, o)
        print(f"{name:10s} {t:8.3f} {f:8.3f} {o:14.3f}")
    for name, (t, _, o) in med.items():
        print(f"{name}: {o * 1000:.0f} ms outside fit = {100 * o / t:.1f}% of its trial time")
    extra = med["archspec"][2] - med["hand"][2]
    print(f"archspec extra overhead per trial: {extra * 1000:.1f} ms = "
          f"{100 * extra / med['archspec'][0]:.2f}% of its trial time (goal < 3%)")
    print(f"ratio={med['archspec'][2] / med['hand'][2]:.2f}")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(trials: int, seed: int) -> None:
    (x, y), val = tune.load_data("sklearn:digits", spec=archspec.load(SPEC))
    x, y = x[:300], y[:300]
    seen: list = []

    class Tuner(tune.RandomSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            seen.append(rss_mib())

    with tempfile.TemporaryDirectory() as tmp:
        tuner = Tuner(archspec.HyperModel(SPEC), objective="val_accuracy", max_trials=trials,
                      seed=seed, directory=tmp, project_name="mem", overwrite=True)
        tuner.search(x, y, validation_data=(val[0][:100], val[1][:100]), epochs=1, verbose=0)
    a, b = seen[4], seen[-1]
    print(f"resident memory after trial 5: {a:.0f} MiB, after trial {len(seen)}: {b:.0f} MiB "
          f"({100 * (b - a) / a:+.1f}%, goal within 10%)")
    print(f"ratio={b / a:.2f}")


def memory_isolated(trials: int, seed: int) -> None:
    from archspec.tune import trials as trial_module

    seen: list = []
    ended = trial_module._Trials._trial_ended

    def count(self, trial):
        record = ended(self, trial)
        seen.append(rss_mib())
        print(f"trial {trial.trial_id}: {seen[-1]:.0f} MiB", flush=True)
        return record

    trial_module._Trials._trial_ended = count
    print(machine_header(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        archspec.search(SPEC, directory=tmp, max_trials=trials, epochs=1, seed=seed, isolate=True, log=False,
                        write_model=False, hparams=False)
    a, b = seen[4], seen[-1]
    print(f"the search's process (trials isolated): resident memory after trial 5: {a:.0f} MiB, after trial "
          f"{len(seen)}: {b:.0f} MiB ({100 * (b - a) / a:+.1f}%, goal: flat)")
    print(f"ratio={b / a:.2f}")


def parallel_bench(trials: int, epochs: int, seed: int, n: int) -> None:
    import subprocess

    print(machine_header(), flush=True)
    print(f"{trials} random-search trials x {epochs} epochs, seed {seed}, lenet_search on sklearn:digits; "
          f"whole `archspec tune` processes", flush=True)
    walls, bests = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("sequential", []), (f"--parallel {n}", ["--parallel", str(n)])):
            directory = Path(tmp) / str(len(walls))
            cmd = [sys.executable, "-m", "archspec", "tune", str(SPEC), "--directory", str(directory),
                   "--max-trials", str(trials), "--epochs", str(epochs), "--seed", str(seed), "--no-model", *extra]
            t0 = time.perf_counter()
            run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            walls[name] = time.perf_counter() - t0
            if run.returncode != 0:
                sys.exit(f"{name} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
            rows = json.loads((directory / "results.json").read_text())
            best = max(rows, key=lambda r: r["objective"] or 0)
            bests[name] = {r["trial_id"]: r["values"] for r in rows}
            print(f"{name:14s} wall {walls[name]:6.1f}s; best trial {best['trial_id']} val_accuracy "
                  f"{best['objective']:.4f}", flush=True)
    same = list(bests.values())[0] == list(bests.values())[1]
    seq, par = walls.values()
    print(f"same trials in both: {'yes' if same else 'NO'}; --parallel {n} took {par:.1f}s against {seq:.1f}s "
          f"sequential ({seq / par:.2f}x faster)")
    print(f"ratio={par / seq:.2f}")


def machine_header() -> str:
    """CPU model, its flags (those that matter to TensorFlow's kernels), cores, and versions."""
    import tensorflow as tf

    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "model name":
                model = val.strip()
            elif key.strip() == "flags":
                flags = set(val.split())
    except OSError:
        pass
    shown = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
             if f in flags]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = len(tf.config.list_physical_devices("GPU"))
    return (f"machine: {model}; flags: {' '.join(shown) or 'none of the listed'}; {cores} cores usable"
            f" ({os.cpu_count()} online); {gpus} GPU(s)\n"
            f"versions: Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"keras-tuner {kt.__version__}; load average {os.getloadavg()[0]:.2f}")


def prune_bench(trials: int, epochs: int, seed: int, startup: int, warmup: int, validation: float) -> None:
    from archspec.tune.data import check_data
    from archspec.tune.prune import Pruner

    print(machine_header(), flush=True)
    spec = archspec.load(SPEC)
    sets = {"validation_split": validation}
    data = check_data(None, spec, sets)[0]  # the held-out test split of sklearn:digits (360 examples)
    x_test, y_test = data.test.x, data.test.y
    print(f"{trials} random-search trials x {epochs} epochs, seed {seed}, lenet_search on sklearn:digits "
          f"({len(data.train.x)} train, {len(data.val.x)} validation, {len(x_test)} test)", flush=True)
    pruner = Pruner("median", startup_trials=startup, warmup_epochs=warmup)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, prune in (("no pruning", None), (f"median (startup {startup}, warm-up {warmup})", pruner)):
            t0 = time.perf_counter()
            r = archspec.search(SPEC, directory=Path(tmp) / str(len(out)), tuner="random", max_trials=trials,
                                epochs=epochs, seed=seed, prune=prune, log=False, overrides=sets)
            wall = time.perf_counter() - t0
            model = keras.saving.load_model(r.paths["keras"])
            scores = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
            test = scores.get("accuracy", scores.get("compile_metrics"))
            spent = sum(row["epochs"] or 0 for row in r.rows)
            pruned = sum(row["status"] == "pruned" for row in r.rows)
            out[name] = (r.best["score"], test, spent, pruned, wall)
            print(f"{name:34s} best trial {r.best['trial_id']}: val_accuracy {r.best['score']:.4f}, "
                  f"test accuracy {test:.4f}; {spent} epochs; {pruned} pruned; {wall:.0f}s", flush=True)
            print("  epochs per trial: " + json.dumps([row["epochs"] for row in r.rows]), flush=True)
            top = sorted((row for row in r.rows if row["status"] == "completed"), key=lambda row: -row["objective"])
            print("  best completed: " + ", ".join(f"{row['trial_id']} {row['objective']:.4f}" for row in top[:5]))
    (v0, t0_, e0, _, w0), (v1, t1, e1, _, w1) = out.values()
    print(f"test accuracy: {100 * t0_:.2f}% without, {100 * t1:.2f}% with pruning: {100 * (t1 - t0_):+.2f} points "
          f"(goal: within 0.5)")
    print(f"epochs: {e1} with pruning against {e0} without = {e1 / e0:.2f} (goal: at most 0.5); "
          f"wall {w1:.0f}s against {w0:.0f}s")
    print(f"ratio={e1 / e0:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int)
    p.add_argument("--epochs", type=int, help="epochs per trial (default: 3; --prune: 10)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--memory", action="store_true")
    p.add_argument("--prune", action="store_true", help="random search with and without median pruning")
    p.add_argument("--isolate", action="store_true", help="--memory: of the search's process, trials isolated")
    p.add_argument("--parallel", type=int, nargs="?", const=2, help="wall time of --parallel N (default 2) "
                   "against sequential")
    p.add_argument("--prune-startup", type=int, default=3)
    p.add_argument("--prune-warmup", type=int, default=1)
    p.add_argument("--validation-split", type=float, default=0.2,
                   help="--prune: the share of the training split the search validates on (the spec's 0.1 "
                        "is 144 digits: one digit is 0.7 points, and trials tie at 100%%)")
    args = p.parse_args()
    if args.prune:
        prune_bench(args.trials or 20, args.epochs if args.epochs is not None else 10, args.seed,
                    args.prune_startup, args.prune_warmup, args.validation_split)
    elif args.parallel:
        parallel_bench(args.trials or 8, args.epochs or 5, args.seed, args.parallel)
    elif args.memory and args.isolate:
        memory_isolated(args.trials or 100, args.seed)
    elif args.memory:
        memory(args.trials or 30, args.seed)
    else:
        overhead(args.trials or 8, args.epochs or 3, args.seed)


if __name__ == "__main__":
    main()
