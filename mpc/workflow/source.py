"""The mesh as the commands read it: from a file or standard input, bounded.

Kept apart from the compiler (mpc.workflow.front): a rebuild that the user cache proves current reads
the mesh and stops, without importing what parses it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from mpc.errors import Code, Diagnostic, Location, MpcError
from mpc.lang.load import MAX_BYTES, too_large

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
