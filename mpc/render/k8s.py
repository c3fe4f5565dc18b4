"""Conventions every backend shares for Kubernetes objects: names, labels, selectors, annotations, and
the one kustomization builder.

One place, so that an Istio selector, a NetworkPolicy podSelector and a Deployment's pod labels can
never disagree.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from mpc.errors import Location
from mpc.lang.hosts import NOT_PUBLIC, Place
from mpc.lang.images import image_version as image_version
from mpc.lang.model import MeshSettings
from mpc.lang.names import ISTIO_SYSTEM as ISTIO_SYSTEM
from mpc.lang.names import SOURCE_ANNOTATION as SOURCE_ANNOTATION

NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
VERSION_LABEL = "app.kubernetes.io/version"
MANAGED_BY = "mpc"
GATEWAY_COMPONENT = "master-proxy"

# Istio selects a port's protocol from its name and appProtocol.
APP_PROTOCOLS: Mapping[str, str] = {"http": "http", "grpc": "grpc", "tcp": "tcp", "udp": "udp"}


KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every Namespace
# Istio's convention: a version's pods carry it, DestinationRule subsets select on it.
SUBSET_LABEL = "version"
# A digest of the configuration a pod mounts, on its template: a change rolls the pods.
CONFIG_HASH_ANNOTATION = "masterproxy.dev/config-hash"


def kustomization(
    resources: Iterable[str], *, namespace: str | None = None, patches: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """A kustomization.yaml, its entries in the order given (callers sort where order means nothing)."""
    out: dict[str, Any] = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization"}
    if namespace is not None:
        out["namespace"] = namespace
    out["resources"] = list(resources)
    patch_list = [dict(p) for p in patches]
    if patch_list:
        out["patches"] = patch_list
    return out


_ODD = frozenset({"", ".", ".."})


def relative(target: str, start: str) -> str:
    """posixpath.relpath for the output tree's own folder names (relative, normalised), without its
    abspath and getcwd calls: a build asks this for every service in every overlay."""
    if (
        target.startswith("/")
        or start.startswith("/")
        or _ODD.intersection((*target.split("/"), *start.split("/")))
    ):
        return posixpath.relpath(target, start)
    to, base = target.split("/"), start.split("/")
    common = 0
    for a, b in zip(to, base, strict=False):
        if a != b:
            break
        common += 1
    return "/".join([".."] * (len(base) - common) + to[common:]) or "."


def selector(name: str) -> dict[str, str]:
    """The pod selector of a workload (service or master proxy). Stable across versions and archetypes."""
    return {NAME_LABEL: name}


def labels(model: MeshSettings, name: str, component: str, version: str | None = None) -> dict[str, str]:
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


def mesh_labels(model: MeshSettings) -> dict[str, str]:
    """Labels for objects that belong to the mesh as a whole (namespace-wide policies, CRDs)."""
    out = {PART_OF_LABEL: model.name, MANAGED_BY_LABEL: MANAGED_BY}
    for key, value in sorted(model.labels.items()):
        out.setdefault(key, value)
    return out


def source_annotations(
    model: MeshSettings, source: Location, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    out = {SOURCE_ANNOTATION: model.source_ref(source)}
    if extra:
        out.update(extra)
    return out


def metadata(
    model: MeshSettings,
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


def namespace_selector(namespace: str) -> dict[str, Any]:
    """A NetworkPolicy peer: every pod of one namespace (by the label the API server sets)."""
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}


def egress_peer(place: Place, namespace: str) -> dict[str, Any]:
    """Who a host is, for a NetworkPolicy egress rule from `namespace` (mpc.lang.hosts.place says).

    A service of the cluster: the pods of its namespace. An address: that address. A name on the
    Internet: its addresses are unknown here, so any public address.
    """
    if place.in_cluster:
        return namespace_selector(place.namespace or namespace)
    if place.address is not None:
        bits = 128 if ":" in place.address else 32
        return {"ipBlock": {"cidr": f"{place.address}/{bits}"}}
    return {"ipBlock": public()}


def public() -> dict[str, Any]:
    """Any address outside the private ranges and the link-local one, where cloud metadata servers hand
    out credentials (a NetworkPolicy ipBlock)."""
    return {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}


def principal(namespace: str, service_account: str) -> str:
    """The SPIFFE-derived principal Istio gives a workload's ServiceAccount."""
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.cluster.local"


UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start"
PRIVILEGED_BELOW = 1024


def pod_security_context(uid: int, ports: Iterable[int] = ()) -> dict[str, Any]:
    """The hardened pod: non-root with a high UID (clear of host users), its group owning volumes.

    A container port below 1024 stays unprivileged through the safe sysctl that lowers the start of the
    unprivileged range for this pod's network namespace (Kubernetes >= 1.22, no node configuration),
    never through a capability: every capability stays dropped.
    """
    out: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    low = [p for p in ports if p < PRIVILEGED_BELOW]
    if low:
        out["sysctls"] = [{"name": UNPRIVILEGED_PORT_START, "value": str(min(low))}]
    return out


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
