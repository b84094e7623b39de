"""Benchmark: inference latency (batch 1) and throughput (batch 64) of zoo nets, archspec's built
model vs the equal keras.applications model (same weights; outputs must be equal) vs the
batch-norm-folded copy (archspec/tools/fold.py; outputs equal within its ATOL).

The protocol is :func:`archspec.tools.bench.latency` (a fixed input, ``tf.function``, warm-up
calls, then the median of N timed calls each ended by reading the output). Not a test; run by hand:

    python scripts/bench_infer.py [--nets resnet50:64,resnet20,mobilenet_v2:96] [--runs 50] [--batch 64]

A net is ``NAME[:SIZE]`` (SIZE: the square input size). It prints the machine first; the last line
is ``ratio=<x.xx>``: the geometric mean over the nets of the folded copy's throughput over
archspec's model's (what folding gains).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default="resnet50:64,resnet20,mobilenet_v2:96")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args(argv)

    import keras

    import archspec
    from archspec.tools.bench import compare, machine

    print(machine())
    print(f"load average {os.getloadavg()[0]:.2f}")
    ratios = []
    for item in args.nets.split(","):
        name, _, size = item.partition(":")
        spec = archspec.load(name, **({"input_shape": [int(size), int(size), 3]} if size else {}))
        keras.backend.clear_session()
        model = archspec.build(spec)
        print(f"-- {name} {tuple(model.inputs[0].shape[1:])}: {model.count_params():,} parameters")
        rows = compare(model, name=name, batch=args.batch, runs=args.runs)
        for row in rows[1:]:
            print(f"{name}: {row.model} / archspec: latency {row.latency.median / rows[0].latency.median:.2f}x, "
                  f"throughput {row.throughput.per_second / rows[0].throughput.per_second:.2f}x")
        ratios.append(rows[-1].throughput.per_second / rows[0].throughput.per_second)
    print(f"ratio={math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
