"""In-mesh traffic: VirtualServices (timeouts, retries), DestinationRules (mTLS, limits) and Sidecars.

A Sidecar per workload lists only what the workload calls, so a proxy neither reaches nor even receives
configuration for anything else: least privilege on the way out, and small proxy configs in big meshes.
"""

from __future__ import annotations

from typing import Any

from mpc.lang.model import Service
from mpc.lang.quantities import format_duration
from mpc.render import k8s

from .common import ISTIO_SYSTEM, NETWORKING, Generated, InEnvironment, Scope, ServiceScope
from .external import egress_host as external_egress_host
from .external import issuer_egress_hosts, provider_egress_host
from .telemetry import collector_egress_host

# Retries that are safe: what may have reached the application (a 503, a gRPC status) is retried only
# for idempotent methods; what cannot have (a failed connection, a refused stream) for every method.
# gRPC calls are POSTs, so they get the second list. The master proxy's requests are not retried here:
# its route retries already (one retry layer per hop), and this VirtualService applies in its sidecar too.
RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,503"
RETRY_ON_UNDELIVERED = "connect-failure,refused-stream"
IDEMPOTENT = {"regex": "GET|HEAD|OPTIONS|PUT|DELETE"}

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


def virtual_service(scope: ServiceScope) -> Generated | None:
    svc = scope.service
    if not (svc.serves_http and svc.has_service_object) or svc.port is None:
        return None
    host = scope.fqdn(svc.name)

    def route(name: str, attempts: int, retry_on: str | None, match: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name}
        if match is not None:
            out["match"] = [match]
        out["route"] = [{"destination": {"host": host, "port": {"number": svc.port}}}]
        out["timeout"] = format_duration(svc.timeout_ms)
        # Written even as 0: without `retries` Istio applies its own default (2 attempts).
        out["retries"] = {"attempts": attempts, **({"retryOn": retry_on} if attempts else {})}
        return out

    http = []
    if scope.context.routes and svc.retries > 0:
        gateway = {"sourceLabels": k8s.selector(scope.model.gateway.name)}
        http.append(route("from-master-proxy", 0, None, gateway))
    if svc.retries > 0:
        http.append(route("idempotent", svc.retries, RETRY_ON, {"method": dict(IDEMPOTENT)}))
        http.append(route("other-methods", svc.retries, RETRY_ON_UNDELIVERED, None))
    else:
        http.append(route("no-retries", 0, None, None))
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
    if svc.protocol in ("http", "grpc"):
        pool["http"] = {
            "http1MaxPendingRequests": PENDING_PER_POD * pods,
            "http2MaxRequests": REQUESTS_PER_POD * pods,
        }
    spec = {
        "host": scope.fqdn(svc.name),
        "exportTo": ["."],
        "trafficPolicy": {
            "tls": {"mode": "ISTIO_MUTUAL"},
            "connectionPool": pool,
            "outlierDetection": dict(OUTLIER_DETECTION),
        },
    }
    return scope.obj(NETWORKING, "DestinationRule", svc.name, svc.source, spec)


def _sidecar(scope: InEnvironment, workload: str, hosts: list[str], source: Any) -> Generated:
    base = [f"{ISTIO_SYSTEM}/*"]
    collector = collector_egress_host(scope)
    if collector is not None:
        # Proxies send spans straight to the collector: with a Sidecar scope and REGISTRY_ONLY, a proxy
        # that does not import the collector's service drops every span.
        base.append(collector)
    spec = {
        "workloadSelector": {"labels": k8s.selector(workload)},
        "egress": [{"hosts": base + sorted(set(hosts))}],
        "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
    }
    return scope.obj(NETWORKING, "Sidecar", workload, source, spec)


def service_sidecar(scope: ServiceScope) -> Generated:
    """Egress to the services and external entries this service depends on, nothing else."""
    svc = scope.service
    # Listed even when a dependency does not run here: the analysis then reports it, located.
    hosts = [f"./{scope.fqdn(dep.name)}" for dep in scope.context.calls]
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
    return _sidecar(scope, svc.name, hosts, svc.source)


def gateway_sidecar(scope: Scope) -> Generated:
    """The master proxy reaches the services its routes name, and the JWKS of the issuers they require.

    A route to a service that does not run in this environment is answered by the proxy itself (503),
    so it needs no egress.
    """
    gw = scope.model.gateway
    hosts = [f"./{scope.fqdn(r.service)}" for r in gw.routes if scope.runs(r.service)]
    hosts.extend(issuer_egress_hosts(scope))
    return _sidecar(scope, gw.name, hosts, gw.source)
