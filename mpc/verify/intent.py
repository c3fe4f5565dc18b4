"""What the mesh means to allow in one environment, read off the model and its graph (never the output).

Every allowed flow is an Edge: a caller (a service, the master proxy, or the outside world) to a
destination (a service or an external host), narrowed to ports, methods, paths and the tokens requests
carry, each a set or None for "any". Everything else is meant to be refused:

- a service to each service and external entry it `dependsOn`, on every port of it (target ports), or
  on the ports, methods and paths its entry narrows the call to;
- the master proxy to each service a route names, carrying the token the route requires (none, or one
  of its issuer's; the proxy refuses the request otherwise);
- the pods of a service to each other where they are peers (Service.peers_in), on every port;
- the outside world to the master proxy's listener;
- the master proxy to the JWKS endpoints of the issuers its routes require, and a service with an OAuth2
  client to the identity provider.

A NetworkPolicy knows addresses, not host names: an external destination known only by its host is a
public address on its port. So at the network layer a caller is meant to reach every such destination
on a port where the mesh lets it reach one of them; the Sidecar and the ServiceEntries name the host.

The listener is the front door: a load balancer's traffic reaches it from node or client addresses that a
NetworkPolicy cannot tell from a pod's, so the proxy's ingress policy is meant to admit every caller on
the listener; the callers' own egress policies, PeerAuthentication (only plain text is meant to enter
there) and the AuthorizationPolicy (only callers without a mesh identity) keep the mesh's pods out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from mpc.lang.hosts import parse_url
from mpc.lang.model import Model, Service

from .authz import Request
from .objects import PUBLIC_ADDRESS
from .peers import OUTSIDE, Destination, Source


@dataclass(frozen=True, slots=True)
class Edge:
    caller: str  # a workload's name, or OUTSIDE
    target: str  # a workload's name, or an external destination's name
    ports: frozenset[int] | None  # target ports; None: every port
    where: str  # the key path in the mesh that allows it
    methods: frozenset[str] | None = None
    paths: frozenset[str] | None = None  # exact, or a prefix ending in `*`
    tokens: frozenset[str | None] | None = None  # token issuers a request may carry; None: any
    layers: frozenset[str] | None = None  # the layers meant to allow it; None: every layer

    def admits(self, dest: Destination, request: Request | None) -> bool:
        if self.ports is not None and dest.port not in self.ports:
            return False
        if request is None:
            return True
        if self.tokens is not None and request.token not in self.tokens:
            return False
        if self.methods is not None and request.method is not None and request.method not in self.methods:
            return False
        return not (
            self.paths is not None
            and request.path is not None
            and not any(
                request.path.startswith(p[:-1]) if p.endswith("*") else request.path == p for p in self.paths
            )
        )


@dataclass(frozen=True, slots=True)
class ExternalTarget:
    name: str
    host: str  # the host its ServiceEntry names
    port: int
    where: str
    address: str = PUBLIC_ADDRESS  # where it is: a public address, or the first of the entry's addresses


def service_ports(svc: Service) -> frozenset[int]:
    """The ports a service's pods listen on (target ports): its declared ones and its peer port."""
    ports = {p.target_port for p in svc.ports} | ({svc.peer_port} if svc.peer_port is not None else set())
    return frozenset(ports)


def call_edge(svc: Service, callee: Service, where: str) -> Edge:
    """A dependsOn edge: every port of the callee, or the ports, methods and paths its entry narrows to."""
    narrowing = svc.narrowing.get(callee.name)
    if narrowing is None:
        return Edge(svc.name, callee.name, service_ports(callee), where)
    return Edge(
        svc.name,
        callee.name,
        frozenset(p.target_port for p in callee.call_ports(narrowing)),
        where,
        methods=frozenset(narrowing.methods) or None,
        paths=frozenset(narrowing.paths) or None,
    )


def _url_target(name: str, url: str, where: str) -> ExternalTarget | None:
    try:
        parsed = parse_url(url)
    except ValueError:
        return None
    return ExternalTarget(name, parsed.host, parsed.port, where)


@dataclass(frozen=True)
class Intent:
    environment: str
    edges: tuple[Edge, ...]
    externals: tuple[ExternalTarget, ...]
    gateway: str
    listener: int

    @functools.cached_property
    def _by_pair(self) -> dict[tuple[str, str], tuple[Edge, ...]]:
        pairs: dict[tuple[str, str], list[Edge]] = {}
        for e in self.edges:
            pairs.setdefault((e.caller, e.target), []).append(e)
        return {pair: tuple(edges) for pair, edges in pairs.items()}

    @functools.cached_property
    def _external_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.externals)

    def edges_between(self, caller: str, target: str) -> tuple[Edge, ...]:
        """The edges from caller to target, in the mesh's order (asked for every cell of the matrix)."""
        return self._by_pair.get((caller, target), ())

    def allows(self, layer: str, source: Source, dest: Destination, request: Request | None) -> Edge | None:
        """The edge meant to allow this flow at this layer (None: the mesh means to refuse it)."""
        for edge in self.edges_between(source.name, dest.name):
            if (edge.layers is None or layer in edge.layers) and edge.admits(dest, request):
                return edge
        if layer == "network-ingress" and dest.name == self.gateway and dest.port == self.listener:
            return Edge(
                source.name, dest.name, frozenset({self.listener}), "gateway", layers=frozenset({layer})
            )
        if layer == "network-egress" and dest.external and dest.host is not None:
            externals = self._external_names
            for edge in self.edges:
                if edge.caller == source.name and edge.target in externals and edge.admits(dest, None):
                    return edge  # a public address on this port: the NetworkPolicy cannot name the host
        return None


def _service_edges(model: Model, env: str, svc: Service) -> list[Edge]:
    out = []
    for dep in svc.depends_on:
        callee = model.services.get(dep)
        if callee is None or env not in callee.environments:
            continue
        out.append(call_edge(svc, callee, svc.dependency_sources[dep].path))
    for name in svc.external:
        ext = model.external.get(name)
        if ext is not None:
            out.append(Edge(svc.name, name, frozenset({ext.port}), svc.dependency_sources[name].path))
    if svc.peers_in(env):
        out.append(Edge(svc.name, svc.name, service_ports(svc), svc.source.path))
    return out


def _route_edges(model: Model, env: str) -> list[Edge]:
    gw = model.gateway.name
    out = []
    for svc in model.services_in(env):
        routes = model.routes_to(svc.name)
        if not routes:
            continue
        tokens: set[str | None] = set()
        for route in routes:
            issuer = model.issuers.get(route.auth) if route.auth is not None else None
            tokens.add(issuer.issuer if issuer is not None else None)
        # A route without auth forwards requests with or without a token; the proxy checks none.
        any_token = None in tokens
        route_port = svc.route_port
        out.append(
            Edge(
                gw,
                svc.name,
                frozenset({route_port.target_port}) if route_port is not None else service_ports(svc),
                routes[0].source.path,
                tokens=None if any_token else frozenset(tokens),
            )
        )
    return out


def _external_targets(model: Model) -> list[ExternalTarget]:
    out = [
        ExternalTarget(
            e.name,
            e.entry_host,
            e.port,
            e.source.path,
            e.addresses[0].split("/")[0] if e.addresses else PUBLIC_ADDRESS,
        )
        for e in model.external.values()
    ]
    used = sorted({r.auth for r in model.gateway.routes if r.auth is not None})
    for name in used:
        issuer = model.issuers.get(name)
        if issuer is not None:
            target = _url_target(f"jwks-{name}", issuer.jwks_uri, issuer.source.path)
            if target is not None:
                out.append(target)
    provider = model.identity_provider
    if provider is not None and any(s.oauth2_client for s in model.services.values()):
        target = _url_target(f"identity-{provider.kind}", provider.url, "auth.provider")
        if target is not None:
            out.append(target)
    return out


def intent(model: Model, env: str) -> Intent:
    gw = model.gateway
    edges: list[Edge] = [Edge(OUTSIDE, gw.name, frozenset({gw.listen_port}), gw.source.path)]
    for svc in model.services_in(env):
        edges.extend(_service_edges(model, env, svc))
    edges.extend(_route_edges(model, env))
    externals = _external_targets(model)
    for target in externals:
        if target.name.startswith("jwks-"):
            edges.append(Edge(gw.name, target.name, frozenset({target.port}), target.where))
        elif target.name.startswith("identity-"):
            edges.extend(
                Edge(s.name, target.name, frozenset({target.port}), f"{s.source.path}.oauth2Client")
                for s in model.services_in(env)
                if s.oauth2_client is not None
            )
    # One destination per host and port: an issuer's JWKS host may be an external entry too.
    canonical: dict[tuple[str, int], ExternalTarget] = {}
    for target in externals:
        canonical.setdefault((target.host, target.port), target)
    alias = {t.name: canonical[(t.host, t.port)].name for t in externals}
    edges = [replace(e, target=alias.get(e.target, e.target)) if e.target in alias else e for e in edges]
    return Intent(env, tuple(edges), tuple(canonical.values()), gw.name, gw.listen_port)
