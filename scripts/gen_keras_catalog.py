"""Regenerate archspec/data/keras_layers.json from the installed Keras.

The catalog lets archspec validate any Keras layer name and its keyword arguments without
importing TensorFlow. `tests/test_ops.py` checks it still matches the installed Keras.

    python scripts/gen_keras_catalog.py
"""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


#: keyword arguments every Keras layer accepts through **kwargs (keras.layers.Layer.__init__).
#: (Layer.__init__ also takes input_shape & co. for Sequential models; a spec declares `input:`.)
BASE_KWARGS = ["name", "dtype", "trainable", "autocast", "activity_regularizer"]

# Not layers a spec may place as a step: the input is declared with `input:`, wrappers of
# Python callables run code.
EXCLUDED = {"InputLayer", "Input", "Layer", "Lambda", "TFSMLayer", "Wrapper", "RNN",
            "InputSpec", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "Pipeline",
            # wrappers and cells take a layer object, which a YAML value cannot be (yet)
            "Bidirectional", "TimeDistributed", "SpectralNormalization", "StackedRNNCells",
            "GRUCell", "LSTMCell", "SimpleRNNCell"}


def catalog() -> dict:
    import keras

    out = {}
    for cls_name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, cls_name)
        if not inspect.isclass(obj) or not issubclass(obj, keras.layers.Layer):
            continue
        if cls_name in EXCLUDED:
            continue
        params = inspect.signature(obj.__init__).parameters
        args = [p for p in params if p not in ("self", "args", "kwargs")]
        accepts_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        required = [p.name for p in params.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                    and p.name != "self"]
        if accepts_kwargs:
            args += [k for k in BASE_KWARGS if k not in args]
        out[cls_name] = {"class": obj.__name__, "args": args, "required": required}
    return out


def main() -> None:
    import keras

    data = {"keras_version": keras.__version__, "layers": catalog()}
    path = Path(__file__).resolve().parents[1] / "archspec" / "data" / "keras_layers.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path} ({len(data['layers'])} layers, keras {keras.__version__})")


if __name__ == "__main__":
    main()
