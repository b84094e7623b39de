"""The spec language, pure Python: load, validate and resolve a YAML architecture.

>>> from archspec.spec import loads
>>> spec = loads('''
... name: tiny
... input: {shape: [28, 28, 1]}
... body:
...   - conv2d: {filters: 8, kernel_size: 3}
...   - flatten
...   - dense: {units: 10, activation: softmax}
... ''')
>>> spec.output_shapes
[(10,)]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archspec.errors import Loc, SpecError
from archspec.ir import Graph
from archspec.spec.document import Document, load_document
from archspec.spec.resolve import Resolver
from archspec.spec.space import Chooser, default_chooser

__all__ = ["Spec", "as_spec", "load", "loads", "SpecError"]


class Spec:
    """A validated, resolved spec: its graph IR, parameters and train section.

    Attributes:
        name: the model name.
        path: the file it was read from (or ``<string>``).
        params: every parameter, with overrides applied.
        graph: the resolved :class:`~archspec.ir.Graph` (layers with analyzed shapes).
        train: the ``train`` section (a dict with source locations), or None.
        spaces: the search spaces met while resolving (their defaults, or a tuner's choices).
    """

    def __init__(self, document: Document, overrides: dict, chooser: Chooser = default_chooser,
                 override_loc: Loc | None = None):
        self.document = document
        self.overrides = dict(overrides)
        resolved = Resolver(document, overrides, chooser=chooser, override_loc=override_loc).run()
        self.graph: Graph = resolved.graph
        self.params: dict = resolved.params
        self.train = resolved.train
        self.spaces = resolved.spaces
        self.init: dict | None = resolved.init          # init: {weights, strict, adapt_input}
        self.features: list | None = resolved.features  # features: [layer names]
        self.name: str = self.graph.name
        self.path: str = document.path

    def __repr__(self) -> str:
        return f"<Spec {self.name!r} from {self.path}: {len(self.graph.layers)} layers>"

    @property
    def input_shapes(self) -> list[tuple]:
        return [tuple(self.graph[n].shape) for n in self.graph.inputs]

    @property
    def output_shapes(self) -> list[tuple]:
        return [tuple(self.graph[n].shape) for n in self.graph.outputs]

    def with_params(self, chooser: Chooser | None = None, **params: Any) -> "Spec":
        """The same document resolved again with more parameter overrides."""
        return Spec(self.document, {**self.overrides, **params}, chooser or default_chooser)

    def analyze(self, *, limits: bool = True, features=None, features_loc: Loc | None = None):
        """Per-layer shapes, parameters, MACs, receptive fields (see :mod:`archspec.analyze`),
        and the backbone features' channels and reductions (``features``, a list of layer
        names, else the spec's ``features:``; checked, with "did you mean" at ``features_loc``).

        Raises a located SpecError for a model past the size limits (``limits=False`` lifts
        them, see :mod:`archspec.analyze.limits`) or a search space at a layer argument with a
        value that argument refuses (always)."""
        from archspec.analyze import analyze_graph
        from archspec.spec.space import check_space_values

        check_space_values(self.spaces, self.graph)
        names = self.feature_names(features, features_loc)
        return analyze_graph(self.graph, limits=limits, features=names)

    def feature_names(self, names=None, loc: Loc | None = None) -> list | None:
        """The layer names a backbone returns: ``names`` (a list, or one name) checked to exist
        in this graph (SpecError at ``loc`` with "did you mean" otherwise), else the spec's
        ``features:`` (None when neither gives any); ``names=False``: None, the whole model
        even where the spec has ``features:``."""
        if names is False:
            return None
        if names is None:
            return self.features
        from archspec.spec.resolve import check_features

        return check_features(list(names) if isinstance(names, tuple) else names,
                              loc or Loc("<arguments>", path="features"), self.graph)

    def feature_info(self, names=None, loc: Loc | None = None) -> list:
        """Per feature (``names``, else the spec's ``features:``): name, channels, reduction and
        output shape, like timm's ``feature_info`` (see :func:`archspec.analyze.feature_info`)."""
        from archspec.analyze import feature_info

        return feature_info(self.graph, self.feature_names(names, loc) or [])

    def to_yaml(self) -> str:
        """The fully resolved spec as YAML: one step per layer, every value concrete."""
        from archspec.spec.export import resolved_yaml

        return resolved_yaml(self)


def load(path: str | Path, *, chooser: Chooser = default_chooser, include_path=(), **params: Any) -> Spec:
    """Read, validate and resolve the spec file at ``path``; ``params`` override its `params`.

    ``path`` may also be a zoo name (``"resnet50"``, what ``archspec zoo`` lists) where no file of
    that name exists: an existing path is always a path
    (:func:`~archspec.spec.document.zoo_lookup`).

    ``include_path``: folders (besides the spec's own folder and the zoo) that `extends` and
    `use` may name files in.

    Raises:
        SpecError: for any mistake in the file or the parameters, with its location.
    """
    return Spec(load_document(path, include_path=include_path), params, chooser, Loc("<params>"))


def loads(text: str, *, file: str = "<string>", chooser: Chooser = default_chooser, include_path=(),
          **params: Any) -> Spec:
    """Like :func:`load`, from YAML text (relative `use`/`extends` paths: from the cwd)."""
    return Spec(load_document(file, text=text, include_path=include_path), params, chooser, Loc("<params>"))


def as_spec(spec: Spec | str | Path, *, include_path=(), **params: Any) -> Spec:
    """``spec`` itself (with ``params`` applied), or the spec file at that path (or of that zoo
    name, see :func:`load`), loaded: the one place where "a Spec or a path" becomes a Spec
    (build, fit, search and the tools take both).

    >>> as_spec("architectures/lenet5.yaml", classes=5).output_shapes   # doctest: +SKIP
    [(5,)]
    >>> as_spec("lenet5", classes=5).output_shapes                      # doctest: +SKIP
    [(5,)]
    """
    if isinstance(spec, Spec):
        return spec.with_params(**params) if params else spec
    return load(spec, include_path=include_path, **params)
