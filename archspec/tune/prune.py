"""Pruning: stop a trial whose objective, epoch by epoch, falls behind the trials before it.

Two rules, after Optuna's pruners (pure Python; the tuners of :mod:`archspec.tune.trials` call
them at the end of every epoch of a random, Bayesian or grid search, Hyperband keeps its own
schedule):

- ``median`` (Optuna's ``MedianPruner``): at epoch ``e`` a trial stops when its best objective up
  to ``e`` is worse than the median, over the *completed* trials that reached ``e``, of their
  best objective up to ``e``. Optuna compares with the completed trials' value *at* ``e``; the
  best up to ``e`` on both sides (what keras-tuner scores a trial with) keeps a noisy dip of a
  completed trial from lowering the bar.
- ``asha`` (Optuna's ``SuccessiveHalvingPruner``, asynchronous successive halving): rungs at epochs
  ``min_epochs * reduction**k``; at a rung a trial goes on only when its best objective so far is
  among the top ``1/reduction`` of the values every trial had at that rung (itself included;
  while fewer than ``reduction`` trials reached the rung, only the best goes on, as in Optuna).

Warm-up, for both (Optuna's ``n_startup_trials``/``n_warmup_steps``): nothing is pruned before
``startup_trials`` trials completed, nor at an epoch ``<= warmup_epochs``.

A pruned trial's record (``archspec.json``) says ``status: pruned`` with ``pruned: {epoch, score,
best, threshold, rule}``; it counts as a trial of the budget (``--max-trials``), is reported to
keras-tuner's oracle as the worst objective (so no tuner ever ranks it best) and is never the
best of the results. Every trained trial's record keeps its ``curve`` (the objective after each
epoch): the pruner's state is these records, so it survives a resumed search.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from archspec.errors import SpecError, command_line
from archspec.tune.layout import PROJECT, RECORD

RULES = ("median", "asha")
#: each option of a Pruner -> its flag on the command line (archspec tune)
FLAGS = {"startup_trials": "--prune-startup", "warmup_epochs": "--prune-warmup",
         "min_epochs": "--prune-min-epochs", "reduction": "--prune-reduction"}


@dataclass(frozen=True)
class Pruner:
    """A pruning rule and its warm-up (see the module's docstring).

    Args:
        rule: ``median`` or ``asha``.
        startup_trials: completed trials before any trial is pruned (Optuna's default: 5).
        warmup_epochs: epochs ``1..warmup_epochs`` of a trial are never pruned.
        min_epochs: ASHA's first rung (the minimum resource ``r``).
        reduction: ASHA's reduction factor (``eta``): the top ``1/reduction`` go on at each rung.
    """

    rule: str = "median"
    startup_trials: int = 5
    warmup_epochs: int = 0
    min_epochs: int = 1
    reduction: int = 3

    def __post_init__(self):
        if self.rule not in RULES:
            raise SpecError(f"unknown pruning rule `{self.rule}`", command_line("--prune"), received=self.rule,
                            hint="rules: " + ", ".join(RULES))
        for name, low in (("startup_trials", 0), ("warmup_epochs", 0), ("min_epochs", 1), ("reduction", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                flag = FLAGS[name]
                raise SpecError(f"`{flag}` must be an integer >= {low}", command_line(flag), received=value)

    def rungs(self, up_to: int) -> list[int]:
        """ASHA's rung epochs up to ``up_to``: ``min_epochs * reduction**k``."""
        out, e = [], self.min_epochs
        while e <= up_to:
            out.append(e)
            e *= self.reduction
        return out

    def decide(self, curve: list[float], completed: list[list[float]], others: list[list[float]],
               maximize: bool) -> tuple[bool, float | None]:
        """Whether a trial whose objective after each epoch so far is ``curve`` stops now,
        and the threshold it was held to (None: no rule applied at this epoch).

        ``completed``: the curves of the completed trials (neither pruned nor failed);
        ``others``: the curves of every other trial that trained (completed or pruned), for ASHA.
        """
        epoch = len(curve)
        if epoch <= self.warmup_epochs or len(completed) < self.startup_trials or not curve:
            return False, None
        mine = best_so_far(curve, maximize)
        if self.rule == "median":
            at = [best_so_far(c[:epoch], maximize) for c in completed if len(c) >= epoch]
            at = [v for v in at if not math.isnan(v)]
            if not at:
                return False, None
            bar = median(at)
            return (mine < bar if maximize else mine > bar) or math.isnan(mine), bar
        if epoch not in self.rungs(epoch):
            return False, None
        values = [best_so_far(c[:epoch], maximize) for c in others if len(c) >= epoch] + [mine]
        values = [v for v in values if not math.isnan(v)]
        if math.isnan(mine):
            return True, None
        bar = rung_cutoff(values, self.reduction, maximize)
        return (mine < bar if maximize else mine > bar), bar


def median(values: list[float]) -> float:
    """The median (the mean of the two middle values of an even count)."""
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def rung_cutoff(values: list[float], reduction: int, maximize: bool) -> float:
    """The worst value that still goes on at an ASHA rung holding ``values``: the
    ``max(1, len // reduction)``-th best."""
    keep = max(1, len(values) // reduction)
    ranked = sorted(values, reverse=maximize)
    return ranked[keep - 1]


def best_so_far(curve: list[float], maximize: bool) -> float:
    """The best value of ``curve`` (NaN values skipped; NaN when all are)."""
    finite = [v for v in curve if v is not None and not math.isnan(v)]
    if not finite:
        return math.nan
    return max(finite) if maximize else min(finite)


def make_pruner(prune: str | Pruner | None, **options) -> Pruner | None:
    """A :class:`Pruner` from a rule name (or a Pruner) and options (None: the default)."""
    given = {k: v for k, v in options.items() if v is not None}
    if prune is None:
        if given:
            flag = FLAGS.get(next(iter(given)), "--prune")
            raise SpecError(f"`{flag}` needs `--prune median|asha`", command_line(flag))
        return None
    if isinstance(prune, Pruner):
        return replace(prune, **given) if given else prune
    return Pruner(prune, **given)


def read_curves(directory: str | Path) -> dict[str, dict]:
    """``{trial id: {"curve": [...], "status": ...}}`` of every trial record of the search in
    ``directory`` that keeps a curve: the pruner's state, as a resumed search finds it."""
    out = {}
    for path in sorted((Path(directory) / PROJECT).glob(f"trial_*/{RECORD}")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get("curve"), list):
            out[str(rec.get("trial_id", path.parent.name[len("trial_"):]))] = {
                "curve": [math.nan if v is None else float(v) for v in rec["curve"]],
                "status": rec.get("status")}
    return out
