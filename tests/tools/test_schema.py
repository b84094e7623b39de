"""The JSON Schema accepts every zoo spec and flags typos, as an editor would."""

from __future__ import annotations

import textwrap

import jsonschema
import pytest
import yaml

from archspec.tools.schema import make_schema
from tests.conftest import ROOT, ZOO

SPECS = sorted(ZOO.rglob("*.yaml")) + sorted((ROOT / "docs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = make_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT)) for p in SPECS])
def test_zoo_specs_satisfy_the_schema(validator, path):
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("text, bad", [
    ("bodyy: []", "bodyy"),
    ("body:\n  - conv2d: {fliters: 3, kernel_size: 3}", "fliters"),
    ("body:\n  - repeat: {tims: 3, body: []}", "tims"),
    ("body:\n  - residual: {body: [], shortcutt: pad}", "shortcutt"),
    ("blocks:\n  b: {args: {}, bdy: []}", "bdy"),
    ("body:\n  - conv2d: {filters: 3}\n    dense: {units: 2}", "dense"),
])
def test_typos_are_flagged(validator, text, bad):
    errors = list(validator.iter_errors(yaml.safe_load(textwrap.dedent(text))))
    assert errors, f"{bad} was not flagged"
    assert any(bad in e.message or bad in str(list(e.path)) or
               any(bad in c.message for c in (e.context or [])) for e in errors)


def test_aliases_and_step_keys_are_allowed(validator):
    doc = yaml.safe_load("body:\n  - conv2d: {filters: 3, kernel: 3, stride: 2, from: x, as: y, when: true}")
    assert list(validator.iter_errors(doc)) == []
