"""A spec that `use`s a file outside its folder: it loads only with `--include-path`."""

from __future__ import annotations

from pathlib import Path

LIB = "blocks:\n  head:\n    args: {units: int}\n    body:\n      - dense: {units: $units}\n"


def outside_project(tmp_path: Path, units: int = 2) -> tuple[Path, Path]:
    """(tmp_path/proj/net.yaml, tmp_path/lib): the net uses lib/head.yaml by absolute path."""
    lib = tmp_path / "lib"
    lib.mkdir(exist_ok=True)
    (lib / "head.yaml").write_text(LIB)
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    net = proj / f"net{units}.yaml"
    net.write_text(f"name: net{units}\nuse: [{lib / 'head.yaml'}]\ninput: {{shape: [3]}}\n"
                   f"body:\n  - head: {{units: {units}}}\n")
    return net, lib
