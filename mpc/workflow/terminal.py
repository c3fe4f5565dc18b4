"""What the commands show a person at a terminal: diagnostics with colour and the offending source line,
and a progress line for long builds. Plain text elsewhere (a pipe, a file, CI), so that what tools and
tests read never changes. Nothing here decides anything; the CLI asks and prints.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from mpc.errors import Diagnostic, Severity
from mpc.lang.load import MAX_BYTES

_RESET = "\x1b[0m"
_STYLES = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "location": "\x1b[1m",
    "caret": "\x1b[1;31m",
    "hint": "\x1b[36m",
    "gutter": "\x1b[2m",
}


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def colour_wanted(stream: TextIO | None) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org) or the terminal is dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def source_lines(file: str) -> list[str] | None:
    """The lines of a regular file, read no further than mpc reads a mesh; None when it cannot be read."""
    try:
        path = Path(file)
        if not path.is_file():
            return None
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace").splitlines()


def _line_of(lines_of: Callable[[str], list[str] | None]) -> Callable[[str, int], str | None]:
    def line_of(file: str, line: int) -> str | None:
        lines = lines_of(file) if line > 0 else None
        return lines[line - 1] if lines is not None and line <= len(lines) else None

    return line_of


# Line `line` of a regular file (see source_lines); None when it cannot be read.
source_line = _line_of(source_lines)


def _line_reader() -> Callable[[str, int], str | None]:
    """source_line, reading each file once: a terminal shows up to MAX_REPORTED excerpts of one mesh."""
    return _line_of(functools.lru_cache(maxsize=8)(source_lines))


class Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self.colour else text


def render(
    d: Diagnostic, *, colour: bool, excerpt: bool, read: Callable[[str, int], str | None] = source_line
) -> str:
    """A diagnostic as `Diagnostic.render` writes it, with the source line and a caret under its column
    (`excerpt`) and colour (`colour`)."""
    paint = Painter(colour)
    loc = d.location
    severity = paint("error" if d.severity is Severity.ERROR else "warning", f"{d.severity.value}[{d.code}]")
    lines = [f"{paint('location', str(loc))}: {severity}: {d.message}"]
    text = read(loc.file, loc.line) if excerpt else None
    if text is not None:
        number = str(loc.line)
        gutter = " " * len(number)
        shown = text.expandtabs(1)
        lines.append(paint("gutter", f"  {number} | ") + shown)
        if loc.col > 0:
            lines.append(paint("gutter", f"  {gutter} | ") + " " * (loc.col - 1) + paint("caret", "^"))
    for note_loc, note in d.notes:
        lines.append(f"  {paint('location', str(note_loc))}: note: {note}")
    if d.hint:
        lines.append(f"  {paint('hint', 'hint:')} {d.hint}")
    return "\n".join(lines)


def render_all(diagnostics: Sequence[Diagnostic], stream: TextIO | None) -> str:
    """Diagnostics for `stream`: on a terminal with excerpts and colour (unless NO_COLOR), else plain."""
    terminal = is_terminal(stream)
    colour = colour_wanted(stream)
    read = _line_reader()
    return "\n".join(render(d, colour=colour, excerpt=terminal, read=read) for d in diagnostics)


class Progress:
    """One line on stderr, rewritten in place, naming the stage and the time so far: only on a terminal,
    only once the work has run for a second, refreshed while a long stage runs (so it never looks stuck).
    `done()` clears it, leaving the terminal for the final summary."""

    DELAY_S = 1.0
    REFRESH_S = 0.25

    def __init__(self, stream: TextIO | None, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and is_terminal(stream)
        self.start = time.monotonic()
        self.stage = "starting"
        self.shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="mpc-progress", daemon=True)
            self._thread.start()

    def __call__(self, stage: str) -> None:
        with self._lock:
            self.stage = stage

    def _run(self) -> None:
        if self._stop.wait(self.DELAY_S):
            return
        while not self._stop.is_set():
            self._draw()
            self._stop.wait(self.REFRESH_S)

    def _draw(self) -> None:
        assert self.stream is not None
        with self._lock:
            elapsed = time.monotonic() - self.start
            try:
                self.stream.write(f"\r\x1b[2K… {self.stage} ({elapsed:.1f} s)")
                self.stream.flush()
                self.shown = True
            except (OSError, ValueError):
                self._stop.set()

    def done(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.shown and self.stream is not None:
            try:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
