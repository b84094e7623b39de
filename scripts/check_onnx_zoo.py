"""Export every zoo network to ONNX and check it with onnxruntime (#17.6).

For each spec of architectures/*.yaml (whatever is there): builds it, untrained, at a small
input where the spec lets one choose (``input_shape``, ``classes``: the table SMALL, as
tests/zoo/test_zoo.py does, else the smallest of a few sizes that the spec accepts), exports it
with ``archspec.tools.export.export(model, ..., "onnx")`` (which runs it back with onnxruntime
and compares the outputs with Keras on a sample batch of 4) and prints one row: converted or
not (with the layer and op named by the error), the max abs difference against Keras, the
parameters and the seconds. Ends with the count. The markdown table is what docs/cli.md shows.

    python scripts/check_onnx_zoo.py [--atol 1e-5] [NAME ...]

Last line: ``converted N of M``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the sizes of the zoo's tests (tests/zoo/sizes.py), and classes 10 for every spec that has the param
from tests.zoo.sizes import SMALL  # noqa: E402
#: image sizes tried, smallest first, for a spec with an ``input_shape`` param not in SMALL
SIZES = (32, 64, 75, 96, 128)


def small_spec(path: Path):
    """The spec at ``path`` with small params (see the module's docstring)."""
    import archspec
    from archspec.errors import SpecError

    default = archspec.load(path)
    params = dict(SMALL.get(path.stem, {}))
    if "classes" in default.params:
        params.setdefault("classes", 10)
    shape = default.params.get("input_shape")
    if "input_shape" in params or not isinstance(shape, list) or len(shape) != 3:
        return archspec.load(path, **params)
    for size in SIZES:
        if size >= min(shape[0], shape[1]):
            break
        try:
            return archspec.load(path, **params, input_shape=[size, size, shape[2]])
        except SpecError:
            continue
    return archspec.load(path, **params)


def check(path: Path, out: Path, atol: float | None) -> tuple[str, str, int, float]:
    """(status, max difference, parameters, seconds) of one spec."""
    import keras

    import archspec
    from archspec.errors import ArchspecError
    from archspec.tools.export import export

    keras.backend.clear_session()
    try:
        spec = small_spec(path)
        model = archspec.build(spec)
    except ArchspecError as err:
        return f"not built: {str(err).splitlines()[0]}", "", 0, 0.0
    start = time.perf_counter()
    try:
        _, diff = export(model, out / f"{path.stem}.onnx", "onnx", **({} if atol is None else {"atol": atol}))
        status, shown = "converted", f"{diff:.1e}"
    except ArchspecError as err:
        status, shown = "no: " + str(err).splitlines()[0].removeprefix("error: "), ""
    seconds = time.perf_counter() - start
    params = model.count_params()
    (out / f"{path.stem}.onnx").unlink(missing_ok=True)
    keras.backend.clear_session()
    return status, shown, params, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="zoo names (default: every architectures/*.yaml)")
    parser.add_argument("--atol", type=float, default=None,
                        help="largest output difference accepted (default: `archspec export`'s, 1e-5)")
    args = parser.parse_args(argv)
    from archspec._env import quiet_tensorflow

    quiet_tensorflow()
    paths = sorted((ROOT / "architectures").glob("*.yaml"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    print("| model | ONNX | max abs diff | params | seconds |")
    print("|---|---|---|---|---|")
    converted = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            status, diff, params, seconds = check(path, Path(tmp), args.atol)
            converted += status == "converted"
            print(f"| {path.stem} | {status} | {diff} | {params:,} | {seconds:.1f} |", flush=True)
    print(f"converted {converted} of {len(paths)}")
    return 0 if converted == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main())
