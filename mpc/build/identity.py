"""The identity of the code that renders: what the user cache's keys include, so that no cached output
outlives the code that wrote it. Standard library only: a build that finds its tree current needs this and
nothing of the renderers."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable

from mpc import __version__


def code_identity(plugins: Iterable[tuple[str, str]]) -> str:
    """A digest of the code that renders: mpc's version and sources, and those of the installed plugins.

    Sources are known by path, size and modification time (a development checkout edits code under one
    version number); plugins also by distribution and version. Installing, upgrading or editing any of
    them gives another identity, so no cached output outlives the code that wrote it. `plugins`:
    (distribution and version, top-level module) of each third-party plugin installed.
    """
    h = hashlib.sha256(f"mpc {__version__}\0".encode())
    for label, module in [("mpc", "mpc"), *plugins]:
        h.update(f"{label}\0".encode())
        for path, size, mtime in _sources(module):
            h.update(f"{path}\0{size}\0{mtime}\0".encode())
    return h.hexdigest()


def _sources(module: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of every Python source of a top-level module or package, sorted."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return []
    if not spec.submodule_search_locations:
        if spec.origin is None or not os.path.isfile(spec.origin):
            return []
        st = os.stat(spec.origin)
        return [(spec.origin, st.st_size, st.st_mtime_ns)]
    stack = list(spec.submodule_search_locations)
    found: list[tuple[str, int, int]] = []
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                stack.append(entry.path)
            elif entry.name.endswith(".py"):
                st = entry.stat()
                found.append((entry.path, st.st_size, st.st_mtime_ns))
    return sorted(found)
