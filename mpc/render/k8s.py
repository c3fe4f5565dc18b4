"""Conventions every backend shares for Kubernetes objects: names, labels, selectors, annotations.

One place, so that an Istio selector, a NetworkPolicy podSelector and a Deployment's pod labels can
never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpc.errors import Location
from mpc.lang.model import Model

SOURCE_ANNOTATION = "masterproxy.dev/source"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
VERSION_LABEL = "app.kubernetes.io/version"
MANAGED_BY = "mpc"
GATEWAY_COMPONENT = "master-proxy"

# Istio selects a port's protocol from its name and appProtocol.
APP_PROTOCOLS: Mapping[str, str] = {"http": "http", "grpc": "grpc", "tcp": "tcp", "udp": "udp"}


def selector(name: str) -> dict[str, str]:
    """The pod selector of a workload (service or master proxy). Stable across versions and archetypes."""
    return {NAME_LABEL: name}


def labels(model: Model, name: str, component: str, version: str | None = None) -> dict[str, str]:
    """Recommended labels, then the mesh's own metadata.labels (which cannot override ours)."""
    out: dict[str, str] = {
        NAME_LABEL: name,
        COMPONENT_LABEL: component,
        PART_OF_LABEL: model.name,
        MANAGED_BY_LABEL: MANAGED_BY,
    }
    if version is not None:
        out[VERSION_LABEL] = version
    for key, value in sorted(model.labels.items()):
        out.setdefault(key, value)
    return out


def mesh_labels(model: Model) -> dict[str, str]:
    """Labels for objects that belong to the mesh as a whole (namespace-wide policies, CRDs)."""
    out = {PART_OF_LABEL: model.name, MANAGED_BY_LABEL: MANAGED_BY}
    for key, value in sorted(model.labels.items()):
        out.setdefault(key, value)
    return out


def source_annotations(
    model: Model, source: Location, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    out = {SOURCE_ANNOTATION: model.source_ref(source)}
    if extra:
        out.update(extra)
    return out


def metadata(
    model: Model,
    name: str,
    source: Location,
    *,
    labels_: Mapping[str, str],
    namespace: str | None = None,
    annotations_: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels_)
    meta["annotations"] = source_annotations(model, source, annotations_)
    return meta


def obj(api_version: str, kind: str, meta: Mapping[str, Any], **body: Any) -> dict[str, Any]:
    """A Kubernetes object with its keys in the order people write them."""
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": dict(meta)}
    out.update(body)
    return out


def image_version(image: str) -> str | None:
    """The tag of an image, for app.kubernetes.io/version (a digest-only image has none)."""
    from mpc.lang.resolve import split_image

    _, tag, _ = split_image(image)
    if tag is None:
        return None
    return tag[:63]


def principal(namespace: str, service_account: str) -> str:
    """The SPIFFE-derived principal Istio gives a workload's ServiceAccount."""
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"


def pod_security_context(uid: int) -> dict[str, Any]:
    """The hardened pod: non-root with a high UID (clear of host users), its group owning volumes."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(uid: int) -> dict[str, Any]:
    """The hardened container: read-only root, no privilege, every capability dropped."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
