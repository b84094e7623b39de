"""Several objectives: one metric the tuner optimizes, costs beside it, the Pareto front, and the
pick of ``best.yaml`` (pure Python but :func:`measure_latency`).

``--objective val_accuracy --objective params:min``: keras-tuner's oracle optimizes the one metric
(keras-tuner would sum several objectives into one score); the costs are recorded for every
trial -- ``params``, ``macs`` and ``memory`` from the analyzer before the trial builds anything
(so ``--max-params``/``--max-macs``/``--max-memory`` still skip a trial unbuilt), ``latency`` measured
after it trained (:func:`measure_latency`) -- and the trials that trained are ranked by all of
them together: the front is the set of trials no other trial dominates (at least as good in
every objective, better in one). ``--pick`` chooses ``best.yaml`` among them:

- ``knee``: the front member closest to the ideal point (every objective at its best over the
  front), each objective scaled to [0, 1] over the front (the default with several objectives);
- ``max:NAME`` / ``min:NAME``: the trial with the largest / smallest NAME (ties: the other
  objectives in the order given), e.g. ``max:val_accuracy``;
- either followed by ``@`` and conditions joined by ``,``: ``max:val_accuracy@params<100k``,
  ``knee@latency<=2``, ``min:params@val_accuracy>=0.95``. Numbers take k, M, G (1e3, 1e6, 1e9)
  and KiB, MiB, GiB; latency is in milliseconds.

NAME is the metric objective or a cost (``params``, ``macs``, ``memory``, and ``latency`` when
it is an objective: only then is it measured).
"""

from __future__ import annotations

import math
import operator
import re
import time
from dataclasses import dataclass

from archspec.errors import SpecError, command_line

#: cost objectives -> the row's field (results_table)
COSTS = {"params": "params", "macs": "macs", "memory": "memory", "latency": "latency_ms"}

#: the latency protocol (:func:`measure_latency`): untimed calls, then timed calls (the median kept)
LATENCY_WARMUP = 10
LATENCY_RUNS = 50


@dataclass(frozen=True)
class Objective:
    """One objective: ``name`` (a metric or a cost), ``direction`` (``min``/``max``) and the row
    field that holds its value."""

    name: str
    direction: str

    @property
    def cost(self) -> bool:
        return self.name in COSTS

    @property
    def column(self) -> str:
        return COSTS.get(self.name, "objective")

    def __str__(self):
        return f"{self.name}:{self.direction}"


def parse_objectives(given) -> list[Objective]:
    """``"val_accuracy"`` or ``["val_accuracy", "params:min"]`` -> objectives, the metric first.
    Exactly one metric (the one keras-tuner optimizes; its direction, when not given, from
    :func:`archspec.train.compile.direction`: a loss or an error is minimized); costs are
    minimized, each named once."""
    from archspec.train.compile import direction

    loc = command_line("--objective")
    items = [given] if isinstance(given, str) else list(given or [])
    if not items:
        raise SpecError("give an objective", loc, hint="e.g. --objective val_accuracy")
    out: list[Objective] = []
    for item in items:
        name, _, how = str(item).strip().partition(":")
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name) or how not in ("", "min", "max"):
            raise SpecError(f"`--objective {item}` is not NAME or NAME:min|max", loc, received=item,
                            hint="e.g. val_accuracy, val_loss:min, params:min, macs:min, latency:min")
        if name in COSTS and how == "max":
            raise SpecError(f"the cost `{name}` can only be minimized", loc, received=item, hint=f"{name}:min")
        if any(o.name == name for o in out):
            raise SpecError(f"the objective `{name}` is given twice", loc, received=item)
        out.append(Objective(name, how or ("min" if name in COSTS else direction(name) or "max")))
    metrics = [o for o in out if not o.cost]
    if len(metrics) != 1:
        raise SpecError("give exactly one metric objective (the one the tuner optimizes) and any costs"
                        if metrics else "give a metric objective too: the tuner optimizes a metric",
                        loc, received=", ".join(items),
                        hint="costs: " + ", ".join(COSTS) + "; e.g. --objective val_accuracy --objective params:min")
    return metrics + [o for o in out if o.cost]


def value(row: dict, objective: Objective):
    v = row.get(objective.column)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def trained(row: dict) -> bool:
    """A trial that trained to the end: completed, neither rejected nor pruned, with a score."""
    return row["status"] == "completed" and not row.get("rejected") and row.get("objective") is not None


def _candidates(rows: list[dict], objectives: list[Objective]) -> list[dict]:
    return [r for r in rows if trained(r) and all(value(r, o) is not None for o in objectives)]


def _better_or_equal(a, b, o: Objective) -> bool:
    return a >= b if o.direction == "max" else a <= b


def dominates(a: dict, b: dict, objectives: list[Objective]) -> bool:
    """``a`` at least as good as ``b`` in every objective and better in one."""
    pairs = [(value(a, o), value(b, o), o) for o in objectives]
    return all(_better_or_equal(x, y, o) for x, y, o in pairs) and any(x != y for x, y, _ in pairs)


def pareto_front(rows: list[dict], objectives: list[Objective]) -> list[str]:
    """The ids of the trials no other trial dominates, among those that trained to the end and
    have every objective's value (rejected, pruned and failed trials are never on it); in the
    rows' order. Trials with equal values are all on it."""
    cands = _candidates(rows, objectives)
    return [str(r["trial_id"]) for r in cands if not any(dominates(o, r, objectives) for o in cands if o is not r)]


# ---------------------------------------------------------------------------------- --pick
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
_UNITS = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "k": 1e3, "m": 1e6, "g": 1e9, "ms": 1, "": 1}


@dataclass(frozen=True)
class Pick:
    """How ``best.yaml`` is chosen: ``how`` (``knee``, ``max`` or ``min``), the objective ``name``
    of max/min, and conditions ``(name, op, number)``."""

    how: str = "knee"
    name: str | None = None
    conditions: tuple = ()
    text: str = "knee"

    def __str__(self):
        return self.text


def parse_pick(text: str | None, objectives: list[Objective]) -> Pick | None:
    """``--pick`` -> :class:`Pick` (None: the best of the metric with one objective, ``knee``
    with several). Names must be objectives or costs the analyzer gives (``latency`` only
    when it is an objective). Errors are located at ``--pick``."""
    if text is None:
        return Pick() if len(objectives) > 1 else None
    loc = command_line("--pick")
    hint = "e.g. knee, max:val_accuracy, max:val_accuracy@params<100k, min:params@val_accuracy>=0.9"
    head, at, tail = str(text).strip().partition("@")
    m = re.fullmatch(r"knee|(max|min):([A-Za-z_][\w.]*)", head.strip())
    if not m:
        raise SpecError(f"`--pick {text}` is not `knee` or `max:NAME`/`min:NAME`, with optional `@CONDITIONS`",
                        loc, received=text, hint=hint)
    names = {o.name for o in objectives} | {"params", "macs", "memory"}

    def known(name: str) -> str:
        if name not in names:
            raise SpecError(f"`--pick` names `{name}`, which the search does not record", loc, received=text,
                            hint="names: " + ", ".join(sorted(names))
                            + ("" if "latency" in names else " (latency: add --objective latency:min)"))
        return name

    how, name = ("knee", None) if head.strip() == "knee" else (m.group(1), known(m.group(2)))
    conditions = []
    if at:
        for part in tail.split(","):
            c = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*([A-Za-z]*)\s*", part)
            number = c and _number(c.group(3), c.group(4))
            if not c or number is None:
                raise SpecError(f"`{part.strip()}` in `--pick {text}` is not NAME<NUMBER (<, <=, >, >=, ==)", loc,
                                received=text, hint=hint)
            conditions.append((known(c.group(1)), c.group(2), number))
    return Pick(how, name, tuple(conditions), str(text).strip())


def _number(digits: str, unit: str) -> float | None:
    try:
        x = float(digits)
    except ValueError:
        return None
    scale = _UNITS.get(unit.lower())
    return None if scale is None else x * scale


def _field(name: str, objectives: list[Objective]) -> Objective:
    for o in objectives:
        if o.name == name:
            return o
    return Objective(name, "min")  # a cost that is no objective: params, macs or memory


def choose(rows: list[dict], objectives: list[Objective], pick: Pick | None) -> dict | None:
    """The row ``pick`` chooses among the trials that trained to the end (rejected, pruned and
    failed ones never), or None when none meets its conditions. ``pick`` None: the best of the
    metric objective."""
    pick = pick or Pick("max" if objectives[0].direction == "max" else "min", objectives[0].name, (), "best")
    needed = list(objectives) + [_field(n, objectives) for n, _, _ in pick.conditions]
    cands = [r for r in _candidates(rows, needed)
             if all(_OPS[op](value(r, _field(n, objectives)), x) for n, op, x in pick.conditions)]
    if not cands:
        return None
    if pick.how == "knee":
        return knee(cands, objectives)
    key = _field(pick.name, objectives)
    order = [Objective(key.name, pick.how)] + [o for o in objectives if o.name != key.name]
    return min(cands, key=lambda r: tuple(_oriented(r, o) for o in order))


def _oriented(row: dict, o: Objective) -> float:
    v = float(value(row, o))
    return -v if o.direction == "max" else v


def knee(rows: list[dict], objectives: list[Objective]) -> dict | None:
    """The front member of ``rows`` closest (Euclidean) to the ideal point, each objective scaled
    to [0, 1] over the front (0: its best value there); ties: the better metric."""
    ids = set(pareto_front(rows, objectives))
    front = [r for r in rows if str(r["trial_id"]) in ids]
    if not front:
        return None
    spans = []
    for o in objectives:
        vs = [_oriented(r, o) for r in front]
        spans.append((min(vs), max(vs) - min(vs)))

    def distance(r):
        d = sum(((_oriented(r, o) - lo) / span) ** 2 for o, (lo, span) in zip(objectives, spans) if span)
        return (math.sqrt(d), _oriented(r, objectives[0]))

    return min(front, key=distance)


# ---------------------------------------------------------------------------------- latency
def measure_latency(model, x, *, warmup: int = LATENCY_WARMUP, runs: int = LATENCY_RUNS) -> float:
    """Milliseconds of one forward pass of ``model`` on ``x`` (one example, batch 1), on this
    machine: ``warmup`` untimed calls of ``model(x, training=False)``, then the median of ``runs``
    timed ones (``time.perf_counter``, each call's result converted to NumPy so the work is
    done). Eager calls, as Keras 3 runs a model called directly; the same protocol for every
    trial of a search, so the numbers compare within it, not across machines."""
    for _ in range(warmup):
        _done(model(x, training=False))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        _done(model(x, training=False))
        times.append(time.perf_counter() - t0)
    times.sort()
    mid = len(times) // 2
    return 1000 * (times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2)


def _done(out) -> None:
    """Every output of a call as NumPy (waits for the values)."""
    import numpy as np

    for y in (out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else [out]):
        np.asarray(y)
