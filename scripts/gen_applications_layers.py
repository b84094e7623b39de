"""Regenerate archspec/data/applications_layers.json: the layers keras.applications' models use.

Builds every keras.applications model (``weights=None``, the smallest input it accepts, tried
in :data:`SIZES` order) and records, for each family (the module defining the model, e.g.
``efficientnet``): the models and their input sizes, and per layer class its module, whether
it is a standard ``keras.layers`` class, and each distinct configuration that matters to an
analyzer rule (its config without names, dtypes, initializers, regularizers, constraints and
activations) with the input shape(s), output shape and trainable / non-trainable counts Keras
gave it. ``tests/ops/test_applications_rules.py`` checks that the analyzer has a TF-free rule
for every standard class and answers every recorded configuration as Keras did, and that the
file is current (it regenerates one small family). Building all 40 models takes minutes:

    python scripts/gen_applications_layers.py            # every model
    python scripts/gen_applications_layers.py MobileNet  # print one model's record
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = Path(__file__).resolve().parent.parent / "archspec" / "data" / "applications_layers.json"

#: Input sizes tried, smallest first (most models accept 32 px; Xception 71, Inception 75).
SIZES = (32, 71, 75)

#: Config keys that never matter to a rule's shapes or counts.
IGNORED = ("name", "trainable", "dtype", "seed", "activity_regularizer")
IGNORED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")

#: Config keys that are sizes, not options: configurations differing only in these (and in their
#: input shape) are one configuration, recorded by its first example.
SIZES_OF = ("filters", "units", "rate", "epsilon", "momentum")


def model_names() -> list[str]:
    """Every model builder in keras.applications, by name."""
    import keras

    return sorted(n for n in dir(keras.applications) if inspect.isfunction(getattr(keras.applications, n)))


def family(name: str) -> str:
    """The family of model ``name``: the module that defines it (``mobilenet_v2``)."""
    import keras

    return getattr(keras.applications, name).__module__.rsplit(".", 1)[-1]


def build(name: str, sizes=SIZES):
    """Model ``name`` (weights=None) at the smallest of ``sizes`` it accepts, and that size."""
    import keras

    fn = getattr(keras.applications, name)
    for size in sizes:
        try:
            return fn(weights=None, input_shape=(size, size, 3)), size
        except ValueError:
            continue
    raise ValueError(f"{name} accepts none of the sizes {sizes}")


def relevant_config(layer) -> dict:
    """``layer``'s config, less what never matters to a rule; tuples become lists (JSON)."""
    config = layer.get_config()
    keep = {}
    for key, value in sorted(config.items()):
        if key in IGNORED or key.endswith(IGNORED_SUFFIXES):
            continue
        if key == "activation" and type(layer).__name__ != "Activation":
            continue
        keep[key] = json.loads(json.dumps(value, default=list))
    return keep


def _shape(tensor) -> list:
    return list(tensor.shape[1:])


def _option_key(record: dict) -> str:
    """What makes a configuration distinct: its options and input rank, not its sizes."""
    options = {k: v for k, v in record["config"].items() if k not in SIZES_OF}
    rank = len(record["input_shape"][0]) if isinstance(record["input_shape"][0], list) else len(record["input_shape"])
    return json.dumps([options, rank], sort_keys=True)


def layers_of(model) -> list:
    """``model``'s layers, those of nested models (ConvNeXt's Sequential stem and downsampling
    blocks) in their place."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += layers_of(layer)
        elif not isinstance(layer, keras.layers.InputLayer):
            out.append(layer)
    return out


def layer_records(model) -> dict:
    """Per layer class of ``model``: {module, standard, configs: [...]}, each configuration of
    options once (:func:`_option_key`)."""
    import keras
    import numpy as np

    count = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    out: dict = {}
    for layer in layers_of(model):
        cls = type(layer)
        entry = out.setdefault(cls.__name__, {
            "module": cls.__module__,
            "standard": getattr(keras.layers, cls.__name__, None) is cls,
            "configs": [],
        })
        inputs = layer.input
        record = {
            "config": relevant_config(layer),
            "input_shape": [_shape(t) for t in inputs] if isinstance(inputs, (list, tuple)) else _shape(inputs),
            "output_shape": _shape(layer.output),
            "params": count(layer.trainable_weights),
            "non_trainable": count(layer.non_trainable_weights),
        }
        if _option_key(record) not in map(_option_key, entry["configs"]):
            entry["configs"].append(record)
    return out


def merge(into: dict, records: dict) -> None:
    """Add one model's ``records`` to its family's ``into`` (configs kept once)."""
    for cls, entry in records.items():
        have = into.setdefault(cls, {**entry, "configs": []})
        for record in entry["configs"]:
            if _option_key(record) not in map(_option_key, have["configs"]):
                have["configs"].append(record)


def generate() -> dict:
    import keras

    families: dict = {}
    for name in model_names():
        model, size = build(name)
        fam = families.setdefault(family(name), {"models": {}, "layers": {}})
        fam["models"][name] = size
        merge(fam["layers"], layer_records(model))
        print(f"{name}: {size} px, {len(model.layers)} layers", file=sys.stderr, flush=True)
        del model
        keras.backend.clear_session()
    for fam in families.values():
        fam["layers"] = dict(sorted(fam["layers"].items()))
    return {"keras": keras.__version__, "families": dict(sorted(families.items()))}


def dumps(data: dict) -> str:
    """The file's text: indented, each configuration record on one line."""
    records: list = []

    def mark(value):
        if isinstance(value, dict) and "config" in value:
            records.append(json.dumps(value, sort_keys=True))
            return f"@record{len(records) - 1}@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(data), indent=1)
    for i, record in enumerate(records):
        text = text.replace(f'"@record{i}@"', record, 1)
    return text + "\n"


def main(argv: list[str]) -> None:
    if argv:
        for name in argv:
            model, size = build(name)
            print(json.dumps({name: size, "layers": layer_records(model)}, indent=1))
        return
    OUT.write_text(dumps(generate()))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
