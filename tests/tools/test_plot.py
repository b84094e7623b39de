"""archspec plot: the graph drawn, collapsing (chosen to fit a page unless given), readable names
for collapsed calls, and a clear message without graphviz."""

from __future__ import annotations

import re
import shutil
import struct

import pytest

import archspec
from archspec.errors import RunError, SpecError
from archspec.tools.plot import PAGE_HEIGHT, REPEATS, choose, drawing, to_dot, write_plot
from tests.conftest import ZOO

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")


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
    full, stages, blocks = (to_dot(spec, max_height=None), to_dot(spec, collapse=0), to_dot(spec, collapse=1))
    assert len(_nodes(full)) == len(spec.graph.nodes) == 177
    assert len(_nodes(stages)) == 1 + 1 + 4 + 1  # input, stem, four stages, head
    # depth-1 calls (stem: 6 layers, head: 2) stay expanded; the 3+4+6+3 bottlenecks become boxes
    assert len(_nodes(blocks)) == 1 + 6 + 16 + 2
    assert "conv4_block6" in blocks.to_string()


@needs_dot
def test_png_and_svg_files(tmp_path):
    spec = archspec.load(ZOO / "vgg16.yaml")
    png = write_plot(spec, tmp_path / "vgg16.png", collapse=0, log=None)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = write_plot(spec, tmp_path / "vgg16.svg", collapse=1, log=None)
    assert "block5_pool" in svg.read_text()


def _labels(dot) -> list[str]:
    """The text of every box and cluster label in the DOT source, tags removed."""
    text = dot.to_string()
    return [re.sub(r"<[^>]*>", " ", m) for m in re.findall(r"label=(<<.*?>>|\"[^\"]*\")", text)]


def test_a_deep_net_is_collapsed_to_fit_a_page_by_default():
    spec = archspec.load(ZOO / "resnet152.yaml")  # 517 layers: ~83,000 px drawn in full
    plan = choose(spec)
    assert plan.auto and plan.collapse == 0 and plan.height() <= PAGE_HEIGHT < drawing(spec).height()
    assert [b.title for b in plan.collapsed] == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    conv4 = plan.boxes["block:bottleneck_stack@conv4"]
    assert (conv4.detail, conv4.layers, conv4.calls) == ("bottleneck_stack: 36 × bottleneck", 362, 1)
    dot = to_dot(spec)
    labels = " | ".join(_labels(dot))
    assert "conv4" in labels and "36 × bottleneck" in labels and "362 layers" in labels
    assert not re.search(r"#\d", labels), "no resolver counters (head#56) in the drawing"
    assert "6 block calls drawn as single boxes" in labels and "--collapse 0" in labels  # the caption
    # an explicit depth wins; max_height=None draws every layer
    assert len(choose(spec, collapse=1).collapsed) == 50 and not choose(spec, collapse=1).auto
    assert not choose(spec, max_height=None).collapsed


def test_resnet_1202_groups_its_repeated_calls():
    spec = archspec.load(ZOO / "resnet_cifar.yaml", n=200)  # 3,607 layers
    plan = choose(spec)
    assert plan.collapse == REPEATS and plan.height() <= PAGE_HEIGHT
    assert [(b.title, b.calls) for b in plan.collapsed] == [
        ("stage1_block ×200", 200), ("stage2_block ×200", 200), ("stage3_block ×200", 200)]
    assert plan.collapsed[0].detail == "200 × basic: stage1_block1 … stage1_block200"
    assert sum(b.layers for b in plan.boxes.values()) == len(spec.graph.nodes)
    assert "600 block calls drawn as 3 boxes" in plan.caption()


def test_unnamed_calls_are_numbered_by_their_block_and_small_nets_are_not_collapsed():
    plan = choose(ZOO / "vgg16.yaml")  # 23 layers: ~3,800 px in full
    assert [b.title for b in plan.collapsed] == [f"vgg_block {k}" for k in range(1, 6)] + ["head"]
    plan = choose(ZOO / "googlenet.yaml", collapse=1)  # calls of `module` are named by their inception call
    assert plan.collapsed[0].title == "inception_3a" and plan.clusters["module#1"] == "inception_3a (module)"
    assert not choose(ZOO / "lenet5.yaml").collapsed and not choose(ZOO / "inception_3a.yaml").collapsed


def test_the_command_says_what_it_collapsed(tmp_path, capsys):
    from archspec.cli import main

    assert main(["plot", str(ZOO / "resnet152.yaml"), "-o", str(tmp_path / "r152.dot")]) == 0
    out = capsys.readouterr().out
    assert "resnet152: every layer would draw about" in out and "drawn with --collapse 0" in out
    assert "stem, conv2, conv3, conv4, conv5, head" in out and "--collapse 2 draws every layer" in out
    assert main(["plot", str(ZOO / "lenet5.yaml"), "-o", str(tmp_path / "l5.dot")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'l5.dot'}"


def test_a_negative_depth_is_refused():
    with pytest.raises(SpecError, match="--collapse is a depth"):
        drawing(ZOO / "lenet5.yaml", collapse=-2)


def _png_height(path) -> int:
    return struct.unpack(">II", path.read_bytes()[16:24])[1]


@needs_dot
def test_graphviz_heights_stay_under_the_estimate(tmp_path):
    """The estimate is close to the real drawing: 0-6% above it with graphviz 2.43 and Debian's
    fonts (5% of slack for other versions and fonts)."""
    png = write_plot(ZOO / "resnet152.yaml", tmp_path / "r152.png", log=None)
    assert _png_height(png) <= PAGE_HEIGHT
    for name, collapse in (("vgg16.yaml", 1), ("googlenet.yaml", None), ("resnet50.yaml", 1)):
        plan = choose(ZOO / name, collapse=collapse)
        real = _png_height(write_plot(ZOO / name, tmp_path / "x.png", collapse=collapse, log=None))
        assert 0.85 * plan.height() <= real <= 1.05 * plan.height(), name


def test_missing_dot_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunError, match=r"needs graphviz's `dot` program") as info:
        write_plot(archspec.load(ZOO / "lenet5.yaml"), tmp_path / "x.png")
    assert "apt-get install graphviz" in info.value.hint


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"must end in \.svg, \.png, \.pdf or \.dot"):
        write_plot(archspec.load(ZOO / "lenet5.yaml"), tmp_path / "x.jpg")
