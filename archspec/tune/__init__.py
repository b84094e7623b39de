"""Hyperparameter search over a spec's inline search spaces, with keras-tuner.

A spec with ``{hp: int|float|choice|bool, ...}`` markers is a search space; :class:`HyperModel`
resolves it with a chooser that asks keras-tuner's ``hp`` for each value, so the tuner drives
the same resolver that ``archspec build`` uses (without a tuner the defaults are taken).

>>> import archspec
>>> from archspec.tune import make_tuner, load_data
>>> hm = archspec.HyperModel("architectures/search/lenet_search.yaml")     # doctest: +SKIP
>>> tuner = make_tuner(hm, "hyperband", directory="runs/lenet",             # doctest: +SKIP
...                    budget=Budget(max_params=100_000))
>>> (x, y), val = load_data("sklearn:digits", spec=hm.spec)                # doctest: +SKIP
>>> tuner.search(x, y, validation_data=val)                                # doctest: +SKIP
>>> write_results(tuner)                                                   # doctest: +SKIP

Pieces, each separate:

- :class:`HyperModel`: spaces -> ``hp.Int/Float/Choice/Boolean`` (names from the YAML path);
  a space met only under some values of a ``choice``/``bool`` space is declared inside
  ``hp.conditional_scope`` of that space (found by resolving once per value: pure Python).
- :class:`Budget`: ``max_params``, ``max_macs``, ``max_memory`` (activations + weights, bytes),
  checked on the analyzer's numbers before any Keras object is made.
- :func:`make_tuner`: random / bayesian / hyperband tuners whose ``run_trial`` rejects
  over-budget trials (recorded with their reason, scored as the worst objective so the search
  does not count them as failures), clears the Keras session between trials, and records
  parameters, MACs and timings next to keras-tuner's own trial files.
- :func:`write_results`: ``results.csv``/``results.json``, ``best.yaml`` (the source file with
  each space replaced by its chosen value), ``best.keras`` and ``results.png``.
- :func:`load_data`, :func:`compile_model`: trials use ``archspec.train``'s data sources,
  splits, optimizer, loss and metrics, so a trial trains as ``archspec train`` would.
"""

from __future__ import annotations

from archspec.tune.budget import Budget, memory_bytes, parse_size
from archspec.tune.common import PROJECT, RECORD, TUNERS, compile_model, load_data, train_config
from archspec.tune.freeze import freeze
from archspec.tune.hypermodel import HyperModel, find_conditions
from archspec.tune.results import format_table, results_table, write_results
from archspec.tune.trials import BayesianOptimization, Hyperband, RandomSearch, make_strategy, make_tuner

__all__ = [
    "HyperModel", "Budget", "make_tuner", "make_strategy", "load_data", "compile_model",
    "train_config", "write_results", "results_table", "format_table", "freeze", "find_conditions",
    "memory_bytes", "parse_size", "RandomSearch", "BayesianOptimization", "Hyperband",
    "TUNERS", "PROJECT", "RECORD",
]
