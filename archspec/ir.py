"""The graph IR: what a resolved spec is. Pure data, no Keras.

A :class:`Graph` is a list of :class:`Node` in topological order. Each node is one Keras layer
(or a model input): its unique name, its op, its keyword arguments, the names of the nodes it
reads, where it was written in the source, and what the analyzer found (shape, parameters, MACs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.errors import Loc

Shape = tuple  # tuple[int | None, ...], without the batch dimension


def format_shape(shape: Shape, batch: str = "None") -> str:
    """A shape without its batch axis, written with it as Keras prints it: ``(None, 28, 28, 6)``
    (``batch="batch"`` for messages: ``(batch, 28, 28, 6)``); a scalar per sample is ``(None,)``."""
    return "(" + ", ".join([batch] + ["None" if v is None else str(v) for v in shape]) + ("," if not shape else "") + ")"


@dataclass
class Result:
    """What a layer does to shapes, and what it costs.

    Attributes:
        shape: output shape without the batch dimension.
        params: trainable parameters.
        non_trainable: non-trainable parameters (e.g. batch-norm moving statistics).
        macs: multiply-accumulates for one sample (not FLOPs: FLOPs = 2 x MACs).
        window: for the receptive field, the effective (dilated) kernel size per spatial
            dimension of a sliding-window op (conv, pool); None when the op does not slide.
        strides: the window's strides per spatial dimension (with ``window``).
        rf: ``"window"`` (uses window/strides), ``"global"`` (every output sees the whole
            input: dense on flattened, global pooling), ``"same"`` (element-wise / merge:
            keeps the largest input receptive field), or ``"up"`` (transposed/upsampling:
            jump divided by ``strides``).
    """

    shape: Shape
    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    window: tuple | None = None
    strides: tuple | None = None
    rf: str = "same"


@dataclass
class Node:
    name: str
    op: str  # canonical op name ("conv2d"), or "input"
    args: dict[str, Any]
    inputs: list[str]
    loc: Loc
    result: Result
    fallback: bool = False  # analyzed by Keras (no pure-Python rule)
    scope: str = ""  # dotted path of the block calls it was made in, for grouping
    shares: str | None = None  # the layer this node applies again (its weights; archspec/spec/sharing.py)

    @property
    def shape(self) -> tuple:
        return self.result.shape


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._index: dict[str, Node] = {n.name: n for n in self.nodes}

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self._index[node.name] = node
        return node

    def __getitem__(self, name: str) -> Node:
        return self._index[name]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def layers(self) -> list[Node]:
        """The nodes that are layers (not model inputs)."""
        return [n for n in self.nodes if n.op != "input"]
