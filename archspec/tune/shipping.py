"""A search's custom ops, sent to the processes it starts: what ``register_layer`` did in the
search's process, done again in a ``--parallel`` worker or an ``--isolate`` trial's process.

Those are new Python processes (``python -m archspec.tune.parallel``, ``... .isolate``): their op
registry starts with the built-in ops only, and the spec they receive names its ops, not their
classes. So the job archspec writes for them carries the ops registered here
(:func:`archspec.ops.user_ops`): :func:`pack_ops` serializes each with cloudpickle, and
:func:`unpack_ops`, in the new process, registers each again (same name, aliases, rule and
arguments; with Keras' serialization registry under the same key if it was registered there)
before that process resolves the spec.

Why cloudpickle (as Dask, Ray and PySpark use to send user code to their workers): pickle stores
a class or function by its module and name, and a class of the user's script lives in
``__main__``, which in the new process is archspec's own module; cloudpickle stores such a class
(and a rule or a class defined in a function) by value, its code included, and anything a module
defines by reference, as pickle does: the new process imports that module (with the search's
``sys.path`` added to its own, so a module beside the user's script is found). A class that
cannot be serialized either way (e.g. a lock among its class attributes) stops the search before
any process starts, naming the layer (:class:`UnshippableOp`); registered in a module of its own
it travels by reference.

Trust: the shipment is part of a job file that archspec writes into the search directory and
reads back itself, as that job's pickle already is; loading it runs code, as loading any pickle
does. Never give it a file from elsewhere.
"""

from __future__ import annotations

import pickle
import sys

import cloudpickle
import keras_tuner as kt

from archspec.errors import RunError, SpecError, command_line
from archspec.ops import OpDef, registry, user_ops

#: what the processes a flag starts are called in the errors
PROCESSES = {"--parallel": "worker processes", "--isolate": "trials' processes"}


class UnshippableOp(SpecError, kt.errors.FatalError):
    """A registered op that cannot be sent to another process. A keras-tuner ``FatalError`` too:
    raised as an isolated trial starts, it stops the search instead of failing trial after trial."""


def pack_ops(flag: str) -> dict | None:
    """The ops registered in this process, for the processes ``flag`` (``--parallel`` or
    ``--isolate``) starts: ``{"path": sys.path, "ops": [(name, bytes), ...]}``; None when there
    are none. Each op is serialized alone, so that a failure names its op.

    Raises:
        UnshippableOp: an op cloudpickle cannot serialize (located at ``flag``).
    """
    ops = user_ops()
    if not ops:
        return None
    packed = []
    for op in ops:
        try:
            packed.append((op.name, cloudpickle.dumps({"op": op, "keras": _keras_key(op.factory)})))
        except Exception as err:  # noqa: BLE001 (pickle raises TypeError, PicklingError, AttributeError, ...)
            raise UnshippableOp(
                f"the layer `{op.name}` ({_origin(op)}) cannot be sent to the {PROCESSES.get(flag, 'processes')}: "
                "cloudpickle cannot serialize it", command_line(flag), received=f"{type(err).__name__}: {err}",
                hint=f"define `{op.name}`'s class in a module of its own and call register_layer there "
                     "(your script imports it): the other processes then import it instead of receiving it"
                     + ("; or search without --parallel" if flag == "--parallel" else "")) from None
    return {"path": list(sys.path), "ops": packed}


def unpack_ops(shipment: dict | None) -> list[OpDef]:
    """Register in this process the ops :func:`pack_ops` packed in the search's (an op the import
    of its module registered already is kept); returns them.

    Raises:
        RunError: an op that cannot be loaded here (its module not importable, ...), named.
    """
    if not shipment:
        return []
    sys.path.extend(p for p in shipment["path"] if p not in sys.path)  # after this process's own
    entries = []
    for name, blob in shipment["ops"]:  # first every op loaded: the imports of their modules run their
        try:                            # own register_layer calls, which the ops shipped then replace
            entries.append(pickle.loads(blob))
        except Exception as err:  # noqa: BLE001 (ModuleNotFoundError, AttributeError, ...)
            raise RunError(f"the layer `{name}` registered in the search's process cannot be loaded in this "
                           f"process: {type(err).__name__}: {err}",
                           hint=f"define `{name}`'s class in a module of its own that every process can import "
                                "(beside your script, or installed) and call register_layer there") from None
    done = []
    for entry in entries:
        done.append(_register(entry["op"]))
        if entry["keras"] is not None:
            _keras_register(entry["op"].factory, entry["keras"])
    return done


def _register(op: OpDef) -> OpDef:
    """``op`` in this process's registry, in place of what holds its names here (a built-in op
    the search's process had replaced; the same op registered by its module's import: kept)."""
    reg = registry()
    have = reg.get(op.name)
    if have is not None and have == op and have.factory is op.factory:
        return have
    spellings = set(reg.spellings())
    for taken in {reg.get(s).name for s in (op.name, *op.aliases) if s in spellings}:
        reg.remove(taken)
    reg.add(op)
    return op


def _keras_key(obj) -> str | None:
    """The key ``obj`` has in Keras' serialization registry (``package>name``), or None."""
    if obj is None or "keras" not in sys.modules:  # (Keras not imported: nothing registered with it)
        return None
    from keras.saving import get_registered_name, get_registered_object

    key = get_registered_name(obj)
    return key if ">" in key and get_registered_object(key) is obj else None


def _keras_register(obj, key: str) -> None:
    from keras.saving import get_registered_object, register_keras_serializable

    if get_registered_object(key) is not obj:
        package, _, name = key.rpartition(">")
        register_keras_serializable(package, name)(obj)


def _origin(op: OpDef) -> str:
    """Where ``op``'s code was defined, for the error: ``class __main__.Halve``."""
    parts = [f"{what} {getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
             for what, obj in (("class", op.factory), ("rule", op.rule)) if obj is not None]
    return ", ".join(parts) or f"class {op.module}.{op.cls}"
