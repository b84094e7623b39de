"""Zoo names on the command line (``archspec summary resnet50``), ``archspec zoo PATTERN``, and
the zoo in a wheel: built and installed away from the checkout, it still lists and loads specs.
The names themselves: tests/spec/test_zoo_names.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from archspec.cli import main
from archspec.spec.document import ZOO
from tests.conftest import ROOT

TINY = "name: mine\ninput: {shape: [4]}\nbody:\n  - dense: {units: 3}\n"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_summary_of_a_name_says_it_is_the_zoos(elsewhere, capsys):
    assert main(["summary", "lenet5"]) == 0
    out, err = capsys.readouterr()
    assert "60,806" in out
    assert err == f"using the zoo's lenet5 ({ZOO / 'lenet5.yaml'})\n"


def test_validate_and_train_take_names(elsewhere, capsys):
    assert main(["validate", "resnet50.yaml"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("resnet50.yaml: OK: resnet50, ") and "using the zoo's resnet50" in err
    # train reads the name (then refuses the flag, before TensorFlow: the spec was loaded)
    assert main(["train", "lenet5", "--epochs", "0", "-o", str(elsewhere / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("using the zoo's lenet5 (") and "`epochs` must be an integer >= 1" in err


def test_diff_takes_two_names(elsewhere, capsys):
    assert main(["diff", "resnet20", "resnet56"]) == 0
    err = capsys.readouterr().err
    assert err.count("using the zoo's") == 2


def test_a_local_file_wins_silently(elsewhere, capsys):
    (elsewhere / "lenet5").write_text(TINY)
    assert main(["validate", "lenet5"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("lenet5: OK: mine, ") and err == ""


def test_the_zoo_is_named_when_a_local_yaml_is_not_used(elsewhere, capsys):
    (elsewhere / "lenet5.yaml").write_text(TINY)
    assert main(["validate", "lenet5"]) == 0
    assert capsys.readouterr().err == (f"using the zoo's lenet5 ({ZOO / 'lenet5.yaml'}), not ./lenet5.yaml "
                                       "(name it `lenet5.yaml` to use that)\n")
    assert main(["validate", "lenet5.yaml"]) == 0
    assert "OK: mine" in capsys.readouterr().out


def test_an_unknown_name_exits_2_with_did_you_mean(elsewhere, capsys):
    assert main(["summary", "vgg61"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "vgg61: error: file not found, and the zoo has no spec of this name",
        "  Received: 'vgg61'",
        "  Hint: did you mean `vgg19` or `vgg16` or `vgg13`? `archspec zoo` lists the zoo's specs"]


def test_zoo_pattern(capsys):
    assert main(["zoo", "resnet5*"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["resnet50", "resnet56"]
    assert main(["zoo", "lenet5", "--markdown"]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("| `lenet5.yaml` | LeNet-5 ")


def test_zoo_pattern_without_match_exits_2(capsys):
    assert main(["zoo", "resnet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        "<command line>: at `PATTERN`: error: no spec of the zoo matches this pattern",
        "  Received: 'resnet'",
        "  Hint: did you mean `*resnet*`? (a pattern matches whole names) `archspec zoo` lists the zoo's specs"]


def test_pyproject_lists_every_package():
    """pyproject.toml lists the packages (to map archspec.zoo onto architectures/): all of them."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "archspec").rglob("__init__.py")}
    assert set(config["packages"]) == on_disk | {"archspec.zoo"}
    assert config["package-dir"] == {"archspec.zoo": "architectures"}


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_a_wheel_installed_away_from_the_checkout_has_the_zoo(tmp_path):
    """Issue #15: the wheel holds the zoo, and an installed archspec (not this checkout) lists it
    and loads a spec by name. Built from a copy of the sources (no build/ left in the checkout);
    installed with pip --target and run from another folder with PYTHONPATH at it alone."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("archspec", "architectures"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    # without build isolation where setuptools and wheel are here (seconds, offline)
    local = all(importlib.util.find_spec(m) for m in ("setuptools", "wheel"))
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "-q", "--no-deps", *(["--no-build-isolation"] if local else []),
         "-w", str(tmp_path / "dist"), str(src))
    wheel, = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    zoo = {"archspec/zoo/" + p.relative_to(ROOT / "architectures").as_posix()
           for p in (ROOT / "architectures").rglob("*.yaml")}
    code = {p.relative_to(ROOT).as_posix() for p in (ROOT / "archspec").rglob("*.py")}
    assert "archspec/zoo/blocks/resnet.yaml" in zoo and "archspec/zoo/search/lenet_search.yaml" in zoo
    assert zoo - names == set() and code - names == set()

    site = tmp_path / "site"
    _run(*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel))
    away = tmp_path / "away"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = {"cwd": away, "env": env}
    where = _run(sys.executable, "-c", "import archspec, archspec.spec.document as d; print(archspec.__file__); "
                 "print(d.ZOO)", **run).stdout.split()
    assert where == [str(site / "archspec" / "__init__.py"), str(site / "archspec" / "zoo")]
    listed = _run(sys.executable, "-m", "archspec", "zoo", **run).stdout.splitlines()
    assert len(listed) == len(list(ROOT.joinpath("architectures").glob("*.yaml")))
    assert listed[0].split()[0] == "alexnet"
    summary = _run(sys.executable, "-m", "archspec", "summary", "resnet50", **run)  # uses blocks/resnet.yaml
    assert "25,636,712" in summary.stdout
    assert summary.stderr == f"using the zoo's resnet50 ({site / 'archspec' / 'zoo' / 'resnet50.yaml'})\n"
