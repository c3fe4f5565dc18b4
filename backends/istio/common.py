"""What every module of the istio backend shares: API versions, the per-environment scope, object shells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mpc.errors import Location
from mpc.graph.mesh import MeshGraph, split_id
from mpc.lang.model import Environment, Model, Route, Service
from mpc.render import k8s

SECURITY = "security.istio.io/v1"
NETWORKING = "networking.istio.io/v1"
TELEMETRY = "telemetry.istio.io/v1"
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"

ROOT = "istio"
ISTIO_SYSTEM = "istio-system"
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


@dataclass(frozen=True, slots=True)
class Links:
    """The graph's call edges and the gateway's routes, indexed once per render (not once per service:
    per-node queries on the graph cost a view each, which adds up to seconds in a 1,000-service mesh)."""

    callers: dict[str, list[str]]  # service -> services that call it, sorted
    dependencies: dict[str, list[str]]  # service -> node ids it calls (services, external entries), sorted
    routes: dict[str, list[Route]]  # service -> routes naming it, in file order

    @classmethod
    def of(cls, model: Model, graph: MeshGraph) -> Links:
        callers: dict[str, list[str]] = {}
        dependencies: dict[str, list[str]] = {}
        for u, v, data in graph.edge_list():
            if data["kind"] != "calls":
                continue
            caller = split_id(u)[1]
            dependencies.setdefault(caller, []).append(v)
            kind, callee = split_id(v)
            if kind == "service":
                callers.setdefault(callee, []).append(caller)
        routes: dict[str, list[Route]] = {}
        for route in model.gateway.routes:
            routes.setdefault(route.service, []).append(route)
        return cls(
            {k: sorted(v) for k, v in callers.items()},
            {k: sorted(v) for k, v in dependencies.items()},
            routes,
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """One environment: its namespace and the services that run in it."""

    model: Model
    graph: MeshGraph
    env: Environment
    links: Links = field(compare=False)
    services: tuple[Service, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "services", self.model.services_in(self.env.name))

    @classmethod
    def of(cls, model: Model, graph: MeshGraph, env: Environment, links: Links | None = None) -> Scope:
        return cls(model, graph, env, links if links is not None else Links.of(model, graph))

    def callers(self, service: str) -> list[str]:
        return self.links.callers.get(service, [])

    def dependencies(self, service: str) -> list[str]:
        return self.links.dependencies.get(service, [])

    def routes_to(self, service: str) -> list[Route]:
        return self.links.routes.get(service, [])

    @property
    def namespace(self) -> str:
        return self.env.namespace

    @property
    def folder(self) -> str:
        return f"{ROOT}/{self.env.name}"

    def runs(self, service: str) -> bool:
        svc = self.model.services.get(service)
        return svc is not None and self.env.name in svc.environments

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


def kustomization(resources: list[str]) -> dict[str, Any]:
    """A kustomization without a namespace transformer: every object names its namespace itself."""
    return {"apiVersion": KUSTOMIZE, "kind": "Kustomization", "resources": sorted(resources)}


def selector(workload: str) -> dict[str, Any]:
    return {"matchLabels": k8s.selector(workload)}
