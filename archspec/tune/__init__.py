"""Hyperparameter search over a spec's inline search spaces, with keras-tuner.

A spec with ``{hp: int|float|choice|bool, ...}`` markers is a search space; :class:`HyperModel`
resolves it with a chooser that asks keras-tuner's ``hp`` for each value, so the tuner drives
the same resolver that ``archspec build`` uses (without a tuner the defaults are taken).

>>> from archspec.tune import Budget, search
>>> result = search("architectures/search/lenet_search.yaml", directory="runs/lenet",   # doctest: +SKIP
...                 tuner="hyperband", budget=Budget(max_params=100_000))
>>> result.best, result.paths["yaml"]                                                    # doctest: +SKIP

Pieces, each separate:

- :func:`search`: strategy, hypermodel, tuner, data, search and results in one call.
- :class:`HyperModel`: spaces -> ``hp.Int/Float/Choice/Boolean`` (names from the YAML path);
  a space met only under some values of a ``choice``/``bool`` space is declared inside
  ``hp.conditional_scope`` of that space (found by resolving once per value: pure Python).
  A trial builds and compiles as ``archspec train`` does
  (:func:`archspec.train.compile.compile_model`), so every ``train:`` option applies.
- :class:`Budget`: ``max_params``, ``max_macs``, ``max_memory`` (activations + weights, bytes),
  checked on the analyzer's numbers before any Keras object is made.
- :class:`Pruner` (:mod:`archspec.tune.prune`): the median and ASHA rules that stop a trial
  falling behind; :mod:`archspec.tune.pareto`: several objectives, the Pareto front, ``--pick``.
- :func:`make_tuner`: random / bayesian / grid / hyperband tuners whose ``run_trial`` rejects
  over-budget trials (recorded with their reason, scored as the worst objective so the search
  does not count them as failures), free each trial's graphs (memory stays flat), and record
  parameters, MACs and timings next to keras-tuner's own trial files.
- :func:`write_results`: ``results.csv``/``results.json``, ``best.yaml`` (the source file with
  each space replaced by its chosen value), ``best.keras`` and ``results.png``.
- :func:`load_data`: a data source split, checked against the model and brought to its input
  (``fit_input``) as ``archspec train`` does it.
- :mod:`archspec.tune.resume`: the files keras-tuner reads to resume a search, checked first (a
  truncated one is a FileError naming it); a trial whose folder was removed runs again.
"""

from __future__ import annotations

import importlib

# `freeze` and `search` are both submodules and their functions: bind the functions now, or
# importing the submodules later would leave the module objects under those names.
from archspec.tune.freeze import freeze  # pure Python
from archspec.tune.data import load_data  # pure Python until called
from archspec.tune.search import SearchResult, search  # pure Python until called

#: public name -> the submodule that defines it. Imported on first use (PEP 562), so reading a
#: search's results (``archspec tune --summary``) does not import keras-tuner and TensorFlow.
_EXPORTS = {
    "Budget": "budget", "memory_bytes": "budget", "parse_size": "budget",
    "PROJECT": "layout", "RECORD": "layout", "TUNERS": "layout",
    "HyperModel": "hypermodel", "find_conditions": "hypermodel",
    "format_table": "results", "results_table": "results", "write_results": "results",
    "BayesianOptimization": "trials", "Hyperband": "trials", "RandomSearch": "trials",
    "make_strategy": "trials", "make_tuner": "trials", "GridSearch": "trials",
    "Pruner": "prune", "Objective": "pareto", "pareto_front": "pareto",
}
__all__ = [*_EXPORTS, "freeze", "search", "SearchResult", "load_data"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"archspec.tune.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'archspec.tune' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
