"""The analyzer: per-layer shapes, parameters, MACs, receptive field and memory, without TF.

>>> import archspec
>>> a = archspec.summary("architectures/lenet5.yaml")   # doctest: +SKIP
>>> a.total_params                                       # doctest: +SKIP
61706
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archspec.analyze.receptive import GLOBAL, receptive_fields
from archspec.ir import Graph

BYTES_PER_VALUE = 4  # float32 activations and weights


@dataclass
class LayerRow:
    name: str
    op: str
    output_shape: tuple
    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int | None
    receptive_field: object  # ((size...), (jump...)), "global" or None
    activation_bytes: int | None
    source: str
    inputs: list
    fallback: bool = False


@dataclass
class Analysis:
    name: str
    layers: list[LayerRow] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(r.non_trainable_params for r in self.layers)

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one sample (FLOPs = 2 x MACs); unknown layers count 0 (see
        :attr:`macs_depend_on_input_size`)."""
        return sum(r.macs or 0 for r in self.layers)

    @property
    def activation_bytes(self) -> int:
        """The layers' outputs for one sample, float32; unknown sizes count 0 (see
        :attr:`memory_depends_on_input_size`)."""
        return sum(r.activation_bytes or 0 for r in self.layers)

    @property
    def macs_depend_on_input_size(self) -> bool:
        """Whether a layer's MACs are unknown because a dimension is (an input of any size):
        :attr:`macs` then counts only the other layers. Layers analyzed by Keras, whose MACs are
        unknown whatever the size, do not count here."""
        return any(r.macs is None and not r.fallback for r in self.layers)

    @property
    def memory_depends_on_input_size(self) -> bool:
        """Whether a layer's output has a dimension of any size (``None``)."""
        return any(r.activation_bytes is None for r in self.layers)

    @property
    def fallback_layers(self) -> list[str]:
        return [r.name for r in self.layers if r.fallback]

    def __getitem__(self, name: str) -> LayerRow:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict:
        """The stable JSON form (documented in docs/summary-json.md)."""
        return {
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "layers": [
                {
                    "name": r.name,
                    "op": r.op,
                    "inputs": r.inputs,
                    "output_shape": [None, *r.output_shape],
                    "params": r.params,
                    "trainable_params": r.trainable_params,
                    "non_trainable_params": r.non_trainable_params,
                    "macs": r.macs,
                    "receptive_field": _rf_json(r.receptive_field),
                    "activation_bytes": r.activation_bytes,
                    "analyzed_by": "keras" if r.fallback else "archspec",
                    "source": r.source,
                }
                for r in self.layers
            ],
            "total": {
                "params": self.total_params,
                "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params,
                # null, not a partial sum, where they depend on the input size
                "macs": None if self.macs_depend_on_input_size else self.macs,
                "flops": None if self.macs_depend_on_input_size else 2 * self.macs,
                "activation_bytes": None if self.memory_depends_on_input_size else self.activation_bytes,
                "param_bytes": self.total_params * BYTES_PER_VALUE,
            },
        }


def _rf_json(rf):
    if rf is None:
        return None
    if rf == GLOBAL:
        return "global"
    size, jump = rf
    return {"size": list(size), "jump": [int(j) if float(j).is_integer() else j for j in jump]}


def analyze_graph(graph: Graph, *, limits: bool = True) -> Analysis:
    """The graph's analysis; with ``limits`` (the default), a located SpecError for a model
    past the size limits of :mod:`archspec.analyze.limits` (parameters, activations, layers)."""
    if limits:
        from archspec.analyze.limits import check_limits

        check_limits(graph)
    rfs = receptive_fields(graph)
    analysis = Analysis(name=graph.name, inputs=list(graph.inputs), outputs=list(graph.outputs))
    for node in graph.nodes:
        res = node.result
        size = 1
        for v in node.shape:
            size = None if (v is None or size is None) else size * v
        analysis.layers.append(
            LayerRow(
                name=node.name,
                op=node.op,
                output_shape=tuple(node.shape),
                params=res.params + res.non_trainable,
                trainable_params=res.params,
                non_trainable_params=res.non_trainable,
                macs=res.macs,
                receptive_field=rfs.get(node.name),
                activation_bytes=None if size is None else size * BYTES_PER_VALUE,
                source=f"{node.loc.file}:{node.loc.line}:{node.loc.col}",
                inputs=list(node.inputs),
                fallback=node.fallback,
            )
        )
    return analysis
