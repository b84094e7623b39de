"""archspec's exceptions: a user's mistake (`SpecError`, always located) and the runtime family.

A `SpecError` says *where* (file, line, column, YAML path — or ``<command line>`` and the flag),
*what* is wrong, *what was received* and, when we can guess, a *hint* ("did you mean
`filters`?"). The CLI prints it in a few lines and exits with status 2.

A `FileError` is a file archspec must read or write that it cannot: missing, truncated, not the
right kind, or on a full or read-only disk. It names the file and the cause; the CLI exits with 2,
as for a spec mistake, since the user fixes it (another file, free space, another ``-o``).

A `RunError` is a failure while doing the work (training, tuning, exporting) that no line of
the spec or the command line caused: a run directory that cannot be resumed, an exported model
whose outputs differ, a data file that does not parse. The CLI prints it and exits with 1.
Both derive from `ArchspecError`; a traceback is reserved for our own bugs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable

_MISSING = object()


@dataclass(frozen=True)
class Loc:
    """A position in a source file (1-based line and column) and the YAML path there."""

    file: str = "<string>"
    line: int = 0
    col: int = 0
    path: str = ""

    def at(self, path: str) -> "Loc":
        """The same position with another YAML path."""
        return Loc(self.file, self.line, self.col, path)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return where


class ArchspecError(Exception):
    """Base of every error archspec raises on purpose."""


class SpecError(ArchspecError):
    """A mistake in a spec (or in the values given to it), located in its source.

    Attributes:
        message: what is wrong, in one sentence.
        loc: where (file, line, column and YAML path); may be None for errors with no source.
        received: the offending value, shown as `Received: ...`.
        hint: a suggestion, shown as `Hint: ...`.
    """

    def __init__(
        self,
        message: str,
        loc: Loc | None = None,
        *,
        received=_MISSING,
        hint: str | None = None,
    ):
        self.message = message if len(message) <= 500 else message[:497] + "..."
        self.loc = loc
        self.received = received
        self.hint = hint
        self.trace: list[str] = []  # "in block `x` called at file:line:col", innermost first
        super().__init__(self.format())

    def add_trace(self, line: str) -> "SpecError":
        """Record one enclosing context (e.g. the block call that led here)."""
        self.trace.append(line)
        self.args = (self.format(),)
        return self

    @property
    def path(self) -> str:
        return self.loc.path if self.loc else ""

    def format(self) -> str:
        """The error as the CLI prints it: location line, message, received value, hint."""
        lines = []
        head = ""
        if self.loc is not None:
            head = str(self.loc)
            if self.loc.path:
                head += f": at `{self.loc.path}`"
            head += ": "
        lines.append(f"{head}error: {self.message}")
        if self.received is not _MISSING:
            lines.append(f"  Received: {_short_repr(self.received)}")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        trace = getattr(self, "trace", ())
        for line in trace[:5]:
            lines.append(f"  In: {line}")
        if len(trace) > 5:
            lines.append(f"  In: ... ({len(trace) - 5} more enclosing block calls)")
        return "\n".join(lines)


class FileError(ArchspecError):
    """A file that cannot be read or written as needed: ``path``, the ``cause`` and a ``hint``."""

    def __init__(self, path, cause: str, *, hint: str | None = None):
        self.path = str(path)
        self.message = cause
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        return f"{self.path}: error: {self.message}" + (f"\n  Hint: {self.hint}" if self.hint else "")


def os_error(path, exc: OSError, doing: str) -> FileError:
    """A FileError for an ``OSError`` met while ``doing`` (``writing the checkpoint``) at ``path``:
    a full disk, a read-only file system or a permission named as such."""
    import errno

    cause = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
             errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
             errno.EPERM: "operation not permitted"}.get(exc.errno, exc.strerror or str(exc))
    hint = {errno.ENOSPC: "free some space (or train into another --output directory) and run the same "
                          "command again: it resumes from the last checkpoint",
            errno.EDQUOT: "free some space and run the same command again: it resumes",
            errno.EROFS: "give an output directory on a writable disk (-o DIR)",
            errno.EACCES: "give an output directory you can write to (-o DIR)"}.get(exc.errno)
    return FileError(path, f"{doing} failed: {cause}", hint=hint)


class RunError(ArchspecError):
    """A failure while running (training, tuning, export) that is not a mistake in the spec or
    the command line; ``hint`` says what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        return f"error: {self.message}" + (f"\n  Hint: {self.hint}" if self.hint else "")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the CLI's handler: handled as Ctrl-C, exit 143."""


#: the file name of values that came from the command line (``--set``, ``--data``, ...)
COMMAND_LINE = "<command line>"


def command_line(flag: str = "") -> Loc:
    """Where a command-line value was given: ``command_line("--data")``."""
    return Loc(COMMAND_LINE, 0, 0, flag)


def _short_repr(value, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: str, choices: Iterable[str], *, n: int = 1) -> str | None:
    """A "did you mean `x`?" hint for a misspelled name, or None if nothing is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)
    if not matches:
        lowered = {str(c).lower(): str(c) for c in choices}
        if str(word).lower() in lowered:
            matches = [lowered[str(word).lower()]]
    if not matches:
        return None
    return "did you mean " + " or ".join(f"`{m}`" for m in matches) + "?"
