"""archspec/spec/load.py reads YAML through libyaml where PyYAML has it: the same values, the
same locations and the same errors as the pure-Python loader, in a fraction of the time."""

from __future__ import annotations

import gc
import importlib

import pytest

from archspec.errors import SpecError
from archspec.spec.load import YDict, YList
from tests.conftest import ROOT, ZOO

load = importlib.import_module("archspec.spec.load")  # the module (archspec.spec.load is a function)
pytestmark = pytest.mark.skipif(load._CLoader is None, reason="PyYAML without libyaml")


@pytest.fixture
def pure(monkeypatch):
    """load_yaml through PyYAML's pure-Python loader only (what it was before libyaml)."""

    def read(text, file="<string>"):
        with monkeypatch.context() as m:
            m.setattr(load, "_CLoader", None)
            return load.load_yaml(text, file)

    return read


def _same(a, b, path="$"):
    """Equal values, types, key order and locations of every key, value and item."""
    assert type(a) is type(b), path
    if isinstance(a, YDict):
        assert (list(a), a.loc, a.key_locs, a.value_locs) == (list(b), b.loc, b.key_locs, b.value_locs), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, YList):
        assert (len(a), a.loc, a.item_locs) == (len(b), b.loc, b.item_locs), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def test_every_zoo_file_reads_the_same_with_and_without_libyaml(pure):
    files = sorted(ZOO.glob("**/*.yaml"))
    assert len(files) > 30
    for file in files:
        text = file.read_text()
        _same(load.load_yaml(text, str(file)), pure(text, str(file)))


def test_yaml_1_2_floats_anchors_and_merge_keys_read_the_same(pure):
    text = ("lr: 1e-4\nlrs: [1E+3, 2.5e-1, 1_000]\nbase: &b {filters: 8, kernel_size: 3}\n"
            "conv: {<<: *b, padding: same}\nsame: *b\nempty:\n")
    data = load.load_yaml(text)
    assert data["lr"] == 1e-4 and isinstance(data["lr"], float)
    assert data["lrs"] == [1000.0, 0.25, 1000]
    assert data["conv"] == {"filters": 8, "kernel_size": 3, "padding": "same"} and data["empty"] is None
    _same(data, pure(text))


@pytest.mark.parametrize("text", [
    "a: 1\n\tb: 2\n",                         # a tab: libyaml and PyYAML word this differently
    "a: *nope\n",                             # an undefined alias
    "a: 1\nb: [1, 2\n",                       # an unclosed list
    "a: 1\na: 2\n",                           # a duplicate key (found after composing)
    "a: !!python/object/apply:os.system [ls]\n",  # a tag that would run code
    "a: \x00\n",                              # a NUL byte
    "a: &a [" + ", ".join(["x"] * 9) + "]\n" + "".join(
        f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 9) + "]\n"
        for i in range(8)),                   # an alias bomb: 9**9 nodes
], ids=["tab", "undefined-alias", "unclosed-list", "duplicate-key", "python-tag", "nul", "alias-bomb"])
def test_errors_are_the_pure_python_loaders(pure, text):
    with pytest.raises(SpecError) as fast:
        load.load_yaml(text, "net.yaml")
    with pytest.raises(SpecError) as slow:
        pure(text, "net.yaml")
    assert fast.value.format() == slow.value.format()
    assert fast.value.loc.line >= 1


def test_expanded_size_counts_each_alias_at_each_use():
    loader = load._CLoader("a: &a [1, 2, 3]\nb: [*a, *a]\nc: &c [*c]\n")
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    # mapping 1 + keys 3 + a (1 + 3) + b (1 + 2 * 4) + c (1 + itself, counted once: 1)
    assert load._expanded_size(node) == 1 + 3 + 4 + 9 + 2


def test_the_cycle_collector_is_left_as_it_was():
    assert gc.isenabled()
    load.load_yaml("a: [1, 2]\n")
    assert gc.isenabled()
    gc.disable()
    try:
        load.load_yaml("a: [1, 2]\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(SpecError):
        load.load_yaml("a: 1\na: 2\n")
    assert gc.isenabled()


def test_a_spec_in_the_checkout_loads_through_libyaml(monkeypatch):
    """The fast path is the one taken (a spec never falls back to the slow loader)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the pure-Python loader was used")

    monkeypatch.setattr(load, "_Loader", refuse)
    data = load.read_yaml(ROOT / "architectures" / "resnet50.yaml")
    assert "body" in data
