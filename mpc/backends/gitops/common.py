"""What both engines share: object names, repository paths, the promotion order of environments."""

from __future__ import annotations

import hashlib
import posixpath

from mpc.errors import Location
from mpc.lang.model import GitOps, Model, Overlay

# Kubernetes allows 253 characters, but both engines copy an object's name into a label value
# (Argo CD's app.kubernetes.io/instance, Flux's kustomize.toolkit.fluxcd.io/name), which holds 63.
MAX_NAME = 63


def object_name(*parts: str) -> str:
    """`acme-prod-gke-prod`; names too long for a label value keep a stable hash suffix instead."""
    name = "-".join(parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9].rstrip('-')}-{digest}"


def overlay_name(model: Model, overlay: Overlay) -> str:
    parts = [model.name, overlay.environment]
    if overlay.cluster is not None:
        parts.append(overlay.cluster)
    return object_name(*parts)


def repo_path(gitops: GitOps, path: str) -> str:
    """A path of the rendered tree as the GitOps repository sees it: under `gitops.path`."""
    return posixpath.normpath(posixpath.join(gitops.path.strip("/") or ".", path))


def promotion_stage(model: Model) -> dict[str, int]:
    """Environment -> its stage. mesh.yaml lists environments in promotion order (staging before prod):
    the engines roll a commit out to stage N only once stage N-1 has applied it and is healthy."""
    return {name: i for i, name in enumerate(model.environments)}


def previous_stage(model: Model, overlay: Overlay) -> list[Overlay]:
    """The overlays of the environment listed just before this overlay's environment."""
    stages = promotion_stage(model)
    stage = stages[overlay.environment]
    if stage == 0:
        return []
    before = next(env for env, i in stages.items() if i == stage - 1)
    return list(model.overlays_of(before))


def gitops_source(model: Model) -> Location:
    """Where the objects that exist for the whole mesh come from: the environments that need syncing
    (the model keeps no position for the gitops section itself)."""
    first = next(iter(model.environments.values()), None)
    return first.source if first is not None else model.gateway.source


def file_name(overlay: Overlay) -> str:
    return (
        f"{overlay.environment}-{overlay.cluster}.yaml" if overlay.cluster else f"{overlay.environment}.yaml"
    )
