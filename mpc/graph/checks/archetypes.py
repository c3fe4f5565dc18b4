"""Archetypes: what each archetype requires of its services."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic, Severity
from mpc.graph.checks.context import (
    Context,
)


def check_unreplicated_state(c: Context) -> Iterable[Diagnostic]:
    """A stateful service with several pods and nothing that makes them one store: independent copies."""
    for name, svc in c.model.services.items():
        if not svc.archetype.stateful or svc.replicates:
            continue
        several = [env for env in svc.environments if svc.most_pods(env) > 1]
        if not several:
            continue
        where = (
            ("services", name, "replicas")
            if c.doc.has(("services", name, "replicas"))
            else ("services", name)
        )
        counts = ", ".join(f"{svc.most_pods(env)} in {env}" for env in several)
        yield Diagnostic(
            Code.UNREPLICATED_STATE,
            f"services.{name}: a stateful service that does not replicate runs several pods ({counts}): "
            "each keeps its own data behind one Service, and the policies give them no traffic with "
            "each other",
            c.at(*where, key=True),
            "set clustering: dns if its members replicate (they find each other through the headless "
            "Service), or replicas: 1 for a single store",
            Severity.WARNING,
        )


def check_archetypes(c: Context) -> Iterable[Diagnostic]:
    for name, raw in c.mesh.services.items():
        svc = c.model.services.get(name)
        if svc is None:
            continue
        arch = svc.archetype
        has_port = raw.port is not None or raw.ports is not None
        protocols = [p.protocol for p in raw.ports] if raw.ports is not None else [raw.protocol]
        if not arch.serves and has_port:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: archetype {arch.name!r} runs without a port",
                c.at("services", name, "port" if raw.port is not None else "ports", key=True),
                "remove port, or choose archetype web",
            )
        if arch.serves and not has_port and arch.name != "worker":
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: archetype {arch.name!r} needs a port",
                c.at("services", name, key=True),
                "add port, or use archetype worker for a service nothing calls",
            )
        if arch.stateful and raw.storage is None:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: archetype {arch.name!r} needs storage",
                c.at("services", name, key=True),
                "the size of each member's volume, e.g. storage: 20Gi",
            )
        if not arch.stateful and raw.storage is not None:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: storage is for stateful archetypes; {arch.name!r} is not one",
                c.at("services", name, "storage", key=True),
                "use archetype stateful, or remove storage",
            )
        refused = [p for p in protocols if p not in arch.protocols]
        if has_port and arch.protocols and refused:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: protocol {refused[0]!r} is not allowed for archetype {arch.name!r}",
                c.at("services", name, "protocol" if raw.ports is None else "ports"),
                "udp is for archetype iot-ingest" if refused[0] == "udp" else "",
            )
        if raw.clustering is not None and not has_port:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: clustering needs a port for peers to reach",
                c.at("services", name, "clustering", key=True),
            )
        if raw.autoscale is not None and raw.autoscale.min > raw.autoscale.max:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"services.{name}.autoscale: min {raw.autoscale.min} is above max {raw.autoscale.max}",
                c.at("services", name, "autoscale"),
            )
        if raw.autoscale is not None and arch.stateful:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}: autoscale is not offered for archetype {arch.name!r}",
                c.at("services", name, "autoscale", key=True),
                "stateful members join and leave deliberately; set replicas instead",
            )
        if raw.oauth2_client is not None and (c.mesh.auth is None or c.mesh.auth.provider is None):
            yield Diagnostic(
                Code.OAUTH2_WITHOUT_PROVIDER,
                f"services.{name}.oauth2Client needs an identity provider to register the client with",
                c.at("services", name, "oauth2Client", key=True),
                "add auth.provider: {kind: keycloak, url: ..., realm: ...}",
            )
        if raw.health is not None and not has_port and raw.health.port is None:
            yield Diagnostic(
                Code.ARCHETYPE_REQUIREMENT,
                f"services.{name}.health needs a port to probe",
                c.at("services", name, "health", key=True),
                "set health.port, or give the service a port",
            )
