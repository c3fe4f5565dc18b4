"""The resolved model: every value a backend needs, explicit. Backends read this, never the YAML.

Produced by mpc.lang.resolve. Frozen dataclasses. A per-service renderer sees one ServiceContext (built
by mpc.graph.context): the service, what it may know of the services it calls and that call it, and the
rest of the mesh as MeshSettings; its output may depend on nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mpc.errors import Location
from mpc.lang.archetypes import Archetype
from mpc.lang.quantities import Quantity

WireProtocol = Literal["http", "grpc", "tcp", "udp"]


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    cpu: Quantity
    memory: Quantity
    cpu_limit: Quantity
    memory_limit: Quantity
    gpu: int = 0


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One port of a service: what callers dial (port) and what the container listens on (target_port)."""

    name: str
    port: int
    target_port: int
    protocol: WireProtocol
    scrape: bool = False

    @property
    def serves_http(self) -> bool:
        return self.protocol in ("http", "grpc")


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What a dependsOn entry in its object form allows of a call; an empty tuple allows everything."""

    ports: tuple[str, ...] = ()  # port names of the callee
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # exact, or a prefix ending in /*

    @property
    def narrowed(self) -> bool:
        return bool(self.ports or self.methods or self.paths)

    def describe(self) -> str:
        parts = [
            f"{what} {', '.join(values)}"
            for what, values in (("ports", self.ports), ("methods", self.methods), ("paths", self.paths))
            if values
        ]
        return "; ".join(parts) or "every request"


WHOLE_CALL = Narrowing()


@dataclass(frozen=True, slots=True)
class Probe:
    """A readiness/liveness check, as the mesh states it (health) or as mpc derives it from the port."""

    kind: Literal["http", "grpc", "tcp"]
    path: str | None
    port: int  # the container port probed
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_s: int | None = None
    period_s: int | None = None
    startup: tuple[int, int] | None = None  # (failureThreshold, periodSeconds) of a startupProbe


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    mount_path: str
    kind: Literal["emptyDir", "files", "secret"]
    size_limit: Quantity | None = None  # emptyDir
    files: tuple[tuple[str, str], ...] = ()  # files: name -> content (a ConfigMap)
    secret: str | None = None  # an existing Secret


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a service: a Deployment of its own, labelled version: <name>."""

    name: str
    image: str  # with the registry applied
    weight: int  # percent of the traffic not matched by a header rule
    match_headers: tuple[tuple[str, str], ...]
    env: tuple[tuple[str, str], ...]  # the service's env with the version's own over it, as written
    replicas: int | None  # None: the service's
    resources: ResourceSpec | None  # None: the service's


@dataclass(frozen=True, slots=True)
class Placement:
    """One service in one environment."""

    environment: str
    namespace: str
    replicas: int
    resources: ResourceSpec


@dataclass(frozen=True, slots=True)
class Autoscale:
    min: int
    max: int
    cpu: int


@dataclass(frozen=True, slots=True)
class SecretRef:
    env: str  # the environment variable it is delivered as
    secret: str  # name of the Kubernetes Secret
    key: str


@dataclass(frozen=True, slots=True)
class OAuth2Client:
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    client_id: str  # <mesh>-<service>
    secret_name: str  # the Kubernetes Secret the client secret is delivered in (by reference)


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    image: str  # with the registry applied (the first version's when it has versions)
    port: int | None  # the first port's Service port
    protocol: WireProtocol  # the first port's protocol
    archetype: Archetype
    depends_on: tuple[str, ...]  # services it calls
    external: tuple[str, ...]  # external entries it calls
    replicas: int  # before environment overrides
    resources: ResourceSpec  # before environment overrides
    autoscale: Autoscale | None
    health_port: int | None
    env: tuple[tuple[str, str], ...]  # as written: `${...}` is resolved per environment (lang.interpolate)
    secrets: tuple[SecretRef, ...]
    oauth2_client: OAuth2Client | None
    storage: Quantity | None
    clustering: str | None
    owners: tuple[str, ...]
    environments: tuple[str, ...]  # where it runs (all when the mesh did not limit it)
    placements: Mapping[str, Placement]  # environment -> replicas/resources there
    timeout_ms: int
    retries: int
    peer_port: int | None
    protected: bool
    extensions: Mapping[str, Any]
    source: Location
    dependency_sources: Mapping[str, Location]  # dependsOn entry -> where it is written
    ports: tuple[PortSpec, ...] = ()  # every declared port, the first one first
    narrowing: Mapping[str, Narrowing] = field(default_factory=dict)  # dependency -> narrowed call
    probe: Probe | None = None  # the explicit health check (health); None: derived from the port
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)  # pod template annotations
    termination_grace_s: int | None = None
    volumes: tuple[Volume, ...] = ()
    versions: tuple[Version, ...] = ()

    @property
    def serves_http(self) -> bool:
        """Reachable through the gateway: an HTTP or gRPC port."""
        return self.route_port is not None

    @property
    def route_port(self) -> PortSpec | None:
        """The port the gateway and the mesh's HTTP routing send requests to: the first HTTP or gRPC one."""
        if self.port is None:
            return None
        return next((p for p in self.ports if p.serves_http), None)

    @property
    def target_port(self) -> int | None:
        """The container port behind the first port."""
        return self.ports[0].target_port if self.ports and self.port is not None else None

    @property
    def effective_probe(self) -> Probe | None:
        """The health check as written, else one derived from the first port: gRPC's own health protocol
        on a gRPC port, a TCP connect otherwise, nothing for UDP or without a port. The kubelet's probes
        and the master proxy's active checks both follow it."""
        if self.probe is not None:
            return self.probe
        target = self.target_port
        if target is None or self.protocol == "udp":
            return None
        return Probe("grpc" if self.protocol == "grpc" else "tcp", None, target)

    def call_ports(self, narrowing: Narrowing) -> tuple[PortSpec, ...]:
        """The ports a call reaches: the narrowed ones, else every declared port."""
        if not narrowing.ports:
            return self.ports
        return tuple(p for p in self.ports if p.name in narrowing.ports)

    @property
    def has_service_object(self) -> bool:
        return self.port is not None and self.archetype.serves

    @property
    def headless(self) -> bool:
        return self.archetype.stateful or self.clustering == "dns"

    @property
    def replicates(self) -> bool:
        """Its members talk to each other: `clustering` says so, or an archetype that replicates."""
        return self.clustering is not None or self.archetype.replicates

    def most_pods(self, environment: str) -> int:
        """The most pods it can run in an environment: the autoscaler's ceiling, else its replicas there."""
        if self.autoscale is not None:
            return self.autoscale.max
        placement = self.placements.get(environment)
        return placement.replicas if placement is not None else self.replicas

    def peers_in(self, environment: str) -> bool:
        """Whether its pods call each other in an environment: it replicates and can run two pods there.

        A single pod has no peer, and a stateful service that does not replicate (no `clustering`) keeps
        its pods apart: the policies then allow no self-traffic at all.
        """
        return self.replicates and self.most_pods(environment) > 1


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests: int
    per_ms: int


@dataclass(frozen=True, slots=True)
class Cors:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    max_age_ms: int


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str | None  # a prefix route matches whole segments
    service: str
    auth: str | None  # issuer name
    timeout_ms: int  # resolved: route, else the service's
    retries: int  # resolved: route, else the service's
    rewrite: str | None
    rate_limit: RateLimit | None  # per-route limit from the archetype (iot-ingest)
    index: int
    source: Location
    path: str | None = None  # an exact-path route (instead of prefix)
    methods: tuple[str, ...] = ()  # only these methods; others fall through

    @property
    def match(self) -> str:
        """The path or prefix as written."""
        return self.path if self.path is not None else (self.prefix or "/")

    @property
    def key(self) -> str:
        """Names the route in the graph and in reports: the prefix; `=/path` for an exact path; methods
        after a space."""
        text = f"={self.path}" if self.path is not None else self.match
        return f"{text} {','.join(self.methods)}" if self.methods else text


@dataclass(frozen=True, slots=True)
class Gateway:
    name: str
    port: int  # the Service port
    hosts: tuple[str, ...]
    tls_secret: str | None
    rate_limit: RateLimit | None
    cors: Cors | None
    routes: tuple[Route, ...]
    source: Location
    target_port: int | None = None  # where Envoy listens; None: the port

    @property
    def listen_port(self) -> int:
        return self.target_port if self.target_port is not None else self.port


@dataclass(frozen=True, slots=True)
class Issuer:
    name: str
    issuer: str
    jwks_uri: str
    audiences: tuple[str, ...]
    source: Location


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    kind: str
    url: str
    realm: str


@dataclass(frozen=True, slots=True)
class External:
    name: str
    host: str | None
    port: int
    protocol: Literal["tls", "http", "tcp"]
    source: Location
    addresses: tuple[str, ...] = ()  # CIDRs; egress is allowed to exactly these

    @property
    def entry_host(self) -> str:
        """The host its ServiceEntry names: the host, else a name of its own (Istio requires one; with
        addresses, traffic is matched by destination address, not by this name)."""
        return self.host if self.host is not None else f"{self.name}.external"

    @property
    def dial_host(self) -> str:
        """What a caller dials: the host, else the first address (a single address, written as /32)."""
        if self.host is not None:
            return self.host
        return self.addresses[0].split("/")[0]


@dataclass(frozen=True, slots=True)
class NodePool:
    name: str
    default: bool  # the first pool is the cluster's default pool
    machine_type: str | None  # gke
    size: str | None  # digitalocean
    count: int | None  # fixed size (digitalocean)
    min: int | None
    max: int | None
    gpu_type: str | None
    gpu_count: int
    spot: bool

    @property
    def autoscale(self) -> bool:
        return self.min is not None and self.max is not None


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    provider: Literal["gke", "digitalocean"]
    project: str | None
    region: str
    version: str
    node_pools: tuple[NodePool, ...]
    environments: tuple[str, ...]  # environments that place services on it
    high_availability: bool  # HA control plane: production-grade or federated environments
    source: Location


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    clusters: tuple[str, ...]
    namespace: str
    implicit: bool  # the mesh declared no environments
    min_replicas: int | None
    source: Location

    @property
    def federated(self) -> bool:
        return len(self.clusters) >= 2


@dataclass(frozen=True, slots=True)
class Overlay:
    """One kustomize overlay: an environment on one cluster (or on none)."""

    environment: str
    cluster: str | None
    namespace: str
    path: str  # relative to the output folder, e.g. kustomize/overlays/prod/gke-prod


@dataclass(frozen=True, slots=True)
class Tracing:
    provider: str
    endpoint: str
    host: str
    port: int
    sampling: float


@dataclass(frozen=True, slots=True)
class Slo:
    service: str
    availability: float | None
    latency_p99_ms: int | None
    source: Location


@dataclass(frozen=True, slots=True)
class Observability:
    tracing: Tracing | None
    metrics: str | None  # provider name, e.g. prometheus
    slos: tuple[Slo, ...]


@dataclass(frozen=True, slots=True)
class Governance:
    require_owners: bool
    allowed_registries: tuple[str, ...]
    require_digests: bool
    min_replicas: Mapping[str, int]
    protected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GitOps:
    engine: Literal["argocd", "flux"]
    repo: str
    branch: str
    path: str


@dataclass(frozen=True, slots=True)
class CrdField:
    name: str
    type: str
    required: bool
    description: str | None
    minimum: float | None
    maximum: float | None
    enum: tuple[str | int | float, ...] | None
    pattern: str | None
    items: str | None


@dataclass(frozen=True, slots=True)
class CrdInstance:
    name: str
    spec: Mapping[str, Any]
    source: Location


@dataclass(frozen=True, slots=True)
class CustomResource:
    group: str
    kind: str
    version: str
    scope: Literal["Namespaced", "Cluster"]
    plural: str
    singular: str
    api_approved: str | None  # the api-approved.kubernetes.io annotation (protected groups only)
    fields: tuple[CrdField, ...]
    instances: tuple[CrdInstance, ...]
    source: Location

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def spec_schema(self) -> dict[str, Any]:
        """OpenAPI v3 schema of `spec`, as a CRD carries it (and as instances are checked against)."""
        props: dict[str, Any] = {}
        for f in self.fields:
            prop: dict[str, Any] = {"type": f.type}
            if f.description:
                prop["description"] = f.description
            if f.minimum is not None:
                prop["minimum"] = int(f.minimum) if float(f.minimum).is_integer() else f.minimum
            if f.maximum is not None:
                prop["maximum"] = int(f.maximum) if float(f.maximum).is_integer() else f.maximum
            if f.enum is not None:
                prop["enum"] = list(f.enum)
            if f.pattern is not None:
                prop["pattern"] = f.pattern
            if f.type == "array":
                prop["items"] = {"type": f.items or "string"}
            if f.type == "object":
                prop["x-kubernetes-preserve-unknown-fields"] = True
            props[f.name] = prop
        schema: dict[str, Any] = {"type": "object", "properties": props}
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        return schema


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    source_file: str  # the mesh file's base name, as written into annotations
    owners: tuple[str, ...]
    labels: Mapping[str, str]
    namespace: str  # the base namespace; each environment has its own (Environment.namespace)
    gateway: Gateway
    issuers: Mapping[str, Issuer]
    identity_provider: IdentityProvider | None
    services: Mapping[str, Service]
    external: Mapping[str, External]
    clusters: Mapping[str, Cluster]
    environments: Mapping[str, Environment]
    overlays: tuple[Overlay, ...]
    observability: Observability
    governance: Governance
    gitops: GitOps | None
    custom_resources: tuple[CustomResource, ...]
    extensions: Mapping[str, Any]
    mpc_version: str
    default_timeout_ms: int = 15_000
    default_retries: int = 2

    def source_ref(self, location: Location) -> str:
        """`mesh.yaml#services.accounts`: the value of the masterproxy.dev/source annotation.

        A key path, never a line: adding a comment above an entry must not change the objects below it.
        """
        return f"{self.source_file}#{location.path}" if location.path else self.source_file

    def routes_to(self, service: str) -> tuple[Route, ...]:
        return tuple(r for r in self.gateway.routes if r.service == service)

    def services_in(self, environment: str) -> tuple[Service, ...]:
        return tuple(s for s in self.services.values() if environment in s.environments)

    def overlays_of(self, environment: str) -> tuple[Overlay, ...]:
        return tuple(o for o in self.overlays if o.environment == environment)


class MeshSettings(Protocol):
    """The mesh as one service's own files see it: everything but the other services.

    Model implements it. A per-service renderer receives it as ServiceContext.mesh, so the type checker
    refuses a renderer that reads another service's settings (they reach it only as Peer). The build
    digests every property listed here (mpc.build.digest), so adding one keeps the cache correct.
    """

    @property
    def name(self) -> str: ...
    @property
    def source_file(self) -> str: ...
    @property
    def owners(self) -> tuple[str, ...]: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def namespace(self) -> str: ...
    @property
    def gateway(self) -> Gateway: ...
    @property
    def issuers(self) -> Mapping[str, Issuer]: ...
    @property
    def identity_provider(self) -> IdentityProvider | None: ...
    @property
    def external(self) -> Mapping[str, External]: ...
    @property
    def clusters(self) -> Mapping[str, Cluster]: ...
    @property
    def environments(self) -> Mapping[str, Environment]: ...
    @property
    def overlays(self) -> tuple[Overlay, ...]: ...
    @property
    def observability(self) -> Observability: ...
    @property
    def governance(self) -> Governance: ...
    @property
    def gitops(self) -> GitOps | None: ...
    @property
    def custom_resources(self) -> tuple[CustomResource, ...]: ...
    @property
    def extensions(self) -> Mapping[str, Any]: ...
    @property
    def mpc_version(self) -> str: ...
    @property
    def default_timeout_ms(self) -> int: ...
    @property
    def default_retries(self) -> int: ...

    def source_ref(self, location: Location) -> str: ...

    def overlays_of(self, environment: str) -> tuple[Overlay, ...]: ...


SETTINGS: tuple[str, ...] = tuple(name for name, v in vars(MeshSettings).items() if isinstance(v, property))


@dataclass(frozen=True, slots=True)
class Peer:
    """What a service's own files know of a service it calls or that calls it."""

    name: str
    port: int | None  # None: no Kubernetes Service to reach (a worker)
    protocol: WireProtocol
    headless: bool
    environments: tuple[str, ...]
    ports: tuple[PortSpec, ...] = ()  # its declared ports (none without a Service)
    # The call between the two: what the service whose context this is may send it, or (for a caller)
    # what the caller may send the service.
    narrowing: Narrowing = WHOLE_CALL

    def call_ports(self) -> tuple[PortSpec, ...]:
        if not self.narrowing.ports:
            return self.ports
        return tuple(p for p in self.ports if p.name in self.narrowing.ports)

    def runs_in(self, environment: str) -> bool:
        return environment in self.environments


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Everything one service's own files may depend on; a per-service renderer receives nothing else."""

    mesh: MeshSettings
    service: Service
    wave: int  # its rollout wave (dependencies first)
    calls: tuple[Peer, ...]  # the services it calls, by name
    callers: tuple[Peer, ...]  # the services that call it, by name
    routes: tuple[Route, ...]  # the gateway routes to it, in route order

    def peers_in(self, environment: str) -> bool:
        """Its pods call each other in that environment (Service.peers_in)."""
        return self.service.peers_in(environment)

    def callers_in(self, environment: str) -> tuple[Peer, ...]:
        """The services that call it and run in that environment, by name."""
        return tuple(p for p in self.callers if p.runs_in(environment))

    def environment(self, name: str) -> Environment:
        return self.mesh.environments[name]
