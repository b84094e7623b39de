"""The zoo specs at small sizes: the inputs (and widths) where a net allows smaller ones, for the
smoke test (test_zoo.py), the reload test (tests/test_reload.py) and scripts/check_onnx_zoo.py;
the rest at their size. Plain data: importing it imports nothing else."""

SMALL = {
    **{f"vgg{v}": {"input_shape": [32, 32, 3], "fc_units": 256}
       for v in ("11", "11_lrn", "13", "16", "16_c", "16_bn", "19")},
    **{f"resnet{d}": {"input_shape": [64, 64, 3]} for d in ("18", "34", "50", "101", "152")},
    "alexnet": {"input_shape": [99, 99, 3]},
    "alexnet_single": {"input_shape": [99, 99, 3]},
    "zfnet": {"input_shape": [64, 64, 3]},
    "fixed_input_cnn": {"input_shape": [64, 64, 3]},
    "all_conv_gap": {"input_shape": [64, 64, 3]},
    "cnn3d_volumes": {"input_shape": [8, 32, 32, 3], "width": 0.25},
    "text_cnn1d": {"vocab": 1000},
    "cnn_lstm_video": {"frames": 4, "size": 32},
}
