"""Build a resolved spec into a plain Keras functional model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec._recursion import deep_recursion
from archspec.errors import SpecError
from archspec.ops import get_op
from archspec.spec import Spec, as_spec
from archspec._env import quiet_tensorflow


def build(spec: Spec | str | Path, **params: Any):
    """Build ``spec`` (a :class:`Spec` or a path) into a ``keras.Model``.

    Layer names are the spec's (explicit ``name:`` or deterministic ``conv2d``, ``conv2d_1``...),
    so weights load by name. ``params`` override the spec's parameters.

    Example:
        >>> import archspec
        >>> model = archspec.build("architectures/vgg16.yaml", classes=10)  # doctest: +SKIP
        >>> model.output_shape                                               # doctest: +SKIP
        (None, 10)
    """
    spec = as_spec(spec, **params)
    quiet_tensorflow()
    import keras

    import archspec.layers  # noqa: F401  (registers archspec's custom layers for saving)

    graph = spec.graph
    with deep_recursion(len(graph.nodes)):  # Keras walks the graph recursively (archspec/_recursion.py)
        tensors: dict[str, Any] = {}
        for node in graph.nodes:
            if node.op == "input":
                tensors[node.name] = keras.Input(name=node.name, **node.args)
                continue
            op = get_op(node.op)
            try:
                layer = op.keras_class()(name=node.name, **node.args)
                inputs = [tensors[i] for i in node.inputs]
                tensors[node.name] = layer(inputs if op.multi_input else inputs[0])
            except SpecError:
                raise
            except (TypeError, ValueError) as exc:
                raise SpecError(f"Keras rejected `{node.name}` ({op.cls}): {exc}", node.loc.at(node.loc.path),
                                received=node.args) from None
        outputs = [tensors[n] for n in graph.outputs]
        inputs = [tensors[n] for n in graph.inputs]
        return keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,
            outputs=outputs[0] if len(outputs) == 1 else outputs,
            name=spec.name,
        )
