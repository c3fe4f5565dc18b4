"""The compiler's stages in order: load -> parse -> resolve -> graph (+checks) -> backends -> link."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpc.errors import Diagnostic, MpcError, PluginError, Severity
from mpc.graph.mesh import MeshGraph
from mpc.lang.archetypes import Archetype
from mpc.lang.load import Document, load_file, load_text
from mpc.lang.model import Model
from mpc.lang.spec import Mesh
from mpc.render.api import Artifact


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


def analyse(doc: Document, archetypes: Mapping[str, Archetype] | None = None) -> Front:
    from mpc.graph.checks import run_checks
    from mpc.lang.extensions import check_extensions
    from mpc.lang.parse import parse
    from mpc.lang.resolve import resolve

    if archetypes is None:
        from mpc.render.plugins import load_archetypes

        archetypes = load_archetypes()
    mesh = parse(doc)
    model = resolve(mesh, doc, archetypes)
    graph = MeshGraph.build(model)
    found = run_checks(mesh, doc, model, graph)
    found += check_extensions(doc, mesh, archetypes)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise MpcError(found)
    return Front(doc, mesh, model, graph, tuple(found))


def front_file(path: str | Path, display: str | None = None) -> Front:
    return analyse(load_file(path, display))


def front_text(text: str, file: str = "mesh.yaml") -> Front:
    return analyse(load_text(text, file))


@dataclass
class Rendered:
    artifacts: list[Artifact]
    backends: list[str] = field(default_factory=list)


def render(front: Front, backend_names: list[str] | None = None) -> Rendered:
    """Run the selected backends and link their overlay contributions.

    By default: the built-in backends and the plugin backends the mesh configures under `extensions:`.
    """
    from mpc.render.plugins import load_backends

    artifacts: list[Artifact] = []
    names: list[str] = []
    for plugin, backend in load_backends(backend_names, front.model.extensions):
        names.append(plugin.name)
        if plugin.builtin:
            produced = list(backend.render(front.model, front.graph))
        else:
            try:
                produced = list(backend.render(front.model, front.graph))
            except MpcError:
                raise
            except Exception as exc:  # a third-party failure is reported as that plugin's, by name
                raise PluginError("backend", plugin.name, plugin.distribution, exc) from exc
        artifacts.extend(produced)
    return Rendered(link_overlays(artifacts), names)


def link_overlays(artifacts: list[Artifact]) -> list[Artifact]:
    """Add each contributed folder to the `resources` of the overlays that asked for it.

    Backends stay independent: the istio backend does not know whether the kustomize backend runs. An
    overlay that is not rendered (its backend was not selected) simply receives nothing.
    """
    contributions: dict[str, set[str]] = {}
    for art in artifacts:
        for overlay in art.overlays:
            folder = posixpath.dirname(art.path)
            contributions.setdefault(overlay, set()).add(posixpath.relpath(folder, overlay))
    if not contributions:
        return artifacts
    out: list[Artifact] = []
    for art in artifacts:
        overlay = posixpath.dirname(art.path)
        if posixpath.basename(art.path) == "kustomization.yaml" and overlay in contributions:
            assert isinstance(art.content, Mapping), "an overlay kustomization is one document"
            content: dict[str, Any] = dict(art.content)
            resources = list(content.get("resources", []))
            resources.extend(sorted(contributions[overlay] - set(resources)))
            content["resources"] = resources
            art = Artifact(art.path, content, art.overlays, art.node)
        out.append(art)
    return out
