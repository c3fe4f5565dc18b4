"""The gitops backend: how a GitOps engine syncs the rendered tree, and who reviews changes to it.

Output under `gitops/` (nothing at all when the mesh has no `gitops` section):

- `engine: argocd`: an Argo CD Application per overlay (environment x cluster) in `gitops/argocd/apps/`
  and one root app-of-apps, `gitops/argocd/root.yaml`, that the platform applies once.
- `engine: flux`: a GitRepository for the GitOps repository and a Flux Kustomization per overlay in
  `gitops/flux/`, each overlay depending on the previous environment's overlays.
- `gitops/CODEOWNERS`: the mesh's owners over the whole rendered folder, each service's owners over its
  own folders, protected services marked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mpc.render.api import Artifact

from . import argocd, codeowners, flux

if TYPE_CHECKING:
    from mpc.graph.mesh import MeshGraph
    from mpc.lang.model import Model

ENGINES = {"argocd": argocd.render, "flux": flux.render}


class GitOpsBackend:
    name = "gitops"

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Artifact]:
        if model.gitops is None:
            return []
        return [*ENGINES[model.gitops.engine](model, model.gitops), codeowners.render(model, model.gitops)]


backend = GitOpsBackend()
