"""Benchmark: archspec build vs keras.applications build, and `archspec summary` as a process.

In one process, builds each network through archspec and through keras.applications,
alternating, after a warm-up round; prints the median seconds of each and the ratio
archspec / Keras (goal <= 1.02). Then times `archspec summary SPEC` as whole processes against
`python -c "import tensorflow"` (goal: summary < 1 s, below the TF import alone).

    python scripts/bench_build.py [--rounds 5]

Last line: ratio=<median of the per-network ratios>.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
NETS = [("vgg16.yaml", "VGG16"), ("resnet50.yaml", "ResNet50"), ("resnet152.yaml", "ResNet152")]


def _timed(fn) -> float:
    import keras

    keras.backend.clear_session()
    start = time.perf_counter()
    model = fn()
    elapsed = time.perf_counter() - start
    del model
    return elapsed


def bench_build(rounds: int) -> list[float]:
    import keras

    import archspec

    ratios = []
    for spec, factory in NETS:
        path = ROOT / "architectures" / spec
        if not path.exists():
            print(f"{spec}: not in the zoo yet, skipped")
            continue
        ours = lambda: archspec.build(path)  # noqa: E731
        theirs = lambda: getattr(keras.applications, factory)(weights=None)  # noqa: E731
        _timed(ours), _timed(theirs)  # warm-up
        a, k = [], []
        for _ in range(rounds):
            a.append(_timed(ours))
            k.append(_timed(theirs))
        ma, mk = statistics.median(a), statistics.median(k)
        ratios.append(ma / mk)
        print(f"{spec:16s} archspec {ma:6.3f} s   keras.applications {mk:6.3f} s   ratio {ma / mk:.3f}")
    return ratios


def bench_processes(rounds: int) -> None:
    def run(cmd) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - start

    tf = statistics.median(run([sys.executable, "-c", "import tensorflow"]) for _ in range(rounds))
    print(f"{'import tensorflow':32s} {tf:6.3f} s (process)")
    for spec, _ in NETS:
        path = ROOT / "architectures" / spec
        if path.exists():
            t = statistics.median(
                run([sys.executable, "-m", "archspec", "summary", str(path)]) for _ in range(rounds))
            print(f"{'archspec summary ' + spec:32s} {t:6.3f} s (process)  {t / tf:.2f}x the TF import")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bench_processes(args.rounds)
    ratios = bench_build(args.rounds)
    print(f"ratio={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
