"""Budgets checked on the analyzer's numbers before any Keras object is made."""

from __future__ import annotations

from dataclasses import dataclass

from archspec.errors import SpecError, command_line


@dataclass(frozen=True)
class Budget:
    """Limits checked on the analyzer's numbers (pure Python) before a trial builds a model.

    ``max_memory`` is in bytes: activation memory (one sample, float32) + weight memory.
    """

    max_params: int | None = None
    max_macs: int | None = None
    max_memory: int | None = None

    def check_spec(self, spec):
        """``(analysis, reason)`` for one resolved trial: a choice that takes the model past
        archspec's size limits (:mod:`archspec.analyze.limits`) is rejected like one over the
        budget — a reason, not an error that would stop the search."""
        from archspec.analyze.limits import check_limits

        analysis = spec.analyze(limits=False)
        try:
            check_limits(spec.graph)
        except SpecError as err:
            return analysis, f"rejected: past the size limits ({err.message})"
        return analysis, self.check(analysis)

    def describe(self) -> str:
        """The limits set, as ``max_params=60k, max_memory=64MiB`` ("" when none)."""
        shown = [(name, value) for name, value in (("max_params", self.max_params), ("max_macs", self.max_macs),
                                                   ("max_memory", self.max_memory)) if value is not None]
        return ", ".join(f"{name}={_bytes(value) if name == 'max_memory' else _human(value)}"
                         for name, value in shown)

    def check(self, analysis) -> str | None:
        """The reason the architecture is over budget, or None."""
        for what, value, limit in (("params", analysis.total_params, self.max_params),
                                   ("MACs", analysis.macs, self.max_macs),
                                   ("memory", memory_bytes(analysis), self.max_memory)):
            if limit is not None and value > limit:
                return f"rejected: {what} {_human(value)} > {_human(limit)}"
        return None


def memory_bytes(analysis) -> int:
    """Activation bytes (one sample) + weight bytes, float32, from the analyzer."""
    from archspec.analyze import BYTES_PER_VALUE

    return analysis.activation_bytes + analysis.total_params * BYTES_PER_VALUE


def parse_size(text: str | int | None, what: str) -> int | None:
    """``"1.5M"`` -> 1_500_000, ``"64MiB"`` -> 67_108_864, ``"2G"`` -> 2_000_000_000."""
    if text is None or isinstance(text, int):
        return text
    t = str(text).strip().replace("_", "").replace(",", "")
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9,
             "k": 1e3, "m": 1e6, "g": 1e9, "b": 1, "": 1}
    for suffix in sorted(units, key=len, reverse=True):
        if t.lower().endswith(suffix):
            number = t[: len(t) - len(suffix)] if suffix else t
            try:
                return int(float(number) * units[suffix])
            except ValueError:
                break
    raise SpecError(f"`--{what}` must be a number with an optional unit (k, M, G, KiB, MiB, GiB)",
                    command_line(f"--{what}"), received=text)


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return str(int(n))


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{_human(n)}B"
