"""The mesh as the commands read it: from a file or standard input, bounded, analysed with the plugins."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mpc.errors import Code, Diagnostic, Location, MpcError
from mpc.graph.front import Front
from mpc.graph.front import analyse as analyse_with
from mpc.lang.load import MAX_BYTES, Document, load_bytes, load_text, too_large
from mpc.render.api import Artifact
from mpc.render.plugins import Installed

STDIN = "-"


def read_mesh(path: str | Path, display: str | None = None) -> bytes:
    """A mesh file's bytes, read no further than MAX_BYTES (a FIFO or /dev/zero cannot make mpc read on).

    `-` reads standard input.
    """
    name = display or str(path)
    try:
        if str(path) == STDIN:
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    raise IsADirectoryError(21, "Is a directory")
                with os.fdopen(fd, "rb", closefd=False) as stream:
                    data = stream.read(MAX_BYTES + 1)
            finally:
                os.close(fd)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MpcError(
            [Diagnostic(Code.UNREADABLE, f"cannot read the file: {reason}", Location(name))]
        ) from None
    if len(data) > MAX_BYTES:
        raise MpcError([too_large(name)])
    return data


def display_name(path: str | Path) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


def analyse(doc: Document, installed: Installed | None = None) -> Front:
    return analyse_with(doc, installed or Installed())


def front_file(path: str | Path, display: str | None = None, installed: Installed | None = None) -> Front:
    name = display or display_name(path)
    return analyse(load_bytes(read_mesh(path, name), name), installed)


def front_text(text: str, file: str = "mesh.yaml") -> Front:
    return analyse(load_text(text, file))


@dataclass(frozen=True)
class Rendered:
    """Every file a mesh compiles to, as documents (what validators and tests read)."""

    artifacts: list[Artifact]
    backends: list[str]

    def by_path(self) -> dict[str, Artifact]:
        return {art.path: art for art in self.artifacts}


def render(front: Front, backends: Sequence[str] | None = None) -> Rendered:
    """Render the selected backends (default: the built-ins and the plugins the mesh configures), no
    cache: every file as plain content, the shared files assembled and kustomizations linked."""
    from mpc.build.compile import compile_tree

    compiled = compile_tree(front, Installed(), tuple(backends or ()), plain=True)
    return Rendered(sorted(compiled.artifacts, key=lambda a: a.path), compiled.backends)
