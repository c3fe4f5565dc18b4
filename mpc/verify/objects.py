"""One cluster's objects as verify reads them: namespaces, workloads and their pods, Services, policies.

Built from the objects an overlay renders to (what `kubectl kustomize` prints), never from the mesh: the
evaluators must see what the cluster would receive, so that a hand-edited or broken tree is judged as it
is. Kinds verify does not read are kept aside untouched.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mpc.lang.hosts import CLUSTER_DOMAIN
from mpc.lang.names import ISTIO_SYSTEM, SOURCE_ANNOTATION

NAME_LABEL = "app.kubernetes.io/name"
METADATA_NAME = "kubernetes.io/metadata.name"  # the API server labels every Namespace with its name
ROOT_NAMESPACE = ISTIO_SYSTEM  # Istio's root namespace: its policies apply mesh-wide
TRUST_DOMAIN = "cluster.local"

# Sample addresses, one per kind of peer: a pod (inside every private range mpc excepts), a client on the
# internet, and an external destination known only by its host name (a public address).
POD_ADDRESS = "10.64.0.10"
OUTSIDE_ADDRESS = "203.0.113.10"
PUBLIC_ADDRESS = "198.51.100.10"

POD_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True)
class Ref:
    """An object that decided something, and the mesh entry it says it comes from."""

    kind: str
    namespace: str
    name: str
    source: str | None  # the masterproxy.dev/source annotation, e.g. mesh.yaml#services.data

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        meta = obj.get("metadata") or {}
        source = (meta.get("annotations") or {}).get(SOURCE_ANNOTATION)
        return cls(str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")), source)


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str | None
    number: int
    protocol: str  # TCP | UDP | SCTP


@dataclass(frozen=True, slots=True)
class Workload:
    """The pods of one workload object: who they are (labels, ServiceAccount) and what they listen on."""

    name: str  # the app.kubernetes.io/name label, else the object's name
    namespace: str
    labels: Mapping[str, str]
    service_account: str
    ports: tuple[ContainerPort, ...]
    sidecar: bool  # an Istio proxy is injected: its traffic carries the workload's mTLS identity
    ref: Ref

    @property
    def principal(self) -> str:
        return f"{TRUST_DOMAIN}/ns/{self.namespace}/sa/{self.service_account}"

    def named_port(self, name: str, protocol: str) -> int | None:
        for port in self.ports:
            if port.name == name and port.protocol == protocol:
                return port.number
        return None


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str | None
    port: int
    target: int | str  # a number or a container port name
    protocol: str
    app_protocol: str | None


@dataclass(frozen=True, slots=True)
class KubeService:
    name: str
    namespace: str
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    ref: Ref

    @property
    def host(self) -> str:
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def selects(self, workload: Workload) -> bool:
        return (
            bool(self.selector)
            and workload.namespace == self.namespace
            and all(workload.labels.get(k) == v for k, v in self.selector.items())
        )

    def target_of(self, port: ServicePort, workload: Workload) -> int | None:
        if isinstance(port.target, int):
            return port.target
        return workload.named_port(port.target, port.protocol)


def _dig(obj: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any] | None:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, Mapping) else None


def _labels(meta: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((meta or {}).get("labels") or {}).items()}


def _injected(namespace_labels: Mapping[str, str], template_meta: Mapping[str, Any]) -> bool:
    """Istio's injection rule: a pod label or annotation `sidecar.istio.io/inject` decides, then the
    namespace's `istio-injection` (or a revision label)."""
    pod = {**(template_meta.get("annotations") or {}), **_labels(template_meta)}
    choice = str(pod.get("sidecar.istio.io/inject", "")).lower()
    if choice in ("true", "false"):
        return choice == "true"
    return namespace_labels.get("istio-injection") == "enabled" or "istio.io/rev" in namespace_labels


def _container_ports(spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    out = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            out.append(
                ContainerPort(port.get("name"), int(port["containerPort"]), str(port.get("protocol", "TCP")))
            )
    return tuple(out)


@dataclass
class ClusterView:
    """Every object of one rendered overlay, indexed by what the evaluators ask."""

    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    workloads: list[Workload] = field(default_factory=list)
    services: list[KubeService] = field(default_factory=list)
    by_kind: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Iterable[Mapping[str, Any]]) -> ClusterView:
        view = cls()
        objects = [o for o in objects if isinstance(o, Mapping) and "kind" in o]
        for obj in objects:
            view.by_kind.setdefault(str(obj["kind"]), []).append(obj)
            if obj["kind"] == "Namespace":
                name = str(obj["metadata"]["name"])
                view.namespaces[name] = {**_labels(obj["metadata"]), METADATA_NAME: name}
        for obj in objects:
            template = _dig(obj, POD_TEMPLATES.get(str(obj["kind"]), ("-",)))
            if template is not None:
                view.workloads.append(view._workload(obj, template))
            elif obj["kind"] == "Service":
                view.services.append(_service(obj))
        return view

    def namespace_labels(self, name: str) -> dict[str, str]:
        return self.namespaces.get(name, {METADATA_NAME: name})

    def _workload(self, obj: Mapping[str, Any], template: Mapping[str, Any]) -> Workload:
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        pod_meta = template.get("metadata") or {}
        labels = _labels(pod_meta)
        spec = template.get("spec") or {}
        return Workload(
            name=labels.get(NAME_LABEL, str(meta.get("name"))),
            namespace=namespace,
            labels=labels,
            service_account=str(spec.get("serviceAccountName") or "default"),
            ports=_container_ports(spec),
            sidecar=_injected(self.namespace_labels(namespace), pod_meta),
            ref=Ref.of(obj),
        )

    def objects(self, kind: str, api_group: str | None = None) -> list[Mapping[str, Any]]:
        found = self.by_kind.get(kind, [])
        if api_group is None:
            return found
        return [o for o in found if str(o.get("apiVersion", "")).split("/")[0] == api_group]

    def workload(self, name: str) -> Workload | None:
        return next((w for w in self.workloads if w.name == name), None)

    def services_of(self, workload: Workload) -> list[KubeService]:
        return [s for s in self.services if s.selects(workload)]


def _service(obj: Mapping[str, Any]) -> KubeService:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port["port"])
        ports.append(
            ServicePort(
                port.get("name"),
                int(port["port"]),
                int(target) if isinstance(target, int) or str(target).isdigit() else str(target),
                str(port.get("protocol", "TCP")),
                port.get("appProtocol"),
            )
        )
    return KubeService(
        str(meta.get("name")),
        str(meta.get("namespace") or "default"),
        {str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
        tuple(ports),
        Ref.of(obj),
    )


def load_documents(text: str) -> list[dict[str, Any]]:
    """The mappings of a YAML stream, read with libyaml (PyYAML's C loader) when it is built in."""
    yaml = importlib.import_module("yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict)]


def in_block(address: str, cidr: str, excepts: Iterable[str] = ()) -> bool:
    """Whether an address is inside a CIDR and outside each of its exceptions (IPv4 and IPv6)."""
    ip = ipaddress.ip_address(address)
    try:
        block = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    if ip.version != block.version or ip not in block:
        return False
    for ex in excepts:
        try:
            if ip in ipaddress.ip_network(ex, strict=False):
                return False
        except (ValueError, TypeError):
            continue
    return True


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions); an empty selector selects all."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key")), str(expr.get("operator"))
        values = {str(v) for v in expr.get("values") or []}
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
