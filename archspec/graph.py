"""The graph IR: what a resolved spec is. Pure data, no Keras.

A :class:`Graph` is a list of :class:`Node` in topological order. Each node is one Keras layer
(or a model input): its unique name, its op, its keyword arguments, the names of the nodes it
reads, where it was written in the source, and what the analyzer found (shape, parameters, MACs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archspec.analyze.base import Result
from archspec.errors import Loc


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
