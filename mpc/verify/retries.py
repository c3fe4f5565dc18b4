"""How many times one client request can reach each service, read off the tree: the master proxy's routes
(its Envoy bootstrap, in the overlay's ConfigMap) and the VirtualServices the sidecars apply, multiplied
along the mesh's call chains.

A hop makes `1 + retries` attempts that may reach the upstream when its retry policy retries on a
condition met after the request was sent (a 5xx, a 503, a reset, a gRPC status); `connect-failure` and
`refused-stream` never reach it, so a policy of only those counts 1. A sidecar calling an HTTP host with
no VirtualService applies Istio's default policy (2 retries, 503 among the conditions). The worst case
assumes every hop calls the next with the client's method. Above RETRY_BOUND attempts reaching one
service, verify warns (W701).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mpc.errors import Code, Diagnostic, Severity
from mpc.lang.hosts import CLUSTER_DOMAIN
from mpc.lang.load import Document
from mpc.lang.model import Model, Overlay

from .objects import ClusterView, load_documents

RETRY_BOUND = 10
SAFE_CONDITIONS = frozenset({"connect-failure", "refused-stream", "reset-before-request"})
ISTIO_DEFAULT_RETRIES = 2  # what a sidecar does for an HTTP host without a VirtualService
METHODS = ("GET", "POST")


def _reaching(retry_on: str | None, retries: int) -> int:
    """Attempts that may reach the upstream: 1, plus the retries when a condition may follow delivery."""
    conditions = {c.strip() for c in (retry_on or "").split(",") if c.strip()}
    return 1 + retries if retries > 0 and conditions - SAFE_CONDITIONS else 1


def _method_ok(header: Mapping[str, Any], method: str) -> bool:
    match = header.get("string_match") or {}
    regex = (match.get("safe_regex") or {}).get("regex")
    if regex is not None:
        return re.fullmatch(str(regex), method) is not None
    if "exact" in match:
        return bool(match["exact"] == method)
    return True


def _gateway_routes(view: ClusterView) -> list[Mapping[str, Any]]:
    for config in view.objects("ConfigMap"):
        text = (config.get("data") or {}).get("bootstrap.yaml")
        if not text:
            continue
        docs = load_documents(str(text))
        if not docs:
            continue
        boot = docs[0]
        routes: list[Mapping[str, Any]] = []
        for listener in (boot.get("static_resources") or {}).get("listeners") or []:
            for chain in listener.get("filter_chains") or []:
                for f in chain.get("filters") or []:
                    for vhost in ((f.get("typed_config") or {}).get("route_config") or {}).get(
                        "virtual_hosts"
                    ) or []:
                        routes.extend(vhost.get("routes") or [])
        clusters = {
            c["name"]: c for c in (boot.get("static_resources") or {}).get("clusters") or [] if "name" in c
        }
        return [{**r, "_cluster": clusters.get((r.get("route") or {}).get("cluster"))} for r in routes]
    return []


def _upstream(cluster: Mapping[str, Any] | None) -> str | None:
    """The service an Envoy cluster sends to: the first label of its endpoint's host name."""
    if not cluster:
        return None
    for group in (cluster.get("load_assignment") or {}).get("endpoints") or []:
        for endpoint in group.get("lb_endpoints") or []:
            address = ((endpoint.get("endpoint") or {}).get("address") or {}).get("socket_address") or {}
            host = str(address.get("address", ""))
            if host:
                return host.split(".")[0]
    return None


def gateway_attempts(
    routes: Sequence[Mapping[str, Any]], model: Model, method: str
) -> dict[str, tuple[int, str]]:
    """service -> (attempts reaching it, the route's prefix) for a request of `method` through the proxy's
    `routes` (_gateway_routes), first route wins."""
    out: dict[str, tuple[int, str]] = {}
    seen: set[str] = set()
    for route in routes:
        match = route.get("match") or {}
        prefix = str(match.get("path_separated_prefix") or match.get("prefix") or match.get("path") or "")
        if not all(_method_ok(h, method) for h in match.get("headers") or [] if h.get("name") == ":method"):
            continue
        if prefix in seen:
            continue
        seen.add(prefix)
        service = _upstream(route.get("_cluster")) or ""
        action = route.get("route") or {}
        policy = action.get("retry_policy") or {}
        attempts = _reaching(policy.get("retry_on"), int(policy.get("num_retries", 0) or 0))
        if service in model.services and attempts > out.get(service, (0, ""))[0]:
            out[service] = (attempts, prefix)
    return out


def _vs_match(match: Mapping[str, Any], caller_labels: Mapping[str, str], method: str) -> bool:
    labels = match.get("sourceLabels") or {}
    if any(caller_labels.get(k) != v for k, v in labels.items()):
        return False
    wanted = match.get("method")
    if not wanted:
        return True
    if "regex" in wanted:
        return re.fullmatch(str(wanted["regex"]), method) is not None
    if "exact" in wanted:
        return bool(wanted["exact"] == method)
    return str(method).startswith(str(wanted.get("prefix", "")))


def _services_by_host(view: ClusterView) -> dict[str, Mapping[str, Any]]:
    """Each host's VirtualService spec (the first that names it, as Istio takes one per host)."""
    out: dict[str, Mapping[str, Any]] = {}
    for vs in view.objects("VirtualService", "networking.istio.io"):
        spec = vs.get("spec") or {}
        for host in spec.get("hosts") or []:
            out.setdefault(str(host), spec)
    return out


def sidecar_attempts(
    by_host: Mapping[str, Mapping[str, Any]], host: str, caller_labels: Mapping[str, str], method: str
) -> int:
    spec = by_host.get(host)
    if spec is not None:
        for route in spec.get("http") or []:
            matches = route.get("match") or [{}]
            if any(_vs_match(m, caller_labels, method) for m in matches):
                retries = route.get("retries")
                if retries is None:
                    return _reaching("503", ISTIO_DEFAULT_RETRIES)
                return _reaching(retries.get("retryOn", "503"), int(retries.get("attempts", 0) or 0))
        return 1
    return 1 + ISTIO_DEFAULT_RETRIES


@dataclass(frozen=True)
class Chain:
    method: str
    attempts: int
    route: str
    services: tuple[str, ...]  # the call chain, the routed service first

    def describe(self) -> str:
        chain = " -> ".join(self.services)
        return (
            f"{self.method} {self.route} -> {chain}: up to {self.attempts} attempts reach {self.services[-1]}"
        )


@dataclass(frozen=True)
class RetryReport:
    overlay: Overlay
    worst: tuple[Chain, ...]  # per method, the chain with the most attempts at its end

    def to_json(self) -> dict[str, Any]:
        return {
            "overlay": self.overlay.path,
            "bound": RETRY_BOUND,
            "worst": [
                {"method": c.method, "route": c.route, "chain": list(c.services), "attempts": c.attempts}
                for c in self.worst
            ],
        }

    def findings(self, doc: Document) -> list[Diagnostic]:
        out = []
        for chain in self.worst:
            if chain.attempts <= RETRY_BOUND:
                continue
            out.append(
                Diagnostic(
                    Code.RETRY_AMPLIFICATION,
                    f"{self.overlay.path.removeprefix('kustomize/overlays/')}: {chain.describe()} for one "
                    f"client request (bound {RETRY_BOUND})",
                    doc.location(("gateway", "routes"), key=True),
                    "set retries: 0 on the services in the middle of the chain (one hop retrying is enough), "
                    "or on the route",
                    Severity.WARNING,
                )
            )
        return out


@dataclass(frozen=True)
class _Layers:
    """What the retry chains are read from, read once per overlay: the proxy's routes, the sidecars'
    VirtualServices by host."""

    routes: Sequence[Mapping[str, Any]]
    by_host: Mapping[str, Mapping[str, Any]]


def _worst(model: Model, view: ClusterView, overlay: Overlay, layers: _Layers, method: str) -> Chain | None:
    best: dict[str, Chain] = {}
    frontier = []
    gw = view.workload(model.gateway.name)
    gw_labels = gw.labels if gw is not None else {}
    for service, (attempts, prefix) in gateway_attempts(layers.routes, model, method).items():
        host = f"{service}.{overlay.namespace}.{CLUSTER_DOMAIN}"
        total = attempts * sidecar_attempts(layers.by_host, host, gw_labels, method)
        best[service] = Chain(method, total, prefix, (service,))
        frontier.append(service)
    while frontier:
        following = []
        for name in frontier:
            chain = best[name]
            svc = model.services.get(name)
            caller = view.workload(name)
            if svc is None or caller is None:
                continue
            for dep in svc.depends_on:
                callee = model.services.get(dep)
                if callee is None or overlay.environment not in callee.environments:
                    continue
                if callee.protocol in ("http", "grpc"):
                    host = f"{dep}.{overlay.namespace}.{CLUSTER_DOMAIN}"
                    hop = sidecar_attempts(layers.by_host, host, caller.labels, method)
                else:
                    hop = 1
                total = chain.attempts * hop
                if dep not in best or total > best[dep].attempts:
                    best[dep] = Chain(method, total, chain.route, (*chain.services, dep))
                    following.append(dep)
        frontier = following
    return max(best.values(), key=lambda c: (c.attempts, len(c.services)), default=None)


def retry_report(model: Model, overlay: Overlay, view: ClusterView) -> RetryReport:
    layers = _Layers(_gateway_routes(view), _services_by_host(view))
    worst: Sequence[Chain | None] = [_worst(model, view, overlay, layers, m) for m in METHODS]
    return RetryReport(overlay, tuple(c for c in worst if c is not None))
