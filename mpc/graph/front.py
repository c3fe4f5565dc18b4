"""The front half of the compiler: a loaded document to a checked model and its graph (no file system)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mpc.errors import Diagnostic, MpcError, Severity
from mpc.graph.checks import run_checks
from mpc.graph.mesh import MeshGraph
from mpc.lang.extensions import Plugins, check_extensions
from mpc.lang.load import Document
from mpc.lang.model import Model
from mpc.lang.parse import parse
from mpc.lang.resolve import resolve
from mpc.lang.spec import Mesh


@dataclass(frozen=True)
class Front:
    """A mesh that passed every check: the document, the spec, the resolved model and its graph."""

    doc: Document
    mesh: Mesh
    model: Model
    graph: MeshGraph
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.doc.text.encode("utf-8")).hexdigest()


def analyse(doc: Document, plugins: Plugins) -> Front:
    """Parse, resolve, graph and check; raises MpcError with every diagnostic when any is an error."""
    mesh = parse(doc)
    model = resolve(mesh, doc, plugins.archetypes)
    graph = MeshGraph.build(model)
    found = run_checks(mesh, doc, model, graph)
    found += check_extensions(doc, mesh, plugins)
    if any(d.severity is Severity.ERROR for d in found):
        raise MpcError(found)
    return Front(doc, mesh, model, graph, tuple(found))
