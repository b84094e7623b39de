"""Size limits (parameters per layer and in total, activation memory, layers), located and
liftable, and search spaces whose non-default values are checked like the default."""

from __future__ import annotations

import re

import pytest

import archspec
from archspec.analyze import limits
from archspec.cli import main
from archspec.errors import SpecError
from tests.conftest import ZOO

HUGE_LAYER = """\
name: huge_layer
input: {shape: [32, 32, 3]}
body:
  - conv2d: {filters: 16, kernel_size: 3}
  - conv2d: {filters: 1000000000000, kernel_size: 3}
"""

HUGE_TOTAL = """\
name: huge_total
input: {shape: [40000]}
body:
  - dense: {units: 40000}
  - dense: {units: 40000}
  - dense: {units: 10}
"""

HUGE_INPUT = """\
name: huge_input
input: {shape: [1000000, 1000000, 3]}
body:
  - global_average_pooling2d
"""


def _raises(text: str, message: str) -> SpecError:
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        archspec.loads(text, file="net.yaml").analyze()
    return info.value


def test_a_layer_past_two_to_the_31_parameters_is_refused_at_its_line():
    err = _raises(HUGE_LAYER, "layer `conv2d_1` has 145,000,000,000,000 parameters, more than the limit of "
                              "2,147,483,647 (2**31 - 1) for one layer")
    assert (err.loc.file, err.loc.line, err.loc.col, err.loc.path) == ("net.yaml", 5, 5, "body[1].conv2d")
    assert err.received == {"filters": 10**12, "kernel_size": 3}
    assert "--no-limits" in err.hint and "limits=False" in err.hint


def test_total_parameters_past_two_billion_are_refused_at_the_layer_that_passes():
    err = _raises(HUGE_TOTAL, "the model passes the limit of 2,000,000,000 parameters in total at layer "
                              "`dense_1` (3,200,080,000 so far)")
    assert (err.loc.line, err.loc.col, err.loc.path) == (5, 5, "body[1].dense")


def test_activations_past_16_gib_per_sample_are_refused():
    err = _raises(HUGE_INPUT, "the activations of one sample pass the limit of 16 GiB at layer "
                              "`input_layer` (12,000,000,000,000 bytes so far)")
    assert (err.loc.line, err.loc.col, err.loc.path) == (2, 8, "input")
    assert err.received == (10**6, 10**6, 3)


def test_more_layers_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(limits, "MAX_LAYERS", 5)
    text = "name: deep\ninput: {shape: [4]}\nbody:\n  - repeat:\n      times: 6\n      body:\n" \
           "        - dense: {units: 4}\n"
    err = _raises(text, "the model has more than 5 layers (the limit)")
    assert (err.loc.line, err.loc.col, err.loc.path) == (7, 11, "body[0].repeat.body[0].dense")
    assert archspec.loads(text).analyze(limits=False).total_params == 6 * 20


def test_a_3000_layer_chain_is_within_the_limits():
    text = ("name: chain\ninput: {shape: [4]}\nbody:\n  - repeat:\n      times: 3\n      body:\n"
            "        - repeat:\n            times: 1000\n            body:\n              - dense: {units: 4}\n")
    spec = archspec.loads(text)
    assert len(spec.graph.layers) == 3000 and spec.analyze().total_params == 3000 * 20
    assert limits.MAX_LAYERS >= 3000


@pytest.mark.parametrize("text", [HUGE_LAYER, HUGE_TOTAL, HUGE_INPUT])
def test_limits_false_lifts_them(text):
    spec = archspec.loads(text)
    assert spec.analyze(limits=False).activation_bytes > 16 * 2**30 or \
        spec.analyze(limits=False).total_params > 2 * 10**9
    assert archspec.summary(spec, limits=False).to_dict()["total"]["params"] == spec.analyze(limits=False).total_params
    with pytest.raises(SpecError):
        archspec.summary(spec)


@pytest.mark.parametrize("command", ["validate", "summary"])
def test_no_limits_flag(command, tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE_LAYER)
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:5:5: at `body[1].conv2d`: error: layer `conv2d_1` has 145,000,000,000,000 "
                          "parameters, more than the limit of 2,147,483,647 (2**31 - 1) for one layer\n")
    assert main([command, str(path), "--no-limits"]) == 0
    assert "145,000,000,000,448" in capsys.readouterr().out


def test_build_checks_the_limits_before_keras(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text(HUGE_TOTAL)
    assert main(["build", str(path), "-o", str(tmp_path / "m.keras")]) == 2
    assert "parameters in total" in capsys.readouterr().err
    assert not (tmp_path / "m.keras").exists()


def test_the_zoo_is_far_below_the_limits():
    for path in sorted(ZOO.glob("*.yaml")) + sorted((ZOO / "search").glob("*.yaml")):
        a = archspec.load(path).analyze()
        assert a.total_params * 10 < limits.MAX_TOTAL_PARAMS, path.name
        assert max(r.params for r in a.layers) * 10 < limits.MAX_LAYER_PARAMS, path.name
        assert a.activation_bytes * 10 < limits.MAX_ACTIVATION_BYTES, path.name
        assert len(a.layers) * 10 < limits.MAX_LAYERS, path.name
    assert archspec.load(ZOO / "vgg19.yaml").analyze().total_params == 143_667_240


# ---------------------------------------------------------------------------- search spaces
def _space(value: str) -> str:
    return f"name: s\ninput: {{shape: [8]}}\nbody:\n  - dense: {{units: 4, activation: relu}}\n" \
           f"  - dropout: {{rate: {value}}}\n"


@pytest.mark.parametrize("step, message", [
    ("0", "`step` must be a positive number, got 0"),
    ("-0.1", "`step` must be a positive number, got -0.1"),
])
def test_a_float_space_needs_a_positive_step(step, message):
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        archspec.loads(_space(f"{{hp: float, min: 0.1, max: 0.5, step: {step}}}"), file="s.yaml")
    assert (info.value.loc.line, info.value.loc.col, info.value.loc.path) == (5, 21, "body[1].dropout.rate")


@pytest.mark.parametrize("step, message", [
    ("0", "`step` must be a positive integer, got 0"),
    ("-2", "`step` must be a positive integer, got -2"),
    ("0.5", "`step` must be a positive integer, got 0.5"),
])
def test_an_int_space_needs_a_positive_integer_step(step, message):
    text = f"name: s\ninput: {{shape: [8]}}\nbody:\n  - dense: {{units: {{hp: int, min: 4, max: 16, step: {step}}}}}\n"
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        archspec.loads(text, file="s.yaml")
    assert (info.value.loc.line, info.value.loc.col, info.value.loc.path) == (4, 20, "body[0].dense.units")


def test_min_above_max_is_refused():
    with pytest.raises(SpecError, match=re.escape("`min` (0.5) is greater than `max` (0.1)")):
        archspec.loads(_space("{hp: float, min: 0.5, max: 0.1}"))


def test_a_bad_value_of_a_choice_is_refused_like_the_default():
    text = ("name: c\ninput: {shape: [8]}\nbody:\n"
            "  - dense: {units: 4, activation: {hp: choice, values: [relu, relux], default: relu}}\n")
    spec = archspec.loads(text, file="c.yaml")  # the default resolves
    message = ("Dense: unknown activation `relux` for `activation` (a value of this `choice` search space)")
    for limits_on in (True, False):  # not a size limit: always checked
        with pytest.raises(SpecError, match=re.escape(message)) as info:
            spec.analyze(limits=limits_on)
        err = info.value
        assert (err.loc.file, err.loc.line, err.loc.col, err.loc.path) == ("c.yaml", 4, 35, "body[0].dense.activation")
        assert err.received == "relux" and err.hint == "did you mean `relu`?"


def test_the_max_of_a_float_space_is_checked_against_the_argument_range():
    spec = archspec.loads(_space("{hp: float, min: 0.1, max: 1.0, default: 0.2}"), file="s.yaml")
    with pytest.raises(SpecError, match=re.escape(
            "Dropout: `rate` of Dropout must be between 0.0 and 1.0 (1.0 excluded), got 1.0 "
            "(the `max` of this `float` search space)")) as info:
        spec.analyze()
    assert (info.value.loc.line, info.value.loc.path) == (5, "body[1].dropout.rate")


def test_a_choice_in_a_block_body_and_an_alias_are_checked():
    text = ("name: b\ninput: {shape: [8]}\nblocks:\n  fc:\n    args: {n: int}\n    body:\n"
            "      - dense: {units: $n, activation: {hp: choice, values: [relu, tanh, sigmoidd]}}\n"
            "body:\n  - fc: {n: 4}\n  - fc: {n: 2}\n")
    with pytest.raises(SpecError, match=re.escape("unknown activation `sigmoidd`")) as info:
        archspec.loads(text, file="b.yaml").analyze()
    assert info.value.loc.line == 7
    good = archspec.loads(text.replace("sigmoidd", "sigmoid")).analyze()
    assert good.total_params == 36 + 10
    alias = "name: a\ninput: {shape: [8, 8, 1]}\nbody:\n  - conv2d: {filters: 2, kernel: 3, " \
            "bias: {hp: choice, values: [true, 'no']}}\n"
    with pytest.raises(SpecError, match=re.escape("`use_bias` must be true or false, got 'no'")):
        archspec.loads(alias).analyze()


def test_good_search_spaces_still_analyze():
    spec = archspec.load(ZOO / "search" / "lenet_search.yaml")
    assert spec.analyze().total_params == 38_282


def test_the_docs_show_the_real_message():
    from tests.conftest import ROOT

    shown = (ROOT / "docs" / "errors.md").read_text().split("## Too big to build", 1)[1]
    with pytest.raises(SpecError) as info:
        archspec.loads(HUGE_LAYER, file="net.yaml").analyze()
    assert f"```\n{info.value.format()}\n```" in shown
    language = (ROOT / "docs" / "language.md").read_text()
    for number in (f"{limits.MAX_LAYER_PARAMS:,}", f"{limits.MAX_TOTAL_PARAMS:,}", "16 GiB",
                   f"{limits.MAX_LAYERS:,}"):
        assert number in language.split("## Limits", 1)[1].split("## Errors", 1)[0]
