"""Size limits: what ``validate``/``summary``/``build`` accept, set from what can be built.

The analyzer counts with Python integers, so a layer of 10**12 filters analyzes fine; Keras
would then try to allocate 40 TB. These limits refuse such a spec at the layer that crosses
them, with a located :class:`~archspec.errors.SpecError`. Each is far above the zoo (the
largest: vgg19, 143.7 M parameters, 102.8 M in one layer; resnet152, 316 MB of activations per
sample, 517 layers) and each can be lifted deliberately: ``spec.analyze(limits=False)``,
``archspec.summary(..., limits=False)`` or ``--no-limits`` on the command line.
"""

from __future__ import annotations

from archspec.errors import SpecError
from archspec.ir import Graph

BYTES_PER_VALUE = 4  # float32, as in archspec.analyze

#: One layer's weights. TensorFlow indexes tensors with int32 in places (GPU gather and
#: scatter kernels, ``tf.size``'s default dtype, some XLA lowerings), so a layer whose weights
#: pass 2**31 - 1 values is where kernels start to fail; it is also 8 GiB of float32 in one layer.
MAX_LAYER_PARAMS = 2**31 - 1
#: The whole model's weights: 8 GB of float32; training with Adam keeps weights, gradients and
#: two moments, 4x that (32 GB), which still fits one large accelerator or a 64 GiB host.
MAX_TOTAL_PARAMS = 2 * 10**9
#: The float32 outputs of every layer for one sample, all of which training keeps for the
#: backward pass: 16 GiB per sample is already a batch of 8 filling a 141 GiB accelerator.
MAX_ACTIVATION_BYTES = 16 * 2**30
#: Layers (model inputs not counted). Keras builds a functional model layer by layer, walking
#: the graph recursively: a 3,000-layer chain of small dense layers took 45 s on 2 shared CPU
#: cores (Python's recursion limit raised), a 10,000-layer one did not finish in 4 minutes; the
#: deepest published networks have a few thousand layers (ResNet-1001 with its batch norms and
#: activations). The resolver's own guard (``archspec.spec.resolve.MAX_NODES``, 20,000 nodes)
#: stays even without limits.
MAX_LAYERS = 10_000

LIFT = "lift the limits with --no-limits (CLI) or limits=False (Python) if you mean it"


def check_limits(graph: Graph) -> None:
    """Raise a located SpecError at the first layer that passes one of the limits."""
    total = 0
    activations = 0
    layers = 0
    for node in graph.nodes:
        res = node.result
        if node.op != "input":
            layers += 1
            if layers > MAX_LAYERS:
                raise SpecError(f"the model has more than {MAX_LAYERS:,} layers (the limit)", node.loc,
                                hint=f"check `repeat: times` and block calls; {LIFT}")
        params = res.params + res.non_trainable
        if params > MAX_LAYER_PARAMS:
            raise SpecError(f"layer `{node.name}` has {params:,} parameters, more than the limit of "
                            f"{MAX_LAYER_PARAMS:,} (2**31 - 1) for one layer", node.loc,
                            received=node.args,
                            hint=f"TensorFlow indexes a layer's weights with int32; {LIFT}")
        total += params
        if total > MAX_TOTAL_PARAMS:
            raise SpecError(f"the model passes the limit of {MAX_TOTAL_PARAMS:,} parameters in total at "
                            f"layer `{node.name}` ({total:,} so far)", node.loc,
                            hint=f"8 GB of float32 weights, 32 GB to train with Adam; {LIFT}")
        size = 1
        for v in node.shape:
            size = None if (v is None or size is None) else size * v
        if size is not None:
            activations += size * BYTES_PER_VALUE
            if activations > MAX_ACTIVATION_BYTES:
                raise SpecError(f"the activations of one sample pass the limit of 16 GiB at layer "
                                f"`{node.name}` ({activations:,} bytes so far)", node.loc,
                                received=tuple(node.shape),
                                hint=f"training keeps every layer's output for one sample; {LIFT}")

