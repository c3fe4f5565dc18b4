"""Gateway routes: duplicates, shadowing by an earlier shorter prefix, and targets that speak HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)


def _covers(earlier: str, later: str) -> bool:
    """Whether a segment-wise prefix match on `earlier` catches every path `later` matches."""
    if earlier == "/":
        return True
    return later == earlier or later.startswith(earlier + "/")


def _covering(prefix: str) -> list[str]:
    """Every prefix p with _covers(p, prefix): the prefix itself, each segment boundary, and '/'."""
    return [prefix, "/", *(prefix[:k] for k in range(1, len(prefix)) if prefix[k] == "/")]


def check_routes(c: Context) -> Iterable[Diagnostic]:
    routes = c.mesh.gateway.routes
    # The first route of each prefix: shadowing is then a lookup per segment, not a scan of every earlier
    # route (quadratic: 2,000 routes took seconds). Same answer: the first earlier route that is equal or
    # covers, as the scan found it.
    first_of: dict[str, int] = {}
    for i, route in enumerate(routes):
        first_of.setdefault(route.prefix, i)
    for i, route in enumerate(routes):
        where = c.at("gateway", "routes", i, "prefix")
        if route.prefix != "/" and route.prefix.endswith("/"):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"gateway.routes[{i}].prefix {route.prefix!r} ends with '/'",
                where,
                f"prefixes match whole path segments; write {route.prefix.rstrip('/')!r}",
            )
        earlier_routes = [first_of[p] for p in _covering(route.prefix) if first_of.get(p, i) < i]
        for j in sorted(earlier_routes)[:1]:
            earlier = routes[j].prefix
            first = c.at("gateway", "routes", j, "prefix")
            if earlier == route.prefix:
                yield Diagnostic(
                    Code.DUPLICATE_ROUTE,
                    f"gateway.routes[{i}]: prefix {route.prefix!r} is already routed",
                    where,
                    "each prefix may be routed once",
                    notes=((first, f"first routed here, to {routes[j].service!r}"),),
                )
                break
            if _covers(earlier, route.prefix):
                yield Diagnostic(
                    Code.SHADOWED_ROUTE,
                    f"gateway.routes[{i}]: prefix {route.prefix!r} can never match; "
                    f"{earlier!r} comes first and covers it",
                    where,
                    f"move {route.prefix!r} above {earlier!r}",
                    notes=((first, f"{earlier!r} is routed here"),),
                )
                break
        svc = c.model.services.get(route.service)
        if svc is not None and not svc.serves_http:
            why = "has no port" if svc.port is None else f"speaks {svc.protocol}"
            yield Diagnostic(
                Code.ROUTE_NOT_HTTP,
                f"gateway.routes[{i}] ({route.prefix}) targets {route.service!r}, which {why}",
                c.at("gateway", "routes", i, "service"),
                "the master proxy routes HTTP and gRPC; give the service an http or grpc port",
            )
