"""parse's target: the mesh.yaml language as pydantic models, exactly as the user writes it.

Every model forbids unknown keys. Durations and quantities are parsed into values here, so later stages
never see their text forms. Cross-field rules that need the whole file (references, cycles, governance)
live in mpc.graph.checks, where they can point at the right line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

from mpc.lang.names import MAX_NAME, NAME_PATTERN
from mpc.lang.quantities import (
    DURATION_PATTERN,
    QUANTITY_PATTERN,
    Quantity,
    parse_duration_ms,
    parse_quantity,
)

API_VERSION = "masterproxy.dev/v1alpha1"
SUPPORTED_API_VERSIONS = (API_VERSION,)


Duration = Annotated[
    int,
    PlainValidator(parse_duration_ms),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["250ms", "15s", "2m"]}),
]
"""A duration, held as milliseconds."""

QuantityValue = Annotated[
    Quantity,
    PlainValidator(parse_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": QUANTITY_PATTERN},
                {"type": "number", "minimum": 0},
            ],
            "examples": ["100m", "2", "128Mi"],
        }
    ),
]
# A custom resource's plural: a DNS-1035 label (checked as E210, located; the pattern is for editors).
Plural = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63})
]

Port = Annotated[int, Field(ge=1, le=65535)]
# Kubernetes counts (replicas, autoscaling bounds) are 32-bit; no count in a mesh comes near.
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1  # Envoy's token bucket sizes
# Envoy's local rate limit refills its bucket at most every 50ms.
MIN_FILL_INTERVAL_MS = 50
PathPrefix = Annotated[str, Field(pattern=r"^/[^\s?#]*$")]
AbsolutePath = Annotated[str, Field(pattern=r"^/[^\s?#]*$")]
# An HTTP method as Envoy and Istio match it: upper case letters (RFC 9110 tokens in practice).
Method = Annotated[str, Field(pattern=r"^[A-Z]+$")]
# An exact request path, or a prefix ending in `/*` (the forms Istio's `to.operation.paths` shares with
# what a reader of the mesh expects).
CallPath = Annotated[str, Field(pattern=r"^/[^\s?#*]*(/\*)?$")]
Cidr = Annotated[str, Field(pattern=r"^[0-9.]+/\d{1,2}$|^[0-9a-fA-F:]+/\d{1,3}$")]
WireProtocol = Literal["http", "grpc", "tcp", "udp"]
# Names are checked as DNS-1123 labels by the parser and mpc.graph.checks (E308, located); the pattern is
# for editors, through the JSON Schema (mpc.lang.schema), and changes nothing in validation.
Name = Annotated[str, WithJsonSchema({"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME})]
# A Kubernetes namespace: an RFC 1123 label of at most 63 characters (checked as E308).
Namespace = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63})
]
# A Kubernetes object name (a Secret, a custom resource instance): a DNS-1123 subdomain.
ObjectName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            "maxLength": 253,
        }
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        frozen=True,
        strict=True,
        hide_input_in_errors=True,
        defer_build=True,
    )


class Metadata(Strict):
    name: Annotated[Name, Field(max_length=40)]
    owners: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class Limits(Strict):
    cpu: QuantityValue | None = None
    memory: QuantityValue | None = None


class Resources(Strict):
    cpu: QuantityValue | None = None
    memory: QuantityValue | None = None
    gpu: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    limits: Limits | None = None


class Defaults(Strict):
    namespace: Namespace | None = None
    replicas: Annotated[int, Field(ge=0, le=INT32_MAX)] = 2
    resources: Resources = Field(
        default_factory=lambda: Resources.model_validate({"cpu": "100m", "memory": "128Mi"})
    )
    timeout: Duration = 15_000
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    registry: str | None = None


class Tls(Strict):
    secret: ObjectName


class RateLimit(Strict):
    requests: Annotated[int, Field(ge=1, le=UINT32_MAX)]
    per: Duration

    @field_validator("per")
    @classmethod
    def _fill_interval(cls, per: int) -> int:
        if per < MIN_FILL_INTERVAL_MS:
            raise ValueError(f"{per}ms is shorter than {MIN_FILL_INTERVAL_MS}ms, the proxy's shortest refill")
        return per


class Cors(Strict):
    origins: Annotated[list[str], Field(min_length=1)]
    methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
    headers: list[str] = Field(default_factory=lambda: ["authorization", "content-type"])
    max_age: Duration = 3_600_000


def _one_of(*keys: str) -> ConfigDict:
    """The schema says what parse's own check says: at least one of these keys (mpc.lang.parse._ONE_OF)."""
    return ConfigDict(json_schema_extra={"anyOf": [{"required": [key]} for key in keys]})


class Route(Strict):
    model_config = _one_of("prefix", "path")

    prefix: PathPrefix | None = None
    path: PathPrefix | None = None
    methods: Annotated[list[Method], Field(min_length=1)] | None = None
    service: Name
    auth: Name | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    rewrite: PathPrefix | None = None


class Gateway(Strict):
    name: Name
    port: Port
    target_port: Port | None = None
    hosts: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["*"])
    tls: Tls | None = None
    rate_limit: RateLimit | None = None
    cors: Cors | None = None
    routes: list[Route] = Field(default_factory=list)


class Issuer(Strict):
    issuer: str
    jwks_uri: Annotated[str, Field(pattern=r"^https?://")]
    audiences: list[str] = Field(default_factory=list)


class Provider(Strict):
    kind: Literal["keycloak"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    realm: str


class Auth(Strict):
    issuers: dict[Name, Issuer] = Field(default_factory=dict)
    provider: Provider | None = None


class Autoscale(Strict):
    min: Annotated[int, Field(ge=1, le=INT32_MAX)]
    max: Annotated[int, Field(ge=1, le=INT32_MAX)]
    cpu: Annotated[int, Field(ge=1, le=100)] = 80


class Startup(Strict):
    failure_threshold: Annotated[int, Field(ge=1, le=INT32_MAX)] = 30
    period: Duration = 10_000


class Health(Strict):
    path: PathPrefix | None = None
    grpc: Literal[True] | None = None
    tcp: Literal[True] | None = None
    port: Port | str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    initial_delay: Duration | None = None
    period: Duration | None = None
    startup: Startup | None = None


class SecretRef(Strict):
    secret: ObjectName
    key: str


GrantType = Literal["client_credentials", "authorization_code", "password", "device_code", "token_exchange"]


class OAuth2Client(Strict):
    grant_types: Annotated[list[GrantType], Field(min_length=1)]
    redirect_uris: list[str] = Field(default_factory=list)


EnvValue = str | int | float | bool


class ServicePort(Strict):
    name: str
    port: Port
    target_port: Port | None = None
    protocol: WireProtocol = "http"
    scrape: bool = False


class Dependency(Strict):
    service: Name
    ports: Annotated[list[Port | str], Field(min_length=1)] | None = None
    methods: Annotated[list[Method], Field(min_length=1)] | None = None
    paths: Annotated[list[CallPath], Field(min_length=1)] | None = None


class EmptyDir(Strict):
    size_limit: QuantityValue | None = None


class Volume(Strict):
    name: Name
    mount_path: AbsolutePath
    empty_dir: EmptyDir | None = None
    files: dict[str, str] | None = None
    secret: ObjectName | None = None


class VersionMatch(Strict):
    headers: Annotated[dict[str, str], Field(min_length=1)]


class Version(Strict):
    image: str
    weight: Annotated[int, Field(ge=0, le=100)] | None = None
    match: VersionMatch | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    replicas: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    resources: Resources | None = None


class Service(Strict):
    model_config = _one_of("image", "versions")

    image: str | None = None
    port: Port | None = None
    target_port: Port | None = None
    protocol: WireProtocol = "http"
    ports: Annotated[list[ServicePort], Field(min_length=1)] | None = None
    archetype: str = "web"
    depends_on: list[Name | Dependency] = Field(default_factory=list)
    replicas: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    resources: Resources | None = None
    autoscale: Autoscale | None = None
    health: Health | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    secrets: dict[str, SecretRef] = Field(default_factory=dict)
    oauth2_client: OAuth2Client | None = None
    storage: QuantityValue | None = None
    clustering: Literal["dns"] | None = None
    owners: list[str] | None = None
    environments: list[Name] | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    termination_grace_period: Duration | None = None
    volumes: list[Volume] = Field(default_factory=list)
    versions: Annotated[dict[Name, Version], Field(min_length=1)] | None = None
    extensions: dict[str, Any] = Field(default_factory=dict)

    def named_ports(self) -> list[tuple[str, int, str]]:
        """(name, port, protocol) of each port as written; the shorthand is one port named after its
        protocol."""
        if self.ports is not None:
            return [(p.name, p.port, p.protocol) for p in self.ports]
        return [(self.protocol, self.port, self.protocol)] if self.port is not None else []


def dependency_name(entry: str | Dependency) -> str:
    """The name a dependsOn entry calls, in either form."""
    return entry if isinstance(entry, str) else entry.service


class External(Strict):
    model_config = _one_of("host", "addresses")

    host: str | None = None
    addresses: Annotated[list[Cidr], Field(min_length=1)] | None = None
    port: Port
    protocol: Literal["tls", "http", "tcp"] = "tls"


class GpuSpec(Strict):
    type: str
    count: Annotated[int, Field(ge=1, le=INT32_MAX)] = 1


class GkeNodePool(Strict):
    machine_type: str
    min: Annotated[int, Field(ge=0, le=INT32_MAX)] = 1
    max: Annotated[int, Field(ge=1, le=INT32_MAX)] = 3
    gpu: GpuSpec | None = None
    spot: bool = False


class DoNodePool(Strict):
    size: str
    count: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    min: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    max: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None


class GkeCluster(Strict):
    provider: Literal["gke"]
    project: str
    region: str
    version: str
    node_pools: Annotated[dict[Name, GkeNodePool], Field(min_length=1)]


class DoCluster(Strict):
    provider: Literal["digitalocean"]
    region: str
    version: str
    node_pools: Annotated[dict[Name, DoNodePool], Field(min_length=1)]


Cluster = Annotated[GkeCluster | DoCluster, Field(discriminator="provider")]


class Environment(Strict):
    clusters: list[Name] = Field(default_factory=list)
    replicas: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    resources: Resources | None = None
    namespace: Namespace | None = None


class Tracing(Strict):
    provider: Literal["jaeger", "otlp"] = "jaeger"
    endpoint: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")]
    sampling: Annotated[float, Field(ge=0, le=100)] = 1.0


class Metrics(Strict):
    provider: Literal["prometheus"] = "prometheus"


class Slo(Strict):
    service: Name
    availability: Annotated[float, Field(gt=0, lt=100)] | None = None
    latency_p99: Duration | None = None


class Observability(Strict):
    tracing: Tracing | None = None
    metrics: Metrics | None = None
    slos: list[Slo] = Field(default_factory=list)


class Governance(Strict):
    require_owners: bool = False
    allowed_registries: list[str] = Field(default_factory=list)
    require_digests: bool = False
    min_replicas: dict[Name, Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(default_factory=dict)
    protected: list[Name] = Field(default_factory=list)


class GitOps(Strict):
    engine: Literal["argocd", "flux"] = "argocd"
    repo: str
    branch: str = "main"
    # Segments of letters, digits, '.', '_', '-'; mpc.graph.checks refuses '.' and '..' segments.
    path: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")] = "rendered"


class CrdField(Strict):
    type: Literal["string", "integer", "number", "boolean", "array", "object"]
    required: bool = False
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: list[str | int | float] | None = None
    pattern: str | None = None
    items: Literal["string", "integer", "number", "boolean"] | None = None


class CrdInstance(Strict):
    name: ObjectName
    spec: dict[str, Any] = Field(default_factory=dict)


class CustomResource(Strict):
    group: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")]
    kind: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")]
    version: Annotated[str, Field(pattern=r"^v\d+((alpha|beta)\d+)?$")]
    scope: Literal["Namespaced", "Cluster"] = "Namespaced"
    plural: Plural | None = None
    # The `api-approved.kubernetes.io` annotation a CRD in a group Kubernetes reserves must carry.
    api_approved: str | None = None
    fields: dict[str, CrdField] = Field(default_factory=dict)
    instances: list[CrdInstance] = Field(default_factory=list)


class Mesh(Strict):
    api_version: str
    kind: str
    metadata: Metadata
    defaults: Defaults = Field(default_factory=Defaults)
    gateway: Gateway
    auth: Auth | None = None
    services: Annotated[dict[Name, Service], Field(min_length=1)]
    external: dict[Name, External] = Field(default_factory=dict)
    clusters: dict[Name, Cluster] = Field(default_factory=dict)
    environments: dict[Name, Environment] = Field(default_factory=dict)
    observability: Observability | None = None
    governance: Governance | None = None
    gitops: GitOps | None = None
    custom_resources: list[CustomResource] = Field(default_factory=list)
    extensions: dict[str, Any] = Field(default_factory=dict)
