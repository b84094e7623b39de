"""The custom ops a search sends to its worker and trial processes (archspec.tune.shipping), in one
process: packed here, then unpacked into a fresh registry (and a Keras serialization registry
without the class), as a new process has. A class of the user's script is simulated by code run
with ``__name__ == "__main__"``: cloudpickle then serializes it by value, as for a real script."""

from __future__ import annotations

import dataclasses
import io
import pickle
import sys
import types

import pytest

pytest.importorskip("keras_tuner")
import keras  # noqa: E402

import archspec  # noqa: E402
import archspec.ops  # noqa: E402
from archspec.errors import RunError  # noqa: E402
from archspec.ops import get_op, register_layer, user_ops  # noqa: E402
from archspec.tune.shipping import UnshippableOp, pack_ops, unpack_ops  # noqa: E402

SCRIPT = '''
import threading

import keras

from archspec.ops.base import Result


@keras.saving.register_keras_serializable("shipping_test")
class Gain(keras.layers.Layer):
    """x * g, one weight g: one parameter more than the model without it."""

    def __init__(self, start=1.0, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.g = self.add_weight(shape=(1,), initializer=keras.initializers.Constant(self.start))

    def call(self, x):
        return x * self.g

    def get_config(self):
        return {**super().get_config(), "start": self.start}


PARAMS = 1  # a global of the script: it travels with the rule


def gain_rule(args, shapes):
    return Result(tuple(shapes[0]), params=PARAMS)


class Locked(keras.layers.Layer):
    lock = threading.Lock()  # pickle (and cloudpickle) refuse a lock
'''
SPEC = """
name: shipped
input: {shape: [4]}
body:
  - gain: {start: 2.0}
  - dense: {units: 3}
"""
KEY = "shipping_test>Gain"


class Importable(keras.layers.Layer):
    """A layer of an importable module (this one): sent by reference, imported by the other process."""

    def call(self, x):
        return x


def _script() -> dict:
    """The names the SCRIPT defines, as a user's script's __main__ has them."""
    namespace = {"__name__": "__main__"}
    exec(compile(SCRIPT, "<script>", "exec"), namespace)
    return namespace


class _Recorder(pickle.Unpickler):
    """An unpickler that notes every class or function it looks up by module and name."""

    def find_class(self, module, name):
        self.seen.add((module, name))
        return super().find_class(module, name)


def _globals_looked_up(shipment: dict) -> set:
    """What loading ``shipment`` takes by module and name (by reference): the rest came by value."""
    seen = set()
    for _, blob in shipment["ops"]:
        recorder = _Recorder(io.BytesIO(blob))
        recorder.seen = seen
        recorder.load()
    return seen


def _forget_keras(key: str) -> None:
    """Keras' serialization registry without ``key`` (a new process's)."""
    objects = keras.saving.get_custom_objects()
    cls = objects.pop(key, None)
    from keras.src.saving.object_registration import GLOBAL_CUSTOM_NAMES

    GLOBAL_CUSTOM_NAMES.pop(cls, None)


@pytest.fixture
def fresh_registry():
    """A registry rebuilt before and after the test (registrations do not leak), Keras' too."""
    archspec.ops.registry.cache_clear()
    yield
    archspec.ops.registry.cache_clear()
    _forget_keras(KEY)


def test_a_main_layer_and_its_rule_arrive_by_value_and_work(fresh_registry):
    script = _script()
    sent = register_layer(script["Gain"], rule=script["gain_rule"])
    assert user_ops() == [sent]
    shipment = pack_ops("--parallel")
    assert [name for name, _ in shipment["ops"]] == ["gain"]
    assert pickle.loads(pickle.dumps(shipment)) == shipment  # (it travels inside the job's plain pickle)

    archspec.ops.registry.cache_clear()  # the other process: built-in ops only, Keras without the class
    _forget_keras(KEY)
    assert get_op("gain") is None
    (op,) = unpack_ops(shipment)
    assert get_op("gain") is op and dataclasses.replace(sent, rule=op.rule) == op  # same name, args, ...
    cls = op.factory
    assert cls.__qualname__ == "Gain" and cls.__module__ == "__main__"
    assert not [g for g in _globals_looked_up(shipment) if g[0] == "__main__"]  # all of the script by value
    assert op.rule is not sent.rule and op.rule({}, [(4,)]).params == 1  # (a class is one object per process)
    assert keras.saving.get_registered_object(KEY) is cls and keras.saving.get_registered_name(cls) == KEY
    spec = archspec.loads(SPEC)
    assert spec.analyze().total_params == 1 + 4 * 3 + 3  # by the shipped rule
    model = archspec.build(spec)
    assert isinstance(model.layers[1], cls) and model.count_params() == 16
    assert float(model.layers[1].g.numpy()[0]) == 2.0
    keras.backend.clear_session()


def test_nothing_registered_nothing_sent(fresh_registry):
    assert user_ops() == [] and pack_ops("--isolate") is None and unpack_ops(None) == []


def test_a_layer_of_an_importable_module_is_sent_by_name_and_kept(fresh_registry):
    sent = register_layer(Importable)
    shipment = pack_ops("--isolate")
    assert ("tests.tune.test_shipping", "Importable") in _globals_looked_up(shipment)
    assert unpack_ops(shipment) == [sent] and get_op("importable") is sent  # (as its import registers it)
    archspec.ops.registry.cache_clear()
    (op,) = unpack_ops(shipment)
    assert op.factory is Importable


def test_a_layer_that_cannot_be_sent_is_named_with_the_way_out(fresh_registry):
    register_layer(_script()["Locked"])
    with pytest.raises(UnshippableOp, match=r"(?s)^<command line>: at `--parallel`: error: the layer `locked` "
                       r"\(class __main__\.Locked\) cannot be sent to the worker processes: cloudpickle cannot "
                       r"serialize it\n  Received: \"TypeError: cannot pickle '_thread.lock' object\"\n  Hint: "
                       r"define `locked`'s class in a module of its own and call register_layer there"):
        pack_ops("--parallel")
    with pytest.raises(UnshippableOp, match="cannot be sent to the trials' processes"):
        pack_ops("--isolate")


def test_a_layer_that_cannot_be_loaded_there_is_named(fresh_registry, monkeypatch):
    module = types.ModuleType("shipping_gone")
    exec("import keras\nclass Gone(keras.layers.Layer):\n    pass\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "shipping_gone", module)
    register_layer(module.Gone)
    shipment = pack_ops("--parallel")
    monkeypatch.delitem(sys.modules, "shipping_gone")  # the other process: no such module
    archspec.ops.registry.cache_clear()
    with pytest.raises(RunError, match=r"the layer `gone` registered in the search's process cannot be loaded in "
                       r"this process: ModuleNotFoundError: No module named 'shipping_gone'"):
        unpack_ops(shipment)


def test_a_script_that_replaced_a_library_s_layer_ships_its_own(fresh_registry, tmp_path, monkeypatch):
    """A library registers `gain_lib` and `other_lib` when imported; the script replaces `gain_lib`
    with its own class. In the other process, loading `other_lib` imports the library again (which
    registers both of its own): the script's `gain_lib` still wins, and nothing collides."""
    (tmp_path / "shipping_lib.py").write_text(
        "import keras\nfrom archspec.ops import register_layer\n"
        "class GainLib(keras.layers.Layer):\n    def call(self, x):\n        return x * 2.0\n"
        "class OtherLib(keras.layers.Layer):\n    def call(self, x):\n        return x\n"
        "register_layer(GainLib)\nregister_layer(OtherLib)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import shipping_lib

    namespace = {"__name__": "__main__"}
    exec("import keras\nclass GainLib(keras.layers.Layer):\n    def call(self, x):\n        return x * 3.0\n",
         namespace)
    archspec.ops.registry().remove("gain_lib")
    register_layer(namespace["GainLib"])
    shipment = pack_ops("--parallel")
    assert sorted(name for name, _ in shipment["ops"]) == ["gain_lib", "other_lib"]

    monkeypatch.delitem(sys.modules, "shipping_lib")  # the other process: the library not imported yet
    archspec.ops.registry.cache_clear()
    ops = unpack_ops(shipment)
    assert sorted(op.name for op in ops) == ["gain_lib", "other_lib"]
    assert get_op("gain_lib").factory.__module__ == "__main__"
    assert get_op("other_lib").factory.__module__ == "shipping_lib" and get_op("other_lib").factory is not \
        shipping_lib.OtherLib  # (imported again)
