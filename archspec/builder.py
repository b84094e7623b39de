"""Build a resolved spec into a plain Keras functional model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec._recursion import deep_recursion
from archspec.errors import SpecError
from archspec.ops import get_op
from archspec.spec import Spec, as_spec
from archspec._env import quiet_tensorflow


def build(spec: Spec | str | Path, features=None, **params: Any):
    """Build ``spec`` (a :class:`Spec` or a path) into a ``keras.Model``.

    Layer names are the spec's (explicit ``name:`` or deterministic ``conv2d``, ``conv2d_1``...),
    so weights load by name. ``params`` override the spec's parameters.

    ``features`` (layer names; else the spec's ``features:``) makes a backbone: a model named
    ``<name>_features`` whose outputs are those layers' outputs, in that order, without the
    layers after them. A name that is not a layer raises SpecError with "did you mean".

    Example:
        >>> import archspec
        >>> model = archspec.build("architectures/vgg16.yaml", classes=10)  # doctest: +SKIP
        >>> model.output_shape                                               # doctest: +SKIP
        (None, 10)
    """
    spec = as_spec(spec, **params)
    names = spec.feature_names(features)  # checked before Keras is imported
    quiet_tensorflow()
    import keras

    import archspec.layers  # noqa: F401  (registers archspec's custom layers for saving)

    graph = spec.graph
    with deep_recursion(len(graph.nodes)):  # Keras walks the graph recursively (archspec/_recursion.py)
        tensors: dict[str, Any] = {}
        layers: dict[str, Any] = {}  # name -> Keras layer, for the nodes that apply it again (`share:`)
        wanted = set(names or graph.outputs)
        for node in graph.nodes:
            if not wanted - tensors.keys():
                break  # a backbone: the layers after its last feature are not built
            if node.op == "input":
                tensors[node.name] = keras.Input(name=node.name, **node.args)
                continue
            op = get_op(node.op)
            try:
                made = {k: v for k, v in node.args.items() if k not in op.call_args}
                if node.shares:
                    layer = layers[node.shares]
                else:
                    layer = layers[node.name] = op.keras_class()(name=node.name, **made)
                inputs = [tensors[i] for i in node.inputs]
                call = {k: v for k, v in node.args.items() if k in op.call_args}
                tensors[node.name] = layer(inputs if op.multi_input else inputs[0], **call)
            except SpecError:
                raise
            except (TypeError, ValueError) as exc:
                raise SpecError(f"Keras rejected `{node.name}` ({op.cls}): {exc}", node.loc.at(node.loc.path),
                                received=node.args) from None
        outputs = [tensors[n] for n in (names or graph.outputs)]
        inputs = [tensors[n] for n in graph.inputs if n in tensors]
        return keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,
            outputs=outputs[0] if len(outputs) == 1 and not names else outputs,
            name=f"{spec.name}_features" if names else spec.name,
        )
