"""Checks that need the whole mesh: references, the graph, archetypes and governance.

Every check returns diagnostics (all of them, not the first); mpc.workflow.front raises when any is an error.
They read the spec (as written, for exact positions) and the resolved model and graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from mpc.errors import Diagnostic, Location, Severity, did_you_mean
from mpc.graph.mesh import MeshGraph
from mpc.lang import spec
from mpc.lang.load import Document
from mpc.lang.model import Model
from mpc.lang.resolve import split_image

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kubernetes: a namespace is an RFC 1123 label (<= 63); label values and names are <= 63 of these.
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# The Docker reference grammar, enough to refuse what a container runtime would refuse.
IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
MAX_NAME = 40
MAX_K8S_NAME = 63


class Context:
    def __init__(self, mesh: spec.Mesh, doc: Document, model: Model, graph: MeshGraph) -> None:
        self.mesh = mesh
        self.doc = doc
        self.model = model
        self.graph = graph

    def at(self, *path: str | int, key: bool = False) -> Location:
        return self.doc.location(tuple(path), key=key)


Check = Callable[[Context], Iterable[Diagnostic]]


def _name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if not DNS_LABEL.match(name):
        return "is not a DNS-1123 label (lower-case letters, digits and '-', starting with a letter)"
    return None


def _suggest_label(name: str) -> str:
    # CamelCase words become separate words: LocalAPIGateway -> local-api-gateway.
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    fixed = re.sub(r"[^a-z0-9-]+", "-", split.lower()).strip("-")
    fixed = re.sub(r"^[^a-z]+", "", fixed)[:MAX_NAME].rstrip("-")
    return f"try {fixed!r}" if fixed and fixed != name else ""


def check_names(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    named: list[tuple[str, str, tuple[str | int, ...], bool]] = [
        ("mesh", m.metadata.name, ("metadata", "name"), False),
        ("gateway", m.gateway.name, ("gateway", "name"), False),
    ]
    for what, section, table in (
        ("service", "services", m.services),
        ("external entry", "external", m.external),
        ("cluster", "clusters", m.clusters),
        ("environment", "environments", m.environments),
    ):
        named.extend((what, name, (section, name), True) for name in table)
    if m.auth:
        named.extend(("issuer", name, ("auth", "issuers", name), True) for name in m.auth.issuers)
    for cname, cluster in m.clusters.items():
        named.extend(("node pool", p, ("clusters", cname, "nodePools", p), True) for p in cluster.node_pools)
    for what, name, path, is_key in named:
        problem = _name_problem(name)
        if problem:
            yield Diagnostic(
                "E308", f"{what} name {name!r} {problem}", c.at(*path, key=is_key), _suggest_label(name)
            )
    for i, cr in enumerate(m.custom_resources):
        for j, inst in enumerate(cr.instances):
            if not DNS_SUBDOMAIN.match(inst.name) or len(inst.name) > 253:
                yield Diagnostic(
                    "E308",
                    f"instance name {inst.name!r} is not a DNS-1123 subdomain",
                    c.at("customResources", i, "instances", j, "name"),
                    _suggest_label(inst.name),
                )
    yield from _kubernetes_names(c)
    for name in m.external:
        if name in m.services:
            yield Diagnostic(
                "E310",
                f"{name!r} is both a service and an external entry",
                c.at("external", name, key=True),
                "services and external entries share one namespace of names; rename one",
                notes=((c.at("services", name, key=True), "the service is defined here"),),
            )
    if m.gateway.name in m.services:
        yield Diagnostic(
            "E310",
            f"the gateway and a service are both named {m.gateway.name!r}",
            c.at("gateway", "name"),
            "their Kubernetes objects would collide; rename one",
        )


def _kubernetes_names(c: Context) -> Iterable[Diagnostic]:
    """Values that become Kubernetes names, labels or variables must be valid there, or apply fails."""
    m = c.mesh
    namespaces: list[tuple[str, tuple[str | int, ...], str]] = []
    if m.defaults.namespace is not None:
        namespaces.append((m.defaults.namespace, ("defaults", "namespace"), ""))
    base_ok = m.defaults.namespace is None or NAMESPACE.match(m.defaults.namespace)
    for env_name, env in c.model.environments.items():
        if env.implicit:
            continue
        if m.environments[env_name].namespace is not None:
            namespaces.append((env.namespace, ("environments", env_name, "namespace"), ""))
        elif base_ok:  # a bad defaults.namespace is reported once, not again in every environment
            namespaces.append(
                (env.namespace, ("environments", env_name), f"set environments.{env_name}.namespace")
            )
    for ns, path, hint in namespaces:
        if len(ns) > MAX_K8S_NAME or not NAMESPACE.match(ns):
            too_long = len(ns) > MAX_K8S_NAME
            why = f"longer than {MAX_K8S_NAME} characters" if too_long else "not a DNS-1123 label"
            yield Diagnostic(
                "E308",
                f"namespace {ns!r} is {why}",
                c.at(*path, key=path[-1] != "namespace"),
                hint or _suggest_label(ns),
            )
    for key, value in m.metadata.labels.items():
        prefix, _, name = key.rpartition("/")
        bad_key = (
            not name
            or len(name) > MAX_K8S_NAME
            or not LABEL_PART.match(name)
            or (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)))
        )
        if bad_key:
            yield Diagnostic(
                "E204",
                f"metadata.labels: {key!r} is not a valid Kubernetes label key",
                c.at("metadata", "labels", key, key=True),
                "a name of letters, digits, '-', '_' and '.' (<= 63), optionally after a DNS prefix and '/'",
            )
        if len(value) > MAX_K8S_NAME or not LABEL_PART.match(value):
            yield Diagnostic(
                "E204",
                f"metadata.labels.{key}: {value!r} is not a valid Kubernetes label value",
                c.at("metadata", "labels", key),
                "letters, digits, '-', '_' and '.', at most 63, starting and ending alphanumeric",
            )
    for name, svc in m.services.items():
        for var in svc.env:
            if not ENV_NAME.match(var):
                yield Diagnostic(
                    "E204",
                    f"services.{name}.env: {var!r} is not a valid environment variable name",
                    c.at("services", name, "env", var, key=True),
                    "letters, digits, '_', '-' and '.', not starting with a digit",
                )
        for var, ref in svc.secrets.items():
            where = ("services", name, "secrets", var)
            if not ENV_NAME.match(var):
                yield Diagnostic(
                    "E204",
                    f"services.{name}.secrets: {var!r} is not a valid environment variable name",
                    c.at(*where, key=True),
                    "letters, digits, '_', '-' and '.', not starting with a digit",
                )
            if len(ref.secret) > 253 or not DNS_SUBDOMAIN.match(ref.secret):
                yield Diagnostic(
                    "E308",
                    f"services.{name}.secrets.{var}.secret: {ref.secret!r} is not a valid Secret name",
                    c.at(*where, "secret"),
                    _suggest_label(ref.secret),
                )
            if not SECRET_KEY.match(ref.key):
                yield Diagnostic(
                    "E204",
                    f"services.{name}.secrets.{var}.key: {ref.key!r} is not a valid Secret key",
                    c.at(*where, "key"),
                    "letters, digits, '-', '_' and '.'",
                )
    tls = m.gateway.tls
    if tls is not None and (len(tls.secret) > 253 or not DNS_SUBDOMAIN.match(tls.secret)):
        yield Diagnostic(
            "E308",
            f"gateway.tls.secret: {tls.secret!r} is not a valid Secret name",
            c.at("gateway", "tls", "secret"),
            _suggest_label(tls.secret),
        )


def check_references(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    callable_names = list(m.services) + list(m.external)
    for name, svc in m.services.items():
        seen: set[str] = set()
        for i, dep in enumerate(svc.depends_on):
            where = c.at("services", name, "dependsOn", i)
            if dep == name:
                yield Diagnostic(
                    "E312", f"service {name!r} depends on itself", where, "remove it from dependsOn"
                )
            elif dep not in m.services and dep not in m.external:
                yield Diagnostic(
                    "E301",
                    f"services.{name}.dependsOn: no service or external entry named {dep!r}",
                    where,
                    did_you_mean(dep, callable_names),
                )
            elif dep in seen:
                yield Diagnostic(
                    "E301", f"services.{name}.dependsOn names {dep!r} twice", where, "list it once"
                )
            seen.add(dep)
        for i, env_ref in enumerate(svc.environments or []):
            if env_ref not in c.model.environments:
                yield Diagnostic(
                    "E301",
                    f"services.{name}.environments: no environment named {env_ref!r}",
                    c.at("services", name, "environments", i),
                    did_you_mean(env_ref, list(c.model.environments)) or "declare it under environments",
                )
    issuers = list(m.auth.issuers) if m.auth else []
    for i, route in enumerate(m.gateway.routes):
        if route.service not in m.services:
            hint = did_you_mean(route.service, list(m.services))
            if route.service in m.external:
                hint = "a route reaches a service of the mesh; external entries are called by services"
            yield Diagnostic(
                "E301",
                f"gateway.routes[{i}] ({route.prefix}) names no service {route.service!r}",
                c.at("gateway", "routes", i, "service"),
                hint,
            )
        if route.auth is not None and route.auth not in issuers:
            yield Diagnostic(
                "E301",
                f"gateway.routes[{i}] ({route.prefix}) requires issuer {route.auth!r}, "
                "which auth.issuers does not define",
                c.at("gateway", "routes", i, "auth"),
                did_you_mean(route.auth, issuers) or "declare it under auth.issuers",
            )
    for env_name, env in m.environments.items():
        for i, cluster in enumerate(env.clusters):
            if cluster not in m.clusters:
                yield Diagnostic(
                    "E301",
                    f"environments.{env_name}.clusters: no cluster named {cluster!r}",
                    c.at("environments", env_name, "clusters", i),
                    did_you_mean(cluster, list(m.clusters)) or "declare it under clusters",
                )
    if m.observability:
        for i, slo in enumerate(m.observability.slos):
            if slo.service not in m.services:
                yield Diagnostic(
                    "E301",
                    f"observability.slos[{i}]: no service named {slo.service!r}",
                    c.at("observability", "slos", i, "service"),
                    did_you_mean(slo.service, list(m.services)),
                )
            if slo.availability is None and slo.latency_p99 is None:
                yield Diagnostic(
                    "E202",
                    f"observability.slos[{i}] sets neither availability nor latencyP99",
                    c.at("observability", "slos", i),
                    "give an availability target (e.g. 99.9), a latencyP99 (e.g. 500ms), or both",
                )
    if m.governance:
        for env_key in m.governance.min_replicas:
            if env_key not in c.model.environments:
                hint = did_you_mean(env_key, list(c.model.environments))
                if not m.environments:
                    hint = f"the mesh declares no environments (its one is 'default'); declare {env_key!r}"
                yield Diagnostic(
                    "E301",
                    f"governance.minReplicas: no environment named {env_key!r}",
                    c.at("governance", "minReplicas", env_key, key=True),
                    hint,
                )
        for i, name in enumerate(m.governance.protected):
            if name not in m.services and name not in m.external:
                yield Diagnostic(
                    "E404",
                    f"governance.protected: no service named {name!r}",
                    c.at("governance", "protected", i),
                    did_you_mean(name, callable_names),
                )


def check_cycles(c: Context) -> Iterable[Diagnostic]:
    for cycle in c.graph.cycles():
        if len(cycle) == 1:
            continue  # a service that depends on itself: E312, reported by check_references
        path = " -> ".join([u for u, _, _ in cycle] + [cycle[0][0]])
        notes = tuple((loc, f"{u} depends on {v}") for u, v, loc in cycle)
        yield Diagnostic(
            "E302",
            f"dependency cycle: {path}",
            cycle[0][2],
            "a cycle has no rollout order; remove one of these dependsOn entries",
            notes=notes,
        )


def _covers(earlier: str, later: str) -> bool:
    """Whether a segment-wise prefix match on `earlier` catches every path `later` matches."""
    if earlier == "/":
        return True
    return later == earlier or later.startswith(earlier + "/")


def _covering(prefix: str) -> list[str]:
    """Every prefix p with _covers(p, prefix): the prefix itself, each segment boundary, and '/'."""
    return [prefix, "/", *(prefix[:k] for k in range(1, len(prefix)) if prefix[k] == "/")]


def check_routes(c: Context) -> Iterable[Diagnostic]:
    routes = c.mesh.gateway.routes
    # The first route of each prefix: shadowing is then a lookup per segment, not a scan of every earlier
    # route (quadratic: 2,000 routes took seconds). Same answer: the first earlier route that is equal or
    # covers, as the scan found it.
    first_of: dict[str, int] = {}
    for i, route in enumerate(routes):
        first_of.setdefault(route.prefix, i)
    for i, route in enumerate(routes):
        where = c.at("gateway", "routes", i, "prefix")
        if route.prefix != "/" and route.prefix.endswith("/"):
            yield Diagnostic(
                "E204",
                f"gateway.routes[{i}].prefix {route.prefix!r} ends with '/'",
                where,
                f"prefixes match whole path segments; write {route.prefix.rstrip('/')!r}",
            )
        earlier_routes = [first_of[p] for p in _covering(route.prefix) if first_of.get(p, i) < i]
        for j in sorted(earlier_routes)[:1]:
            earlier = routes[j].prefix
            first = c.at("gateway", "routes", j, "prefix")
            if earlier == route.prefix:
                yield Diagnostic(
                    "E303",
                    f"gateway.routes[{i}]: prefix {route.prefix!r} is already routed",
                    where,
                    "each prefix may be routed once",
                    notes=((first, f"first routed here, to {routes[j].service!r}"),),
                )
                break
            if _covers(earlier, route.prefix):
                yield Diagnostic(
                    "E304",
                    f"gateway.routes[{i}]: prefix {route.prefix!r} can never match; "
                    f"{earlier!r} comes first and covers it",
                    where,
                    f"move {route.prefix!r} above {earlier!r}",
                    notes=((first, f"{earlier!r} is routed here"),),
                )
                break
        svc = c.model.services.get(route.service)
        if svc is not None and not svc.serves_http:
            why = "has no port" if svc.port is None else f"speaks {svc.protocol}"
            yield Diagnostic(
                "E305",
                f"gateway.routes[{i}] ({route.prefix}) targets {route.service!r}, which {why}",
                c.at("gateway", "routes", i, "service"),
                "the master proxy routes HTTP and gRPC; give the service an http or grpc port",
            )


def check_images(c: Context) -> Iterable[Diagnostic]:
    for name, svc in c.model.services.items():
        written = c.mesh.services[name].image  # as the user wrote it, before defaults.registry
        where = c.at("services", name, "image")
        if not IMAGE.match(svc.image):
            yield Diagnostic(
                "E204",
                f"services.{name}.image {written!r} is not a valid image reference",
                where,
                "[registry/]repository:tag or @sha256:digest; the repository is lower case",
            )
            continue
        _, tag, digest = split_image(svc.image)
        if digest is None and tag is None:
            yield Diagnostic(
                "E306",
                f"services.{name}.image {written!r} has no tag",
                where,
                "pin a version tag or a digest, e.g. :1.4.2 or @sha256:...",
            )
        elif digest is None and tag == "latest":
            yield Diagnostic(
                "E306",
                f"services.{name}.image {written!r} is tagged latest",
                where,
                "'latest' moves; pin a version tag or a digest",
            )


def check_archetypes(c: Context) -> Iterable[Diagnostic]:
    for name, raw in c.mesh.services.items():
        svc = c.model.services.get(name)
        if svc is None:
            continue
        arch = svc.archetype
        if not arch.serves and raw.port is not None:
            yield Diagnostic(
                "E311",
                f"services.{name}: archetype {arch.name!r} runs without a port",
                c.at("services", name, "port", key=True),
                "remove port, or choose archetype web",
            )
        if arch.serves and raw.port is None and arch.name != "worker":
            yield Diagnostic(
                "E311",
                f"services.{name}: archetype {arch.name!r} needs a port",
                c.at("services", name, key=True),
                "add port, or use archetype worker for a service nothing calls",
            )
        if arch.stateful and raw.storage is None:
            yield Diagnostic(
                "E311",
                f"services.{name}: archetype {arch.name!r} needs storage",
                c.at("services", name, key=True),
                "the size of each member's volume, e.g. storage: 20Gi",
            )
        if not arch.stateful and raw.storage is not None:
            yield Diagnostic(
                "E311",
                f"services.{name}: storage is for stateful archetypes; {arch.name!r} is not one",
                c.at("services", name, "storage", key=True),
                "use archetype stateful, or remove storage",
            )
        if raw.port is not None and arch.protocols and raw.protocol not in arch.protocols:
            yield Diagnostic(
                "E311",
                f"services.{name}: protocol {raw.protocol!r} is not allowed for archetype {arch.name!r}",
                c.at("services", name, "protocol"),
                "udp is for archetype iot-ingest" if raw.protocol == "udp" else "",
            )
        if raw.clustering is not None and raw.port is None:
            yield Diagnostic(
                "E311",
                f"services.{name}: clustering needs a port for peers to reach",
                c.at("services", name, "clustering", key=True),
            )
        if raw.autoscale is not None and raw.autoscale.min > raw.autoscale.max:
            yield Diagnostic(
                "E204",
                f"services.{name}.autoscale: min {raw.autoscale.min} is above max {raw.autoscale.max}",
                c.at("services", name, "autoscale"),
            )
        if raw.autoscale is not None and arch.stateful:
            yield Diagnostic(
                "E311",
                f"services.{name}: autoscale is not offered for archetype {arch.name!r}",
                c.at("services", name, "autoscale", key=True),
                "stateful members join and leave deliberately; set replicas instead",
            )
        if raw.oauth2_client is not None and (c.mesh.auth is None or c.mesh.auth.provider is None):
            yield Diagnostic(
                "E309",
                f"services.{name}.oauth2Client needs an identity provider to register the client with",
                c.at("services", name, "oauth2Client", key=True),
                "add auth.provider: {kind: keycloak, url: ..., realm: ...}",
            )
        if raw.health is not None and raw.port is None and raw.health.port is None:
            yield Diagnostic(
                "E311",
                f"services.{name}.health needs a port to probe",
                c.at("services", name, "health", key=True),
                "set health.port, or give the service a port",
            )


def check_clusters(c: Context) -> Iterable[Diagnostic]:
    for cname, cluster in c.mesh.clusters.items():
        if isinstance(cluster, spec.DoCluster):
            for pname, pool in cluster.node_pools.items():
                where = c.at("clusters", cname, "nodePools", pname, key=True)
                if pool.count is None and (pool.min is None or pool.max is None):
                    yield Diagnostic(
                        "E202",
                        f"clusters.{cname}.nodePools.{pname} needs count, or min and max",
                        where,
                        "count: 3 for a fixed size, or min: 1 and max: 5 to autoscale",
                    )
                elif pool.count is not None and (pool.min is not None or pool.max is not None):
                    yield Diagnostic(
                        "E204",
                        f"clusters.{cname}.nodePools.{pname} sets both count and min/max",
                        where,
                        "a pool is either fixed (count) or autoscaled (min, max)",
                    )
                elif pool.min is not None and pool.max is not None and pool.min > pool.max:
                    yield Diagnostic("E204", f"clusters.{cname}.nodePools.{pname}: min is above max", where)
        else:
            for pname, gpool in cluster.node_pools.items():
                if gpool.min > gpool.max:
                    yield Diagnostic(
                        "E204",
                        f"clusters.{cname}.nodePools.{pname}: min is above max",
                        c.at("clusters", cname, "nodePools", pname, key=True),
                    )
    if c.mesh.gitops is not None:
        parts = c.mesh.gitops.path.split("/")
        if any(p in (".", "..") for p in parts):
            yield Diagnostic(
                "E204",
                "gitops.path must stay inside the repository ('.' and '..' are not allowed)",
                c.at("gitops", "path"),
            )


def check_custom_resources(c: Context) -> Iterable[Diagnostic]:
    seen: dict[tuple[str, str], int] = {}
    for i, cr in enumerate(c.model.custom_resources):
        key = (cr.group, cr.kind)
        if key in seen:
            yield Diagnostic(
                "E303",
                f"customResources[{i}]: {cr.kind}.{cr.group} is declared twice",
                c.at("customResources", i),
                "merge the two entries; a kind is defined once per group",
                notes=((c.at("customResources", seen[key]), "first declared here"),),
            )
        seen[key] = i
        if not cr.instances:
            continue
        import jsonschema  # only a mesh with custom resource instances pays for it

        validator = jsonschema.Draft202012Validator(cr.spec_schema())
        declared = [f.name for f in cr.fields]
        names: set[str] = set()
        for j, inst in enumerate(cr.instances):
            if inst.name in names:
                yield Diagnostic(
                    "E303",
                    f"customResources[{i}]: two instances named {inst.name!r}",
                    c.at("customResources", i, "instances", j, "name"),
                )
            names.add(inst.name)
            for field in inst.spec:
                if field not in declared:
                    # Kubernetes would prune it silently from a structural schema: say so now.
                    yield Diagnostic(
                        "E207",
                        f"{cr.kind} {inst.name!r}: spec has no field {field!r}",
                        c.at("customResources", i, "instances", j, "spec", field, key=True),
                        did_you_mean(field, declared) or "declare it under this entry's `fields`",
                    )
            for err in sorted(validator.iter_errors(dict(inst.spec)), key=lambda e: list(map(str, e.path))):
                path = ("customResources", i, "instances", j, "spec", *err.path)
                where = ".".join(str(p) for p in err.path) or "spec"
                yield Diagnostic(
                    "E207",
                    f"{cr.kind} {inst.name!r}: {where}: {err.message}",
                    c.at(*path) if err.path else c.at("customResources", i, "instances", j, "spec", key=True),
                    "the CRD's schema comes from this entry's `fields`",
                )


def check_governance(c: Context) -> Iterable[Diagnostic]:
    gov = c.model.governance
    for name, svc in c.model.services.items():
        if gov.require_owners and not svc.owners:
            yield Diagnostic(
                "E401",
                f"service {name!r} has no owner",
                c.at("services", name, key=True),
                'add owners: ["@team"] to the service, or metadata.owners for all',
            )
        if gov.allowed_registries and not any(
            svc.image.startswith(reg.rstrip("/") + "/") for reg in gov.allowed_registries
        ):
            yield Diagnostic(
                "E402",
                f"services.{name}.image {svc.image!r} is not from an allowed registry",
                c.at("services", name, "image"),
                "allowed: " + ", ".join(gov.allowed_registries),
            )
        for env_name, minimum in gov.min_replicas.items():
            placement = svc.placements.get(env_name)
            if placement is None:
                continue
            lowest = svc.autoscale.min if svc.autoscale else placement.replicas
            if lowest < minimum:
                where = _replicas_source(c, name, env_name)
                yield Diagnostic(
                    "E403",
                    f"service {name!r} runs {lowest} replica(s) in {env_name}; "
                    f"governance requires at least {minimum}",
                    where,
                    f"raise replicas (or autoscale.min) to {minimum}",
                )


def _replicas_source(c: Context, service: str, env: str) -> Location:
    """Where the replica count of a service in an environment comes from: service, environment or defaults."""
    for path in (
        ("services", service, "autoscale", "min"),
        ("services", service, "replicas"),
        ("environments", env, "replicas"),
        ("defaults", "replicas"),
    ):
        if c.doc.has(path):
            return c.at(*path)
    return c.at("services", service, key=True)


def check_placement(c: Context) -> Iterable[Diagnostic]:
    """Warn where a GPU service is placed on a cluster that has no GPU node pool: its pods never schedule."""
    for svc in c.model.services.values():
        if not svc.archetype.gpu:
            continue
        for env_name in svc.environments:
            if not svc.placements[env_name].resources.gpu:
                continue
            for cluster_name in c.model.environments[env_name].clusters:
                cluster = c.model.clusters.get(cluster_name)
                if cluster is None or any(pool.gpu_count for pool in cluster.node_pools):
                    continue
                yield Diagnostic(
                    "W301",
                    f"service {svc.name!r} requests GPUs, but cluster {cluster_name!r} (environment "
                    f"{env_name!r}) has no GPU node pool: its pods will not schedule there",
                    c.at("services", svc.name, key=True),
                    "add a node pool with gpu to that cluster, or limit the service's environments",
                    severity=Severity.WARNING,
                )


CHECKS: tuple[Check, ...] = (
    check_names,
    check_references,
    check_cycles,
    check_routes,
    check_images,
    check_archetypes,
    check_clusters,
    check_custom_resources,
    check_governance,
    check_placement,
)


def run_checks(mesh: spec.Mesh, doc: Document, model: Model, graph: MeshGraph) -> list[Diagnostic]:
    ctx = Context(mesh, doc, model, graph)
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(ctx))
    return found
