"""archspec.train.graphs: TensorFlow keeps each traced training step alive through its
custom-gradient registry; `released()` frees them (what keeps a search's memory flat)."""

from __future__ import annotations

import gc

import numpy as np

from archspec.train.graphs import custom_gradient_names, release_custom_gradients, released


def fit_one(keras):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    model.fit(x, np.arange(32) % 3, epochs=1, batch_size=16, verbose=0)


def live_train_graphs() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) and o.name == "one_step_on_data" for o in gc.get_objects())


def test_traced_steps_outlive_their_models_until_released(keras):
    base, names = live_train_graphs(), custom_gradient_names()
    for _ in range(2):
        fit_one(keras)
        keras.backend.clear_session()
    # the upstream leak: the models are gone, their traced training steps are not
    assert live_train_graphs() - base == 2
    assert len(custom_gradient_names() - names) == 2
    assert release_custom_gradients(keep=names) == 2
    assert live_train_graphs() == base and custom_gradient_names() == names

    for _ in range(2):
        with released():
            fit_one(keras)
        keras.backend.clear_session()
    assert live_train_graphs() == base and custom_gradient_names() == names
