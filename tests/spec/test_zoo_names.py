"""Zoo names wherever a spec path is taken (spec/document.py: zoo_lookup), and the zoo's listing by
pattern (tools/zoo.py: list_models). The command line: tests/cli/test_zoo_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec
from archspec.spec import as_spec
from archspec.spec import document
from archspec.spec.document import ZOO, zoo_lookup, zoo_names
from archspec.tools.zoo import list_models, no_match_hint, zoo_rows
from tests.conftest import ZOO as REPO_ZOO

TINY = "name: mine\ninput: {shape: [4]}\nbody:\n  - dense: {units: 3}\n"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory without spec files, so that a name is never a local file."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_names_are_the_top_level_specs():
    names = zoo_names()
    assert names == sorted(p.stem for p in REPO_ZOO.glob("*.yaml"))
    assert {"lenet5", "resnet50", "vgg16"} <= set(names)
    assert "resnet" not in names and "lenet_search" not in names  # blocks/ and search/: no names


def test_a_name_loads_the_zoo_spec(elsewhere):
    spec = archspec.load("resnet50")
    assert spec.path == str(ZOO / "resnet50.yaml") and spec.name == "resnet50"
    assert archspec.load("lenet5.yaml", classes=5).output_shapes == [(5,)]  # with .yaml, and params
    assert archspec.summary("lenet5").total_params == 60_806
    assert archspec.summary("resnet50").total_params == 25_636_712  # its `use`d blocks are found
    assert as_spec("lenet5", classes=3).output_shapes == [(3,)]
    assert zoo_lookup("lenet5") == ZOO / "lenet5.yaml"


def test_build_takes_a_name(elsewhere, keras):
    assert archspec.build("lenet5").count_params() == 60_806


def test_an_existing_path_is_always_a_path(elsewhere):
    (elsewhere / "resnet50").write_text(TINY)
    assert archspec.load("resnet50").name == "mine"
    assert zoo_lookup("resnet50") is None


def test_a_local_yaml_file_is_named_with_its_suffix(elsewhere):
    """`lenet5` is the zoo's even beside a local lenet5.yaml: only an exact path is a path."""
    (elsewhere / "lenet5.yaml").write_text(TINY)
    assert archspec.load("lenet5.yaml").name == "mine"
    assert archspec.load("lenet5").path == str(ZOO / "lenet5.yaml")


def test_an_unknown_name_suggests_zoo_names(elsewhere):
    with pytest.raises(archspec.SpecError, match="the zoo has no spec of this name") as info:
        archspec.load("resnet5")
    text = info.value.format()
    assert text.splitlines()[0] == "resnet5: error: file not found, and the zoo has no spec of this name"
    assert "did you mean `resnet56` or `resnet50`" in text and "`archspec zoo` lists the zoo's specs" in text
    with pytest.raises(archspec.SpecError, match="file not found") as info:
        archspec.summary("xyzzy.yaml")
    assert info.value.hint == "`archspec zoo` lists the zoo's specs"


@pytest.mark.parametrize("path", ["./lenet5", "nowhere/lenet5", "nowhere/lenet5.yaml"])
def test_a_path_with_a_folder_is_never_a_name(elsewhere, path):
    with pytest.raises(archspec.SpecError, match="^lenet5|^nowhere") as info:
        archspec.load(path)
    assert info.value.message == "file not found" and info.value.hint is None


def test_includes_are_paths_not_names(elsewhere):
    (elsewhere / "net.yaml").write_text("extends: lenet5\n")
    with pytest.raises(archspec.SpecError, match="file not found"):
        archspec.load(elsewhere / "net.yaml")
    (elsewhere / "net.yaml").write_text(f"extends: {ZOO / 'lenet5.yaml'}\nparams: {{classes: 4}}\n")
    assert archspec.load("net.yaml").output_shapes == [(4,)]


def test_list_models_by_pattern():
    assert list_models("resnet5*") == ["resnet50", "resnet56"]
    assert list_models("VGG1[36]") == ["vgg13", "vgg16"]  # case ignored
    assert list_models("lenet5.yaml") == ["lenet5"]
    assert list_models("*cifar*") == ["plain_cifar", "resnet_cifar"]
    assert list_models() == zoo_names()
    assert list_models("resnet") == []  # a pattern matches whole names, as in timm
    assert [r.name for r in zoo_rows("vgg1?")] == ["vgg11.yaml", "vgg13.yaml", "vgg16.yaml", "vgg19.yaml"]


def test_no_match_hints():
    assert no_match_hint("resnet").startswith("did you mean `*resnet*`?")
    assert no_match_hint("lenit5").startswith("did you mean `lenet5`")
    assert no_match_hint("zz") == "`archspec zoo` lists the zoo's specs"


def test_the_zoo_folder_installed_or_in_a_checkout(tmp_path, monkeypatch):
    """A wheel's archspec/zoo/ (pyproject.toml maps it onto architectures/) if there, else the
    checkout's architectures/."""
    module = tmp_path / "archspec" / "spec" / "document.py"
    module.parent.mkdir(parents=True)
    monkeypatch.setattr(document, "__file__", str(module))
    assert document._find_zoo() == tmp_path / "architectures"
    (tmp_path / "archspec" / "zoo").mkdir()
    assert document._find_zoo() == tmp_path / "archspec" / "zoo"
