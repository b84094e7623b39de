"""A trial's epoch checkpoint (archspec.tune.checkpoint) on a small Keras model: the history a
resumed fit returns covers every epoch once (with Hyperband's initial_epoch too), a trial the
pruner stopped stays stopped, a checkpoint of other values is not used."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from archspec.tune import checkpoint  # noqa: E402


class Watch(keras.callbacks.Callback):  # archspec.tune.trials._Curve's interface: curve, pruned
    def __init__(self, prune_at: int | None = None):
        super().__init__()
        self.curve, self.pruned, self.prune_at = [], None, prune_at

    def on_epoch_end(self, epoch, logs=None):
        self.curve.append(float(logs["val_loss"]))
        if self.prune_at is not None and len(self.curve) == self.prune_at:
            self.pruned = {"epoch": len(self.curve)}
            self.model.stop_training = True


X = np.random.default_rng(0).random((32, 4)).astype("float32")
Y = (X.sum(axis=1) > 2).astype("int32")


def _fit(trial_dir, values, *, epochs, initial_epoch=0, watch=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    watch = watch or Watch()
    kwargs = dict(epochs=epochs, initial_epoch=initial_epoch, verbose=0, validation_data=(X, Y), callbacks=[watch])
    history, resumed = checkpoint.fit(model, trial_dir, values, kwargs, lambda **kw: model.fit(X, Y, **kw))
    return history, resumed, watch


def test_a_resumed_fit_returns_every_epoch_once(tmp_path):
    first, resumed, _ = _fit(tmp_path, {"u": 1}, epochs=2)
    assert resumed == 0 and len(first.history["loss"]) == 2
    again, resumed, watch = _fit(tmp_path, {"u": 1}, epochs=4)
    assert resumed == 2 and again.epoch == [0, 1, 2, 3]
    assert again.history["loss"][:2] == first.history["loss"]  # the two epochs before, as they were
    assert len(watch.curve) == 4 and watch.curve[:2] == pytest.approx(first.history["val_loss"])


def test_hyperband_s_initial_epoch_is_not_counted_twice(tmp_path):
    _fit(tmp_path, {"u": 1}, epochs=3, initial_epoch=1)  # epochs 2 and 3 (of a trial continued from 1)
    history, resumed, _ = _fit(tmp_path, {"u": 1}, epochs=5, initial_epoch=1)
    assert resumed == 3 and len(history.history["loss"]) == 4  # 2, 3 restored; 4, 5 trained


def test_a_pruned_trial_stays_stopped_and_other_values_start_afresh(tmp_path):
    _fit(tmp_path, {"u": 1}, epochs=5, watch=Watch(prune_at=2))
    history, resumed, watch = _fit(tmp_path, {"u": 1}, epochs=5)
    assert resumed == 2 and watch.pruned == {"epoch": 2} and len(history.history["loss"]) == 2
    other, resumed, _ = _fit(tmp_path, {"u": 2}, epochs=1)
    assert resumed == 0 and len(other.history["loss"]) == 1 and not math.isnan(other.history["loss"][0])
    checkpoint.remove(tmp_path)
    assert not (tmp_path / checkpoint.DIR).exists()


def test_another_batch_size_starts_afresh(tmp_path):
    _fit(tmp_path, {"u": 1}, epochs=2)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    kwargs = dict(epochs=3, batch_size=8, verbose=0, callbacks=[Watch()], validation_data=(X, Y))
    history, resumed = checkpoint.fit(model, tmp_path, {"u": 1}, kwargs, lambda **kw: model.fit(X, Y, **kw))
    assert resumed == 0 and len(history.history["loss"]) == 3
