"""NetworkPolicies of one environment: deny everything, then allow exactly the graph's edges.

Pod-to-pod rules inside the namespace come from the graph alone: a service admits its callers (the
`calls` edges into it) and the master proxy when a route names it, and may reach its dependencies.
Around that sit the few flows the platform itself needs, each in its own policy or rule so they are
easy to audit: DNS, the Istio control plane, trace export, Prometheus scrapes, peer traffic between
the replicas of a clustered or stateful service, the east-west gateway of a federated environment,
and external dependencies.

External dependencies given by host name only: a NetworkPolicy only knows addresses, so their egress
is allowed on the dependency's port to any address outside the private and link-local ranges (so no
in-cluster or cloud-metadata address is opened by it); the Istio egress policy names the hosts. An
entry with `addresses` is allowed exactly those CIDRs on its port, private ones included.

Ports are the pods' (target) ports: a NetworkPolicy is evaluated after the Service has translated the
port. A narrowed dependsOn entry opens only the ports it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mpc.graph.reserved import ALLOW_DNS, ALLOW_ISTIO, ALLOW_TRACING, DEFAULT_DENY
from mpc.lang.hosts import parse_url, place
from mpc.lang.model import Environment, MeshSettings, Peer, PortSpec, Service, ServiceContext
from mpc.render import k8s
from mpc.render.k8s import ISTIO_SYSTEM

from .common import PROTOCOL_K8S, WAVE_POLICY, component, scraped, service_ports, wave
from .monitoring import scrape_port

KUBE_DNS = {"k8s-app": "kube-dns"}  # CoreDNS and kube-dns both keep this label
ISTIOD = {"app": "istiod"}
ISTIOD_PORT = 15012  # xDS and certificate signing over mTLS
EAST_WEST_GATEWAY = {"istio": "eastwestgateway"}
EAST_WEST_PORT = 15443  # Istio's multi-network passthrough port
PROMETHEUS_NAMESPACE = "monitoring"
EGRESS_ONLY = ("Egress",)  # these add egress only; the default deny keeps ingress closed


def _pods(name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": k8s.selector(name)}}


def _identity_provider(model: MeshSettings, env: Environment) -> tuple[dict[str, Any], int] | None:
    """Where a service's OAuth2 client fetches its tokens: the identity provider, as place() reads it."""
    provider = model.identity_provider
    if provider is None:
        return None
    url = parse_url(provider.url)
    return k8s.egress_peer(place(url.host, short_form=False), env.namespace), url.port


def _port(port: int, protocol: str = "TCP") -> dict[str, Any]:
    return {"protocol": protocol, "port": port}


def _pod_ports(ports: tuple[PortSpec, ...]) -> list[dict[str, Any]]:
    """A NetworkPolicy sees the pod's side of a Service: the target ports."""
    return [_port(p.target_port, PROTOCOL_K8S[p.protocol]) for p in ports]


def _policy(
    meta: dict[str, Any],
    selector: dict[str, str],
    ingress: list[Any],
    egress: list[Any],
    types: tuple[str, ...] = ("Ingress", "Egress"),
) -> dict[str, Any]:
    """A policy of the given types; a type without rules denies that direction to the selected pods."""
    spec: dict[str, Any] = {"podSelector": {"matchLabels": selector} if selector else {}}
    spec["policyTypes"] = list(types)
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return k8s.obj("networking.k8s.io/v1", "NetworkPolicy", meta, spec=spec)


def _mesh_meta(model: MeshSettings, env: Environment, name: str) -> dict[str, Any]:
    return k8s.metadata(
        model, name, env.source, labels_=k8s.mesh_labels(model), annotations_=wave(WAVE_POLICY)
    )


def _tracing_peer(model: MeshSettings, env: Environment) -> tuple[dict[str, Any], int] | None:
    tracing = model.observability.tracing
    if tracing is None:
        return None
    return k8s.egress_peer(place(tracing.host, short_form=True), env.namespace), tracing.port


def _external_peers(addresses: tuple[str, ...], host: str | None, env: Environment) -> list[dict[str, Any]]:
    """Exactly the addresses an external entry names (a private one too: naming it is the intent), else
    where its host leads (mpc.lang.hosts.place: the public Internet for a name outside the cluster)."""
    if addresses:
        return [{"ipBlock": {"cidr": cidr}} for cidr in addresses]
    if host is None:
        return [{"ipBlock": k8s.public()}]
    return [k8s.egress_peer(place(host, short_form=False), env.namespace)]


def namespace_policies(model: MeshSettings, env: Environment) -> list[dict[str, Any]]:
    out = [
        _policy(_mesh_meta(model, env, DEFAULT_DENY), {}, [], []),
        _policy(
            _mesh_meta(model, env, ALLOW_DNS),
            {},
            [],
            [
                {
                    "to": [
                        {**k8s.namespace_selector("kube-system"), "podSelector": {"matchLabels": KUBE_DNS}}
                    ],
                    "ports": [_port(53, "UDP"), _port(53, "TCP")],
                }
            ],
            EGRESS_ONLY,
        ),
        _policy(
            _mesh_meta(model, env, ALLOW_ISTIO),
            {},
            [],
            [
                {
                    "to": [{**k8s.namespace_selector(ISTIO_SYSTEM), "podSelector": {"matchLabels": ISTIOD}}],
                    "ports": [_port(ISTIOD_PORT)],
                }
            ],
            EGRESS_ONLY,
        ),
    ]
    tracing = _tracing_peer(model, env)
    if tracing is not None:
        peer, port = tracing
        out.append(
            _policy(
                _mesh_meta(model, env, ALLOW_TRACING),
                {},
                [],
                [{"to": [peer], "ports": [_port(port)]}],
                EGRESS_ONLY,
            )
        )
    return out


def _neighbours(context: ServiceContext, env: Environment) -> tuple[tuple[Peer, ...], list[Peer]]:
    """The callers that run in the environment, and the services called, by name."""
    called = sorted({p.name: p for p in context.calls}.items())
    return context.callers_in(env.name), [p for _, p in called]


def _all_ports(svc: Service) -> list[dict[str, Any]]:
    """Every port its pods serve, declared and peer (target ports)."""
    return [_port(p.target, p.protocol) for p in service_ports(svc)]


def _peer_port(p: Peer) -> list[dict[str, Any]]:
    return _pod_ports(p.call_ports()) if p.port is not None else []


def _caller_rules(context: ServiceContext, callers: Sequence[Peer]) -> list[dict[str, Any]]:
    """One ingress rule per set of ports: callers whose calls reach the same ports share a rule."""
    svc = context.service
    groups: dict[tuple[int, ...], list[str]] = {}
    ports_of: dict[tuple[int, ...], tuple[PortSpec, ...]] = {}
    for caller in callers:
        reached = svc.call_ports(caller.narrowing)
        key = tuple(p.target_port for p in reached)
        groups.setdefault(key, []).append(caller.name)
        ports_of[key] = reached
    return [
        {"from": [_pods(c) for c in members], "ports": _pod_ports(ports_of[key])}
        for key, members in groups.items()
    ]


def service_policy(context: ServiceContext, env: Environment) -> dict[str, Any]:
    model = context.mesh
    svc = context.service
    ingress: list[dict[str, Any]] = []
    ports = _pod_ports(svc.ports)
    routed = bool(context.routes)
    callers, dependencies = _neighbours(context, env)
    peers = context.peers_in(env.name) and bool(ports)
    if ports:
        if callers:
            ingress.extend(_caller_rules(context, callers))
        route_port = svc.route_port
        if routed and route_port is not None:
            ingress.append({"from": [_pods(model.gateway.name)], "ports": _pod_ports((route_port,))})
        if env.federated and (callers or routed or peers):
            # Across the clusters of a federated environment: callers, the proxy and its own peers
            # in the other clusters arrive through the east-west gateway.
            ingress.append(
                {
                    "from": [
                        {
                            **k8s.namespace_selector(ISTIO_SYSTEM),
                            "podSelector": {"matchLabels": EAST_WEST_GATEWAY},
                        }
                    ],
                    "ports": ports,
                }
            )
        if scraped(model, svc):
            # Prometheus scrapes the sidecar's stats port, not the application's (see monitoring.py).
            ingress.append(
                {"from": [k8s.namespace_selector(PROMETHEUS_NAMESPACE)], "ports": [_port(scrape_port(svc))]}
            )
    if peers:
        # Its pods replicate with each other: every port it serves (the peer port among them), the same
        # ports the AuthorizationPolicy and the Sidecar open to it.
        ingress.append({"from": [_pods(svc.name)], "ports": _all_ports(svc)})
    egress: list[dict[str, Any]] = []
    for dep in dependencies:
        if dep.runs_in(env.name) and _peer_port(dep):
            egress.append({"to": [_pods(dep.name)], "ports": _peer_port(dep)})
    for name in sorted(svc.external):
        ext = model.external[name]
        egress.append({"to": _external_peers(ext.addresses, ext.host, env), "ports": [_port(ext.port)]})
    provider = _identity_provider(model, env)
    if svc.oauth2_client is not None and provider is not None:
        # The service's OAuth2 client fetches its tokens from the identity provider.
        egress.append({"to": [provider[0]], "ports": [_port(provider[1])]})
    if env.federated and (dependencies or peers):
        egress.append({"ports": [_port(EAST_WEST_PORT)]})
    if peers:
        egress.append({"to": [_pods(svc.name)], "ports": _all_ports(svc)})
    meta = k8s.metadata(
        model,
        svc.name,
        svc.source,
        labels_=k8s.labels(model, svc.name, component(svc)),
        annotations_=wave(WAVE_POLICY),
    )
    return _policy(meta, k8s.selector(svc.name), ingress, egress)
