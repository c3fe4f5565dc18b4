"""resolve: spec.Mesh to model.Model. Defaults, environment overrides and archetype presets applied."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath

from mpc import __version__
from mpc.errors import Diagnostic, MpcError, did_you_mean
from mpc.lang import spec
from mpc.lang.archetypes import Archetype
from mpc.lang.load import Document
from mpc.lang.model import (
    Autoscale,
    Cluster,
    Cors,
    CrdField,
    CrdInstance,
    CustomResource,
    Environment,
    External,
    Gateway,
    GitOps,
    Governance,
    IdentityProvider,
    Issuer,
    Model,
    NodePool,
    OAuth2Client,
    Observability,
    Overlay,
    Placement,
    RateLimit,
    ResourceSpec,
    Route,
    SecretRef,
    Service,
    Slo,
    Tracing,
)
from mpc.lang.quantities import Quantity, parse_quantity

IMPLICIT_ENVIRONMENT = "default"


def image_has_registry(image: str) -> bool:
    """Docker's rule: the first path component names a registry when it has a '.' or ':' or is localhost."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def apply_registry(image: str, registry: str | None) -> str:
    if registry is None or image_has_registry(image):
        return image
    return f"{registry.rstrip('/')}/{image}"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def _plural(kind: str) -> str:
    low = kind.lower()
    if re.search(r"(s|x|z|ch|sh)$", low):
        return low + "es"
    if re.search(r"[^aeiou]y$", low):
        return low[:-1] + "ies"
    return low + "s"


def _resources(*layers: spec.Resources | None) -> ResourceSpec:
    """First value set wins, field by field (service, then environment, then defaults)."""
    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: int | None = None
    for layer in layers:
        if layer is None:
            continue
        cpu = cpu or layer.cpu
        memory = memory or layer.memory
        gpu = gpu if gpu is not None else layer.gpu
    cpu = cpu or parse_quantity("100m")
    memory = memory or parse_quantity("128Mi")
    # Limits: memory is not compressible, so its limit equals the request (no OOM surprise under load);
    # CPU may burst to twice the request.
    return ResourceSpec(cpu=cpu, memory=memory, cpu_limit=cpu.scaled(2), memory_limit=memory, gpu=gpu or 0)


class _Resolver:
    def __init__(self, mesh: spec.Mesh, doc: Document, archetypes: Mapping[str, Archetype]) -> None:
        self.mesh = mesh
        self.doc = doc
        self.archetypes = archetypes
        self.problems: list[Diagnostic] = []

    def loc(self, *path: str | int, key: bool = False) -> object:
        return self.doc.location(tuple(path), key=key)

    def environments(self, namespace: str) -> dict[str, Environment]:
        mesh = self.mesh
        minimum = mesh.governance.min_replicas if mesh.governance else {}
        if not mesh.environments:
            return {
                IMPLICIT_ENVIRONMENT: Environment(
                    name=IMPLICIT_ENVIRONMENT,
                    clusters=(),
                    namespace=namespace,
                    implicit=True,
                    min_replicas=minimum.get(IMPLICIT_ENVIRONMENT),
                    source=self.doc.location(("metadata",), key=True),
                )
            }
        return {
            name: Environment(
                name=name,
                clusters=tuple(env.clusters),
                namespace=env.namespace or f"{namespace}-{name}",
                implicit=False,
                min_replicas=minimum.get(name),
                source=self.doc.location(("environments", name), key=True),
            )
            for name, env in mesh.environments.items()
        }

    def service(
        self, name: str, svc: spec.Service, environments: Mapping[str, Environment], protected: set[str]
    ) -> Service | None:
        mesh = self.mesh
        archetype = self.archetypes.get(svc.archetype)
        if archetype is None:
            self.problems.append(
                Diagnostic(
                    "E314",
                    f"services.{name}.archetype: unknown archetype {svc.archetype!r}",
                    self.doc.location(("services", name, "archetype")),
                    did_you_mean(svc.archetype, list(self.archetypes)),
                )
            )
            return None
        defaults = mesh.defaults
        timeout = _first(svc.timeout, archetype.default_timeout_ms, defaults.timeout)
        retries = svc.retries if svc.retries is not None else defaults.retries
        base_resources = _resources(svc.resources, defaults.resources)
        if archetype.gpu and base_resources.gpu == 0:
            base_resources = _resources(svc.resources, spec.Resources(gpu=1), defaults.resources)
        placements = {}
        names = svc.environments if svc.environments is not None else list(environments)
        for env_name in names:
            env = environments.get(env_name)
            if env is None:
                continue  # reported by checks as a dangling reference
            env_spec = mesh.environments.get(env_name)
            replicas = svc.replicas
            if replicas is None and env_spec is not None:
                replicas = env_spec.replicas
            if replicas is None:
                replicas = defaults.replicas
            env_resources = env_spec.resources if env_spec else None
            resources = _resources(svc.resources, env_resources, defaults.resources)
            if archetype.gpu and resources.gpu == 0:
                resources = _resources(
                    svc.resources, env_resources, spec.Resources(gpu=1), defaults.resources
                )
            placements[env_name] = Placement(env_name, env.namespace, replicas, resources)
        service_deps = tuple(d for d in svc.depends_on if d in mesh.services)
        external_deps = tuple(d for d in svc.depends_on if d in mesh.external and d not in mesh.services)
        oauth = None
        if svc.oauth2_client is not None:
            oauth = OAuth2Client(
                grant_types=tuple(svc.oauth2_client.grant_types),
                redirect_uris=tuple(svc.oauth2_client.redirect_uris),
                client_id=f"{mesh.metadata.name}-{name}",
                secret_name=f"{name}-oauth2-client",
            )
        health_port = None
        if svc.health is not None:
            health_port = svc.health.port or svc.port
        peer_port = archetype.peer_port if archetype.peer_port not in (None, svc.port) else None
        return Service(
            name=name,
            image=apply_registry(svc.image, defaults.registry),
            port=svc.port if archetype.serves else None,
            protocol=svc.protocol,
            archetype=archetype,
            depends_on=service_deps,
            external=external_deps,
            replicas=svc.replicas if svc.replicas is not None else defaults.replicas,
            resources=base_resources,
            autoscale=(
                Autoscale(svc.autoscale.min, svc.autoscale.max, svc.autoscale.cpu) if svc.autoscale else None
            ),
            health_path=svc.health.path if svc.health else None,
            health_port=health_port,
            env=tuple((k, _env_text(v)) for k, v in svc.env.items()),
            secrets=tuple(SecretRef(k, v.secret, v.key) for k, v in svc.secrets.items()),
            oauth2_client=oauth,
            storage=svc.storage,
            clustering=svc.clustering,
            owners=tuple(svc.owners if svc.owners is not None else mesh.metadata.owners),
            environments=tuple(e for e in names if e in environments),
            placements=placements,
            timeout_ms=timeout,
            retries=retries,
            peer_port=peer_port,
            protected=name in protected,
            extensions=dict(svc.extensions),
            source=self.doc.location(("services", name), key=True),
            # The first entry wins when a dependency is listed twice (that is reported separately).
            dependency_sources={
                dep: self.doc.location(("services", name, "dependsOn", i))
                for i, dep in reversed(list(enumerate(svc.depends_on)))
            },
        )

    def run(self) -> Model:
        mesh = self.mesh
        namespace = mesh.defaults.namespace or mesh.metadata.name
        environments = self.environments(namespace)
        protected = set(mesh.governance.protected) if mesh.governance else set()
        services: dict[str, Service] = {}
        for name, svc in mesh.services.items():
            resolved = self.service(name, svc, environments, protected)
            if resolved is not None:
                services[name] = resolved
        if self.problems:
            raise MpcError(self.problems)

        routes = []
        for i, r in enumerate(mesh.gateway.routes):
            target = services.get(r.service)
            limit = None
            if target is not None and target.archetype.route_rate_limit is not None:
                limit = RateLimit(*target.archetype.route_rate_limit)
            routes.append(
                Route(
                    prefix=r.prefix,
                    service=r.service,
                    auth=r.auth,
                    timeout_ms=_first(
                        r.timeout, target.timeout_ms if target else None, mesh.defaults.timeout
                    ),
                    retries=r.retries if r.retries is not None else (target.retries if target else 0),
                    rewrite=r.rewrite,
                    rate_limit=limit,
                    index=i,
                    source=self.doc.location(("gateway", "routes", i)),
                )
            )
        gw = mesh.gateway
        gateway = Gateway(
            name=gw.name,
            port=gw.port,
            hosts=tuple(gw.hosts),
            tls_secret=gw.tls.secret if gw.tls else None,
            rate_limit=RateLimit(gw.rate_limit.requests, gw.rate_limit.per) if gw.rate_limit else None,
            cors=Cors(tuple(gw.cors.origins), tuple(gw.cors.methods), tuple(gw.cors.headers), gw.cors.max_age)
            if gw.cors
            else None,
            routes=tuple(routes),
            source=self.doc.location(("gateway",), key=True),
        )
        auth = mesh.auth or spec.Auth()
        issuers = {
            name: Issuer(
                name,
                i.issuer,
                i.jwks_uri,
                tuple(i.audiences),
                self.doc.location(("auth", "issuers", name), key=True),
            )
            for name, i in auth.issuers.items()
        }
        provider = (
            IdentityProvider(auth.provider.kind, auth.provider.url, auth.provider.realm)
            if auth.provider
            else None
        )
        external = {
            name: External(name, e.host, e.port, e.protocol, self.doc.location(("external", name), key=True))
            for name, e in mesh.external.items()
        }
        ha_envs = set(mesh.governance.min_replicas) if mesh.governance else set()
        clusters = {}
        for name, c in mesh.clusters.items():
            envs = tuple(e.name for e in environments.values() if name in e.clusters)
            ha = any(e in ha_envs or environments[e].federated for e in envs)
            pools = []
            for j, (pool_name, pool) in enumerate(c.node_pools.items()):
                if isinstance(pool, spec.GkeNodePool):
                    pools.append(
                        NodePool(
                            name=pool_name,
                            default=j == 0,
                            machine_type=pool.machine_type,
                            size=None,
                            count=None,
                            min=pool.min,
                            max=pool.max,
                            gpu_type=pool.gpu.type if pool.gpu else None,
                            gpu_count=pool.gpu.count if pool.gpu else 0,
                            spot=pool.spot,
                        )
                    )
                elif isinstance(pool, spec.DoNodePool):
                    pools.append(
                        NodePool(
                            name=pool_name,
                            default=j == 0,
                            machine_type=None,
                            size=pool.size,
                            count=pool.count,
                            min=pool.min,
                            max=pool.max,
                            gpu_type=None,
                            gpu_count=0,
                            spot=False,
                        )
                    )
            clusters[name] = Cluster(
                name=name,
                provider=c.provider,
                project=c.project if isinstance(c, spec.GkeCluster) else None,
                region=c.region,
                version=c.version,
                node_pools=tuple(pools),
                environments=envs,
                high_availability=ha,
                source=self.doc.location(("clusters", name), key=True),
            )
        overlays = []
        for env in environments.values():
            if env.clusters:
                for cluster in env.clusters:
                    overlays.append(
                        Overlay(env.name, cluster, env.namespace, f"kustomize/overlays/{env.name}/{cluster}")
                    )
            else:
                overlays.append(Overlay(env.name, None, env.namespace, f"kustomize/overlays/{env.name}"))
        obs = mesh.observability or spec.Observability()
        tracing = None
        if obs.tracing is not None:
            host, _, port = obs.tracing.endpoint.rpartition(":")
            tracing = Tracing(
                obs.tracing.provider, obs.tracing.endpoint, host, int(port), obs.tracing.sampling
            )
        observability = Observability(
            tracing=tracing,
            metrics=obs.metrics.provider if obs.metrics else None,
            slos=tuple(
                Slo(s.service, s.availability, s.latency_p99, self.doc.location(("observability", "slos", i)))
                for i, s in enumerate(obs.slos)
            ),
        )
        gov = mesh.governance or spec.Governance()
        governance = Governance(
            require_owners=gov.require_owners,
            allowed_registries=tuple(gov.allowed_registries),
            min_replicas=dict(gov.min_replicas),
            protected=tuple(gov.protected),
        )
        gitops = (
            GitOps(mesh.gitops.engine, mesh.gitops.repo, mesh.gitops.branch, mesh.gitops.path)
            if mesh.gitops
            else None
        )
        crds = []
        for i, cr in enumerate(mesh.custom_resources):
            plural = cr.plural or _plural(cr.kind)
            crds.append(
                CustomResource(
                    group=cr.group,
                    kind=cr.kind,
                    version=cr.version,
                    scope=cr.scope,
                    plural=plural,
                    singular=cr.kind.lower(),
                    fields=tuple(
                        CrdField(
                            name=fname,
                            type=f.type,
                            required=f.required,
                            description=f.description,
                            minimum=f.minimum,
                            maximum=f.maximum,
                            enum=tuple(f.enum) if f.enum is not None else None,
                            pattern=f.pattern,
                            items=f.items,
                        )
                        for fname, f in cr.fields.items()
                    ),
                    instances=tuple(
                        CrdInstance(
                            inst.name, inst.spec, self.doc.location(("customResources", i, "instances", j))
                        )
                        for j, inst in enumerate(cr.instances)
                    ),
                    source=self.doc.location(("customResources", i)),
                )
            )
        return Model(
            name=mesh.metadata.name,
            source_file=PurePath(self.doc.file).name,
            owners=tuple(mesh.metadata.owners),
            labels=dict(mesh.metadata.labels),
            namespace=namespace,
            gateway=gateway,
            issuers=issuers,
            identity_provider=provider,
            services=services,
            external=external,
            clusters=clusters,
            environments=environments,
            overlays=tuple(overlays),
            observability=observability,
            governance=governance,
            gitops=gitops,
            custom_resources=tuple(crds),
            extensions=dict(mesh.extensions),
            mpc_version=__version__,
            default_timeout_ms=mesh.defaults.timeout,
            default_retries=mesh.defaults.retries,
        )


def _first(*values: int | None) -> int:
    """The first value that is set (0 is a value: a zero timeout means none)."""
    for value in values:
        if value is not None:
            return value
    raise AssertionError("the last layer always has a value")


def _env_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(mesh: spec.Mesh, doc: Document, archetypes: Mapping[str, Archetype]) -> Model:
    return _Resolver(mesh, doc, archetypes).run()
