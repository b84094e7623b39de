"""The standard Keras layers' op definitions and their analyzer rules (pure Python, no TF).

Each family module (:mod:`~archspec.ops.rules.conv`, ``pooling``, ``dense``, ``merge``,
``reshaping``) holds its rules and, next to them, ``OPS``: one :func:`~archspec.ops.opdef.keras_op`
entry per Keras class with its hand-written facts (rule, multi-input, op-name aliases).
Everything else about the op (accepted, required and boolean arguments) comes from Keras'
catalog, and Keras' other names of a class (``MaxPool2D`` for ``MaxPooling2D``) share its entry.
A Keras layer without an entry is still usable: Keras analyzes it. archspec's own layers are in
:mod:`archspec.ops.rules.custom`.

Each rule follows the contract in :mod:`archspec.ops.base`. The formulas are Keras'
own (``keras/src/ops/operation_utils.py``: ``compute_conv_output_shape``,
``compute_pooling_output_shape``, ``deconv_output_length``); ``tests/ops/test_rules_vs_keras.py``
proves them equal to Keras on hundreds of random configurations. Only ``channels_last`` is
analyzed here; other data formats fall back to Keras (:class:`NoRule`).
"""

from __future__ import annotations

from archspec.ops.rules import (
    applications, conv, custom, dense, embedding, math, merge, pooling, recurrent, reshaping, tables,
)

#: The hand-written facts of the standard Keras layers, one entry per class.
OPS = [*conv.OPS, *pooling.OPS, *dense.OPS, *merge.OPS, *reshaping.OPS, *math.OPS, *recurrent.OPS,
       *tables.OPS, *applications.OPS, *embedding.OPS]

#: archspec's own layers (:mod:`archspec.layers`), one full OpDef each.
LAYER_OPS = [*custom.OPS, *math.LAYER_OPS, *recurrent.LAYER_OPS, *tables.LAYER_OPS,
             *applications.LAYER_OPS]
