"""Freeze a trial: the source spec with each `{hp: ...}` replaced by its chosen value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from archspec.errors import Loc, SpecError
from archspec.spec import Spec
from archspec.spec.space import default_chooser, parse_space
from archspec.spec.load import plain

if TYPE_CHECKING:  # no keras-tuner import at run time
    from archspec.tune.hypermodel import HyperModel


def freeze(hypermodel: HyperModel, values: dict, *, header: str = "") -> tuple[str, Spec]:
    """The spec with every space replaced by its value in ``values`` (a trial's hp values).

    Source-level when possible: the original file with each ``{hp: ...}`` mapping replaced by
    the chosen value in place (comments, templates and repeats stay as written), checked to
    resolve to the same graph; otherwise the fully resolved YAML (``Spec.to_yaml``). A Hyperband
    trial's ``tuner/epochs`` becomes ``train.epochs``. Returns ``(text, resolved spec)``.
    """
    spec, taken = hypermodel.resolve_values(values)
    epochs = values.get("tuner/epochs")
    try:
        text = _freeze_source(hypermodel.spec, spec, taken, epochs)
    except _CannotFreeze:
        text = None
    if text is None:
        if epochs is not None and spec.train is not None:
            spec.train["epochs"] = int(epochs)
        text = spec.to_yaml()
    banner = f"# frozen by `archspec tune` from {hypermodel.spec.path}" + (f" ({header})" if header else "")
    return banner + "\n" + text, spec


class _CannotFreeze(Exception):
    pass


def _freeze_source(source: Spec, chosen: Spec, taken: dict, epochs) -> str:
    """The source text with each space replaced by its value in ``taken`` (a space the resolved
    spec did not meet, e.g. under another choice: its default); raises _CannotFreeze."""
    import yaml

    path = Path(source.path)
    if not path.is_file() or "use" in source.document.data or "extends" in source.document.data:
        raise _CannotFreeze("the spec includes other files")
    text = path.read_text()
    by_loc = {}
    for s in chosen.spaces:
        if s.loc is None or Path(s.loc.file).resolve() != path.resolve():
            raise _CannotFreeze("a space lives in another file")
        by_loc[(s.loc.line, s.loc.col)] = s
    edits = []
    done = []
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def walk(node, parent_key=None, trail=()):
        if isinstance(node, yaml.MappingNode):
            keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
            if "hp" in keys:
                at = (node.start_mark.line + 1, node.start_mark.column + 1)
                space = by_loc.get(at)
                value = taken[space.name] if space else _default(text, node, path)
                if trail == ("train", "epochs") and epochs is not None:
                    value = int(epochs)
                    done.append(trail)
                edits.append((node.start_mark.index, _end_index(text, node), _flow(value)))
                return
            for k, v in node.value:
                walk(v, k.value if isinstance(k, yaml.ScalarNode) else None, trail + (k.value,))
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                walk(v, None, trail)
        elif isinstance(node, yaml.ScalarNode) and trail == ("train", "epochs") and epochs is not None:
            edits.append((node.start_mark.index, node.end_mark.index, str(int(epochs))))
            done.append(trail)

    walk(root)
    if epochs is not None and chosen.train is not None and not done:
        raise _CannotFreeze("no train.epochs to set")
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    _check_frozen(text, path, chosen, epochs)
    return text


def _end_index(text: str, node) -> int:
    """End of a mapping node's own text (block mappings end at the next token: trim back)."""
    end = node.end_mark.index
    if node.flow_style:
        return end
    while end > node.start_mark.index and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def _default(text: str, node, path: Path):
    """The default of a space the resolved spec did not meet, as the spec language takes it."""
    import yaml

    raw = yaml.safe_load(text[node.start_mark.index:_end_index(text, node)]) or {}
    loc = Loc(str(path), node.start_mark.line + 1, node.start_mark.column + 1)
    try:
        return default_chooser(parse_space(raw, "", loc))
    except SpecError as err:  # e.g. an expression in the space, evaluated only when met
        raise _CannotFreeze(str(err)) from None


def _flow(value) -> str:
    import yaml

    return yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]


def _check_frozen(text: str, path: Path, chosen: Spec, epochs) -> None:
    from archspec.spec.document import load_document

    def no_space(space):
        raise _CannotFreeze(f"space `{space.name}` left in the frozen file")

    try:
        frozen = Spec(load_document(str(path), text=text), chosen.overrides, no_space)
    except SpecError as err:
        raise _CannotFreeze(str(err)) from None
    same = ([(n.name, n.op, n.args, n.inputs) for n in frozen.graph.nodes]
            == [(n.name, n.op, n.args, n.inputs) for n in chosen.graph.nodes])
    train = dict(chosen.train or {})
    if epochs is not None and train:
        train["epochs"] = int(epochs)
    if not same or plain(frozen.train) != plain(train or chosen.train):
        raise _CannotFreeze("the frozen file resolves differently")

