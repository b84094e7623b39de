"""Bad data is refused before any training, with the file and the cause named.

Two layers: reading ``npz:PATH`` (empty, blank, not an archive, truncated, pickled objects) and
:func:`archspec.train.checks.check_arrays`, which ``check_fit`` runs on every split held as arrays
(empty splits, non-numeric or non-finite inputs, labels that are not class indices of the model).
No training here: small npz files, ``load_data`` and ``check_fit`` called directly, and one CLI run
that stops before its first step.
"""

from __future__ import annotations

import numpy as np
import pytest

from archspec.errors import FileError, SpecError
from archspec.train.config import TrainConfig
from archspec.train.checks import check_arrays, check_fit
from archspec.train.data import Data, Part, load_data

TINY = """\
name: tiny
params: {classes: 10}
input: {shape: [8, 8, 1]}
body:
  - flatten
  - dense: {units: $classes, activation: softmax}
train: {epochs: 1, batch_size: 32}
"""


def arrays(n: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8)).astype(np.float32), rng.integers(0, 10, n)


def save(tmp_path, name: str = "d.npz", **arrs):
    path = tmp_path / name
    np.savez(path, **arrs)
    return path


def check(path, units: int = 10, **train):
    """``load_data`` then ``check_fit`` of ``npz:path`` against an (8, 8, 1) model with ``units`` outputs."""
    cfg = TrainConfig.from_sources(train or None)
    data = load_data(f"npz:{path}", cfg, cfg.loc("data"))
    return check_fit(data, (8, 8, 1), units, cfg, "tiny")


# ------------------------------------------------------------------ files that are not usable archives
def test_empty_file(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"")
    with pytest.raises(FileError, match=r"d\.npz: error: the npz file is empty \(0 bytes\)") as err:
        check(path)
    assert err.value.path == str(path) and "write or copy it again" in err.value.hint


def test_zero_filled_file(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(bytes(4096))
    with pytest.raises(FileError, match=r"the npz file is all zero bytes \(4,096 of them\), not an \.npz archive"
                       ) as err:
        check(path)
    assert err.value.path == str(path)


def test_text_file_is_not_an_archive_and_numpy_is_never_quoted(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("x,y\n0.5,3\n")
    with pytest.raises(FileError, match=r"the file is not an \.npz archive \(it holds text: 'x,y'\)") as err:
        check(path)
    assert err.value.path == str(path) and "np.savez(PATH, x_train=..., y_train=..." in err.value.hint
    assert "pickled" not in str(err.value)  # numpy's "Cannot load file containing pickled data"


def test_single_npy_array_is_not_an_npz_archive(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(FileError, match=r"the file is a single \.npy array, not an \.npz archive") as err:
        check(path)
    assert err.value.path == str(path)


def test_truncated_npz(tmp_path):
    x, y = arrays()
    whole = save(tmp_path, x_train=x, y_train=y).read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FileError, match=r"cut\.npz: error: the file is a truncated or corrupt \.npz archive") as err:
        check(path)
    assert err.value.path == str(path)


def test_corrupt_member(tmp_path):
    x, y = arrays()
    raw = bytearray(save(tmp_path, x_train=x, y_train=y).read_bytes())
    raw[2000:2100] = bytes(100)  # inside x_train's data: the CRC no longer matches
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(FileError, match=r"truncated or corrupt \.npz archive \(x_train cannot be read\)"):
        check(path)


def test_object_arrays_are_not_unpickled(tmp_path):
    path = save(tmp_path, x_train=np.array([np.zeros(3), np.zeros(4)], dtype=object), y_train=np.zeros(2))
    with pytest.raises(FileError, match=r"x_train in the npz file holds Python objects \(dtype object, stored "
                                        r"pickled\), which archspec does not load") as err:
        check(path)
    assert err.value.path == str(path) and "np.asarray(x_train, dtype=np.float32)" in err.value.hint


def test_missing_and_mismatched_arrays_name_the_file(tmp_path):
    x, y = arrays()
    path = save(tmp_path, x_train=x, y_train=y, x_test=x[:5])
    with pytest.raises(FileError, match=r"lacks y_test \(x_test and y_test go together\); it holds "
                                        r"\['x_test', 'x_train', 'y_train'\]") as err:
        check(path)
    assert err.value.path == str(path)
    path = save(tmp_path, x_train=x, y_train=y, x_test=x[:5], y_test=y[:4])
    with pytest.raises(FileError, match=r"x_test and y_test have different lengths: x_test has shape \(5, 8, 8\), "
                                        r"y_test has shape \(4,\)"):
        check(path)


# ------------------------------------------------------------------ contents: check_arrays via check_fit
def test_empty_x_train(tmp_path):
    x, y = arrays()
    path = save(tmp_path, x_train=x[:0], y_train=y[:0])
    with pytest.raises(FileError, match="the train split has no examples") as err:
        check(path)
    assert err.value.path == str(path) and "x_train/y_train hold no examples" in err.value.hint


def test_nan_only_in_x_test(tmp_path):
    x, y = arrays()
    x_test = x[:20].copy()
    x_test[3, 1, 1] = np.nan
    x_test[5] = np.nan  # 64 more
    path = save(tmp_path, x_train=x, y_train=y, x_test=x_test, y_test=y[:20])
    with pytest.raises(FileError, match=r"inputs are not all finite: the test split \(x_test\) holds 65 NaN values, "
                                        r"the first in x_test\[3\]") as err:
        check(path)
    assert err.value.path == str(path)


def test_inf_in_x_train_named_by_its_row_in_the_file(tmp_path):
    x, y = arrays()
    x[7, 0, 0] = np.inf
    x[42, 2, 2] = -np.inf
    path = save(tmp_path, x_train=x, y_train=y)  # the test and validation splits are shuffled parts of x_train
    # the fixed, seeded split holds row 7 out of the train split, which keeps row 42
    with pytest.raises(FileError, match=r"inputs are not all finite: the train split \(from x_train\) holds 1 inf "
                                        r"value, the first in x_train\[42\]"):
        check(path)
    with pytest.raises(FileError, match=r"the train split \(x_train\) holds 2 inf values, the first in x_train\[7\]"):
        check(path, test_split=0, validation_split=0)


def test_string_labels(tmp_path):
    x, _ = arrays()
    path = save(tmp_path, x_train=x, y_train=np.array(["cat", "dog"] * 50))
    with pytest.raises(FileError, match=r"labels are strings: the train split \(from y_train\) holds 'cat', 'dog' "
                                        r"\(dtype <U3\), but archspec needs integer class indices 0\.\.9") as err:
        check(path)
    assert err.value.path == str(path)
    assert "map the labels to integers" in err.value.hint and "np.unique" in err.value.hint


def test_string_inputs(tmp_path):
    _, y = arrays()
    path = save(tmp_path, x_train=np.full((100, 8, 8), "a"), y_train=y)
    with pytest.raises(FileError, match=r"inputs are not numbers: the train split \(from x_train\) holds strings"):
        check(path)


def test_negative_labels(tmp_path):
    x, y = arrays()
    y[4] = -1
    path = save(tmp_path, x_train=x, y_train=y, x_test=x[:10], y_test=y[10:20])
    with pytest.raises(FileError, match=r"labels out of range: the train split \(from y_train\) has labels down to -1 "
                                        r"but class indices start at 0 \(the model `tiny` has 10 outputs: 0\.\.9\)"
                       ) as err:
        check(path)
    assert err.value.hint.startswith("check the labels: 1 label is below 0, the first at y_train[4]")


def test_label_57_only_in_the_test_split(tmp_path):
    """Found before training (not by the test after it), and not taken for a class count."""
    x, y = arrays()
    y_test = y[:20].copy()
    y_test[6] = 57
    path = save(tmp_path, x_train=x, y_train=y, x_test=x[:20], y_test=y_test)
    with pytest.raises(FileError) as err:
        check(path)
    assert err.value.message == ("labels out of range: the test split (y_test) has labels up to 57 but the model "
                                 "`tiny` has 10 outputs (class indices 0..9)")
    assert err.value.path == str(path)
    hint = err.value.hint
    assert hint.startswith("check the labels: 1 label is 10 or more, the first at y_test[6]")
    assert "classes=58" in hint and hint.index("check the labels") < hint.index("classes=58")


def test_label_57_in_y_train_is_out_of_range_not_a_class_count(tmp_path):
    x, y = arrays()
    y[0] = 57
    path = save(tmp_path, x_train=x, y_train=y)
    with pytest.raises(FileError, match=r"labels out of range: .* has labels up to 57 but the model `tiny` has 10"):
        check(path, test_split=0, validation_split=0)


def test_float_labels_with_whole_values_are_accepted(tmp_path):
    x, y = arrays()
    path = save(tmp_path, x_train=x, y_train=y.astype(np.float64), x_test=x[:20], y_test=np.array([1.0, 2.0] * 10))
    cfg = TrainConfig.from_sources(None)
    data = load_data(f"npz:{path}", cfg, cfg.loc("data"))
    assert check_fit(data, (8, 8, 1), 10, cfg, "tiny") is None
    assert data.test.y.dtype == np.int32 and data.test.y[:2].tolist() == [1, 2]
    path = save(tmp_path, x_train=x, y_train=y + 0.5)
    with pytest.raises(FileError, match=r"labels are not whole numbers: the train split \(from y_train\) holds "
                                        r"\d\.5 at y_train\[\d+\] \(\d+ such labels\), but archspec needs integer"):
        check(path)


def test_regression_and_binary_models_skip_class_index_checks(tmp_path):
    x, _ = arrays()
    path = save(tmp_path, x_train=x, y_train=np.linspace(-3.0, 70.5, 100))
    assert check(path, units=1) is None


def test_other_sources_get_a_located_spec_error():
    x, y = arrays()
    x[2, 0, 0] = np.nan
    cfg = TrainConfig.from_sources({"data": "keras:mnist"})
    data = Data("keras:mnist", Part(x, y, n=len(x)), None, None, 10, (8, 8))
    with pytest.raises(SpecError, match=r"inputs are not all finite: the train split holds 1 NaN value, "
                                        r"the first in example 2") as err:
        check_arrays(data, 10, "tiny", cfg)
    assert err.value.loc == cfg.loc("data")


def test_tf_data_splits_are_skipped():
    sentinel = object()  # never touched: a tf.data split is not read to check it
    data = Data("images:dir", Part(ds=sentinel, n=3), Part(ds=sentinel, n=0), None, 2, (8, 8, 1))
    check_arrays(data, 2, "tiny", TrainConfig.from_sources(None))


# ------------------------------------------------------------------ the command line
def test_cli_refuses_bad_labels_before_writing_the_run(tmp_path, capsys):
    from archspec.cli import main

    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    x, y = arrays()
    y_test = y[:20].copy()
    y_test[6] = 57
    bad = save(tmp_path, "bad.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y_test)
    run = tmp_path / "run"
    assert main(["train", str(spec), "--data", f"npz:{bad}", "-o", str(run), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: error: labels out of range: the test split (y_test) has labels up to 57" in err
    assert "Traceback" not in err
    assert not (run / "run.json").exists()


def test_validation_data_labels_and_split_shapes_are_checked_before_training(tmp_path):
    """A label 10 in a validation_data file beside the digits (which declare 10 classes), and an
    x_test of another shape than x_train: refused before any training, naming the file."""
    bad = tmp_path / "val.npz"
    y = np.arange(40) % 10
    y[7] = 10
    np.savez(bad, x_train=np.zeros((40, 8, 8), "float32"), y_train=y)
    cfg = TrainConfig.from_sources({"validation_data": f"npz:{bad}"})
    data = load_data(cfg.data, cfg, cfg.loc("data"))
    vdata = load_data(cfg.validation_data, cfg, cfg.loc("validation_data"))
    data.val = vdata.test or vdata.train
    with pytest.raises(FileError, match=r"labels out of range: the validation split .* has labels up to 10") as err:
        check_fit(data, (8, 8, 1), 10, cfg, "m")
    assert err.value.path == str(bad)

    odd = tmp_path / "odd.npz"
    np.savez(odd, x_train=np.zeros((40, 8, 8), "float32"), y_train=np.arange(40) % 10,
             x_test=np.zeros((10, 4, 8), "float32"), y_test=np.arange(10))
    cfg = TrainConfig.from_sources({"data": f"npz:{odd}"})
    data = load_data(cfg.data, cfg, cfg.loc("data"))
    with pytest.raises(FileError, match=r"the test split \(x_test\) has examples of shape \(4, 8, 1\) but the "
                                        r"training split's are \(8, 8, 1\)"):
        check_fit(data, (8, 8, 1), 10, cfg, "m")
