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
    shares: str | None = None  # the layer this row applies again, with its weights (`share:`)


@dataclass
class FeatureInfo:
    """One feature map of a backbone, like timm's ``feature_info``.

    Attributes:
        name: the layer's name.
        channels: its last dimension (None if of any size).
        reduction: how many input pixels one feature pixel steps over (timm's "reduction"):
            the cumulative stride, i.e. the receptive field's jump (4, 8, 16, 32 for
            ResNet-50's stages: the input's size over the feature's at 224 or 64, and the same
            at 225 or any size); where no receptive field is known, the input's spatial size
            over the feature's if that divides exactly. A list when it differs between spatial
            dimensions; None when the feature has no spatial dimension or neither is known.
        shape: its output shape without the batch dimension.
    """

    name: str
    channels: int | None
    reduction: int | float | list | None
    shape: tuple

    def to_dict(self) -> dict:
        return {"name": self.name, "channels": self.channels, "reduction": self.reduction,
                "shape": [None, *self.shape]}


@dataclass
class Analysis:
    name: str
    layers: list[LayerRow] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    features: list[FeatureInfo] = field(default_factory=list)  # the backbone's, when asked for

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
    def shared_layers(self) -> dict[str, int]:
        """Each layer applied more than once (``share:``) and how many times it is applied."""
        counts: dict[str, int] = {}
        for r in self.layers:
            if r.shares:
                counts[r.shares] = counts.get(r.shares, 1) + 1
        return counts

    @property
    def fallback_layers(self) -> list[str]:
        return [r.name for r in self.layers if r.fallback]

    def __getitem__(self, name: str) -> LayerRow:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict:
        """The stable JSON form (documented in docs/summary-json.md); ``features`` only when
        features were asked for."""
        out = {
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
                    "shares": r.shares,
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
        if self.features:
            out["features"] = [f.to_dict() for f in self.features]
        return out


def _rf_json(rf):
    if rf is None:
        return None
    if rf == GLOBAL:
        return "global"
    size, jump = rf
    return {"size": list(size), "jump": [int(j) if float(j).is_integer() else j for j in jump]}


def feature_info(graph, names, *, rfs: dict | None = None) -> list[FeatureInfo]:
    """For each layer of ``names`` (checked to exist by the caller, e.g.
    :meth:`archspec.spec.Spec.feature_names`): its channels, reduction and shape, from the
    analyzed shapes, without TensorFlow. ``graph``: a Graph, or a Spec (its ``.graph``).

    >>> import archspec
    >>> spec = archspec.load("resnet50", input_shape=[64, 64, 3])              # doctest: +SKIP
    >>> [f.reduction for f in feature_info(spec, ["conv2_block3_out", "conv5_block3_out"])]  # doctest: +SKIP
    [4, 32]
    """
    graph = getattr(graph, "graph", graph)
    rfs = receptive_fields(graph) if rfs is None else rfs
    infos = []
    for name in names:
        shape = tuple(graph[name].shape)
        infos.append(FeatureInfo(name=name, channels=shape[-1] if shape else None,
                                 reduction=_reduction(graph, shape, rfs.get(name)), shape=shape))
    return infos


def _reduction(graph, shape: tuple, rf):
    spatial = shape[:-1]
    if not spatial:
        return None
    per_dim = None
    if isinstance(rf, tuple) and len(rf[1]) == len(spatial):  # the cumulative stride
        per_dim = [int(j) if float(j).is_integer() else j for j in rf[1]]
    else:  # no receptive field known: the input's size over the feature's, where it divides
        source = next((tuple(graph[i].shape)[:-1] for i in graph.inputs if len(graph[i].shape) == len(shape)), None)
        if (source and None not in source and None not in spatial
                and all(s and i % s == 0 for i, s in zip(source, spatial))):
            per_dim = [i // s for i, s in zip(source, spatial)]
    if per_dim is None:
        return None
    return per_dim[0] if len(set(per_dim)) == 1 else per_dim


def analyze_graph(graph: Graph, *, limits: bool = True, features=None) -> Analysis:
    """The graph's analysis; with ``limits`` (the default), a located SpecError for a model
    past the size limits of :mod:`archspec.analyze.limits` (parameters, activations, layers).
    ``features``: layer names (checked) whose :class:`FeatureInfo` the analysis reports."""
    if limits:
        from archspec.analyze.limits import check_limits

        check_limits(graph)
    rfs = receptive_fields(graph)
    analysis = Analysis(name=graph.name, inputs=list(graph.inputs), outputs=list(graph.outputs),
                        features=feature_info(graph, features or [], rfs=rfs))
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
                shares=node.shares,
            )
        )
    return analysis
