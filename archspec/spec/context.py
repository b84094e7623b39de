"""Resolution scopes: reference names (`as`) and the context a step is resolved in."""

from __future__ import annotations

from dataclasses import dataclass, replace

class Refs:
    """A scope of reference names (``as``), chained to its parent."""

    def __init__(self, parent: "Refs | None" = None):
        self.parent = parent
        self.names: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        scope = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        out, scope = [], self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out


@dataclass
class Ctx:
    vars: dict  # expression scope
    refs: Refs
    prev: str | None  # the current tensor (node name)
    entry: str | None  # `_in`
    stack: tuple = ()  # block names being expanded
    scope: str = ""  # dotted block-call path, for grouping

    def child(self, **changes) -> "Ctx":
        return replace(self, **changes)
