"""Safe YAML loading that remembers where every key and value came from.

Only the safe YAML subset is accepted (PyYAML's ``SafeLoader``): a Python tag such as
``!!python/object/apply:os.system`` is a located ``SpecError``, never a call. Mappings load as
:class:`YDict` and sequences as :class:`YList`, which are a plain ``dict`` and ``list`` that
also know the :class:`~archspec.errors.Loc` of each key and item. Duplicate keys are an error
(PyYAML would silently keep the last). Anchors and aliases are allowed, but their expanded size
is bounded, so an "alias bomb" is refused at once instead of exhausting memory.

Where PyYAML has libyaml (``yaml.__with_libyaml__``, as its wheels do), the text is parsed and
composed by libyaml: loading takes a fourth to a fifth of the time of PyYAML's pure-Python
parser (measured on the zoo's files and on a 3,000-layer spec); the values, locations and checks
are the same. A text
libyaml refuses, or that expands past :data:`MAX_NODES`, or that holds characters PyYAML's
reader refuses, is read again by the pure-Python loader, whose located error is the one shown:
errors read the same with or without libyaml.
"""

from __future__ import annotations

import contextlib
import gc
import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from archspec.errors import Loc, SpecError

#: The largest number of YAML nodes a document may expand to, aliases counted at each use.
MAX_NODES = 200_000
#: The largest spec file we read, in bytes.
MAX_BYTES = 5_000_000


class YDict(dict):
    """A dict that knows where it and each of its keys and values came from."""

    loc: Loc = Loc()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_locs: dict = {}
        self.value_locs: dict = {}

    def key_loc(self, key) -> Loc:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key) -> Loc:
        loc = self.value_locs.get(key)
        return self.key_loc(key) if loc is None else loc


class YList(list):
    """A list that knows where it and each of its items came from."""

    loc: Loc = Loc()

    def __init__(self, *args):
        super().__init__(*args)
        self.item_locs: list = []

    def item_loc(self, index: int) -> Loc:
        if 0 <= index < len(self.item_locs):
            return self.item_locs[index]
        return self.loc


def plain(value):
    """YAML data with locations (YDict/YList, tuples) -> plain dicts and lists, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def loc_of(container, key, path: str) -> Loc:
    """The location of ``container[key]`` (value), labelled with YAML path ``path``."""
    if isinstance(container, YDict):
        return container.value_loc(key).at(path)
    if isinstance(container, YList) and isinstance(key, int):
        return container.item_loc(key).at(path)
    base = getattr(container, "loc", Loc())
    return base.at(path)


def _loc(node: Node, file: str, path: str = "") -> Loc:
    mark = node.start_mark
    return Loc(file, mark.line + 1, mark.column + 1, path)


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts alias expansion while composing, with YAML 1.2 floats."""

    def __init__(self, stream, file: str):
        super().__init__(stream)
        self.file = file
        self._sizes: dict[int, int] = {}
        self._total = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchor = event.anchor
            node = self.anchors.get(anchor)
            if node is not None:
                self._count(self._sizes.get(id(node), 1), event.start_mark)
        node = super().compose_node(parent, index)
        return node

    def compose_scalar_node(self, anchor):
        node = super().compose_scalar_node(anchor)
        self._sizes[id(node)] = 1
        self._count(1, node.start_mark)
        return node

    def compose_sequence_node(self, anchor):
        node = super().compose_sequence_node(anchor)
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(n), 1) for n in node.value)
        self._count(1, node.start_mark)
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        self._sizes[id(node)] = 1 + sum(
            self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
        )
        self._count(1, node.start_mark)
        return node

    def _count(self, n: int, mark) -> None:
        self._total += n
        if self._total > MAX_NODES:
            raise SpecError(
                f"the YAML document expands to more than {MAX_NODES:,} nodes "
                "(anchors and aliases nested too deep: an 'alias bomb'?)",
                Loc(self.file, mark.line + 1, mark.column + 1),
                hint="use `blocks` and `repeat` for repetition instead of nested YAML aliases",
            )


# PyYAML follows YAML 1.1, where `1e-4` (no dot, or no exponent sign) is a *string*; YAML 1.2
# and every user read it as a float. Resolve those as floats too.
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser and composer (C), with the same safe constructor and resolvers as
        :class:`_Loader`. It does not count aliases while composing (an alias is the anchored
        node itself, so composing stays linear): :func:`_expanded_size` counts afterwards."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
else:  # pragma: no cover - PyYAML built without libyaml
    _CLoader = None

#: the characters PyYAML's reader refuses (a text with one goes to the pure-Python loader)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def _expanded_size(root: Node) -> int:
    """The number of nodes ``root`` expands to, each alias counted at each use (as
    :class:`_Loader` counts while composing); linear in the distinct nodes. An alias inside its
    own anchor counts 1, as there."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        sizes[key] = 1  # while inside it
        if isinstance(node, SequenceNode):
            total = 1 + sum(size(n) for n in node.value)
        elif isinstance(node, MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        sizes[key] = total
        return total

    return size(root)


_RETRY = object()  # the fast path's answer where the pure-Python loader must read the text


@contextlib.contextmanager
def _collection_paused():
    """Python's cycle collector off for the block (if it was on): loading creates many objects
    and no cycles, and the collections it would trigger scan them over and over (a third of the
    loading time of a 3,000-layer spec). The objects are bounded (:data:`MAX_BYTES`, :data:`MAX_NODES`)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _load_fast(text: str, file: str):
    """:func:`load_yaml` through libyaml, or ``_RETRY`` (see the module's docstring)."""
    if _CLoader is None or _NON_PRINTABLE.search(text):
        return _RETRY
    loader = _CLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None or _expanded_size(node) > MAX_NODES:
                return _RETRY
            return _to_python(node, loader, file, "")
        except (yaml.YAMLError, RecursionError, MemoryError):
            return _RETRY
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"


def _to_python(node: Node, loader: _Loader, file: str, path: str, depth: int = 0):
    """Construct Python values from composed nodes, attaching locations."""
    if depth > 200:
        raise SpecError("the YAML document is nested too deep", _loc(node, file).at(path))
    if isinstance(node, ScalarNode):
        if node.tag == _STR:
            return node.value  # what the safe constructor returns for a string, without its bookkeeping
        try:
            return loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise _tag_error(exc, node, file, path) from None
    if isinstance(node, SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise _tag_error(None, node, file, path)
        out = YList()
        out.loc = _loc(node, file, path)
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            value = _to_python(item, loader, file, sub, depth + 1)
            out.append(value)
            # a list or mapping knows its location already: the same Loc (file, line, col, path)
            out.item_locs.append(value.loc if isinstance(value, (YDict, YList)) else _loc(item, file, sub))
        return out
    if isinstance(node, MappingNode):
        if node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:omap"):
            raise _tag_error(None, node, file, path)
        try:
            loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        except yaml.MarkedYAMLError as exc:
            merge = next((k for k, _ in node.value if k.tag == "tag:yaml.org,2002:merge"), node)
            raise SpecError(f"invalid YAML merge key `<<`: {exc.problem}", _loc(merge, file).at(path),
                            hint="`<<:` takes an alias of a mapping (`<<: *defaults`) or a list of them") from None
        out = YDict()
        out.loc = _loc(node, file, path)
        for key_node, value_node in node.value:
            key = _to_python(key_node, loader, file, path, depth + 1)
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, (YDict, YList)):
                raise SpecError("a mapping key must be a plain value", _loc(key_node, file).at(path))
            if key in out:
                raise SpecError(
                    f"duplicate key `{key}`",
                    _loc(key_node, file).at(sub),
                    hint=f"`{key}` is already defined at line {out.key_loc(key).line}",
                )
            value = out[key] = _to_python(value_node, loader, file, sub, depth + 1)
            out.key_locs[key] = _loc(key_node, file, sub)
            out.value_locs[key] = value.loc if isinstance(value, (YDict, YList)) else _loc(value_node, file, sub)
        return out
    raise SpecError("unsupported YAML node", _loc(node, file).at(path))  # pragma: no cover


def _tag_error(exc, node: Node, file: str, path: str) -> SpecError:
    return SpecError(
        f"the YAML tag `{node.tag}` is not allowed: specs are data, they never run code",
        _loc(node, file).at(path),
        hint="remove the tag; only plain YAML (mappings, lists, strings, numbers, booleans) is read",
    )


def load_yaml(text: str, file: str = "<string>"):
    """Parse YAML text into YDict/YList/scalars with locations. Raises SpecError.

    >>> data = load_yaml("a: {b: 1}\\n")
    >>> data["a"]["b"], data["a"].value_loc("b").line
    (1, 1)
    """
    if len(text) > MAX_BYTES:
        raise SpecError(f"the file is larger than {MAX_BYTES:,} bytes", Loc(file))
    with _collection_paused():
        data = _load_fast(text, file)
    if data is not _RETRY:
        return data
    try:
        loader = _Loader(text, file)
    except yaml.YAMLError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
            problem = exc.problem or "invalid YAML"
            context = f" ({exc.context})" if exc.context else ""
            raise SpecError(f"YAML syntax error: {problem}{context}", loc, hint=_syntax_hint(problem)) from None
        except yaml.reader.ReaderError as exc:
            raise _reader_error(exc, text, file) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"YAML error: {exc}", Loc(file)) from None
        except RecursionError:
            raise SpecError("the YAML document is nested too deep", Loc(file, 1, 1),
                            hint="nest lists and mappings at most a few dozen levels") from None
        if node is None:
            raise SpecError("the file is empty", Loc(file, 1, 1), hint="a spec needs at least `body:`")
        try:
            return _to_python(node, loader, file, "")
        except RecursionError:
            raise SpecError("the YAML document is nested too deep", Loc(file, 1, 1)) from None
    finally:
        loader.dispose()


def _syntax_hint(problem: str) -> str:
    if "'\\t'" in problem or "\t" in problem:
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "expected ',' or '}'" in problem:
        return ("a `{...}` mapping needs commas between its entries and a closing `}`: "
                "{filters: 32, kernel_size: 3}")
    if "expected ',' or ']'" in problem:
        return "a `[...]` list needs commas between its items and a closing `]`: [224, 224, 3]"
    return "check indentation, colons after keys, and matching brackets and quotes"


def _reader_error(exc, text: str, file: str) -> SpecError:
    """A located error for characters YAML does not allow (NUL, other control characters)."""
    pos = getattr(exc, "position", None)
    if pos is None:
        return SpecError(f"YAML error: {exc}", Loc(file))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = getattr(exc, "character", "")
    return SpecError(f"the character {char!r} is not allowed in YAML", Loc(file, line, col),
                     hint="remove control characters (a NUL byte, for instance) from the file")


def read_yaml(path: str | Path):
    """Read and parse a YAML file (see :func:`load_yaml`). Only a regular file is read: a folder
    or a device (``/dev/zero``) is named for what it is."""
    import stat

    path = Path(path)
    if path.is_dir():
        raise SpecError("is a folder, not a spec file", Loc(str(path)), received=str(path),
                        hint="name a .yaml file in that folder")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError("file not found", Loc(str(path)), received=str(path)) from None
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror}", Loc(str(path))) from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError("is not a regular file (a device, pipe or socket); it is not read",
                        Loc(str(path)), received=str(path))
    if info.st_size > MAX_BYTES:
        raise SpecError(f"the file is larger than {MAX_BYTES:,} bytes", Loc(str(path)))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", Loc(str(path)), received=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", Loc(str(path))) from None
    return load_yaml(text, str(path))
