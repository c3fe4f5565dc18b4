"""The master proxy on a laptop: every routed service upstream on 127.0.0.1, admin on loopback.

Defaults (documented in `mpc dev --help` and docs/envoy.md): the listener on the gateway's own port,
the routed services at 127.0.0.1:4001, 4002, ... in the order the routes first name them, the admin
interface on 127.0.0.1:9901, JWKS fetched from each issuer's jwksUri, traces sent to a collector on
127.0.0.1 at the mesh's tracing port. Each of these can be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping

from mpc.errors import Code, Diagnostic, Location, MpcError, did_you_mean
from mpc.lang.model import Model

from .bootstrap import Jwks, Target, Upstream, required_issuers, routed_services

LOOPBACK = "127.0.0.1"
FIRST_UPSTREAM_PORT = 4001
ADMIN_PORT = 9901
# Before any traffic Envoy health-checks an upstream only once a minute; a developer starts apps in any
# order and should not wait that long to see one come up.
NO_TRAFFIC_HEALTH_INTERVAL_MS = 2000


def default_upstreams(model: Model) -> dict[str, Upstream]:
    return {
        svc.name: Upstream(LOOPBACK, FIRST_UPSTREAM_PORT + i) for i, svc in enumerate(routed_services(model))
    }


def _unknown(kind: str, name: str, known: list[str]) -> Diagnostic:
    return Diagnostic(
        Code.UNKNOWN_REFERENCE,
        f"{kind} {name!r} is not one the master proxy uses",
        Location("<command line>"),
        did_you_mean(name, known),
    )


def local_target(
    model: Model,
    *,
    ca_file: str,
    port: int | None = None,
    admin_port: int = ADMIN_PORT,
    upstreams: Mapping[str, Upstream] | None = None,
    jwks: Mapping[str, str] | None = None,
    tracing: Upstream | None = None,
    listen_address: str = LOOPBACK,
) -> Target:
    """A Target for `mpc dev`. Overrides naming a service or issuer the gateway does not use are errors."""
    chosen = default_upstreams(model)
    issuers = {i.name: Jwks.from_uri(i.jwks_uri) for i in required_issuers(model)}
    problems = [_unknown("upstream service", n, list(chosen)) for n in (upstreams or {}) if n not in chosen]
    problems += [_unknown("issuer", n, list(issuers)) for n in (jwks or {}) if n not in issuers]
    if problems:
        raise MpcError(problems)
    chosen.update(upstreams or {})
    issuers.update({name: Jwks.from_uri(uri) for name, uri in (jwks or {}).items()})
    mesh_tracing = model.observability.tracing
    if tracing is None and mesh_tracing is not None:
        tracing = Upstream(LOOPBACK, mesh_tracing.port)
    return Target(
        name="local",
        listen_address=listen_address,
        port=port if port is not None else model.gateway.listen_port,
        admin_port=admin_port,
        health_port=None,  # admin is on loopback already: /ready and /stats/prometheus are right there
        upstreams=chosen,
        jwks=issuers,
        tracing=tracing,
        tls=None,  # a laptop serves plain HTTP; the cluster terminates TLS with the mounted secret
        ca_file=ca_file,
        health_no_traffic_interval_ms=NO_TRAFFIC_HEALTH_INTERVAL_MS,
    )
