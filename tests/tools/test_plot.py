"""archspec plot: the graph drawn, collapsing, and a clear message without graphviz."""

from __future__ import annotations

import shutil

import pytest

import archspec
from archspec.errors import RunError, SpecError
from archspec.tools.plot import to_dot, write_plot
from tests.conftest import ZOO


def _nodes(dot) -> list[str]:
    out = [n.get_name().strip('"') for n in dot.get_nodes()]
    for sub in dot.get_subgraphs():
        out += _nodes(sub)
    return [n for n in out if n not in ("node", "edge", "graph")]


def _edges(dot) -> int:
    return len(dot.get_edges()) + sum(_edges(s) for s in dot.get_subgraphs())


def test_inception_module_is_drawn_layer_by_layer():
    dot = to_dot(archspec.load(ZOO / "inception_3a.yaml"))
    assert len(_nodes(dot)) == 1 + 8  # input + 6 convolutions + pool + concat
    assert _edges(dot) == 4 + 3 + 4  # input -> 4 paths, 3 inner edges, 4 -> concat
    text = dot.to_string()
    assert "(None, 28, 28, 256)" in text and "163,696" not in text  # per-layer params only
    assert "110,720 params" in text  # the 3x3 convolution: 9 * 96 * 128 + 128


def test_collapse_draws_block_calls_as_boxes():
    spec = archspec.load(ZOO / "resnet50.yaml")
    full, stages, blocks = (to_dot(spec), to_dot(spec, collapse=0), to_dot(spec, collapse=1))
    assert len(_nodes(full)) == len(spec.graph.nodes) == 177
    assert len(_nodes(stages)) == 1 + 1 + 4 + 1  # input, stem, four stages, head
    # depth-1 calls (stem: 6 layers, head: 2) stay expanded; the 3+4+6+3 bottlenecks become boxes
    assert len(_nodes(blocks)) == 1 + 6 + 16 + 2
    assert "conv4_block6" in blocks.to_string()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_png_and_svg_files(tmp_path):
    spec = archspec.load(ZOO / "vgg16.yaml")
    png = write_plot(spec, tmp_path / "vgg16.png", collapse=0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = write_plot(spec, tmp_path / "vgg16.svg")
    assert "block5_pool" in svg.read_text()


def test_missing_dot_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunError, match=r"needs graphviz's `dot` program") as info:
        write_plot(archspec.load(ZOO / "lenet5.yaml"), tmp_path / "x.png")
    assert "apt-get install graphviz" in info.value.hint


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"must end in \.svg, \.png, \.pdf or \.dot"):
        write_plot(archspec.load(ZOO / "lenet5.yaml"), tmp_path / "x.jpg")
