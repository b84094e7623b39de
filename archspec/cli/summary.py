"""``archspec summary SPEC [--json] [--source] [--features A,B]``: per-layer shapes, parameters,
MACs (no TensorFlow), and a backbone's features (``--features`` or the spec's ``features:``):
channels, reduction, shape."""

from __future__ import annotations

import json
import re

from archspec.cli._common import add_spec_arguments, load_spec
from archspec.cli.build import add_features_argument, features_of
from archspec.errors import command_line

#: the size an example ``--set`` gives a dimension of any size
_EXAMPLE_SIZE = 128


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("summary", help="per-layer shapes, parameters, MACs, receptive field (no TensorFlow)")
    add_spec_arguments(p)
    p.add_argument("--json", action="store_true", help="print the stable JSON form")
    p.add_argument("--compact", action="store_true", help="with --json: one line")
    p.add_argument("--source", action="store_true", help="show where each layer was written")
    add_features_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from archspec.analyze.table import format_table

    spec = load_spec(args)
    analysis = spec.analyze(limits=not args.no_limits, features=features_of(args),
                            features_loc=command_line("--features"))
    frozen = frozen_by_train(spec, analysis)
    if args.json:
        out = analysis.to_dict()
        if frozen:
            out["frozen"] = frozen
        print(json.dumps(out, indent=None if args.compact else 1))
    else:
        print(format_table(analysis, show_source=args.source, size_hint=size_hint(spec)))
        if frozen:
            print(f"Frozen when trained (train.freeze{', freeze_bn' if frozen['freeze_bn'] else ''}): "
                  f"{frozen['params']:,} params in {len(frozen['layers'])} layers; trainable then: "
                  f"{analysis.trainable_params - frozen['trainable_params']:,}")
    return 0


def frozen_by_train(spec, analysis) -> dict | None:
    """The layers the spec's ``train: {freeze, freeze_bn}`` freezes (TensorFlow-free, as the
    training run will: :mod:`archspec.train.finetune`), their parameters, and how many of those
    are trainable otherwise; None without either setting."""
    if not spec.train:
        return None
    from archspec.train.config import TrainConfig
    from archspec.train.finetune import check, matches

    cfg = TrainConfig.from_sources(spec.train)
    if not cfg.freeze and not cfg.freeze_bn:
        return None
    layers = [r for r in analysis.layers if not r.shares]  # Keras' layers: no application of a shared one
    check(cfg, [r.name for r in layers])  # a glob matching nothing: the located error train gives
    rows = [r for r in layers
            if matches(r.name, cfg.freeze) or (cfg.freeze_bn and r.op == "batch_normalization")]
    return {"globs": list(cfg.freeze), "freeze_bn": cfg.freeze_bn, "layers": [r.name for r in rows],
            "params": sum(r.params or 0 for r in rows),
            "trainable_params": sum(r.trainable_params or 0 for r in rows)}


def size_hint(spec) -> str:
    """How to give ``spec`` a fixed input size: the ``--set`` of the parameters its ``input:``
    (or ``inputs:``) names whose value has a ``null``, e.g. ``--set length=128``."""
    names = set()
    for key in ("input", "inputs"):
        names.update(re.findall(r"\$\{?([A-Za-z_]\w*)", json.dumps(spec.document.data.get(key), default=str)))
    sets = [f"--set {name}={_example(spec.params[name])}" for name in sorted(names)
            if name in spec.params and _has_none(spec.params[name])]
    if sets:
        return "for these figures, give the input a fixed size, e.g. " + " ".join(sets)
    return "for these figures, give the input a fixed shape in the spec's `input:`; no parameter sets it"


def _has_none(value) -> bool:
    return value is None or isinstance(value, (list, tuple)) and None in value


def _example(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(_EXAMPLE_SIZE if v is None else v) for v in value) + "]"
    return str(_EXAMPLE_SIZE)
