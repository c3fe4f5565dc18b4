"""What every module of the istio backend shares: API versions, the per-environment scope, object shells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mpc.errors import Location
from mpc.graph.mesh import MeshGraph
from mpc.lang.model import Environment, MeshSettings, Model, Service, ServiceContext
from mpc.render import k8s

SECURITY = "security.istio.io/v1"
NETWORKING = "networking.istio.io/v1"
TELEMETRY = "telemetry.istio.io/v1"

ROOT = "istio"
ISTIO_SYSTEM = k8s.ISTIO_SYSTEM
# Istio's default trust domain. Every cluster of a federated environment keeps it, so a principal
# means the same workload whichever cluster it runs in (k8s.principal writes it).
TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True, slots=True)
class Generated:
    """One Istio object and the mesh.yaml position it derives from (for located analysis findings)."""

    obj: dict[str, Any]
    source: Location

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    def describe(self) -> str:
        return f"{self.kind} {self.obj['metadata'].get('namespace', '')}/{self.name}"


class InEnvironment:
    """What every Istio object of one environment reads: the mesh settings and the environment."""

    __slots__ = ()
    model: MeshSettings
    env: Environment

    @property
    def namespace(self) -> str:
        return self.env.namespace

    @property
    def folder(self) -> str:
        return f"{ROOT}/{self.env.name}"

    def principal(self, workload: str) -> str:
        """The identity of a workload's ServiceAccount (named after the workload, by convention)."""
        return k8s.principal(self.namespace, workload)

    def fqdn(self, service: str) -> str:
        return k8s.service_fqdn(service, self.namespace)

    def meta(self, name: str, source: Location, namespace: str | None = None) -> dict[str, Any]:
        return k8s.metadata(
            self.model,
            name,
            source,
            labels_=k8s.mesh_labels(self.model),
            namespace=self.namespace if namespace is None else namespace,
        )

    def obj(self, api: str, kind: str, name: str, source: Location, spec: dict[str, Any]) -> Generated:
        return Generated(k8s.obj(api, kind, self.meta(name, source), spec=spec), source)


@dataclass(frozen=True, slots=True)
class Scope(InEnvironment):
    """One environment of the whole mesh: its namespace and the services that run in it."""

    model: Model
    graph: MeshGraph
    env: Environment
    services: tuple[Service, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", self.model.services_in(self.env.name))

    def runs(self, service: str) -> bool:
        svc = self.model.services.get(service)
        return svc is not None and self.env.name in svc.environments


@dataclass(frozen=True, slots=True)
class ServiceScope(InEnvironment):
    """One service in one environment: what its own policy file may read (its context, nothing more)."""

    model: MeshSettings
    env: Environment
    context: ServiceContext

    @property
    def service(self) -> Service:
        return self.context.service


def selector(workload: str) -> dict[str, Any]:
    return {"matchLabels": k8s.selector(workload)}
