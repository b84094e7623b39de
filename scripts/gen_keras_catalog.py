"""Regenerate archspec/data/keras_layers.json and keras_names.json from the installed Keras.

The catalog lets archspec validate any Keras layer name, its keyword arguments and their values
(which arguments are booleans; the names Keras accepts for activations, initializers,
regularizers, constraints, dtypes and interpolations) without importing TensorFlow.
`tests/ops/test_registry.py` checks both files still match the installed Keras.

    python scripts/gen_keras_catalog.py
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
        bools = [p.name for p in params.values() if isinstance(p.default, bool)]
        if accepts_kwargs:
            bools += [k for k in ("trainable", "autocast") if k not in bools]
        out[cls_name] = {"class": obj.__name__, "args": args, "required": required, "bools": bools}
    return out


#: base classes a name would select but that cannot be used (abstract)
ABSTRACT = {"Initializer", "initializer", "Regularizer", "regularizer", "Constraint", "constraint"}


def layer_dtypes(candidates: list) -> list:
    """The dtype (policy) names a layer with weights takes: those a Dense layer builds with
    (complex, unsigned, 8- and 16-bit integer and string dtypes are refused by Keras)."""
    import keras

    out = []
    for name in candidates:
        try:
            keras.layers.Dense(2, dtype=name).build((None, 3))
        except Exception:  # noqa: BLE001 - refused
            continue
        out.append(name)
    return out


def usable(family: str, name: str) -> bool:
    """Does a Dense layer build with ``name`` given as its ``family`` argument? (Some names only
    work with arguments: `constant` needs a value, `stft` a 3D kernel.)"""
    import keras

    arg = {"activations": "activation", "initializers": "kernel_initializer",
           "regularizers": "kernel_regularizer", "constraints": "kernel_constraint"}[family]
    try:
        keras.layers.Dense(2, **{arg: name}).build((None, 3))
    except Exception:  # noqa: BLE001 - refused
        return False
    return True


def names() -> dict:
    """The strings Keras accepts: ``keras.activations.get(name)`` and so on, for the names a layer
    builds with; ``*_configs``: the class names a ``{class_name, config}`` mapping may use."""
    from keras.src import activations, constraints, initializers, regularizers
    from keras.src.backend.common import dtypes
    from keras.src.backend.tensorflow import image

    out = {}
    for family, module in (("activations", activations), ("initializers", initializers),
                           ("regularizers", regularizers), ("constraints", constraints)):
        every = sorted(k for k in module.ALL_OBJECTS_DICT if k not in ABSTRACT)
        out[family] = [n for n in every if usable(family, n)]
        out[f"{family}_configs"] = every
    out["dtypes"] = layer_dtypes(sorted(dtypes.ALLOWED_DTYPES) + ["mixed_bfloat16", "mixed_float16"])
    out["resize_interpolations"] = sorted(image.RESIZE_INTERPOLATIONS)
    # the random transforms validate against their own class attributes: class -> names
    import inspect

    import keras

    for family, attrs in (("transform_interpolations", ("_SUPPORTED_INTERPOLATION",)),
                          ("fill_modes", ("_SUPPORTED_FILL_MODE", "_SUPPORTED_FILL_MODES"))):
        out[family] = {
            name: sorted(next(getattr(cls, a) for a in attrs if hasattr(cls, a)))
            for name, cls in sorted(vars(keras.layers).items())
            if inspect.isclass(cls) and any(hasattr(cls, a) for a in attrs)
        }
    return out


def main() -> None:
    import keras

    data = {"keras_version": keras.__version__, "layers": catalog()}
    path = Path(__file__).resolve().parents[1] / "archspec" / "data" / "keras_layers.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path} ({len(data['layers'])} layers, keras {keras.__version__})")
    path = path.with_name("keras_names.json")
    path.write_text(json.dumps({"keras_version": keras.__version__, **names()}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
