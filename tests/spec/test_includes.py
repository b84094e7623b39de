"""`extends` and `use` are confined to the spec's folder, the zoo and named roots; errors in an
included file name who included it; a file that is not a spec is never echoed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import archspec
from archspec.cli import main
from archspec.errors import SpecError

ZOO = Path(__file__).resolve().parents[2] / "architectures"
NET = "input: {shape: [3]}\nbody:\n  - flatten\n"
LIB = "blocks:\n  head:\n    body:\n      - dense: {units: 2}\n"


def _project(tmp_path: Path) -> Path:
    """tmp_path/proj/ (the user's folder) next to tmp_path/outside.yaml (a valid library)."""
    (tmp_path / "outside.yaml").write_text(LIB)
    proj = tmp_path / "proj"
    proj.mkdir()
    return proj


# ------------------------------------------------------------------ confinement
def test_extends_absolute_path_outside_is_refused(tmp_path):
    proj = _project(tmp_path)
    (proj / "net.yaml").write_text("extends: /etc/hostname\n" + NET)
    with pytest.raises(SpecError, match=r"`extends` names a file outside the allowed folders") as info:
        archspec.load(proj / "net.yaml")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col, err.loc.path) == (str(proj / "net.yaml"), 1, 10, "extends")
    assert str(proj.resolve()) in err.message and str(ZOO) in err.message
    assert err.received == "/etc/hostname"
    assert "--include-path DIR" in err.hint and "include_path=[" in err.hint


def test_use_dotdot_outside_is_refused(tmp_path):
    proj = _project(tmp_path)
    (proj / "net.yaml").write_text("name: n\nuse: [../outside.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"`use\[0\]` names a file outside the allowed folders") as info:
        archspec.load(proj / "net.yaml")
    err = info.value
    assert (err.loc.line, err.loc.col, err.loc.path) == (2, 7, "use[0]")
    assert err.received == "../outside.yaml"
    formatted = err.format()
    assert formatted.startswith(f"{proj / 'net.yaml'}:2:7: at `use[0]`: error:")
    assert "Hint: to allow it" in formatted


def test_symlink_inside_pointing_outside_is_refused(tmp_path):
    proj = _project(tmp_path)
    (proj / "lib.yaml").symlink_to(tmp_path / "outside.yaml")
    (proj / "net.yaml").write_text("use: [lib.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"outside the allowed folders \(" + re.escape(str(tmp_path.resolve()))):
        archspec.load(proj / "net.yaml")


def test_symlinked_folder_pointing_outside_is_refused(tmp_path):
    proj = _project(tmp_path)
    (proj / "libs").symlink_to(tmp_path, target_is_directory=True)
    (proj / "net.yaml").write_text("use: [libs/outside.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"outside the allowed folders"):
        archspec.load(proj / "net.yaml")


def test_subfolders_of_the_spec_folder_are_allowed(tmp_path):
    proj = _project(tmp_path)
    (proj / "blocks").mkdir()
    (proj / "blocks" / "lib.yaml").write_text(LIB)
    (proj / "net.yaml").write_text("use: [blocks/lib.yaml]\n" + NET + "  - head\n")
    assert archspec.load(proj / "net.yaml").analyze().total_params == 8


def test_allowed_root_stays_the_top_files_folder(tmp_path):
    # an included file in a subfolder may name a sibling of the top file (still inside the root)
    proj = _project(tmp_path)
    (proj / "blocks").mkdir()
    (proj / "lib.yaml").write_text(LIB)
    (proj / "blocks" / "mid.yaml").write_text("use: [../lib.yaml]\n")
    (proj / "net.yaml").write_text("use: [blocks/mid.yaml]\n" + NET + "  - head\n")
    assert archspec.load(proj / "net.yaml").analyze().total_params == 8


def test_include_path_allows_a_folder(tmp_path):
    proj = _project(tmp_path)
    (proj / "net.yaml").write_text("use: [../outside.yaml]\n" + NET + "  - head\n")
    spec = archspec.load(proj / "net.yaml", include_path=[tmp_path])
    assert spec.analyze().total_params == 8
    assert archspec.loads((proj / "net.yaml").read_text(), file=str(proj / "net.yaml"),
                          include_path=[str(tmp_path)]).analyze().total_params == 8


def test_include_path_allows_a_symlink_target(tmp_path):
    proj = _project(tmp_path)
    (proj / "lib.yaml").symlink_to(tmp_path / "outside.yaml")
    (proj / "net.yaml").write_text("use: [lib.yaml]\n" + NET + "  - head\n")
    assert archspec.load(proj / "net.yaml", include_path=[tmp_path]).analyze().total_params == 8


def test_cli_include_path(tmp_path, capsys):
    proj = _project(tmp_path)
    (proj / "net.yaml").write_text("use: [../outside.yaml]\n" + NET + "  - head\n")
    assert main(["validate", str(proj / "net.yaml")]) == 2
    err = capsys.readouterr().err
    assert "outside the allowed folders" in err and "--include-path DIR" in err
    assert main(["validate", str(proj / "net.yaml"), "--include-path", str(tmp_path)]) == 0
    assert main(["summary", str(proj / "net.yaml"), "--include-path", "/nonexistent",
                 "--include-path", str(tmp_path)]) == 0


def test_zoo_use_of_its_blocks_still_loads():
    spec = archspec.load(ZOO / "resnet50.yaml")
    assert spec.name == "resnet50"


def test_spec_outside_the_zoo_may_extend_a_zoo_file(tmp_path):
    (tmp_path / "mine.yaml").write_text(f"extends: {ZOO / 'vgg16.yaml'}\nname: mine\n")
    spec = archspec.load(tmp_path / "mine.yaml")
    assert spec.name == "mine"
    assert spec.analyze().total_params == archspec.load(ZOO / "vgg16.yaml").analyze().total_params


# ------------------------------------------------------------------ errors in included files
def test_error_in_used_file_names_the_including_file(tmp_path):
    (tmp_path / "lib.yaml").write_text("blocks:\n  head: {body: [flatten]}\nbodyy: []\n")
    (tmp_path / "net.yaml").write_text("name: n\nuse: [lib.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"unknown top-level key `bodyy`") as info:
        archspec.load(tmp_path / "net.yaml")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == (str(tmp_path / "lib.yaml"), 3, 1)
    assert err.trace == [f"used by {tmp_path / 'net.yaml'}:2:7"]
    formatted = err.format()
    assert formatted.startswith(f"{tmp_path / 'lib.yaml'}:3:1: at `bodyy`: error:")
    assert f"In: used by {tmp_path / 'net.yaml'}:2:7" in formatted


def test_syntax_error_in_base_names_the_child(tmp_path):
    (tmp_path / "base.yaml").write_text("input: {shape: [3]}\nbody: [flatten\n")
    (tmp_path / "net.yaml").write_text("extends: base.yaml\n")
    with pytest.raises(SpecError, match=r"YAML syntax error") as info:
        archspec.load(tmp_path / "net.yaml")
    err = info.value
    assert err.loc.file == str(tmp_path / "base.yaml")
    assert err.trace == [f"extended by {tmp_path / 'net.yaml'}:1:10"]


def test_chain_of_includes_innermost_first(tmp_path):
    (tmp_path / "c.yaml").write_text("blocks: [oops]\n")
    (tmp_path / "b.yaml").write_text("\nuse: [c.yaml]\n")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n" + NET)
    with pytest.raises(SpecError, match=r"`blocks` must be a mapping") as info:
        archspec.load(tmp_path / "a.yaml")
    err = info.value
    assert err.loc.file == str(tmp_path / "c.yaml")
    assert err.trace == [f"used by {tmp_path / 'b.yaml'}:2:7", f"extended by {tmp_path / 'a.yaml'}:1:10"]


def test_refused_include_inside_an_included_file_is_traced(tmp_path):
    proj = _project(tmp_path)
    (proj / "lib.yaml").write_text("use: [/etc/hostname]\n")
    (proj / "net.yaml").write_text("use: [lib.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"outside the allowed folders") as info:
        archspec.load(proj / "net.yaml")
    err = info.value
    assert (err.loc.file, err.loc.line, err.loc.col) == (str(proj.resolve() / "lib.yaml"), 1, 7)
    assert err.trace == [f"used by {proj / 'net.yaml'}:1:7"]


def test_error_in_the_top_file_has_no_include_trace(tmp_path):
    (tmp_path / "net.yaml").write_text("bodyy: []\n")
    with pytest.raises(SpecError, match=r"unknown top-level key `bodyy`") as info:
        archspec.load(tmp_path / "net.yaml")
    assert info.value.trace == []


# ------------------------------------------------------------------ files that are not specs
@pytest.mark.parametrize("content, kind", [
    ("the password is TOPSECRET\n", "a string"),
    ("- TOPSECRET\n- more\n", "a list"),
    ("12345678\n", "a number"),
])
def test_non_spec_file_is_not_echoed(tmp_path, content, kind):
    (tmp_path / "notes.txt").write_text(content)
    (tmp_path / "net.yaml").write_text("use: [notes.txt]\n" + NET)
    with pytest.raises(SpecError, match=rf"not a YAML spec: the file's top level is {kind}") as info:
        archspec.load(tmp_path / "net.yaml")
    formatted = info.value.format()
    assert "TOPSECRET" not in formatted and "12345678" not in formatted, formatted
    assert f"used by {tmp_path / 'net.yaml'}:1:7" in formatted


def test_non_spec_mapping_keys_are_not_echoed(tmp_path):
    (tmp_path / "config.yaml").write_text("TOPSECRET_KEY: value\npassword: TOPSECRET\n")
    (tmp_path / "net.yaml").write_text("extends: config.yaml\n" + NET)
    with pytest.raises(SpecError, match=r"not a YAML spec: none of the file's top-level keys") as info:
        archspec.load(tmp_path / "net.yaml")
    assert "TOPSECRET" not in info.value.format()


def test_top_level_scalar_file_is_not_echoed(tmp_path):
    (tmp_path / "net.yaml").write_text("TOPSECRET\n")
    with pytest.raises(SpecError, match=r"the top level of a spec must be a mapping") as info:
        archspec.load(tmp_path / "net.yaml")
    assert "TOPSECRET" not in info.value.format()


def test_folder_is_named_as_such(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "net.yaml").write_text("use: [blocks]\n" + NET)
    with pytest.raises(SpecError, match=r"is a folder, not a spec file") as info:
        archspec.load(tmp_path / "net.yaml")
    assert (info.value.loc.line, info.value.loc.col, info.value.loc.path) == (1, 7, "use[0]")
    with pytest.raises(SpecError, match=r"is a folder, not a spec file"):
        archspec.load(tmp_path / "blocks")


def test_dev_zero_is_not_a_regular_file(tmp_path):
    (tmp_path / "net.yaml").write_text("extends: /dev/zero\n" + NET)
    with pytest.raises(SpecError, match=r"outside the allowed folders"):
        archspec.load(tmp_path / "net.yaml")
    with pytest.raises(SpecError, match=r"is not a regular file") as info:
        archspec.load(tmp_path / "net.yaml", include_path=["/dev"])
    assert (info.value.loc.line, info.value.loc.col, info.value.loc.path) == (1, 10, "extends")
    with pytest.raises(SpecError, match=r"is not a regular file"):
        archspec.load("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_never_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")  # reading it would block forever
    (tmp_path / "net.yaml").write_text("use: [pipe.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"is not a regular file"):
        archspec.load(tmp_path / "net.yaml")
    with pytest.raises(SpecError, match=r"is not a regular file"):
        archspec.load(tmp_path / "pipe.yaml")


def test_missing_included_file(tmp_path):
    (tmp_path / "net.yaml").write_text("use: [nothere.yaml]\n" + NET)
    with pytest.raises(SpecError, match=r"file not found") as info:
        archspec.load(tmp_path / "net.yaml")
    assert info.value.received == str(tmp_path / "nothere.yaml")


def test_the_docs_show_the_real_messages(tmp_path):
    """docs/errors.md, "Includes": both messages, with the user's folder as /home/me."""
    shown = (ZOO.parent / "docs" / "errors.md").read_text().split("## Includes", 1)[1].split("## Too big", 1)[0]
    nets = tmp_path / "nets"
    nets.mkdir()
    (tmp_path / "base.yaml").write_text(NET)
    (nets / "net.yaml").write_text("extends: ../base.yaml\n" + NET)
    (nets / "lib.yaml").write_text("blocks:\n  head: {body: [flatten]}\nbodyy: []\n")
    (nets / "use.yaml").write_text("name: n\nuse: [lib.yaml]\n" + NET)
    for name in ("net.yaml", "use.yaml"):
        with pytest.raises(SpecError) as info:
            archspec.load(nets / name)
        text = info.value.format().replace(str(ZOO), "/home/me/archspec/architectures")
        text = text.replace(str(tmp_path), "/home/me").replace("/home/me/nets/use.yaml", "/home/me/nets/net.yaml")
        assert f"```\n{text}\n```" in shown
