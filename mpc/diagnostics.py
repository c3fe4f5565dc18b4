"""Located diagnostics: the one way mpc reports a problem in the user's input."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based line and column in a named file."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    location: Location
    hint: str = ""
    severity: Severity = Severity.ERROR
    # Extra located lines (a cycle's edges, the earlier of two duplicates).
    notes: tuple[tuple[Location, str], ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.code, self.message)

    def render(self) -> str:
        lines = [f"{self.location}: {self.severity.value}[{self.code}]: {self.message}"]
        for note_loc, note in self.notes:
            lines.append(f"  {note_loc}: note: {note}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class MpcError(Exception):
    """The user's input is wrong: carries every diagnostic found, sorted by position."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class PluginError(Exception):
    """A third-party plugin failed: reported with the plugin's name, never as an mpc bug."""

    def __init__(self, kind: str, name: str, distribution: str, cause: BaseException) -> None:
        self.kind = kind
        self.name = name
        self.distribution = distribution
        self.cause = cause
        super().__init__(f"{kind} plugin {name!r} ({distribution}) failed: {type(cause).__name__}: {cause}")


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str:
    """A hint naming the closest known name, or listing the choices when there are few."""
    import difflib

    pool = sorted(candidates)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not pool:
        return ""
    if len(pool) <= 8:
        return "known: " + ", ".join(pool)
    return ""
