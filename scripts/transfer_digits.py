"""The worked example of docs/transfer.md: pretrain on the embedded digits 0-4, then learn 5-9
from 20 labelled images per class -- from scratch, pretrained and frozen, pretrained and
fine-tuned -- and print each test accuracy (the numbers in the doc come from this script).

    python scripts/transfer_digits.py [--out DIR] [--seeds 3]

Real data only (scikit-learn's 1,797 handwritten digits, shipped inside the package): digits 0-4
train the backbone (80% of them; the rest is its test split); for 5-9, 20 images per class are the
labelled training set and every other image of 5-9 is the test set. The network is a small CNN
(below); the pretrained runs load the 0-4 model's convolutions by layer name (`--weights`; the
5-9 head has another name, so it starts afresh), then train with `freeze: [conv*]` (only the head
trains: a linear probe) or without (everything is fine-tuned). Each figure is the mean over
`--seeds` seeds, with its spread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPEC = """\
name: digits_cnn
params: {classes: 5, head: predictions}
input: {shape: [8, 8, 1]}
body:
  - conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu, name: conv1}
  - conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu, name: conv2}
  - max_pooling2d: {pool_size: 2, name: pool}
  - conv2d: {filters: 64, kernel_size: 3, padding: same, activation: relu, name: conv3}
  - global_average_pooling2d: {name: gap}
  - dense: {units: $classes, activation: softmax, name: $head}
train:
  epochs: EPOCHS
  batch_size: 32
  precision: float32
  validation_split: 0
  test_split: 0
  optimizer: {name: adam, learning_rate: LR}
"""


def _data(out: Path, per_class: int, seed: int) -> tuple[Path, Path]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype("float32"), d.target
    rng = np.random.default_rng(seed)
    low = np.flatnonzero(y < 5)
    rng.shuffle(low)
    cut = int(len(low) * 0.8)
    pre = out / f"pre_{seed}.npz"
    np.savez(pre, x_train=x[low[:cut]], y_train=y[low[:cut]], x_test=x[low[cut:]], y_test=y[low[cut:]])
    few, rest = [], []
    for c in range(5, 10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        few += list(idx[:per_class])
        rest += list(idx[per_class:])
    new = out / f"new_{seed}.npz"
    np.savez(new, x_train=x[few], y_train=y[few] - 5, x_test=x[rest], y_test=y[rest] - 5)
    return pre, new


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="where the runs go (default: a temporary folder)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--per-class", type=int, default=20)
    args = p.parse_args(argv)
    import archspec
    from archspec.train import fit

    out = Path(args.out or tempfile.mkdtemp(prefix="transfer_digits_"))
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {"scratch": [], "frozen": [], "fine-tuned": []}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        pre, new = _data(out, args.per_class, seed)
        spec_pre = archspec.loads(SPEC.replace("EPOCHS", "15").replace("LR", "0.003"))
        fit(spec_pre, output=out / f"pre_{seed}", data=f"npz:{pre}", overrides={"seed": seed},
                       verbose=0, log=lambda m: None, fresh=True)
        weights = out / f"pre_{seed}" / "model.keras"
        for name, extra in (("scratch", {}), ("frozen", {"freeze": ["conv*"]}), ("fine-tuned", {})):
            # a new head (another name: not loaded from the 0-4 model, which the report says)
            spec = archspec.loads(SPEC.replace("EPOCHS", "60").replace("LR", "0.003"), head="head_5_9")
            kw = {} if name == "scratch" else {"weights": str(weights)}
            r = fit(spec, output=out / f"{name}_{seed}", data=f"npz:{new}", overrides={"seed": seed, **extra},
                    verbose=0, log=lambda m: None, fresh=True, **kw)
            results[name].append(r.test_metrics["accuracy"])
    print(f"digits 5-9 from {args.per_class} labelled images per class, {args.seeds} seeds "
          f"({time.perf_counter() - t0:.0f} s):")
    for name, accs in results.items():
        spread = statistics.pstdev(accs) if len(accs) > 1 else 0.0
        print(f"  {name:11s} test accuracy {statistics.mean(accs):.3f} +- {spread:.3f}  ({', '.join(f'{a:.3f}' for a in accs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
