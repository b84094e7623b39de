"""Hints that change the model, offered only when they work: a ``--set NAME=VALUE`` is proposed
for a data/model mismatch only after the spec, resolved again with it, analyzes without error and
has the wanted input shape (or class count). A hint that leads to the next error costs a user a
TensorFlow start-up per round; a parameter the spec does not have is no hint at all."""

from __future__ import annotations

from typing import Any, Callable

from archspec.errors import SpecError


def spec_suggester(spec) -> Callable[[str, Any], str | None]:
    """``suggest(what, value)`` for :func:`archspec.train.checks.check_fit`: ``what`` is
    ``input_shape`` (value: the wanted input shape) or ``classes`` (value: the class count)."""

    def suggest(what: str, value) -> str | None:
        if what == "input_shape":
            current = tuple(spec.input_shapes[0])
            wanted = tuple(int(v) for v in value)
            return _first_working(spec, _shape_candidates(spec.params, current, wanted),
                                  lambda s: tuple(s.input_shapes[0]) == wanted)
        if what == "classes":
            units = spec.output_shapes[0][-1]
            candidates = [(k, int(value)) for k, v in spec.params.items()
                          if isinstance(v, int) and not isinstance(v, bool) and v == units]
            return _first_working(spec, candidates, lambda s: s.output_shapes[0][-1] == int(value))
        return None

    return suggest


def _shape_candidates(params: dict, current: tuple, wanted: tuple) -> list[tuple[str, Any]]:
    out = []
    for name, v in params.items():
        if isinstance(v, (list, tuple)) and tuple(v) == current:
            out.append((name, list(wanted)))
    # a square size as one number (input: {shape: [$size, $size, 3]})
    if len(current) == 3 and current[0] == current[1] and wanted[0] == wanted[1] and wanted[2] == current[2]:
        out += [(name, wanted[0]) for name, v in params.items()
                if isinstance(v, int) and not isinstance(v, bool) and v == current[0]]
    return out


def _first_working(spec, candidates, check) -> str | None:
    for name, value in candidates:
        try:
            changed = spec.with_params(**{name: value})
            changed.analyze()
        except SpecError:
            continue
        if check(changed):
            return f"--set {name}={_show(value)}"
    return None


def _show(value) -> str:
    return "[" + ",".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)
