"""In-mesh traffic: VirtualServices (timeouts, retries), DestinationRules (mTLS, limits) and Sidecars.

A Sidecar per workload lists only what the workload calls, so a proxy neither reaches nor even receives
configuration for anything else: least privilege on the way out, and small proxy configs in big meshes.
"""

from __future__ import annotations

from typing import Any

from mpc.lang.model import PortSpec, Service
from mpc.lang.quantities import format_duration
from mpc.render import k8s
from mpc.render.retries import IDEMPOTENT_METHODS, RETRY_ON_UNDELIVERED

from .common import ISTIO_SYSTEM, NETWORKING, Generated, InEnvironment, Scope, ServiceScope
from .external import egress_host as external_egress_host
from .external import issuer_egress_hosts, provider_egress_host
from .telemetry import collector_egress_host

# Retries that are safe: what may have reached the application (a 503, a gRPC status) is retried only
# for idempotent methods; what cannot have (a failed connection, a refused stream) for every method.
# gRPC calls are POSTs, so they get the second list. The master proxy's requests are not retried here:
# its route retries already (one retry layer per hop), and this VirtualService applies in its sidecar too.
RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,503"
IDEMPOTENT = {"regex": "|".join(IDEMPOTENT_METHODS)}  # mpc.render.retries

# Connection-pool limits per calling proxy, scaled by the pods that can serve: a caller may keep this
# many connections and queued requests per destination pod before its proxy fails fast (503).
CONNECTIONS_PER_POD = 100
PENDING_PER_POD = 50
REQUESTS_PER_POD = 200
CONNECT_TIMEOUT = "5s"

# Outlier detection: eject a pod after 5 consecutive 5xx (or connect failures), for at least 30 s, and
# never more than half the pods, so a bad deploy degrades rather than empties a service.
OUTLIER_DETECTION: dict[str, Any] = {
    "consecutive5xxErrors": 5,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 50,
}


def _max_pods(scope: InEnvironment, svc: Service) -> int:
    if svc.autoscale is not None:
        return svc.autoscale.max
    placement = svc.placements.get(scope.env.name)
    return placement.replicas if placement is not None else svc.replicas


def _destination(host: str, port: int, subset: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"host": host, "port": {"number": port}}
    if subset is not None:
        out["subset"] = subset
    return out


RetryClass = tuple[str, int, str | None, dict[str, Any] | None]  # name, attempts, retryOn, match


def _retry_classes(scope: ServiceScope) -> list[RetryClass]:
    """The requests that retry differently, in match order: the master proxy's (its route retries, so not
    again here), idempotent methods (anything that failed), the rest (only what never arrived)."""
    svc = scope.service
    if svc.retries <= 0:
        return [("no-retries", 0, None, None)]
    out: list[RetryClass] = []
    if scope.context.routes:
        out.append(("from-master-proxy", 0, None, {"sourceLabels": k8s.selector(scope.model.gateway.name)}))
    out.append(("idempotent", svc.retries, RETRY_ON, {"method": dict(IDEMPOTENT)}))
    out.append(("other-methods", svc.retries, RETRY_ON_UNDELIVERED, None))
    return out


def _route(
    name: str, match: dict[str, Any], destinations: list[dict[str, Any]], timeout: str, retry: RetryClass
) -> dict[str, Any]:
    _, attempts, retry_on, _ = retry
    out: dict[str, Any] = {"name": name}
    if match:
        out["match"] = [match]
    out["route"] = destinations
    out["timeout"] = timeout
    # Written even as 0: without `retries` Istio applies its own default (2 attempts).
    out["retries"] = {"attempts": attempts, **({"retryOn": retry_on} if attempts else {})}
    return out


def _routes_to(scope: ServiceScope, host: str, port: PortSpec, by_port: bool) -> list[dict[str, Any]]:
    """The HTTP routes of one port: a version's header match first (whatever the weights), then the
    weighted split over the versions (or the one destination); each in the retry classes."""
    svc = scope.service
    timeout = format_duration(svc.timeout_ms)
    prefix = f"{port.name}-" if by_port else ""
    on_port = {"port": port.port} if by_port else {}
    out: list[dict[str, Any]] = []
    for version in svc.versions:
        if not version.match_headers:
            continue
        headers = {"headers": {k: {"exact": v} for k, v in version.match_headers}}
        destination = [{"destination": _destination(host, port.port, version.name)}]
        for retry in _retry_classes(scope):
            match = {**on_port, **headers, **(retry[3] or {})}
            name = f"{prefix}{version.name}-{retry[0]}"
            out.append(_route(name, match, destination, timeout, retry))
    if svc.versions:
        split = [
            {"destination": _destination(host, port.port, v.name), "weight": v.weight}
            for v in svc.versions
            if v.weight > 0
        ]
    else:
        split = [{"destination": _destination(host, port.port)}]
    for retry in _retry_classes(scope):
        out.append(_route(f"{prefix}{retry[0]}", {**on_port, **(retry[3] or {})}, split, timeout, retry))
    return out


def virtual_service(scope: ServiceScope) -> Generated | None:
    """Timeouts and safe retries of calls to the service, per HTTP port (matched by port when it has
    several, so a request keeps the port it was sent to), and the split over its versions."""
    svc = scope.service
    if not (svc.serves_http and svc.has_service_object) or svc.port is None:
        return None
    host = scope.fqdn(svc.name)
    by_port = len(svc.ports) > 1
    http = [r for p in svc.ports if p.serves_http for r in _routes_to(scope, host, p, by_port)]
    spec = {"hosts": [host], "exportTo": ["."], "http": http}
    return scope.obj(NETWORKING, "VirtualService", svc.name, svc.source, spec)


def destination_rule(scope: ServiceScope) -> Generated | None:
    svc = scope.service
    if not svc.has_service_object:
        return None
    pods = max(_max_pods(scope, svc), 1)
    pool: dict[str, Any] = {
        "tcp": {"maxConnections": CONNECTIONS_PER_POD * pods, "connectTimeout": CONNECT_TIMEOUT},
    }
    if svc.serves_http:
        pool["http"] = {
            "http1MaxPendingRequests": PENDING_PER_POD * pods,
            "http2MaxRequests": REQUESTS_PER_POD * pods,
        }
    spec: dict[str, Any] = {
        "host": scope.fqdn(svc.name),
        "exportTo": ["."],
        "trafficPolicy": {
            "tls": {"mode": "ISTIO_MUTUAL"},
            "connectionPool": pool,
            "outlierDetection": dict(OUTLIER_DETECTION),
        },
    }
    if svc.versions:
        # One subset per version, on the label its Deployment's pods carry.
        spec["subsets"] = [{"name": v.name, "labels": {k8s.SUBSET_LABEL: v.name}} for v in svc.versions]
    return scope.obj(NETWORKING, "DestinationRule", svc.name, svc.source, spec)


SIDECAR_PROTOCOLS = {"http": "HTTP", "grpc": "GRPC", "tcp": "TCP"}  # Istio has no UDP listener


def _sidecar(
    scope: InEnvironment,
    workload: str,
    hosts: list[str],
    source: Any,
    listeners: list[dict[str, Any]] | None = None,
) -> Generated:
    base = [f"{ISTIO_SYSTEM}/*"]
    collector = collector_egress_host(scope)
    if collector is not None:
        # Proxies send spans straight to the collector: with a Sidecar scope and REGISTRY_ONLY, a proxy
        # that does not import the collector's service drops every span.
        base.append(collector)
    spec = {
        "workloadSelector": {"labels": k8s.selector(workload)},
        "egress": [*(listeners or []), {"hosts": base + sorted(set(hosts))}],
        "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
    }
    return scope.obj(NETWORKING, "Sidecar", workload, source, spec)


def _port_listeners(scope: ServiceScope) -> tuple[list[dict[str, Any]], set[str]]:
    """Egress listeners for calls narrowed to ports: a host imported on those ports only (one listener
    per port, shared by every host called on it), and the hosts they cover."""
    by_port: dict[tuple[int, str], set[str]] = {}
    covered = set()
    for dep in scope.context.calls:
        if not dep.narrowing.ports:
            continue
        host = f"./{scope.fqdn(dep.name)}"
        covered.add(dep.name)
        for port in dep.call_ports():
            if port.protocol in SIDECAR_PROTOCOLS:
                by_port.setdefault((port.port, SIDECAR_PROTOCOLS[port.protocol]), set()).add(host)
    listeners = [
        {
            "port": {"number": number, "protocol": proto, "name": f"{proto.lower()}-{number}"},
            "hosts": sorted(h),
        }
        for (number, proto), h in sorted(by_port.items())
    ]
    return listeners, covered


def service_sidecar(scope: ServiceScope) -> Generated:
    """Egress to the services and external entries this service depends on, nothing else."""
    svc = scope.service
    listeners, narrowed = _port_listeners(scope)
    # Listed even when a dependency does not run here: the analysis then reports it, located.
    hosts = [f"./{scope.fqdn(dep.name)}" for dep in scope.context.calls if dep.name not in narrowed]
    if scope.context.peers_in(scope.env.name) and svc.has_service_object:
        # Its pods call each other through its own (headless) Service: with REGISTRY_ONLY, a proxy that
        # does not import that host drops the traffic its policies allow.
        hosts.append(f"./{scope.fqdn(svc.name)}")
    hosts.extend(
        external_egress_host(scope.model.external[n]) for n in svc.external if n in scope.model.external
    )
    if svc.oauth2_client is not None:
        # Its OAuth2 client fetches tokens from the identity provider the mesh registers it with.
        provider = provider_egress_host(scope)
        if provider is not None:
            hosts.append(provider)
    return _sidecar(scope, svc.name, hosts, svc.source, listeners)


def gateway_sidecar(scope: Scope) -> Generated:
    """The master proxy reaches the services its routes name, and the JWKS of the issuers they require.

    A route to a service that does not run in this environment is answered by the proxy itself (503),
    so it needs no egress.
    """
    gw = scope.model.gateway
    hosts = [f"./{scope.fqdn(r.service)}" for r in gw.routes if scope.runs(r.service)]
    hosts.extend(issuer_egress_hosts(scope))
    return _sidecar(scope, gw.name, hosts, gw.source)
