"""archspec visualize: feature maps of a layer, and activation maximization."""

from __future__ import annotations

import numpy as np
import pytest

import archspec
from archspec.tools import visualize as vis
from archspec.cli import main
from archspec.errors import SpecError
from tests.conftest import ZOO


@pytest.fixture(scope="module")
def lenet_file(tmp_path_factory, keras):
    path = tmp_path_factory.mktemp("vis") / "lenet.keras"
    archspec.build(ZOO / "lenet5.yaml").save(path)
    return path


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_digits

    path = tmp_path_factory.mktemp("img") / "digit.png"
    Image.fromarray((load_digits().images[0] / 16 * 255).astype("uint8")).save(path)
    return path


def test_feature_maps_have_the_layer_shape(lenet_file, digit_png, tmp_path, capsys):
    out = tmp_path / "maps.png"
    assert main(["visualize", str(lenet_file), "--layer", "c3", "--image", str(digit_png), "-o", str(out)]) == 0
    assert "16 maps of 10x10" in capsys.readouterr().out
    from PIL import Image

    assert Image.open(out).format == "PNG"


def test_feature_maps_equal_the_layer_output(lenet_file, digit_png, keras):
    model = keras.saving.load_model(lenet_file)
    image = vis.load_image(digit_png, (32, 32, 1))
    assert image.shape == (32, 32, 1) and 0.0 <= image.min() and image.max() <= 1.0
    maps = vis.feature_maps(model, "c1", image)
    # c1 is conv 5x5 valid + tanh: check one position against a hand computation
    w, b = model.get_layer("c1").get_weights()
    by_hand = np.tanh(np.sum(image[3:8, 4:9, :, None] * w, axis=(0, 1, 2)) + b)
    np.testing.assert_allclose(maps[3, 4], by_hand, rtol=1e-5, atol=1e-6)


def test_maximize_increases_the_activation(lenet_file, keras):
    model = keras.saving.load_model(lenet_file)
    images, before, after = vis.maximize(model, "c3", [0, 5], steps=20)
    assert len(images) == 2 and images[0].shape == (32, 32, 1)
    assert all(a > b for a, b in zip(after, before))


def test_mistakes_are_located(lenet_file, keras):
    model = keras.saving.load_model(lenet_file)
    with pytest.raises(SpecError, match=r"no layer `c33`") as info:
        vis.feature_maps(model, "c33", np.zeros((32, 32, 1), "float32"))
    assert info.value.hint == "did you mean `c3`?"
    with pytest.raises(SpecError, match="does not output feature maps"):
        vis.feature_maps(model, "f6", np.zeros((32, 32, 1), "float32"))
    with pytest.raises(SpecError, match="has 6 filters"):
        vis.maximize(model, "c1", [6])
    assert vis.parse_filters("0-2,7") == [0, 1, 2, 7]


DEEP = """
name: deep_maps
input: {shape: [4, 4, 1]}
body:
  - repeat: {times: 2, body: [{repeat: {times: 600, body: [{identity: {}}]}}]}  # past Python's 1,000 frames
  - conv2d: {filters: 2, kernel_size: 1, name: top}
"""


def test_a_layer_behind_1200_layers_is_visualized(keras):
    """Keras walks the graph recursively when it makes the probe model (archspec/_recursion.py)."""
    import sys

    before = sys.getrecursionlimit()
    model = archspec.build(archspec.loads(DEEP))
    maps = vis.feature_maps(model, "top", np.ones((4, 4, 1), "float32"))
    assert maps.shape == (4, 4, 2)
    images, _, _ = vis.maximize(model, "top", [1], steps=1)
    assert images[0].shape == (4, 4, 1) and sys.getrecursionlimit() == before
