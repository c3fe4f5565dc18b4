"""mTLS, authorization and end-user authentication: the dependency graph turned into least privilege.

A service receives traffic only from the services that declare `dependsOn` on it and from the master
proxy when a route names it. Everything else is denied by an allow-nothing policy, because Istio denies
any request that no ALLOW policy of a workload matches once at least one ALLOW policy applies to it.
"""

from __future__ import annotations

from typing import Any

from mpc.graph.reserved import ALLOW_NOTHING, MTLS_DEFAULT
from mpc.lang.model import Issuer, Narrowing, PortSpec

from .common import SECURITY, Generated, Scope, ServiceScope, selector

# The master proxy's listener is the mesh's front door: its clients (browsers, load balancers) have no
# mesh identity and speak plain HTTP or TLS that Envoy itself terminates. Istio can name such a source
# only by what it lacks: any address (ipBlocks) and no peer identity (notPrincipals "*", which matches
# exactly the connections without mTLS). Limited to the listener port, this admits the outside world and
# nothing from inside the mesh: no workload's graph edge leads to the proxy. What guards the listener
# beyond that is the proxy itself (routes, JWT, rate limit, CORS).
ANY_ADDRESS = ("0.0.0.0/0", "::/0")


def peer_authentications(scope: Scope) -> list[Generated]:
    model = scope.model
    gw = model.gateway
    namespace_wide = scope.obj(
        SECURITY, "PeerAuthentication", MTLS_DEFAULT, scope.env.source, {"mtls": {"mode": "STRICT"}}
    )
    # Port-level exceptions need a workload selector; the rest of the proxy's ports stay STRICT.
    listener = scope.obj(
        SECURITY,
        "PeerAuthentication",
        f"{gw.name}-listener",
        gw.source,
        {
            "selector": selector(gw.name),
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {str(gw.listen_port): {"mode": "PERMISSIVE"}},
        },
    )
    return [namespace_wide, listener]


def allow_nothing(scope: Scope) -> Generated:
    """Namespace-wide ALLOW with no rules: matches no request, so only the per-workload rules admit any."""
    return scope.obj(SECURITY, "AuthorizationPolicy", ALLOW_NOTHING, scope.env.source, {})


def gateway_policy(scope: Scope) -> Generated:
    gw = scope.model.gateway
    spec = {
        "selector": selector(gw.name),
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"ipBlocks": list(ANY_ADDRESS), "notPrincipals": ["*"]}}],
                # Istio evaluates after the Service: the port Envoy listens on.
                "to": [{"operation": {"ports": [str(gw.listen_port)]}}],
            }
        ],
    }
    return scope.obj(SECURITY, "AuthorizationPolicy", gw.name, gw.source, spec)


def route_issuers(scope: ServiceScope) -> tuple[list[Issuer], bool]:
    """Issuers the routes to a service require, and whether every route to it requires one.

    When one route to a service needs no token the mesh cannot demand one for the proxy's requests (the
    proxy's own JWT filter still guards the routes that do): paths are rewritten at the proxy, so the
    sidecar cannot tell which route a request came through.
    """
    routes = scope.context.routes
    names = sorted({r.auth for r in routes if r.auth is not None})
    issuers = [scope.model.issuers[n] for n in names if n in scope.model.issuers]
    return issuers, bool(routes) and all(r.auth is not None for r in routes)


def operation(ports: tuple[PortSpec, ...], narrowing: Narrowing) -> dict[str, Any]:
    """`to.operation` of a call: the target ports (Istio evaluates after the Service has translated the
    port), and the methods and paths a narrowed dependsOn entry names."""
    out: dict[str, Any] = {"ports": [str(p.target_port) for p in ports]}
    if narrowing.methods:
        out["methods"] = list(narrowing.methods)
    if narrowing.paths:
        out["paths"] = list(narrowing.paths)
    return out


def _caller_rules(scope: ServiceScope) -> list[dict[str, Any]]:
    """One rule per distinct operation: callers allowed the same ports, methods and paths share it."""
    svc = scope.service
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for peer in scope.context.callers_in(scope.env.name):
        op = operation(svc.call_ports(peer.narrowing), peer.narrowing)
        key = repr(op)
        groups.setdefault(key, (op, []))[1].append(scope.principal(peer.name))
    return [
        {"from": [{"source": {"principals": sorted(principals)}}], "to": [{"operation": op}]}
        for op, principals in groups.values()
    ]


def service_policy(scope: ServiceScope) -> Generated | None:
    """One ALLOW policy per service with a port, with one rule per kind of caller; None without callers."""
    svc = scope.service
    if svc.port is None:
        return None
    rules: list[dict[str, Any]] = []
    route_port = svc.route_port
    if scope.context.routes and route_port is not None:
        source: dict[str, Any] = {"principals": [scope.principal(scope.model.gateway.name)]}
        issuers, required = route_issuers(scope)
        if issuers and required:
            # A request principal is "<iss>/<sub>"; its presence means a token that passed the
            # RequestAuthentication, so a request without one is denied here too, not only at the proxy.
            source["requestPrincipals"] = [f"{i.issuer}/*" for i in issuers]
        to = {"ports": [str(route_port.target_port)]}
        rules.append({"from": [{"source": source}], "to": [{"operation": to}]})
    rules.extend(_caller_rules(scope))
    if scope.context.peers_in(scope.env.name):
        # The pods of a service that replicates reach each other (replication, peer discovery, the
        # ledger's p2p port) where it runs more than one: every port it serves, as in its NetworkPolicy
        # (target ports: Istio evaluates after the Service).
        own = [p.target_port for p in svc.ports]
        peer_ports = sorted({*own, *([svc.peer_port] if svc.peer_port is not None else [])})
        rules.append(
            {
                "from": [{"source": {"principals": [scope.principal(svc.name)]}}],
                "to": [{"operation": {"ports": [str(p) for p in peer_ports]}}],
            }
        )
    if not rules:
        return None  # the allow-nothing policy already denies everything to it
    spec = {"selector": selector(svc.name), "action": "ALLOW", "rules": rules}
    return scope.obj(SECURITY, "AuthorizationPolicy", svc.name, svc.source, spec)


def request_authentications(scope: ServiceScope) -> list[Generated]:
    """One RequestAuthentication per issuer that a route to this service requires."""
    svc = scope.service
    issuers, _ = route_issuers(scope)
    out = []
    for issuer in issuers:
        rule = {"issuer": issuer.issuer, "jwksUri": issuer.jwks_uri, "audiences": list(issuer.audiences)}
        if not issuer.audiences:
            del rule["audiences"]
        spec = {"selector": selector(svc.name), "jwtRules": [rule]}
        out.append(
            scope.obj(SECURITY, "RequestAuthentication", f"{svc.name}-{issuer.name}", issuer.source, spec)
        )
    return out
