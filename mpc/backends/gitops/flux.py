"""Flux: one GitRepository for the GitOps repository and a Kustomization per overlay.

The objects live in the management cluster's `flux-system` namespace (point its Flux at
`<gitops.path>/gitops/flux`). An overlay on a named cluster is applied there through the kubeconfig in the
Secret `<cluster>-kubeconfig` (Flux's hub-and-spoke pattern); an overlay without a cluster is applied
where Flux runs. Promotion: each overlay `dependsOn` the overlays of the environment listed before its own
in mesh.yaml, and waits for its objects to become healthy, so a commit that breaks staging never reaches
prod. Within one overlay Flux applies CRDs and namespaces before the objects that need them.
"""

from __future__ import annotations

from typing import Any

from mpc.lang.model import GitOps, Model, Overlay
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.render.k8s import kustomization

from .common import (
    file_name,
    gitops_source,
    object_name,
    overlay_name,
    previous_stage,
    repo_path,
)

NAMESPACE = "flux-system"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
FLUX_DIR = "gitops/flux"


def kubeconfig_secret(cluster: str) -> str:
    return f"{cluster}-kubeconfig"


def git_repository(model: Model, gitops: GitOps) -> dict[str, Any]:
    meta = k8s.metadata(
        model,
        object_name(model.name),
        gitops_source(model),
        labels_=k8s.mesh_labels(model),
        namespace=NAMESPACE,
    )
    return k8s.obj(
        SOURCE_API,
        "GitRepository",
        meta,
        spec={"interval": "1m", "url": gitops.repo, "ref": {"branch": gitops.branch}},
    )


def flux_kustomization(model: Model, gitops: GitOps, overlay: Overlay) -> dict[str, Any]:
    env = model.environments[overlay.environment]
    meta = k8s.metadata(
        model, overlay_name(model, overlay), env.source, labels_=k8s.mesh_labels(model), namespace=NAMESPACE
    )
    spec: dict[str, Any] = {}
    before = previous_stage(model, overlay)
    if before:
        spec["dependsOn"] = [{"name": overlay_name(model, o)} for o in before]
    spec.update(
        {
            "interval": "10m",
            "retryInterval": "2m",
            "timeout": "5m",
            "sourceRef": {"kind": "GitRepository", "name": object_name(model.name)},
            "path": "./" + repo_path(gitops, overlay.path),
            "prune": True,
            "wait": True,  # Ready means healthy, which is what dependsOn waits for
        }
    )
    if overlay.cluster is not None:
        spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret(overlay.cluster)}}
    return k8s.obj(KUSTOMIZE_API, "Kustomization", meta, spec=spec)


def render(model: Model, gitops: GitOps) -> list[Artifact]:
    out = [Artifact(f"{FLUX_DIR}/gitrepository.yaml", git_repository(model, gitops))]
    files = ["gitrepository.yaml"]
    for overlay in model.overlays:
        name = file_name(overlay)
        files.append(name)
        node = f"environment:{overlay.environment}"
        out.append(Artifact(f"{FLUX_DIR}/{name}", flux_kustomization(model, gitops, overlay), node=node))
    out.append(Artifact(f"{FLUX_DIR}/kustomization.yaml", kustomization(sorted(files))))
    return out
