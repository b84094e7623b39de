"""``archspec bench SPEC [--batch 64] [--runs 50]``: inference latency and throughput of a spec's
model, against keras.applications' equal model (for the zoo names it has) and the batch-norm-folded
copy (protocol: :mod:`archspec.tools.bench`)."""

from __future__ import annotations

from archspec.cli._common import add_spec_arguments, load_spec
from archspec.errors import SpecError, command_line


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="inference latency (batch 1) and throughput of a spec's model")
    add_spec_arguments(p)
    p.add_argument("--batch", type=int, default=64, help="the batch of the throughput measurement (default 64)")
    p.add_argument("--runs", type=int, default=50,
                   help="timed calls at batch 1 (default 50; a fifth of them at --batch); the median is reported")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    for flag in ("batch", "runs"):
        if getattr(args, flag) < 1:
            raise SpecError(f"--{flag} must be at least 1", command_line(f"--{flag}"), received=getattr(args, flag))
    spec = load_spec(args)
    from archspec import build
    from archspec.tools.bench import compare, machine

    print(machine())
    spec.analyze(limits=not args.no_limits)  # the size limits, before Keras allocates anything
    model = build(spec)
    from archspec.spec.document import zoo_lookup

    found = zoo_lookup(args.spec)  # keras.applications is compared for the zoo's names only
    name = found.stem if found is not None else Path(args.spec).stem
    rows = compare(model, name=name, batch=args.batch, runs=args.runs, warmup=args.warmup)
    base = rows[0]
    for row in rows[1:]:
        print(f"{row.model} vs archspec: latency {base.latency.median / row.latency.median:.2f}x, "
              f"throughput {row.throughput.per_second / base.throughput.per_second:.2f}x")
    return 0
