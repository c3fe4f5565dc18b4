"""Destinations outside the mesh: a ServiceEntry per `external` entry and per JWKS host the proxy needs.

With the outbound policy REGISTRY_ONLY a proxy reaches only hosts in the registry, and the Sidecar of
each workload imports only the entries its service depends on, so an external host is reachable from
the services that declare it and from nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mpc.errors import Location
from mpc.lang.hosts import Url, parse_url, place
from mpc.lang.model import External

from .common import NETWORKING, Generated, InEnvironment, Scope, ServiceScope

PROTOCOLS = {"tls": "TLS", "http": "HTTP", "tcp": "TCP"}


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    host: str
    port: int
    protocol: str  # tls | http | tcp
    source: Location
    addresses: tuple[str, ...] = ()  # CIDRs the entry is reached at (an external entry's `addresses`)


def entry_host(ext: External) -> str:
    return ext.entry_host


def egress_host(ext: External) -> str:
    return f"./{entry_host(ext)}"


def _single(cidr: str) -> bool:
    return cidr.endswith("/32") or cidr.endswith("/128")


def _resolution(dest: Destination) -> dict[str, Any]:
    """DNS for a host alone; with addresses, STATIC endpoints when each is a single address, else NONE
    (a range: connections already carry their destination address)."""
    if not dest.addresses:
        return {"resolution": "DNS"}
    out: dict[str, Any] = {"addresses": list(dest.addresses)}
    if all(_single(a) for a in dest.addresses):
        out["resolution"] = "STATIC"
        out["endpoints"] = [{"address": a.split("/")[0]} for a in dest.addresses]
    else:
        out["resolution"] = "NONE"
    return out


def _service_entry(scope: InEnvironment, dest: Destination) -> Generated:
    spec: dict[str, Any] = {
        "hosts": [dest.host],
        "exportTo": ["."],
        "location": "MESH_EXTERNAL",
        "ports": [
            {
                "number": dest.port,
                "name": f"{dest.protocol}-{dest.port}",
                "protocol": PROTOCOLS[dest.protocol],
            }
        ],
    }
    spec.update(_resolution(dest))
    return scope.obj(NETWORKING, "ServiceEntry", dest.name, dest.source, spec)


def _url(text: str) -> Url | None:
    """A URL of the mesh (checked where it is written: mpc.graph.checks.hosts), or None."""
    try:
        return parse_url(text)
    except ValueError:
        return None


def jwks_destinations(scope: InEnvironment) -> list[Destination]:
    """The JWKS endpoints of the issuers that routes require: the master proxy fetches them itself.

    An issuer whose JWKS host and port an `external` entry already declares needs no entry of its own,
    nor one whose JWKS is served in the cluster (mpc.lang.hosts.place): a Service is in the registry.
    """
    declared = {(e.host, e.port) for e in scope.model.external.values() if e.host is not None}
    used = sorted({r.auth for r in scope.model.gateway.routes if r.auth is not None})
    out: dict[tuple[str, int], Destination] = {}
    for name in used:
        issuer = scope.model.issuers.get(name)
        if issuer is None:
            continue
        url = _url(issuer.jwks_uri)
        if url is None:
            continue
        key = (url.host, url.port)
        if key in declared or key in out or place(url.host, short_form=False).in_cluster:
            continue
        protocol = "tls" if url.tls else "http"
        out[key] = Destination(f"jwks-{issuer.name}", url.host, url.port, protocol, issuer.source)
    return list(out.values())


def issuer_egress_hosts(scope: InEnvironment) -> list[str]:
    hosts = {f"./{d.host}" for d in jwks_destinations(scope)}
    declared = {(e.host, e.port): e for e in scope.model.external.values()}
    for name in {r.auth for r in scope.model.gateway.routes if r.auth is not None}:
        issuer = scope.model.issuers.get(name)
        if issuer is None:
            continue
        url = _url(issuer.jwks_uri)
        if url is not None:
            ext = declared.get((url.host, url.port))
            if ext is not None:
                hosts.add(egress_host(ext))
            where = place(url.host, short_form=False)
            if where.in_cluster:  # a Service: imported from its own namespace
                namespace = where.namespace or scope.namespace
                mine = namespace == scope.namespace
                hosts.add(f"{'.' if mine else namespace}/{where.dial(scope.namespace)}")
    return sorted(hosts)


def provider_destination(scope: Scope) -> Destination | None:
    """The identity provider, which services with an OAuth2 client call for their tokens.

    None when no service has a client, or when an `external` entry or a JWKS entry already covers the
    provider's host and port (one ServiceEntry per host).
    """
    provider = scope.model.identity_provider
    if provider is None or not any(s.oauth2_client for s in scope.model.services.values()):
        return None
    url = _url(provider.url)
    if url is None:
        return None
    covered = {(e.host, e.port) for e in scope.model.external.values()}
    covered |= {(d.host, d.port) for d in jwks_destinations(scope)}
    if (url.host, url.port) in covered:
        return None
    protocol = "tls" if url.tls else "http"
    return Destination(f"identity-{provider.kind}", url.host, url.port, protocol, scope.model.gateway.source)


def provider_egress_host(scope: InEnvironment) -> str | None:
    """The Sidecar egress host that reaches the identity provider (for services with an OAuth2 client)."""
    provider = scope.model.identity_provider
    if provider is None:
        return None
    url = _url(provider.url)
    return f"./{url.host}" if url is not None else None


def service_entries(scope: Scope) -> list[Generated]:
    externals = [
        Destination(e.name, entry_host(e), e.port, e.protocol, e.source, e.addresses)
        for e in scope.model.external.values()
    ]
    provider = provider_destination(scope)
    extra = [provider] if provider is not None else []
    return [_service_entry(scope, d) for d in externals + jwks_destinations(scope) + extra]


def entry_hosts(scope: ServiceScope) -> set[str]:
    """The ServiceEntry hosts one service's objects can name: the external entries it calls, and the
    identity provider when it has an OAuth2 client. (Only the master proxy names the JWKS hosts.) Read
    from the service's own entries, not the mesh's routes: per service, this must not grow with the mesh."""
    model = scope.model
    hosts = {entry_host(model.external[n]) for n in scope.service.external if n in model.external}
    provider = model.identity_provider
    if provider is not None and scope.service.oauth2_client is not None:
        url = _url(provider.url)
        if url is not None:
            hosts.add(url.host)
    return hosts
