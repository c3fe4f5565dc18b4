"""References: every name a mesh entry mentions must exist, be of the right kind, and be used once."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.lang.spec import dependency_name


def check_references(c: Context) -> Iterable[Diagnostic]:
    yield from _services(c)
    yield from _routes(c)
    yield from _environments(c)
    yield from _observability(c)
    yield from _governance(c)


def _services(c: Context) -> Iterable[Diagnostic]:
    """What a service calls exists, is not itself and is named once; its environments exist."""
    m = c.mesh
    callable_names = list(m.services) + list(m.external)
    for name, svc in m.services.items():
        seen: set[str] = set()
        for i, entry in enumerate(svc.depends_on):
            dep = dependency_name(entry)
            where = c.at("services", name, "dependsOn", i)
            if not isinstance(entry, str):
                where = c.at("services", name, "dependsOn", i, "service")
            if dep == name:
                yield Diagnostic(
                    Code.SELF_DEPENDENCY,
                    f"service {name!r} depends on itself",
                    where,
                    "remove it from dependsOn",
                )
            elif dep not in m.services and dep not in m.external:
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"services.{name}.dependsOn: no service or external entry named {dep!r}",
                    where,
                    c.suggest(dep, callable_names),
                )
            elif dep in seen:
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"services.{name}.dependsOn names {dep!r} twice",
                    where,
                    "list it once",
                )
            seen.add(dep)
        for i, env_ref in enumerate(svc.environments or []):
            if env_ref not in c.model.environments:
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"services.{name}.environments: no environment named {env_ref!r}",
                    c.at("services", name, "environments", i),
                    c.suggest(env_ref, c.model.environments) or "declare it under environments",
                )


def _routes(c: Context) -> Iterable[Diagnostic]:
    """A route names a service of the mesh, and an issuer that auth.issuers defines."""
    m = c.mesh
    issuers = list(m.auth.issuers) if m.auth else []
    for i, route in enumerate(m.gateway.routes):
        shown = route.path if route.path is not None else route.prefix
        if route.service not in m.services:
            hint = c.suggest(route.service, m.services)
            if route.service in m.external:
                hint = "a route reaches a service of the mesh; external entries are called by services"
            yield Diagnostic(
                Code.UNKNOWN_REFERENCE,
                f"gateway.routes[{i}] ({shown}) names no service {route.service!r}",
                c.at("gateway", "routes", i, "service"),
                hint,
            )
        if route.auth is not None and route.auth not in issuers:
            yield Diagnostic(
                Code.UNKNOWN_REFERENCE,
                f"gateway.routes[{i}] ({shown}) requires issuer {route.auth!r}, "
                "which auth.issuers does not define",
                c.at("gateway", "routes", i, "auth"),
                c.suggest(route.auth, issuers) or "declare it under auth.issuers",
            )


def _environments(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    for env_name, env in m.environments.items():
        for i, cluster in enumerate(env.clusters):
            if cluster not in m.clusters:
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"environments.{env_name}.clusters: no cluster named {cluster!r}",
                    c.at("environments", env_name, "clusters", i),
                    c.suggest(cluster, m.clusters) or "declare it under clusters",
                )


def _observability(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    if m.observability:
        for i, slo in enumerate(m.observability.slos):
            if slo.service not in m.services:
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"observability.slos[{i}]: no service named {slo.service!r}",
                    c.at("observability", "slos", i, "service"),
                    c.suggest(slo.service, m.services),
                )
            if slo.availability is None and slo.latency_p99 is None:
                yield Diagnostic(
                    Code.MISSING_KEY,
                    f"observability.slos[{i}] sets neither availability nor latencyP99",
                    c.at("observability", "slos", i),
                    "give an availability target (e.g. 99.9), a latencyP99 (e.g. 500ms), or both",
                )


def _governance(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    callable_names = list(m.services) + list(m.external)
    if m.governance:
        for env_key in m.governance.min_replicas:
            if env_key not in c.model.environments:
                hint = c.suggest(env_key, c.model.environments)
                if not m.environments:
                    hint = f"the mesh declares no environments (its one is 'default'); declare {env_key!r}"
                yield Diagnostic(
                    Code.UNKNOWN_REFERENCE,
                    f"governance.minReplicas: no environment named {env_key!r}",
                    c.at("governance", "minReplicas", env_key, key=True),
                    hint,
                )
        for i, name in enumerate(m.governance.protected):
            if name not in m.services and name not in m.external:
                yield Diagnostic(
                    Code.UNKNOWN_PROTECTED,
                    f"governance.protected: no service named {name!r}",
                    c.at("governance", "protected", i),
                    c.suggest(name, callable_names),
                )
