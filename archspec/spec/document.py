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

Includes are confined: after symlinks are resolved, an included file must lie in the folder of
the top-level spec (or below it), in the zoo (:data:`ZOO`), or under a root the user names
(``include_path=[...]``, ``--include-path DIR``). An error inside an included file keeps its own
location and gains a trace line per include ("used by net.yaml:2:7"), innermost first. Only
regular files are read, and nothing of a file that is not a spec is echoed.

The top-level spec may also be named by its zoo name (:func:`zoo_lookup`): ``resnet50`` is the
zoo's ``resnet50.yaml`` wherever no file ``resnet50`` exists.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from archspec.errors import Loc, SpecError, did_you_mean
from archspec.spec.load import MAX_BYTES, YDict, YList, load_yaml, read_yaml

TOP_KEYS = (
    "name", "description", "reference", "params", "use", "extends", "blocks",
    "input", "inputs", "body", "outputs", "train", "init", "features",
)
MERGED_KEYS = ("params", "blocks", "train")
MAX_DEPTH = 32


def _find_zoo() -> Path:
    """The zoo's folder: ``archspec/zoo/`` where archspec is installed from a wheel
    (``pyproject.toml`` maps the package ``archspec.zoo`` onto ``architectures/``), else the
    checkout's ``architectures/`` (a source tree, editable install or not). A path, not
    ``importlib.resources.files("archspec.zoo")``: setuptools' editable finder cannot import that
    mapped folder (it has no ``__init__.py``), and the include checks need a real folder."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "zoo"
    return installed if installed.is_dir() else package.parent / "architectures"


#: The shipped architectures (``architectures/`` in the repository, ``archspec/zoo/`` installed), always includable.
ZOO = _find_zoo()
ZOO_HINT = "`archspec zoo` lists the zoo's specs"
INCLUDE_HINT = "to allow it, name its folder: `--include-path DIR` on the command line, " \
               "`include_path=[DIR]` in Python"
_KINDS = {YList: "a list", list: "a list", str: "a string", bool: "a boolean", int: "a number",
          float: "a number", type(None): "empty (null)"}


def zoo_names() -> list[str]:
    """The zoo's spec names, sorted: ``resnet50`` for ``resnet50.yaml`` (what ``archspec zoo``
    lists; the block files and search specs in its subfolders are not names)."""
    return sorted(path.stem for path in ZOO.glob("*.yaml")) if ZOO.is_dir() else []


def zoo_lookup(source: str | os.PathLike) -> Path | None:
    """The zoo's spec file that ``source`` names, or None when ``source`` is a path to read.

    An existing path is always a path (a local ``./resnet50`` wins). Anything else without a
    folder part is a zoo name, with or without ``.yaml``: ``resnet50``, ``resnet50.yaml``.
    (A local ``resnet50.yaml`` is named ``resnet50.yaml``; ``resnet50`` still means the zoo's.)

    >>> zoo_lookup("lenet5").name                                   # doctest: +SKIP
    'lenet5.yaml'

    Raises:
        SpecError: for a name that is neither a file nor a zoo name, with "did you mean".
    """
    text = os.fspath(source)
    if not _is_name(text) or Path(text).exists():
        return None
    name = text[:-5] if text.endswith(".yaml") else text
    names = zoo_names()
    if name in names:
        return ZOO / f"{name}.yaml"
    close = did_you_mean(name, names, n=3)
    raise SpecError("file not found, and the zoo has no spec of this name", Loc(text), received=text,
                    hint=f"{close} {ZOO_HINT}" if close else ZOO_HINT)


def _is_name(text: str) -> bool:
    """A name has no folder part (``resnet50``; never ``./resnet50`` or ``<string>``)."""
    seps = {"/", os.sep, os.altsep} - {None}
    return bool(text) and text not in (".", "..") and not text.startswith("<") \
        and not any(sep in text for sep in seps)


@dataclass
class Document:
    """A top-level mapping with `extends` applied, and all blocks visible to it."""

    path: str
    data: YDict
    blocks: dict[str, YDict] = field(default_factory=dict)
    roots: tuple = ()  # the folders its includes (and its init weights) may come from


def _check_top(data, file: str, included: bool = False) -> YDict:
    if included:
        _check_is_spec(data, file)
    if not isinstance(data, YDict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        raise SpecError(  # the value itself is never shown: the file may not be a spec at all
            f"the top level of a spec must be a mapping (keys such as `body:`), got {kind}",
            getattr(data, "loc", Loc(file, 1, 1)),
            hint="a spec looks like `name: ...`, `input: {shape: [...]}`, `body: [...]`",
        )
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(
                f"unknown top-level key `{key}`",
                data.key_loc(key).at(str(key)),
                hint=did_you_mean(key, TOP_KEYS) or "top-level keys: " + ", ".join(TOP_KEYS),
            )
    return data


def _check_is_spec(data, file: str) -> None:
    """An included file that is not a spec is named for what it is; its content is never shown."""
    hint = "`extends` and `use` name spec files: YAML mappings with keys such as `blocks:`, `body:`"
    if not isinstance(data, YDict):
        kind = _KINDS.get(type(data), "not a mapping")
        raise SpecError(f"not a YAML spec: the file's top level is {kind}", Loc(file, 1, 1), hint=hint)
    if data and not any(key in TOP_KEYS for key in data):
        raise SpecError("not a YAML spec: none of the file's top-level keys is a spec key",
                        Loc(file, 1, 1), hint=hint)


def _roots_of(file: str, include_path) -> tuple[Path, ...]:
    """The folders includes may come from: the top-level spec's, the zoo, the user's roots."""
    if isinstance(include_path, (str, os.PathLike)):
        include_path = [include_path]
    top = Path(file).parent if file and not file.startswith("<") else Path.cwd()
    roots = [top.resolve()] + ([ZOO] if ZOO.is_dir() else [])
    roots += [Path(root).expanduser().resolve() for root in include_path or ()]
    return tuple(dict.fromkeys(roots))


def _check_allowed(path: Path, target, roots: tuple[Path, ...], loc: Loc) -> None:
    if any(path.is_relative_to(root) for root in roots):
        return
    allowed = ", ".join(map(str, roots))
    shown = "" if str(path) == str(target) else f" ({path})"
    raise SpecError(f"`{loc.path}` names a file outside the allowed folders{shown}; allowed: {allowed}",
                    loc, received=target, hint=INCLUDE_HINT)


def confined_file(target, loc: Loc, roots: tuple[Path, ...]) -> Path:
    """The file ``target`` names, relative to the file ``loc`` is in, checked to lie under
    ``roots`` (as includes are) and to exist: a spec never makes archspec read elsewhere."""
    path = _relative(loc.file, target, loc)
    _check_allowed(path, target, roots, loc)
    if not path.is_file():
        raise SpecError("file not found", loc, received=str(target))
    return path


def _check_file(path: Path, loc: Loc) -> None:
    """A spec file is a regular file of a sane size: folders and devices are never read."""
    if not path.exists():
        raise SpecError("file not found", loc, received=str(path))
    if path.is_dir():
        raise SpecError("is a folder, not a spec file", loc, received=str(path),
                        hint="name a .yaml file in that folder")
    try:
        st = path.stat()
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", loc, received=str(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise SpecError("is not a regular file (a device, pipe or socket); it is not read", loc,
                        received=str(path))
    if st.st_size > MAX_BYTES:
        raise SpecError(f"the file is larger than {MAX_BYTES:,} bytes", loc, received=str(path))


def _relative(base_file: str, target, loc: Loc) -> Path:
    if not isinstance(target, str) or not target:
        raise SpecError("a file path (string) is needed here", loc, received=target)
    path = Path(target)
    if not path.is_absolute():
        base = Path(base_file).parent if base_file and not base_file.startswith("<") else Path.cwd()
        path = base / path
    return path.resolve()


def load_document(source: str | Path, *, text: str | None = None, include_path=(),
                  _stack: tuple = (), _roots: tuple | None = None) -> Document:
    """Read a spec file (or ``text``), apply ``extends`` and collect the blocks it ``use``s.

    ``source``: a path, or a zoo name (:func:`zoo_lookup`: an existing path is always a path).
    Included files must lie under the top-level file's folder, the zoo, or a folder of
    ``include_path`` (checked after resolving symlinks); see the module docstring.
    """
    included = _roots is not None
    if text is None and not included:
        source = zoo_lookup(source) or source
    file = str(source)
    if _roots is None:
        _roots = _roots_of(file, include_path)
    if text is not None:
        data = load_yaml(text, file)
    else:
        data = read_yaml(source)
    data = _check_top(data, file, included)
    here = _key(file)
    blocks: dict[str, YDict] = {}
    merged = data

    if "extends" in data:
        loc = data.value_loc("extends").at("extends")
        base_path = _relative(file, data["extends"], loc)
        base = _load_linked(base_path, data["extends"], loc, _stack + (here,), _roots, "extended")
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
        lib = _load_linked(_relative(file, target, loc), target, loc, _stack + (here,), _roots, "used")
        blocks.update(lib.blocks)

    own = merged.get("blocks", YDict())
    if not isinstance(own, dict):
        raise SpecError("`blocks` must be a mapping of block names to definitions",
                        merged.value_loc("blocks").at("blocks"), received=own)
    blocks.update(own)
    return Document(path=file, data=merged, blocks=blocks, roots=_roots)


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


def _key(file: str) -> str:
    """A file's identity for cycle detection (its resolved path; ``<string>`` as it is)."""
    return file if not file or file.startswith("<") else str(Path(file).resolve())


def _load_linked(path: Path, target, loc: Loc, stack: tuple, roots: tuple, verb: str) -> Document:
    _check_allowed(path, target, roots, loc)
    if str(path) in stack or len(stack) > MAX_DEPTH:
        chain = " -> ".join(Path(p).name for p in stack + (str(path),))
        raise SpecError("files include each other in a cycle", loc, received=chain,
                        hint="a file may not (indirectly) `extends` or `use` itself")
    _check_file(path, loc)
    try:
        return load_document(path, _stack=stack, _roots=roots)
    except SpecError as err:
        err.add_trace(f"{verb} by {loc}")  # innermost first: each enclosing include adds its line
        raise


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
