"""Gateway routes: duplicates, shadowing by an earlier route that catches every request a later one
would, and targets that speak HTTP. Exact paths and methods count: `/login` for POST does not shadow
`/login` for GET, and an exact `/productpage` never covers `/productpage/x`."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.lang import spec


def _covers(earlier: str, later: str) -> bool:
    """Whether a segment-wise prefix match on `earlier` catches every path `later` matches."""
    if earlier == "/":
        return True
    return later == earlier or later.startswith(earlier + "/")


def _covering(prefix: str) -> list[str]:
    """Every prefix p with _covers(p, prefix): the prefix itself, each segment boundary, and '/'."""
    return [prefix, "/", *(prefix[:k] for k in range(1, len(prefix)) if prefix[k] == "/")]


Key = tuple[bool, str]  # (exact, the path or prefix)


def _key(route: spec.Route) -> Key | None:
    if route.path is not None:
        return (True, route.path)
    if route.prefix is not None:
        return (False, route.prefix)
    return None


def _folded(key: Key) -> Key:
    """The proxy matches paths in any case: /API is /api."""
    return (key[0], key[1].lower())


def _candidates(key: Key) -> list[Key]:
    """Every earlier match that may cover this one: covering prefixes, and for a path the same path."""
    exact, text = key
    found: list[Key] = [(False, p) for p in _covering(text)]
    if exact:
        found.insert(0, (True, text))
    return found


def _methods_cover(earlier: spec.Route, later: spec.Route) -> bool:
    if not earlier.methods:
        return True
    return bool(later.methods) and set(later.methods or []) <= set(earlier.methods)


def _what(route: spec.Route, key: Key) -> str:
    text = f"{'path' if key[0] else 'prefix'} {key[1]!r}"
    return f"{text} for {', '.join(route.methods)}" if route.methods else text


def _match_problems(c: Context, i: int, route: spec.Route) -> Iterable[Diagnostic]:
    if route.prefix is not None and route.path is not None:
        yield Diagnostic(
            Code.EXCLUSIVE_KEYS,
            f"gateway.routes[{i}] sets both prefix and path",
            c.at("gateway", "routes", i, "path", key=True),
            "a route matches a prefix (whole segments) or one exact path: keep one",
        )
    if route.prefix is not None and route.prefix != "/" and route.prefix.endswith("/"):
        yield Diagnostic(
            Code.BAD_VALUE,
            f"gateway.routes[{i}].prefix {route.prefix!r} ends with '/'",
            c.at("gateway", "routes", i, "prefix"),
            f"prefixes match whole path segments; write {route.prefix.rstrip('/')!r}",
        )


def check_routes(c: Context) -> Iterable[Diagnostic]:
    routes = c.mesh.gateway.routes
    # Earlier routes by match: shadowing is then a lookup per segment, not a scan of every earlier route
    # (quadratic: 2,000 routes took seconds).
    earlier_of: dict[Key, list[int]] = {}
    for i, route in enumerate(routes):
        yield from _match_problems(c, i, route)
        key = _key(route)
        if key is None:
            continue
        field = "path" if key[0] else "prefix"
        where = c.at("gateway", "routes", i, field)
        earlier = sorted(j for k in _candidates(_folded(key)) for j in earlier_of.get(k, ()))
        for j in earlier:
            first = routes[j]
            first_key = _key(first)
            assert first_key is not None
            if not _methods_cover(first, route):
                continue
            first_at = c.at("gateway", "routes", j, "path" if first_key[0] else "prefix")
            if _folded(first_key) == _folded(key) and set(first.methods or []) == set(route.methods or []):
                yield Diagnostic(
                    Code.DUPLICATE_ROUTE,
                    f"gateway.routes[{i}]: {_what(route, key)} is already routed",
                    where,
                    f"each {field} may be routed once, in any case (the proxy matches /API as /api)",
                    notes=((first_at, f"first routed here, to {first.service!r}"),),
                )
                break
            shown = _what(route, key)
            yield Diagnostic(
                Code.SHADOWED_ROUTE,
                f"gateway.routes[{i}]: {shown} can never match; {_what(first, first_key).split(' ', 1)[1]} "
                "comes first and covers it",
                where,
                f"move {key[1]!r} above {first_key[1]!r}",
                notes=((first_at, f"{first_key[1]!r} is routed here"),),
            )
            break
        earlier_of.setdefault(_folded(key), []).append(i)
        svc = c.model.services.get(route.service)
        if svc is not None and not svc.serves_http:
            why = "has no port" if svc.port is None else f"speaks {svc.protocol}"
            yield Diagnostic(
                Code.ROUTE_NOT_HTTP,
                f"gateway.routes[{i}] ({key[1]}) targets {route.service!r}, which {why}",
                c.at("gateway", "routes", i, "service"),
                "the master proxy routes HTTP and gRPC; give the service an http or grpc port",
            )
