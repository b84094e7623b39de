"""Draw an architecture with graphviz (``archspec plot SPEC -o FILE.svg|png``).

Each layer is a box (name, op, output shape, parameters); each block call is a dashed cluster
named after the call (``conv4 (bottleneck_stack)``). ``collapse=N`` draws the block calls nested
N or more calls deep as one box each, named after the call and saying what it holds
(``conv4``: ``bottleneck_stack: 36 × bottleneck, 362 layers``): ``collapse=0`` draws every
top-level call as a box, and ``collapse=-1`` (:data:`REPEATS`) also draws each run of top-level
calls of one block, such as a ``repeat``, as one box (``stage1_block ×200``).

Without ``collapse`` the drawing keeps as much detail as fits a page: every layer when it stays
under ``max_height`` (:data:`PAGE_HEIGHT`, 2,000 px), else the deepest collapse that does; when
none does, the shortest (the least collapsed of those as short). The drawing's caption, and the
line ``write_plot`` logs, say what was collapsed. Heights are estimated without graphviz, from the
number of ranks (the boxes on the longest path) and the clusters it enters (:meth:`Drawing.height`).

Needs ``pydot`` (pip) and the ``dot`` program (Debian/Ubuntu: ``apt-get install graphviz``;
macOS: ``brew install graphviz``).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from archspec.errors import RunError, SpecError, command_line
from archspec.ir import format_shape as _shape
from archspec.spec import Spec, as_spec

INSTALL_HINT = ("install graphviz's `dot` program (Debian/Ubuntu: apt-get install graphviz; "
                "macOS: brew install graphviz) and pydot (pip install pydot)")

#: the tallest drawing made without ``collapse``: px at 96 dpi (graphviz's PNG resolution; an
#: SVG gives its size in points, 3/4 of that)
PAGE_HEIGHT = 2000
#: ``collapse=REPEATS``: top-level block calls as boxes, and each run of calls of one block as one box
REPEATS = -1

# graphviz's layout of these boxes, in points. Measured with dot 2.43 on every zoo network at
# every collapse level: the estimate is 0-10% above the real height, never below it.
_BOX_PT = 84.0       # a box: four rows of 10-point Helvetica, cellpadding 3
_RANKSEP_PT = 36.0   # dot's ranksep (0.5 in) between ranks
_CLUSTER_PT = 20.0   # a cluster entered on the longest path: its label and margins
_CAPTION_PT = 40.0   # the caption: two lines of 12-point text
_MARGIN_PT = 8.0     # the graph's margin, top and bottom
PX_PER_PT = 96 / 72

COLORS = {"conv": "#cfe2f3", "pool": "#d9ead3", "dense": "#fce5cd", "norm": "#ead1dc",
          "input": "#eeeeee", "concat": "#fff2cc", "add": "#fff2cc", "block": "#d9d2e9"}


def _color(op: str) -> str:
    for key, color in COLORS.items():
        if key in op:
            return color
    return "#ffffff"


def _label(title: str, op: str, shape, params: str, color: str) -> str:
    return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
            f'<tr><td bgcolor="{color}"><b>{html.escape(title)}</b></td></tr>'
            f'<tr><td>{html.escape(op)}</td></tr>'
            f'<tr><td>{html.escape(_shape(shape))}</td></tr>'
            f'<tr><td>{html.escape(params)}</td></tr></table>>')


def _block(segment: str) -> tuple[str, str]:
    """A scope segment (``bottleneck@conv2_block1``, ``stem#1``): the block's name and the call's
    ``name`` argument ('' when the call has none; ``#N`` only numbers calls: it is never shown)."""
    if "@" in segment:
        block, _, call = segment.partition("@")
        return block, call
    return segment.split("#")[0], ""


def _nesting(scope: str) -> int:
    return len(scope.split("/")) if scope else 0


def _prefixes(scope: str) -> list[str]:
    parts = scope.split("/") if scope else []
    return ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]


def _entered(src: str, dst: str) -> int:
    """The clusters of ``dst`` that ``src`` is not in: entered going from one to the other."""
    a, b = (src.split("/") if src else []), (dst.split("/") if dst else [])
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return len(b) - common


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "es" if word.endswith("x") else "s")


@dataclass
class Box:
    """One drawn box: a layer, or collapsed block calls (``calls``: how many, ``held``: the
    block calls one level down that it holds, by block name, e.g. ``{"bottleneck": 36}``)."""

    id: str
    title: str
    detail: str
    shape: tuple
    params: int
    cluster: str = ""  # the scope of the cluster it is drawn in ('' the graph itself)
    op: str = ""  # the layer's op, or the collapsed call's block
    layers: int = 1
    calls: int = 0  # block calls drawn as this box (0: a layer)
    held: Counter = field(default_factory=Counter)

    @property
    def collapsed(self) -> bool:
        return self.calls > 0


@dataclass
class Drawing:
    """What ``archspec plot`` draws, before graphviz: the boxes (in topological order), the edges
    between them and the clusters (scope -> label). ``collapse``: the level drawn (None: every
    layer); ``auto``: chosen to fit ``max_height`` rather than given; ``full_height``: then the
    height of every layer drawn."""

    name: str
    collapse: int | None
    boxes: dict[str, Box]
    edges: list[tuple[str, str]]
    clusters: dict[str, str]
    layers: int
    depth: int  # the deepest nesting of block calls (0: none): --collapse DEPTH draws every layer
    auto: bool = False
    full_height: int | None = None
    max_height: int | None = None

    @property
    def collapsed(self) -> list[Box]:
        return [b for b in self.boxes.values() if b.collapsed]

    def ranks(self) -> tuple[int, int]:
        """The number of ranks (the boxes on the longest path) and the clusters entered along it."""
        inputs: dict[str, list[str]] = {b: [] for b in self.boxes}
        outputs: dict[str, list[str]] = {b: [] for b in self.boxes}
        for src, dst in self.edges:
            inputs[dst].append(src)
            outputs[src].append(dst)
        waiting = {b: len(v) for b, v in inputs.items()}
        ready = [b for b, n in waiting.items() if n == 0]
        best: dict[str, tuple[int, int]] = {}
        while ready:
            box_id = ready.pop()
            cluster = self.boxes[box_id].cluster
            here = (1, _nesting(cluster))
            for src in inputs[box_id]:
                r, c = best[src]
                here = max(here, (r + 1, c + _entered(self.boxes[src].cluster, cluster)))
            best[box_id] = here
            for dst in outputs[box_id]:
                waiting[dst] -= 1
                if not waiting[dst]:
                    ready.append(dst)
        return max(best.values(), default=(0, 0))

    def height(self) -> int:
        """The drawing's estimated height in px (96 dpi), at or a little above graphviz's:
        ranks x (box + ranksep) + the clusters entered + the caption + margins."""
        ranks, clusters = self.ranks()
        pt = (ranks * _BOX_PT + max(ranks - 1, 0) * _RANKSEP_PT + clusters * _CLUSTER_PT
              + (_CAPTION_PT if self.collapsed else 0) + 2 * _MARGIN_PT)
        return round(pt * PX_PER_PT)

    def _calls(self) -> str:
        boxes = self.collapsed
        calls = sum(b.calls for b in boxes)
        each = "a single box" if calls == 1 else "single boxes" if calls == len(boxes) else _plural(len(boxes), "box")
        return f"{_plural(calls, 'block call')} drawn as {each}"

    def caption(self) -> str:
        """The drawing's caption, two lines: what was collapsed ('' when nothing was)."""
        if not self.collapsed:
            return ""
        how = ("" if not self.auto else "to fit a page: " if self.height() <= (self.max_height or PAGE_HEIGHT)
               else "the shortest drawing: ")
        return (f"{self.name}: {self._calls()}\n"
                f"({how}--collapse {self.collapse}; --collapse {self.depth} draws every layer)")

    def note(self) -> str:
        """One line for the command's output: what was collapsed, and why ('' when nothing was)."""
        boxes = self.collapsed
        if not boxes:
            return ""
        names = [b.title for b in boxes]
        shown = ", ".join(names[:8]) + (f", ... ({len(names) - 8} more)" if len(names) > 8 else "")
        if self.auto:
            limit = self.max_height or PAGE_HEIGHT
            fits = "" if self.height() <= limit else f", the shortest drawing, still over {limit:,} px"
            why = (f"every layer would draw about {self.full_height:,} px tall, over {limit:,}: drawn with "
                   f"--collapse {self.collapse} (about {self.height():,} px{fits})")
        else:
            why = f"drawn with --collapse {self.collapse} (about {self.height():,} px tall)"
        return f"{self.name}: {why}; {self._calls()}: {shown}; --collapse {self.depth} draws every layer"


def drawing(spec: Spec | str | Path, collapse: int | None = None) -> Drawing:
    """The boxes drawn with block calls nested ``collapse`` or more calls deep as one box each
    (None: every layer; :data:`REPEATS`: runs of top-level calls of one block too). Pure Python:
    neither pydot nor graphviz."""
    return _drawing(as_spec(spec), collapse)


def _drawing(spec: Spec, collapse: int | None, params: dict | None = None) -> Drawing:
    if collapse is not None and (not isinstance(collapse, int) or isinstance(collapse, bool) or collapse < REPEATS):
        raise SpecError("--collapse is a depth of block calls: 0 or more (-1: repeated calls too)",
                        command_line("--collapse"), received=collapse)
    if params is None:
        params = {r.name: r.params for r in spec.analyze().layers}
    level = 0 if collapse == REPEATS else collapse

    def box_of(node) -> str:
        parts = node.scope.split("/") if node.scope else []
        if level is not None and len(parts) > level:
            return "block:" + "/".join(parts[: level + 1])
        return node.name

    boxes: dict[str, Box] = {}
    order: dict[str, int] = {}  # every scope, by its first layer
    held: dict[str, dict] = {}  # a collapsed box's block calls one level down (a dict: ordered)
    for i, node in enumerate(spec.graph.nodes):
        for scope in _prefixes(node.scope):
            order.setdefault(scope, i)
        box_id = box_of(node)
        if box_id == node.name:
            boxes[box_id] = Box(box_id, node.name, node.op, node.shape, params[node.name], node.scope, node.op)
            continue
        scope = box_id[len("block:"):]
        box = boxes.get(box_id)
        if box is None:
            box = boxes[box_id] = Box(box_id, "", "", node.shape, 0, scope.rpartition("/")[0],
                                      _block(scope.rpartition("/")[2])[0], layers=0, calls=1)
            held[box_id] = {}
        box.params += params[node.name]
        box.layers += 1
        box.shape = node.shape  # the last node of the call is its output
        parts = node.scope.split("/")
        if len(parts) > level + 1:
            held[box_id][parts[level + 1]] = True
    for box_id, calls in held.items():
        boxes[box_id].held = Counter(_block(seg)[0] for seg in calls)
    clusters = {scope: "" for scope in sorted({s for b in boxes.values() for s in _prefixes(b.cluster)},
                                              key=order.__getitem__)}
    _name_calls(boxes, clusters, order)
    edges, seen = [], set()
    for node in spec.graph.nodes:
        dst = box_of(node)
        for src_name in node.inputs:
            src = box_of(spec.graph[src_name])
            if src != dst and (src, dst) not in seen:
                seen.add((src, dst))
                edges.append((src, dst))
    if collapse == REPEATS:
        boxes, edges = _group_runs(boxes, edges)
    depth = max((_nesting(n.scope) for n in spec.graph.nodes), default=0)
    return Drawing(spec.name, collapse, boxes, edges, clusters, len(spec.graph.nodes), depth)


def _name_calls(boxes: dict[str, Box], clusters: dict[str, str], order: dict[str, int]) -> None:
    """Readable names for collapsed calls and clusters: the call's ``name`` (``conv4``); for a
    call without one, the name of the only call it makes, if named (``inception_3a``), else its
    block's name, numbered when siblings share it (``vgg_block 2``); never the ``#N`` counter."""
    scopes = sorted({b.id[len("block:"):] for b in boxes.values() if b.collapsed} | set(clusters),
                    key=order.__getitem__)
    children: dict[str, list[str]] = {}
    for scope in order:
        children.setdefault(scope.rpartition("/")[0], []).append(scope)

    def own_name(scope: str) -> str:
        call = _block(scope.rpartition("/")[2])[1]
        inner = children.get(scope, [])
        return call or (_block(inner[0].rpartition("/")[2])[1] if len(inner) == 1 else "")

    by_parent: dict[str, list[str]] = {}
    for scope in scopes:
        by_parent.setdefault(scope.rpartition("/")[0], []).append(scope)
    titles: dict[str, str] = {}
    for siblings in by_parent.values():
        names = {s: own_name(s) for s in siblings}
        unnamed = Counter(_block(s.rpartition("/")[2])[0] for s in siblings if not names[s])
        seen: Counter = Counter()
        for scope in siblings:
            block = _block(scope.rpartition("/")[2])[0]
            seen[block] += not names[scope]
            titles[scope] = names[scope] or (f"{block} {seen[block]}" if unnamed[block] > 1 else block)
    for scope in clusters:
        block = _block(scope.rpartition("/")[2])[0]
        clusters[scope] = titles[scope] if titles[scope].startswith(block) else f"{titles[scope]} ({block})"
    for box in boxes.values():
        if box.collapsed:
            scope = box.id[len("block:"):]
            box.title = titles[scope]
            held = ", ".join(f"{n} × {b}" for b, n in box.held.items())
            plain = box.title == box.op or re.fullmatch(re.escape(box.op) + r" \d+", box.title)
            box.detail = (held or "block") if plain else ": ".join(filter(None, (box.op, held)))


def _stem(title: str) -> str:
    """A call's name without its number: ``conv4_block23`` -> ``conv4_block``, ``inception_4e``
    -> ``inception``."""
    return re.sub(r"[ _-]?\d+[a-z]?$", "", title) or title


def _group_runs(boxes: dict[str, Box], edges: list[tuple[str, str]]):
    """Each run of two or more top-level collapsed calls of one block, named alike
    (``stage1_block1``, ``stage1_block2``, ...) and chained (each reads only the one before it,
    which feeds only it), as one box: ``stage1_block ×200``."""
    inputs: dict[str, set] = {b: set() for b in boxes}
    outputs: dict[str, set] = {b: set() for b in boxes}
    for src, dst in edges:
        inputs[dst].add(src)
        outputs[src].add(dst)
    runs: list[list[Box]] = []
    for box in boxes.values():
        last = runs[-1][-1] if runs else None
        if (last is not None and box.collapsed and last.collapsed and not box.cluster and not last.cluster
                and box.op == last.op and _stem(box.title) == _stem(last.title)
                and inputs[box.id] == {last.id} and outputs[last.id] == {box.id}):
            runs[-1].append(box)
        else:
            runs.append([box])
    group: dict[str, str] = {}
    out: dict[str, Box] = {}
    for run in runs:
        first, last = run[0], run[-1]
        if len(run) > 1:
            calls = sum(b.calls for b in run)
            first = Box("repeat:" + first.id, f"{_stem(first.title)} ×{len(run)}",
                        f"{calls} × {first.op}: {first.title} … {last.title}", last.shape,
                        sum(b.params for b in run), "", first.op, sum(b.layers for b in run), calls)
        out[first.id] = first
        group.update((b.id, first.id) for b in run)
    grouped, seen = [], set()
    for src, dst in edges:
        pair = (group[src], group[dst])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            grouped.append(pair)
    return out, grouped


def choose(spec: Spec | str | Path, *, collapse: int | None = None,
           max_height: int | None = PAGE_HEIGHT) -> Drawing:
    """The drawing ``archspec plot`` makes: ``collapse`` when given; else every layer if that fits
    ``max_height`` (px; None: every layer, always), else the least collapsed drawing that fits; if
    none does, the one of fewest ranks (the least collapsed of those)."""
    spec = as_spec(spec)
    if collapse is not None or max_height is None:
        return _drawing(spec, collapse)
    params = {r.name: r.params for r in spec.analyze().layers}
    full = _drawing(spec, None, params)
    if full.height() <= max_height or not full.depth:
        return full
    candidates = [full]
    for level in [*range(full.depth - 1, -1, -1), REPEATS]:
        plan = _drawing(spec, level, params)
        if level == REPEATS and len(plan.boxes) == len(candidates[-1].boxes):
            break  # no run of calls to group
        plan.auto, plan.full_height, plan.max_height = True, full.height(), max_height
        if plan.height() <= max_height:
            return plan
        candidates.append(plan)
    return min(candidates, key=lambda p: p.ranks()[0])  # the first of the fewest ranks: the least collapsed


def to_dot(spec: Spec | str | Path, *, collapse: int | None = None, max_height: int | None = PAGE_HEIGHT):
    """A ``pydot.Dot`` of the spec's graph (a spec or a spec file). ``collapse``: the depth of block
    calls drawn as single boxes; None: chosen to fit ``max_height`` (:func:`choose`)."""
    return _dot(choose(spec, collapse=collapse, max_height=max_height))


def _dot(plan: Drawing):
    try:
        import pydot
    except ImportError:
        raise RunError("drawing needs the `pydot` package", hint=INSTALL_HINT) from None
    graph = pydot.Dot(plan.name, graph_type="digraph", rankdir="TB", fontname="Helvetica")
    caption = plan.caption()
    if caption:
        graph.set("label", _quote(caption))
        graph.set("labelloc", "t")
        graph.set("fontsize", "12")
    graph.set_node_defaults(shape="plaintext", fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(fontname="Helvetica", fontsize="9")
    subgraphs: dict[str, object] = {}

    def cluster(scope: str):
        if not scope:
            return graph
        if scope not in subgraphs:
            parent = cluster(scope.rpartition("/")[0])
            sub = pydot.Cluster(f"c{len(subgraphs)}", label=_quote(plan.clusters.get(scope, scope)), style="dashed",
                                fontname="Helvetica", fontsize="10")
            parent.add_subgraph(sub)
            subgraphs[scope] = sub
        return subgraphs[scope]

    for box in plan.boxes.values():
        color = COLORS["block"] if box.collapsed else _color(box.op)
        params = f"{box.params:,} params"
        label = _label(box.title, box.detail, box.shape,
                       f"{_plural(box.layers, 'layer')}, {params}" if box.collapsed else params, color)
        cluster(box.cluster).add_node(pydot.Node(_id(box.id), label=label))
    for src, dst in plan.edges:
        graph.add_edge(pydot.Edge(_id(src), _id(dst)))
    return graph


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _id(name: str) -> str:
    return '"' + name.replace('"', "'") + '"'


def _log(msg: str) -> None:
    print(msg, flush=True)


def write_plot(spec: Spec | str | Path, output: str | Path, *, collapse: int | None = None,
               max_height: int | None = PAGE_HEIGHT, log: Callable[[str], None] | None = _log) -> Path:
    """Render to ``.svg``, ``.png``, ``.pdf`` or ``.dot`` (by the file's suffix). ``collapse`` and
    ``max_height``: as :func:`choose`; ``log`` (None: silent) is told what was collapsed, if anything."""
    output = Path(output)
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise SpecError("the plot file must end in .svg, .png, .pdf or .dot", command_line("--output"),
                        received=str(output))
    plan = choose(spec, collapse=collapse, max_height=max_height)
    graph = _dot(plan)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        output.write_text(graph.to_string())
    else:
        try:
            data = graph.create(format=fmt)
        except FileNotFoundError:
            raise RunError("drawing needs graphviz's `dot` program, which is not installed",
                           hint=INSTALL_HINT) from None
        output.write_bytes(data)
    if log is not None and plan.note():
        log(plan.note())
    return output
