"""Benchmark: what archspec costs beyond Keras, building a model and checking a spec.

Prints, in this order:

1. the machine: CPU model, the flags that matter (avx2, avx512f, avx512_bf16, amx), cores, load
   average, Python, TensorFlow, Keras, PyYAML (with or without libyaml) and archspec versions;
2. ``archspec summary SPEC`` as a whole process (interpreter start-up included) for every zoo
   spec (``architectures/*.yaml``): median wall and CPU (user + system) seconds; goal < 0.5 s;
3. the same for generated chains of 10, 100, 1,000 and 3,000 dense layers, and in this process
   the time per layer of each phase (YAML loading, resolving with the analyzer's rules, the
   analysis, the table): the cost is linear in layers when the per-layer figures stay flat;
4. ``archspec.build`` against the matching ``keras.applications`` call (VGG16, ResNet50,
   ResNet152), in one process, alternating, after a warm-up round: median seconds of each, the
   median of the rounds' ratios, wall and CPU (goal <= 1.02), and archspec's own part (the spec:
   ``as_spec``, load, resolve, analyze) as ``1 + spec / keras``: the two build the same layers
   (same Keras calls), so that is the ratio the noise hides.

    python scripts/bench_build.py [--rounds 5] [--no-bytecode] [--skip-build] [--skip-zoo]

The summary processes get a bytecode cache of their own (``PYTHONPYCACHEPREFIX`` in a temporary
folder, warmed by a first run), as an installed package has its ``.pyc`` files;
``--no-bytecode`` measures them compiling every module from source instead (what
``PYTHONDONTWRITEBYTECODE=1`` in a checkout gives). Figures are medians over ``--rounds``
rounds; on a loaded machine the wall times swing, the CPU times much less.

Last line: ``ratio=<x.xx>``, the largest of the per-network build ratios (the goal holds for each).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "architectures"
NETS = [("vgg16.yaml", "VGG16"), ("resnet50.yaml", "ResNet50"), ("resnet152.yaml", "ResNet152")]
CHAIN_LAYERS = (10, 100, 1_000, 3_000)
SUMMARY_GOAL_S = 0.5
BUILD_GOAL = 1.02
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


# -- the machine --------------------------------------------------------------------------------

def _cpuinfo() -> tuple[str, set]:
    """The CPU's model name and flags (Linux ``/proc/cpuinfo``; elsewhere what platform says)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags":
                flags = set(value.split())
            if flags and key == "":  # the end of the first processor's block
                break
    except OSError:
        pass
    return model, flags


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header() -> None:
    """The machine and versions (read without importing TensorFlow)."""
    import yaml

    model, flags = _cpuinfo()
    shown = " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in FLAGS)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"cpu: {model}")
    print(f"flags: {shown}")
    print(f"cores: {os.cpu_count()} ({usable} usable)   load average (1, 5, 15 min): {load}")
    print(f"python {platform.python_version()}   tensorflow {_version('tensorflow')}   "
          f"keras {_version('keras')}   pyyaml {yaml.__version__} "
          f"({'libyaml' if getattr(yaml, '__with_libyaml__', False) else 'pure Python'})   "
          f"archspec {_version('archspec-keras')}")


# -- processes ----------------------------------------------------------------------------------

def _process(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run ``cmd`` to its end; (wall seconds, CPU seconds: user + system of the process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def _timed_process(cmd: list[str], env: dict, rounds: int) -> tuple[float, float]:
    runs = [_process(cmd, env) for _ in range(rounds)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def child_env(bytecode: bool, cache: str) -> dict:
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def _layers(path: Path) -> int:
    from archspec.spec import load

    return len(load(path).graph.layers)


def _row(label: str, layers: int | str, wall: float, cpu: float) -> str:
    flag = "" if wall < SUMMARY_GOAL_S else f"  > {SUMMARY_GOAL_S} s"
    return f"{label:28s} {layers!s:>6} {wall:7.3f} {cpu:7.3f}{flag}"


def bench_summary(paths: list[Path], env: dict, rounds: int) -> None:
    """``archspec summary`` of each spec, as a whole process."""
    print(f"\n`archspec summary SPEC` as a process, median of {rounds} (goal: wall < {SUMMARY_GOAL_S} s)")
    print(f"{'spec':28s} {'layers':>6} {'wall s':>7} {'cpu s':>7}")
    wall, cpu = _timed_process([sys.executable, "-c", "pass"], env, rounds)
    print(_row("(python -c pass)", "", wall, cpu))
    worst = (0.0, "")
    for path in paths:
        wall, cpu = _timed_process([sys.executable, "-m", "archspec", "summary", str(path)], env, rounds)
        worst = max(worst, (wall, path.stem))
        print(_row(path.stem, _layers(path), wall, cpu))
    print(f"slowest: {worst[1]} {worst[0]:.3f} s")


# -- the layer-count curve ----------------------------------------------------------------------

def chain_yaml(layers: int) -> str:
    """A spec of ``layers`` dense layers in a chain, one step per line."""
    steps = "\n".join("  - dense: {units: 8, activation: relu}" for _ in range(layers))
    return f"name: chain{layers}\ninput: {{shape: [8]}}\nbody:\n{steps}\n"


def _phases(path: Path) -> dict[str, float]:
    """Seconds of each phase of ``archspec summary`` in this process (modules already imported)."""
    from archspec.analyze.table import format_table
    from archspec.spec import Spec
    from archspec.spec.document import load_document

    t0 = time.perf_counter()
    document = load_document(path)
    t1 = time.perf_counter()
    spec = Spec(document, {})
    t2 = time.perf_counter()
    analysis = spec.analyze()
    t3 = time.perf_counter()
    format_table(analysis)
    t4 = time.perf_counter()
    return {"yaml": t1 - t0, "resolve": t2 - t1, "analyze": t3 - t2, "table": t4 - t3}


def bench_curve(env: dict, rounds: int, folder: Path) -> None:
    print(f"\nchains of dense layers: `archspec summary` as a process (median of {rounds}), and the "
          "phases in this process in microseconds per layer")
    print(f"{'layers':>6} {'wall s':>7} {'cpu s':>7} {'ms/layer':>9} | {'yaml':>6} {'resolve':>7} "
          f"{'analyze':>7} {'table':>6}")
    previous = None
    for n in CHAIN_LAYERS:
        path = folder / f"chain{n}.yaml"
        path.write_text(chain_yaml(n))
        wall, cpu = _timed_process([sys.executable, "-m", "archspec", "summary", str(path)], env, rounds)
        _phases(path)  # warm
        runs = [_phases(path) for _ in range(rounds)]
        per = {k: statistics.median(r[k] for r in runs) / n * 1e6 for k in runs[0]}
        # the cost of one more layer: the slope from the previous point (CPU, the steadier clock)
        slope = "" if previous is None else f"{(cpu - previous[1]) / (n - previous[0]) * 1e3:9.3f}"
        previous = (n, cpu)
        flag = "" if wall < SUMMARY_GOAL_S else f"  > {SUMMARY_GOAL_S} s"
        print(f"{n:6d} {wall:7.3f} {cpu:7.3f} {slope:>9} | {per['yaml']:6.0f} {per['resolve']:7.0f} "
              f"{per['analyze']:7.0f} {per['table']:6.0f}{flag}")


# -- building -----------------------------------------------------------------------------------

def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()`` after clearing Keras' session; CPU counts every thread."""
    import keras

    keras.backend.clear_session()
    start, cpu = time.perf_counter(), time.process_time()
    model = fn()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    del model
    return elapsed


def bench_build(rounds: int) -> list[float]:
    """Per network: archspec.build and keras.applications alternating (which goes first swaps
    each round), the ratio of each round's pair, and its median (a pair shares the machine's
    load of its moment, so the ratio drifts less than either time)."""
    import archspec
    from archspec._env import quiet_tensorflow
    from archspec.spec import as_spec

    # once per process, before the first build: TensorFlow's import (its start-up lines filtered)
    # and its devices; as processes, since this one may have imported TensorFlow already
    env = dict(os.environ)
    plain = _timed_process([sys.executable, "-c", "import tensorflow"], env, 3)[0]
    quiet = _timed_process([sys.executable, "-c", "from archspec._env import quiet_tensorflow; "
                            "quiet_tensorflow()"], env, 3)[0]
    print(f"\nonce per process: `import tensorflow` {plain:.2f} s; archspec's quiet_tensorflow() (the same, "
          f"its start-up lines filtered, devices listed) {quiet:.2f} s (wall, median of 3)")
    quiet_tensorflow()
    import keras

    print(f"`archspec.build` vs keras.applications, same process, alternating, median of {rounds}; "
          "spec: archspec's own part (load, resolve, analyze)")
    print(f"{'network':16s} {'archspec s':>10} {'keras s':>8} {'spec s':>7} {'ratio':>6} {'cpu ratio':>9} "
          f"{'1 + spec/keras':>14}")
    ratios = []
    for spec, factory in NETS:
        path = ZOO / spec
        if not path.exists():
            print(f"{spec}: not in the zoo yet, skipped")
            continue
        ours = lambda: archspec.build(path)  # noqa: E731
        theirs = lambda: getattr(keras.applications, factory)(weights=None)  # noqa: E731
        _timed(ours), _timed(theirs)  # warm-up
        a, k, s, wall_ratios, cpu_ratios = [], [], [], [], []
        for i in range(rounds):
            if i % 2:
                kt, at = _timed(theirs), _timed(ours)
            else:
                at, kt = _timed(ours), _timed(theirs)
            a.append(at[0])
            k.append(kt[0])
            wall_ratios.append(at[0] / kt[0])
            cpu_ratios.append(at[1] / kt[1])
            start = time.perf_counter()
            as_spec(path)
            s.append(time.perf_counter() - start)
        ma, mk, ms = statistics.median(a), statistics.median(k), statistics.median(s)
        ratio = statistics.median(wall_ratios)
        ratios.append(ratio)
        print(f"{spec[:-5]:16s} {ma:10.3f} {mk:8.3f} {ms:7.3f} {ratio:6.3f} {statistics.median(cpu_ratios):9.3f} "
              f"{1 + ms / mk:14.3f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="summary processes compile every module from source (no .pyc)")
    parser.add_argument("--skip-zoo", action="store_true", help="no summary of each zoo spec")
    parser.add_argument("--skip-build", action="store_true", help="no build comparison")
    args = parser.parse_args()
    header()
    with tempfile.TemporaryDirectory(prefix="archspec-bench-") as tmp:
        env = child_env(not args.no_bytecode, str(Path(tmp) / "pycache"))
        print(f"summary processes: {'without' if args.no_bytecode else 'with'} a bytecode cache")
        paths = sorted(ZOO.glob("*.yaml"))
        _process([sys.executable, "-m", "archspec", "summary", str(paths[0])], env)  # fills the cache
        if not args.skip_zoo:
            bench_summary(paths, env, args.rounds)
        bench_curve(env, args.rounds, Path(tmp))
    ratios = [] if args.skip_build else bench_build(args.rounds)
    print(f"ratio={max(ratios):.2f}" if ratios else "ratio=n/a")


if __name__ == "__main__":
    main()
