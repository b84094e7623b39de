"""archspec/cli/_common.py: `--set` parsed once (spec parameters and train fields), and the spec
arguments every command shares."""

from __future__ import annotations

import argparse

import pytest

from archspec.cli._common import add_spec_arguments, load_spec, parse_sets
from archspec.errors import SpecError, command_line
from tests.conftest import ZOO


def test_parse_sets_reads_yaml_values():
    params, train = parse_sets(["a=10", "b=0.5", "c=[1, 2]", "d=relu", "e=1e-4", "f=true"])
    assert params == {"a": 10, "b": 0.5, "c": [1, 2], "d": "relu", "e": 1e-4, "f": True}
    assert train == {}
    with pytest.raises(SpecError, match="`--set` takes NAME=VALUE"):
        parse_sets(["classes"])


def test_parse_sets_values_are_plain_and_not_yaml_is_a_string():
    params, _ = parse_sets(["m={a: [1, {b: 2}]}", "s=: x", "n="])
    assert params == {"m": {"a": [1, {"b": 2}]}, "s": ": x", "n": None}
    assert type(params["m"]) is dict and type(params["m"]["a"]) is list and type(params["m"]["a"][1]) is dict


def test_parse_sets_splits_train_fields_with_their_flag():
    params, train = parse_sets(["classes=10", "train.optimizer.momentum=0.9", "train.epochs=5"])
    assert params == {"classes": 10}
    assert train == {"optimizer.momentum": (0.9, command_line("--set train.optimizer.momentum")),
                     "epochs": (5, command_line("--set train.epochs"))}


@pytest.mark.parametrize("item, where, hint", [
    ("classes", "--set[1]", "e.g. --set classes=10 --set input_shape=[32,32,3]"),
    ("1x=3", "--set[1]", "e.g. --set classes=10 --set input_shape=[32,32,3]"),
    ("train.=3", "--set train.", "e.g. --set train.epochs=5"),
    ("train.epochs", "--set train.epochs", "e.g. --set train.epochs=5"),
])
def test_parse_sets_mistakes_are_located(item, where, hint):
    with pytest.raises(SpecError, match="`--set` takes NAME=VALUE") as info:
        parse_sets(["a=1", item])
    assert info.value.loc == command_line(where)
    assert info.value.received == item and info.value.hint == hint


def test_commands_that_do_not_train_refuse_train_fields():
    with pytest.raises(SpecError, match="`--set` takes NAME=VALUE") as info:
        parse_sets(["train.epochs=5"], train=False)
    assert info.value.loc == command_line("--set[0]") and info.value.received == "train.epochs=5"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_spec_arguments(parser)
    return parser.parse_args(list(argv))


def test_load_spec_applies_sets_and_locates_them_on_the_command_line():
    spec = load_spec(_args(str(ZOO / "lenet5.yaml"), "--set", "classes=4"))
    assert spec.output_shapes == [(4,)]
    with pytest.raises(SpecError, match="unknown parameter `clases`") as info:
        load_spec(_args(str(ZOO / "lenet5.yaml"), "--set", "clases=4"))
    assert info.value.loc.file == "<command line>"
    with pytest.raises(SpecError, match="`--set` takes NAME=VALUE"):
        load_spec(_args(str(ZOO / "lenet5.yaml"), "--set", "train.epochs=5"))


def test_load_spec_checks_the_train_section(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: {shape: [3]}\nbody: [flatten]\ntrain: {epochz: 3}\n")
    with pytest.raises(SpecError, match="unknown train field `epochz`"):
        load_spec(_args(str(path)))


def test_load_spec_uses_the_include_path(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "head.yaml").write_text("blocks:\n  head:\n    body:\n      - dense: {units: 2}\n")
    (tmp_path / "proj").mkdir()
    net = tmp_path / "proj" / "net.yaml"
    net.write_text(f"use: [{tmp_path / 'lib' / 'head.yaml'}]\ninput: {{shape: [3]}}\nbody: [head]\n")
    with pytest.raises(SpecError, match="outside the allowed folders"):
        load_spec(_args(str(net)))
    assert load_spec(_args(str(net), "--include-path", str(tmp_path / "lib"))).output_shapes == [(2,)]
