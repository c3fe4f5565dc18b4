"""Argo CD: an Application per overlay and the root app-of-apps that owns them.

The platform applies `gitops/argocd/root.yaml` once; from then on Argo CD syncs the child Applications
from `gitops/argocd/apps/`, and each child syncs one overlay onto its cluster (registered in Argo CD
under the cluster's name in mesh.yaml). Removing an environment or cluster from mesh.yaml removes its
Application, and the finalizer makes Argo CD delete what that Application had deployed.
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
    promotion_stage,
    repo_path,
)

API_VERSION = "argoproj.io/v1alpha1"
NAMESPACE = "argocd"  # where Argo CD watches Applications
PROJECT = "default"
IN_CLUSTER = "in-cluster"  # Argo CD's name for the cluster it runs in
FINALIZER = "resources-finalizer.argocd.argoproj.io"  # cascade: deleting the app deletes its objects
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
APPS_DIR = "gitops/argocd/apps"

SYNC_OPTIONS = (
    "CreateNamespace=true",  # the environment's namespace may not exist on a new cluster
    "ServerSideApply=true",  # CRDs with large schemas overflow client-side apply's annotation
    "PruneLast=true",  # delete what left the tree only after everything else is healthy
)


def _sync_policy() -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": list(SYNC_OPTIONS),
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
    }


def application(model: Model, gitops: GitOps, overlay: Overlay) -> dict[str, Any]:
    env = model.environments[overlay.environment]
    # Waves order the children in the root's sync: an earlier environment is created and synced first.
    meta = k8s.metadata(
        model,
        overlay_name(model, overlay),
        env.source,
        labels_=k8s.mesh_labels(model),
        namespace=NAMESPACE,
        annotations_={SYNC_WAVE: str(promotion_stage(model)[overlay.environment])},
    )
    return _application(meta, gitops, overlay.path, overlay.cluster or IN_CLUSTER, overlay.namespace)


def root(model: Model, gitops: GitOps) -> dict[str, Any]:
    meta = k8s.metadata(
        model,
        object_name(model.name, "apps"),
        gitops_source(model),
        labels_=k8s.mesh_labels(model),
        namespace=NAMESPACE,
    )
    return _application(meta, gitops, APPS_DIR, IN_CLUSTER, NAMESPACE)


def render(model: Model, gitops: GitOps) -> list[Artifact]:
    out: list[Artifact] = []
    files: list[str] = []
    for overlay in model.overlays:
        name = file_name(overlay)
        files.append(name)
        node = f"environment:{overlay.environment}"
        out.append(Artifact(f"{APPS_DIR}/{name}", application(model, gitops, overlay), node=node))
    # A kustomization makes the folder renderable with `kubectl kustomize` as well as by Argo CD.
    out.append(Artifact(f"{APPS_DIR}/kustomization.yaml", kustomization(sorted(files))))
    out.append(Artifact("gitops/argocd/root.yaml", root(model, gitops)))
    return out


def _application(
    meta: dict[str, Any], gitops: GitOps, folder: str, cluster: str, namespace: str
) -> dict[str, Any]:
    """An Application syncing one folder of the GitOps repository into one cluster and namespace."""
    meta["finalizers"] = [FINALIZER]
    return k8s.obj(
        API_VERSION,
        "Application",
        meta,
        spec={
            "project": PROJECT,
            "source": {
                "repoURL": gitops.repo,
                "targetRevision": gitops.branch,
                "path": repo_path(gitops, folder),
            },
            "destination": {"name": cluster, "namespace": namespace},
            "syncPolicy": _sync_policy(),
        },
    )
