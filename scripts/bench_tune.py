"""Benchmark archspec's tuning overhead (not a test; run by hand).

    .venv/bin/python scripts/bench_tune.py [--trials 8] [--epochs 3]
    .venv/bin/python scripts/bench_tune.py --memory [--trials 30]

Default mode: the search space of architectures/search/lenet_search.yaml written twice, as a
hand-written keras-tuner build function and as the YAML spec (archspec.HyperModel), searched by
the same tuner class (RandomSearch), same seed, same data (sklearn digits), same epochs. For each
trial it measures the wall time outside ``fit`` (build, compile, resolve + analyze for archspec,
keras-tuner's bookkeeping and its garbage collections) and prints the medians (the first trial, which pays TensorFlow's
warm-up, is left out), archspec's extra overhead as a share of its trial time (goal: < 3%), and
last ``ratio=<archspec overhead / hand-written overhead>``.

``--memory``: resident memory (VmRSS) after trial 5 and after the last of N small archspec trials;
the session is cleared between trials, so the two should be within 10%.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--memory", action="store_true")
    args = p.parse_args()
    if args.memory:
        memory(args.trials or 30, args.seed)
    else:
        overhead(args.trials or 8, args.epochs, args.seed)


if __name__ == "__main__":
    main()
