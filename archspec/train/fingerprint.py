"""What a run is: the model, the data and the train settings, as stored with every checkpoint.

A run resumes only when its fingerprint matches the checkpoint's; otherwise it refuses, naming
what changed (``optimizer.learning_rate: 0.02 -> 0.1``), unless told to go on with the change
recorded (``--resume-with-changes``). Settings that say how to run, not what to train (the
number of epochs, the strategy, XLA, the loop driver, steps per execution, caching) may change on
resume: training a finished run further with more ``--epochs`` is a resume.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

#: train fields that may differ on resume (how to run, or how long)
RESUMABLE = ("epochs", "strategy", "jit_compile", "loop", "steps_per_execution", "cache")


def fingerprint(cfg, data, *, spec_yaml: str | None, model) -> dict:
    """The fingerprint of a run: the model (its spec without ``train:``, else its Keras config),
    the data (source, split sizes, example shape and a hash of the arrays) and the train settings."""
    fp = {"model": _model_hash(spec_yaml, model), "data": data_fingerprint(data),
          "train": {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE}}
    return json.loads(json.dumps(fp, default=str))  # as it reads back from a checkpoint


def _model_hash(spec_yaml: str | None, model) -> str:
    if spec_yaml is not None:
        import yaml

        doc = yaml.safe_load(spec_yaml) or {}
        doc.pop("train", None)
        text = json.dumps(doc, sort_keys=True, default=str)
    else:
        text = model.to_json()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_fingerprint(data) -> dict:
    """The data's part of a fingerprint, as JSON reads it back."""
    return json.loads(json.dumps(_data(data), default=str))


def _data(data) -> dict:
    """Source, split sizes, example shape, and a hash per split held as arrays (a tf.data source:
    name and sizes only)."""
    parts = {"train": data.train, "validation": data.val, "test": data.test}
    hashes = {}
    for name, part in parts.items():
        if part is None or part.x is None:
            continue
        h = hashlib.sha256()
        for a in (part.x, part.y):
            a = np.ascontiguousarray(a)
            h.update(str(a.shape).encode() + str(a.dtype).encode())
            h.update(memoryview(a).cast("B"))
        hashes[name] = h.hexdigest()[:16]
    out = {"source": data.name, "examples": {k: p.n for k, p in parts.items() if p is not None},
           "shape": list(data.shape)}
    if hashes:
        out["sha256"] = hashes
    return out


def changes(old: dict | None, new: dict) -> list[str]:
    """What differs between two fingerprints, one readable line each (empty: the same run)."""
    if not old:
        return []
    out = []
    if old.get("model") != new.get("model"):
        out.append("the model (its spec) changed")
    od, nd = old.get("data") or {}, new.get("data") or {}
    if od.get("source") != nd.get("source"):
        out.append(f"data: {od.get('source')} -> {nd.get('source')}")
    elif od != nd:
        out.append(f"the data of {nd.get('source')} changed (its examples or their sizes)")
    out += [f"{k}: {_show(a)} -> {_show(b)}" for k, a, b in _diff(old.get("train") or {}, new.get("train") or {})
            if k != "data"]  # said above
    return out


def _diff(a: dict, b: dict, prefix: str = ""):
    for key in sorted(set(a) | set(b), key=lambda k: (k not in a, str(k))):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            yield from _diff(x, y, f"{prefix}{key}.")
        elif x != y:
            yield f"{prefix}{key}", x, y


def _show(value) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else value
