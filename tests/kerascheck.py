""""Valid" means trainable: run a Keras layer forward and take one gradient step on real data.

A configuration that builds can still fail in TensorFlow's kernels (some CPUs' depthwise kernel
refuses unequal strides; a dilated transposed convolution has no CPU forward pass). The
analyzer-vs-Keras tests call :func:`train_step` on every configuration the analyzer accepts.
"""

from __future__ import annotations

import numpy as np


def train_step(layer, inputs, *, lr: float = 0.01):
    """Call ``layer`` on ``inputs`` (an array or a list of arrays) in training mode, differentiate
    a loss of its output with respect to its trainable weights and its inputs, and apply one SGD
    step. Returns the output as a numpy array. Raises whatever TensorFlow raises; asserts that
    every trainable weight received a finite gradient."""
    import tensorflow as tf

    xs = [tf.constant(np.asarray(x, "float32")) for x in (inputs if isinstance(inputs, list) else [inputs])]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        y = layer(xs if isinstance(inputs, list) else xs[0], training=True)
        loss = tf.reduce_sum(tf.square(tf.cast(y, "float32")))
    weights = list(layer.trainable_weights)
    grads = tape.gradient(loss, weights + xs)
    for w, g in zip(weights, grads):
        assert g is not None, f"no gradient for {w.path}"
        g = tf.convert_to_tensor(g)
        assert bool(tf.reduce_all(tf.math.is_finite(g))), f"non-finite gradient for {w.path}"
        w.assign_sub(lr * g)
    for g in grads[len(weights):]:
        assert g is None or bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(g))))
    return np.asarray(y)


def random_inputs(shapes, *, batch: int = 2, seed: int = 0):
    """Random float32 arrays with a batch dimension, one per shape (no ``None`` sizes)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, *s)).astype("float32") for s in shapes]


def assert_analyzer_equals_keras(spec, model) -> None:
    """Layer by layer: the analyzer's output shape and trainable / non-trainable counts are the
    built model's."""
    weights = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    applied: dict = {}  # a shared layer -> its applications so far (`share:`)
    for node in spec.graph.nodes:
        if node.shares:  # an application of a shared layer: no parameters of its own
            layer = model.get_layer(node.shares)
            applied[node.shares] = applied.get(node.shares, 1) + 1
            out = layer._inbound_nodes[applied[node.shares] - 1].output_tensors[0]
            assert tuple(node.shape) == tuple(out.shape[1:]), f"{node.name} ({node.op})"
            assert (node.result.params, node.result.non_trainable) == (0, 0), node.name
            continue
        layer = model.get_layer(node.name)
        assert tuple(node.shape) == tuple(layer.output.shape[1:]), f"{node.name} ({node.op})"
        if node.op != "input":
            counts = (weights(layer.trainable_weights), weights(layer.non_trainable_weights))
            assert (node.result.params, node.result.non_trainable) == counts, f"{node.name} ({node.op})"
