"""A spec document: one YAML file plus what it `extends` and the block files it `use`s.

Merge rules for ``extends: base.yaml`` (the child is the file that says ``extends``):

- ``params``, ``blocks`` and ``train``: merged key by key, the child's entry replacing the
  base's entry of the same name (a block is replaced whole, not merged);
- ``use``: the base's files, then the child's;
- every other key (``name``, ``description``, ``reference``, ``input``/``inputs``, ``body``,
  ``outputs``): the child's value replaces the base's when the child has the key.

So a variant changes a base by its parameters (``vgg19`` sets ``convs``) or by replacing a block
(a CIFAR head replaces the ``head`` block of an ImageNet net). ``use: [file, ...]`` imports the
``blocks`` of other files (their own ``use`` included); blocks defined in the file itself win over
imported ones. Paths are relative to the file that names them. Cycles are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from archspec.errors import Loc, SpecError, did_you_mean
from archspec.spec.load import YDict, YList, load_yaml, read_yaml

TOP_KEYS = (
    "name", "description", "reference", "params", "use", "extends", "blocks",
    "input", "inputs", "body", "outputs", "train",
)
MERGED_KEYS = ("params", "blocks", "train")
MAX_DEPTH = 32


@dataclass
class Document:
    """A top-level mapping with `extends` applied, and all blocks visible to it."""

    path: str
    data: YDict
    blocks: dict[str, YDict] = field(default_factory=dict)


def _check_top(data, file: str) -> YDict:
    if not isinstance(data, YDict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        extra = {} if isinstance(data, (YDict, YList)) else {"received": data}
        raise SpecError(
            f"the top level of a spec must be a mapping (keys such as `body:`), got {kind}",
            getattr(data, "loc", Loc(file, 1, 1)),
            hint="a spec looks like `name: ...`, `input: {shape: [...]}`, `body: [...]`",
            **extra,
        )
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(
                f"unknown top-level key `{key}`",
                data.key_loc(key).at(str(key)),
                hint=did_you_mean(key, TOP_KEYS) or "top-level keys: " + ", ".join(TOP_KEYS),
            )
    return data


def _relative(base_file: str, target, loc: Loc) -> Path:
    if not isinstance(target, str) or not target:
        raise SpecError("a file path (string) is needed here", loc, received=target)
    path = Path(target)
    if not path.is_absolute():
        base = Path(base_file).parent if base_file and not base_file.startswith("<") else Path.cwd()
        path = base / path
    return path.resolve()


def load_document(source: str | Path, *, text: str | None = None, _stack: tuple = ()) -> Document:
    """Read a spec file (or ``text``), apply ``extends`` and collect the blocks it ``use``s."""
    if text is not None:
        data = load_yaml(text, str(source))
        file = str(source)
    else:
        file = str(source)
        data = read_yaml(source)
    data = _check_top(data, file)
    blocks: dict[str, YDict] = {}
    merged = data

    if "extends" in data:
        loc = data.value_loc("extends").at("extends")
        base_path = _relative(file, data["extends"], loc)
        base = _load_linked(base_path, loc, _stack + (file,))
        _check_new_params(base, data)
        merged = merge(base.data, data)
        blocks.update(base.blocks)

    uses = data.get("use", YList())
    if isinstance(uses, str):
        uses = YList([uses])
        uses.loc = data.value_loc("use")
    if not isinstance(uses, list):
        raise SpecError("`use` must be a list of file paths", data.value_loc("use").at("use"), received=uses)
    for i, target in enumerate(uses):
        loc = (uses.item_loc(i) if isinstance(uses, YList) else data.value_loc("use")).at(f"use[{i}]")
        lib = _load_linked(_relative(file, target, loc), loc, _stack + (file,))
        blocks.update(lib.blocks)

    own = merged.get("blocks", YDict())
    if not isinstance(own, dict):
        raise SpecError("`blocks` must be a mapping of block names to definitions",
                        merged.value_loc("blocks").at("blocks"), received=own)
    blocks.update(own)
    return Document(path=file, data=merged, blocks=blocks)


def _check_new_params(base: "Document", child: YDict) -> None:
    """A child spec sets its base's parameters; a parameter the base lacks is a typo (refused,
    with "did you mean") unless the child itself uses it (``$name`` or ``${... name ...}``
    outside ``params``, e.g. in a block it replaces)."""
    params, inherited = child.get("params"), base.data.get("params")
    if not isinstance(params, YDict) or not isinstance(inherited, dict):
        return
    used = " ".join(_strings({k: v for k, v in child.items() if k != "params"}))
    for name in params:
        if name in inherited or re.search(rf"\$(\{{[^}}]*)?\b{re.escape(str(name))}\b", used):
            continue
        raise SpecError(
            f"`{name}` is not a parameter of the base spec {Path(base.path).name}, and this spec "
            "does not use it", params.key_loc(name).at(f"params.{name}"),
            hint=did_you_mean(str(name), [str(k) for k in inherited])
            or "parameters of the base: " + ", ".join(map(str, inherited)))


def _strings(value):
    """Every string in a YAML value (keys and values, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _load_linked(path: Path, loc: Loc, stack: tuple) -> Document:
    if str(path) in stack or len(stack) > MAX_DEPTH:
        chain = " -> ".join(Path(p).name for p in stack + (str(path),))
        raise SpecError("files include each other in a cycle", loc, received=chain,
                        hint="a file may not (indirectly) `extends` or `use` itself")
    if not path.is_file():
        raise SpecError("file not found", loc, received=str(path))
    return load_document(path, _stack=stack)


def merge(base: YDict, child: YDict) -> YDict:
    """Apply the `extends` merge rules (see the module docstring)."""
    out = YDict()
    out.loc = child.loc
    for src in (base, child):
        for key in src:
            if key == "extends":
                continue
            if key in MERGED_KEYS and key in out and isinstance(out[key], dict) and isinstance(src[key], dict):
                value = YDict()
                value.loc = src[key].loc
                for part in (out[key], src[key]):
                    for k in part:
                        value[k] = part[k]
                        if isinstance(part, YDict):
                            value.key_locs[k] = part.key_loc(k)
                            value.value_locs[k] = part.value_loc(k)
            elif key == "use" and key in out:
                value = YList(list(_as_list(out[key])) + list(_as_list(src[key])))
                value.loc = src.value_loc(key)
            else:
                value = src[key]
            out[key] = value
            out.key_locs[key] = src.key_loc(key)
            out.value_locs[key] = src.value_loc(key)
    return out


def _as_list(value):
    return value if isinstance(value, list) else [value]
