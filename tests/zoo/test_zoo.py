"""The zoo (architectures/*.yaml): every spec builds, agrees with Keras and round-trips; the
parameter counts and MACs agree with the papers, the lectures and keras.applications.

Sources of the numbers (see each spec's header comment):

- VGG: Simonyan & Zisserman 2015, Table 2 (millions); VGG16/19 = keras.applications (test_keras_apps.py).
- ResNet: He et al. 2016; ResNet-18/34 trainable counts = torchvision's; ResNet-101/152 =
  keras.applications; CIFAR ResNets: section 4.2 and Table 6 (0.27/0.46/0.66/0.85/1.7 M).
- AlexNet: Krizhevsky et al. 2012 ("60 million parameters"), two towers vs one.
- GoogLeNet: Szegedy et al. 2015, Table 1 (about 6.8 M).

VGG16/19 and ResNet-50/101/152 are compared with keras.applications in test_keras_apps.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import archspec
from tests.kerascheck import assert_analyzer_equals_keras
from tests.conftest import ZOO
from tests.zoo.sizes import SMALL  # smaller inputs for the smoke test

SPECS = sorted(ZOO.glob("*.yaml"))
ROUND_TRIP_MAX_PARAMS = 20_000_000

# built, compared layer by layer with the analyzer and with keras.applications in
# test_keras_apps.py: not built a second time here
KERAS_APPS_TWINS = {"resnet101", "resnet152"}
# the keras.applications families (#17.5): each built at its smallest and compared with
# keras.applications in its own tests/zoo/test_apps_*.py, so not built here at full size
KERAS_APPS_TWINS |= {"densenet", "resnet_v2", "xception", "inception_v3", "mobilenet", "mobilenet_v2",
                     "mobilenet_v3", "efficientnet", "efficientnet_v2", "inception_resnet_v2",
                     "nasnet", "convnext"}


def _weights(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _inputs(model, rng, batch=2, free=48):
    """Random inputs for the model's inputs: `free` for unknown sizes, small ints for int inputs."""
    xs = []
    for t in model.inputs:
        shape = (batch, *(free if d is None else int(d) for d in t.shape[1:]))
        if "int" in str(t.dtype):
            xs.append(rng.integers(0, 10, size=shape).astype("int32"))
        else:
            xs.append(rng.random(shape, dtype=np.float32))
    return xs[0] if len(xs) == 1 else xs


def _as_list(y):
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def _params(path):
    return archspec.load(path).params


@pytest.mark.parametrize("path", [p for p in SPECS if p.stem not in KERAS_APPS_TWINS],
                         ids=[p.stem for p in SPECS if p.stem not in KERAS_APPS_TWINS])
def test_zoo_spec_builds_matches_keras_and_round_trips(keras, path, tmp_path):
    spec = archspec.load(path, **SMALL.get(path.stem, {}))  # resolves and analyzes: `validate`
    analysis = archspec.summary(spec)
    keras.backend.clear_session()
    try:
        model = archspec.build(spec)
        # analyzer == Keras, layer by layer (output shapes, trainable and non-trainable counts)
        assert_analyzer_equals_keras(spec, model)
        assert analysis.total_params == model.count_params()
        assert analysis.trainable_params == _weights(model.trainable_weights)
        # one forward pass (eager: variable-size inputs work for every layer), batch 2
        rng = np.random.default_rng(0)
        x = _inputs(model, rng)
        y = _as_list(model(x, training=False))
        assert len(y) == len(spec.output_shapes)
        for out, shape in zip(y, spec.output_shapes):
            assert out.shape[1:] == tuple(shape) and np.all(np.isfinite(out))
        if model.count_params() > ROUND_TRIP_MAX_PARAMS:
            return  # .keras round trip: file size and time (every structure is round-tripped below that)
        file = tmp_path / f"{path.stem}.keras"
        model.save(file)
        again = keras.saving.load_model(file)
        for a, b in zip(y, _as_list(again(x, training=False))):
            np.testing.assert_array_equal(a, b)
    finally:
        keras.backend.clear_session()


# --------------------------------------------------------------------------- VGG
@pytest.mark.parametrize("stem, config, millions, exact", [
    ("vgg11", "A", 133, 132_863_336),
    ("vgg11_lrn", "A-LRN", 133, 132_863_336),
    ("vgg13", "B", 133, 133_047_848),
    ("vgg16_c", "C", 134, 133_638_952),
    ("vgg16", "D", 138, 138_357_544),
    ("vgg19", "E", 144, 143_667_240),
])
def test_vgg_parameter_counts_match_table_2(stem, config, millions, exact):
    total = archspec.summary(ZOO / f"{stem}.yaml").total_params
    assert total == exact
    assert round(total / 1e6) == millions, config


def test_vgg_configurations_have_the_layers_of_table_1():
    def convs(stem):
        return [(n.name, n.args["kernel_size"]) for n in archspec.load(ZOO / f"{stem}.yaml").graph.layers
                if n.op == "conv2d"]

    assert len(convs("vgg11")) == 8 and len(convs("vgg13")) == 10 and len(convs("vgg19")) == 16
    c = dict(convs("vgg16_c"))
    assert len(c) == 13
    assert [k for k, v in c.items() if v == 1] == ["block3_conv3", "block4_conv3", "block5_conv3"]
    lrn = [n.name for n in archspec.load(ZOO / "vgg11_lrn.yaml").graph.layers
           if n.op == "local_response_normalization"]
    assert lrn == ["block1_lrn"]
    bn = archspec.summary(ZOO / "vgg16_bn.yaml")
    assert bn.trainable_params == 138_365_992  # torchvision vgg16_bn
    assert bn.non_trainable_params == 2 * (2 * 64 + 2 * 128 + 3 * 256 + 3 * 512 + 3 * 512)


def test_width_multiplier_on_vgg16():
    full = archspec.summary(ZOO / "vgg16.yaml")
    half = archspec.summary(ZOO / "vgg16.yaml", width=0.5)
    convs = lambda a: sum(r.trainable_params for r in a.layers if r.op == "conv2d")  # noqa: E731
    # conv weights scale with width^2 (in x out channels), biases with width
    assert convs(half) == sum(9 * (c // 2 if c != 3 else 3) * (o // 2) + o // 2 for c, o in [
        (3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
        (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)])
    assert convs(half) < convs(full) / 3.9
    assert half.macs < full.macs / 3.9
    assert half["block5_pool"].output_shape == (7, 7, 256)


# --------------------------------------------------------------------------- ResNet
@pytest.mark.parametrize("stem, total", [("resnet101", 44_707_176), ("resnet152", 60_419_944)])
def test_resnet101_152_analyzed_counts_equal_keras_applications(stem, total):
    assert archspec.summary(ZOO / f"{stem}.yaml").total_params == total


@pytest.mark.parametrize("stem, trainable, macs_g", [("resnet18", 11_689_512, 1.8),
                                                     ("resnet34", 21_797_672, 3.6)])
def test_resnet18_34_trainable_counts_equal_torchvision(stem, trainable, macs_g):
    a = archspec.summary(ZOO / f"{stem}.yaml")
    assert a.trainable_params == trainable
    # non-trainable: the moving mean and variance of every batch-norm (as many as its scale+offset)
    bn = sum(r.trainable_params for r in a.layers if r.op == "batch_normalization")
    assert a.non_trainable_params == bn
    # convolutions are bias-free; projections are 1x1 conv + BN only where the shape changes
    spec = archspec.load(ZOO / f"{stem}.yaml")
    assert all(n.args.get("use_bias") is False for n in spec.graph.layers if n.op == "conv2d")
    assert len([n for n in spec.graph.layers if n.name.endswith("_proj")]) == 3
    assert abs(a.macs / 1e9 - macs_g) < 0.07  # He et al. Table 1: 1.8 / 3.6 x 10^9 "FLOPs"


# --------------------------------------------------------------------------- CIFAR ResNets
@pytest.mark.parametrize("n, millions", [(3, 0.27), (5, 0.46), (7, 0.66), (9, 0.85), (18, 1.7), (200, 19.4)])
def test_cifar_resnet_depths_and_counts_match_table_6(n, millions):
    spec = archspec.load(ZOO / "resnet_cifar.yaml", n=n)
    weighted = [l for l in spec.graph.layers if l.op in ("conv2d", "dense")]
    assert len(weighted) == 6 * n + 2
    a = spec.analyze()
    assert round(a.trainable_params / 1e6, 2 if n < 18 else 1) == millions


def test_cifar_resnet_option_a_has_no_shortcut_parameters_and_option_b_more():
    a = archspec.summary(ZOO / "resnet_cifar.yaml")  # n=3: ResNet-20, option A
    b = archspec.summary(ZOO / "resnet_cifar.yaml", shortcut="projection")
    assert a.trainable_params == 269_722 and a.non_trainable_params == 1_376
    pads = [r for r in a.layers if r.op in ("max_pooling2d", "zero_padding2d")]  # option A: standard layers
    assert len(pads) == 4 and all(r.params == 0 and r.macs == 0 for r in pads)
    # option B: two 1x1 projections 16->32 and 32->64, each with a batch-norm
    assert b.trainable_params - a.trainable_params == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64 == 2_752
    assert b.trainable_params == 272_474
    assert archspec.summary(ZOO / "resnet20.yaml").total_params == a.total_params
    assert archspec.summary(ZOO / "resnet56.yaml").trainable_params == 853_018


@pytest.mark.parametrize("n", [3, 9])
def test_plain_twins_have_the_resnet_layers_minus_shortcuts(n):
    res = archspec.load(ZOO / "resnet_cifar.yaml", n=n)
    plain = archspec.load(ZOO / "plain_cifar.yaml", n=n)
    ops = lambda s, op: [l for l in s.graph.layers if l.op == op]  # noqa: E731
    for op in ("conv2d", "batch_normalization", "dense"):
        assert len(ops(res, op)) == len(ops(plain, op))
    assert ops(plain, "add") == [] and len(ops(res, "add")) == 3 * n
    shortcuts = len(ops(res, "add")) + len(ops(res, "max_pooling2d")) + len(ops(res, "zero_padding2d"))
    assert len(res.graph.layers) - shortcuts == len(plain.graph.layers)
    assert res.analyze().total_params == plain.analyze().total_params  # option A adds nothing
    twin = archspec.load(ZOO / f"plain{6 * n + 2}.yaml")
    assert len(twin.graph.layers) == len(plain.graph.layers)


def test_depth_multiplier_on_the_cifar_resnet():
    depths = {}
    for n in (3, 5, 7, 9, 18):
        spec = archspec.load(ZOO / "resnet_cifar.yaml", n=n)
        depths[n] = len([l for l in spec.graph.layers if l.op in ("conv2d", "dense")])
        assert spec.output_shapes == [(10,)]
    assert depths == {3: 20, 5: 32, 7: 44, 9: 56, 18: 110}


# --------------------------------------------------------------------------- AlexNet, GoogLeNet
def test_alexnet_two_towers_and_single_tower_counts():
    two = archspec.summary(ZOO / "alexnet.yaml")
    one = archspec.summary(ZOO / "alexnet_single.yaml")
    assert two.total_params == 60_965_224  # "60 million parameters"
    assert one.total_params == 62_378_344  # no split: ~62 M
    assert archspec.summary(ZOO / "alexnet.yaml", towers=1).total_params == one.total_params
    # the split halves the weights of conv2, conv4 and conv5 (biases stay)
    for name, k, cin, cout in (("conv2", 5, 96, 256), ("conv4", 3, 384, 384), ("conv5", 3, 384, 256)):
        assert one[name].trainable_params - two[name].trainable_params == k * k * cin * cout // 2
    assert two["conv1"].output_shape == (55, 55, 96)  # 227x227 input: (227 - 11) / 4 + 1
    assert two["pool5"].output_shape == (6, 6, 256)
    assert round(two.macs / 1e9, 2) == 0.73


def test_googlenet_counts_outputs_and_reductions(keras):
    a = archspec.summary(ZOO / "googlenet.yaml")
    assert a.total_params == 6_998_552  # paper: about 6.8 M (Table 1, rounded)
    widths = {"inception_3a": 256, "inception_3b": 480, "inception_4a": 512, "inception_4b": 512,
              "inception_4c": 512, "inception_4d": 528, "inception_4e": 832, "inception_5a": 832,
              "inception_5b": 1024}
    for name, c in widths.items():
        assert a[f"{name}_concat"].output_shape[-1] == c
    assert a["pool5_7x7_s1"].output_shape == (1, 1, 1024)
    aux = archspec.load(ZOO / "googlenet.yaml", aux=True)
    assert aux.output_shapes == [(1000,)] * 3
    assert aux.analyze().total_params == 6_998_552 + 3_188_840 + 3_190_888 == 13_378_280
    naive = archspec.summary(ZOO / "googlenet.yaml", naive=True)
    assert naive.total_params > 10 * a.total_params and naive.macs > 7 * a.macs
    keras.backend.clear_session()
    model = archspec.build(aux)
    assert list(model.output_names) == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert model.count_params() == 13_378_280
    keras.backend.clear_session()


# --------------------------------------------------------------------------- MACs
@pytest.mark.parametrize("stem, macs, rounded", [
    ("resnet50", 3_857_973_248, 3.86),   # He et al.: "3.8 x 10^9 FLOPs" (multiply-adds)
    ("vgg16", 15_470_264_320, 15.5),
    ("alexnet", 726_791_936, 0.73),
    ("googlenet", 1_586_685_952, 1.59),  # "1.5 billion multiply-adds"
    ("resnet101", 7_570_194_432, 7.57),  # "7.6 x 10^9"
    ("resnet152", 11_282_415_616, 11.28),  # "11.3 x 10^9"
])
def test_macs(stem, macs, rounded):
    a = archspec.summary(ZOO / f"{stem}.yaml")
    assert a.macs == macs
    assert round(a.macs / 1e9, 2 if rounded < 15 else 1) == rounded


# --------------------------------------------------------------------------- Fig. 9.11, 1-D, 3-D
def test_variable_input_cnn_takes_any_size_and_fixed_does_not(keras):
    spec = archspec.load(ZOO / "variable_input_cnn.yaml")
    assert spec.graph[spec.graph.inputs[0]].shape == (None, None, 3)
    assert spec.analyze()["reshape"].output_shape == (576,)
    keras.backend.clear_session()
    model = archspec.build(spec)
    rng = np.random.default_rng(0)
    for h, w in ((48, 40), (100, 73)):
        assert model(rng.random((1, h, w, 3), dtype=np.float32)).shape == (1, 1000)
    fixed = archspec.summary(ZOO / "fixed_input_cnn.yaml")
    assert fixed["reshape"].output_shape == (16 * 16 * 64,)
    gap = archspec.summary(ZOO / "all_conv_gap.yaml")
    assert not [r for r in gap.layers if r.op == "dense"]
    assert gap["class_maps"].output_shape == (16, 16, 1000)
    assert archspec.load(ZOO / "all_conv_gap.yaml", input_shape=[None, None, 3]).output_shapes == [(1000,)]
    keras.backend.clear_session()


def test_zipcode_1989_sizes():
    a = archspec.summary(ZOO / "zipcode1989.yaml")
    assert [a[n].output_shape for n in ("h1", "h2", "h3", "output")] == [(8, 8, 12), (4, 4, 12), (30,), (10,)]
    assert a["h3"].trainable_params == 5_790 and a["output"].trainable_params == 310  # as the paper
    assert a.total_params == 9_760  # the paper: per-unit biases and 8-of-12 H2 maps (header)


def test_one_and_three_dimensional_nets():
    text = archspec.summary(ZOO / "text_cnn1d.yaml")
    assert text["features"].output_shape == (300,) and text.total_params == 6_360_902
    ts = archspec.load(ZOO / "timeseries_cnn1d.yaml")
    assert ts.graph[ts.graph.inputs[0]].shape == (None, 1)
    assert archspec.summary(ZOO / "timeseries_cnn1d.yaml", length=128).macs == 128 * 263_168 + 256
    c3d = archspec.summary(ZOO / "cnn3d_volumes.yaml")
    assert c3d["pool5"].output_shape == (1, 4, 4, 512) and c3d.total_params == 79_991_015
