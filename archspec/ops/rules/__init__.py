"""Shape, parameter and MAC rules for the standard Keras layers (pure Python, no TF).

Each rule follows the contract in :mod:`archspec.ops.base`. The formulas are Keras'
own (``keras/src/ops/operation_utils.py``: ``compute_conv_output_shape``,
``compute_pooling_output_shape``, ``deconv_output_length``); ``tests/ops/test_rules_vs_keras.py``
proves them equal to Keras on hundreds of random configurations. Only ``channels_last`` is
analyzed here; other data formats fall back to Keras (:class:`NoRule`).
"""

from __future__ import annotations

from archspec.ops.rules.conv import conv, conv_transpose, depthwise_conv, separable_conv
from archspec.ops.rules.dense import (
    along_axes, batch_norm, dense, embedding, group_norm, layer_norm, prelu, same_shape,
)
from archspec.ops.rules.merge import concatenate, elementwise_merge, subtract
from archspec.ops.rules.pooling import adaptive_pool, global_pool, pool
from archspec.ops.rules.reshaping import (
    crop_to, cropping, flatten, permute, repeat_vector, reshape, resizing, upsampling, zero_padding,
)

# --------------------------------------------------------------------------- table
#: rule name (as the op registry names it) -> rule function
RULES = {
    **{f"conv{r}d": conv(r) for r in (1, 2, 3)},
    **{f"conv{r}d_transpose": conv_transpose(r) for r in (1, 2, 3)},
    **{f"depthwise_conv{r}d": depthwise_conv(r) for r in (1, 2)},
    **{f"separable_conv{r}d": separable_conv(r) for r in (1, 2)},
    **{f"pool{r}d": pool(r) for r in (1, 2, 3)},
    **{f"global_pool{r}d": global_pool(r) for r in (1, 2, 3)},
    **{f"adaptive_pool{r}d": adaptive_pool(r) for r in (1, 2, 3)},
    **{f"zero_padding{r}d": zero_padding(r) for r in (1, 2, 3)},
    **{f"cropping{r}d": cropping(r) for r in (1, 2, 3)},
    **{f"upsampling{r}d": upsampling(r) for r in (1, 2, 3)},
    "dense": dense,
    "embedding": embedding,
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "prelu": prelu,
    "same_shape": same_shape,
    "along_axes": along_axes,
    "flatten": flatten,
    "reshape": reshape,
    "permute": permute,
    "repeat_vector": repeat_vector,
    "resizing": resizing,
    "crop_to": crop_to,
    "concatenate": concatenate,
    "elementwise_merge": elementwise_merge,
    "subtract": subtract,
}
