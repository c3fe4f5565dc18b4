"""The mesh as the commands analyse it: read (mpc.workflow.source), parsed and checked with the plugins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mpc.graph.front import Front
from mpc.graph.front import analyse as analyse_with
from mpc.lang.load import Document, load_bytes, load_text
from mpc.render.api import Artifact
from mpc.render.plugins import Installed
from mpc.workflow.source import display_name as display_name
from mpc.workflow.source import read_mesh as read_mesh


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
