"""Calls: narrowed dependsOn entries, `${...}` references in env, external entries, services nobody calls.

A narrowed call names ports the callee declares, and methods or paths only on ports that speak HTTP
(a TCP port cannot be matched on them, so the rule would deny instead of narrow). An env reference is a
call too: it must name something the service depends on, else the variable would address a service the
policies keep it from reaching.
"""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic, Severity
from mpc.graph.checks.context import Context
from mpc.lang import interpolate, spec
from mpc.lang.model import Service


def _narrowed_entry(c: Context, name: str, i: int, entry: spec.Dependency) -> Iterable[Diagnostic]:
    at = ("services", name, "dependsOn", i)
    narrowed = entry.ports or entry.methods or entry.paths
    if entry.service in c.mesh.external and narrowed:
        yield Diagnostic(
            Code.BAD_VALUE,
            f"services.{name}.dependsOn[{i}]: a call to external entry {entry.service!r} cannot be narrowed",
            c.at(*at, key=True),
            "an external entry has one port and its requests leave the mesh unchecked; name it as a string",
        )
        return
    callee = c.mesh.services.get(entry.service)
    if callee is None:
        return  # reported by references
    declared = callee.named_ports()
    names = [n for n, _, _ in declared]
    reached = []
    for j, port in enumerate(entry.ports or ()):
        found = [d for d in declared if port in (d[0], d[1])]
        if not found:
            yield Diagnostic(
                Code.UNKNOWN_REFERENCE,
                f"services.{name}.dependsOn[{i}].ports: {entry.service!r} has no port {port!r}",
                c.at(*at, "ports", j),
                c.suggest(str(port), names) if isinstance(port, str) else "known: " + ", ".join(names),
            )
        reached.extend(found)
    if not entry.ports:
        reached = declared
    if entry.methods or entry.paths:
        plain = sorted({n for n, _, proto in reached if proto not in ("http", "grpc")})
        if plain:
            field = "methods" if entry.methods else "paths"
            yield Diagnostic(
                Code.NARROWING_NOT_HTTP,
                f"services.{name}.dependsOn[{i}]: {field} cannot be enforced on {entry.service!r} port "
                f"{', '.join(repr(p) for p in plain)}, which does not speak HTTP",
                c.at(*at, field, key=True),
                "narrow ports to the http or grpc ones, or drop methods and paths",
            )


def _env_values(svc: spec.Service) -> Iterable[tuple[tuple[str | int, ...], str, str]]:
    """(path, variable, value) of every env value of a service and of its versions."""
    for var, value in svc.env.items():
        if isinstance(value, str):
            yield ("env", var), var, value
    for vname, version in (svc.versions or {}).items():
        for var, value in version.env.items():
            if isinstance(value, str):
                yield ("versions", vname, "env", var), var, value


def _ports_of(c: Context, name: str) -> list[str] | None:
    """Port names a reference may use; None when the name has no port to dial."""
    svc = c.model.services.get(name)
    if svc is not None:
        return [p.name for p in svc.ports] if svc.has_service_object else None
    return []  # an external entry: one port, no names


def _reference_problem(c: Context, name: str, ref: interpolate.Reference) -> tuple[Code, str, str] | None:
    svc = c.mesh.services[name]
    target = name if ref.name == interpolate.SELF else ref.name
    if target not in c.mesh.services and target not in c.mesh.external:
        known = [*c.mesh.services, *c.mesh.external, interpolate.SELF]  # only on the way to an error
        return (
            Code.UNKNOWN_REFERENCE,
            f"no service or external entry named {ref.name!r}",
            c.suggest(ref.name, known),
        )
    deps = {spec.dependency_name(d) for d in svc.depends_on}
    if ref.name != interpolate.SELF and target not in deps:
        return (
            Code.UNDECLARED_CALL,
            f"{ref.name!r} is not in dependsOn: the variable addresses a service the policies do not let "
            f"{name!r} reach",
            f"add {ref.name} to services.{name}.dependsOn",
        )
    ports = _ports_of(c, target)
    if ref.attribute in ("address", "port", "ports") and ports is None:
        return (Code.UNKNOWN_REFERENCE, f"{ref.name!r} has no port", "a worker has no address to dial")
    if ref.attribute == "ports":
        if target in c.mesh.external:
            return (
                Code.UNKNOWN_REFERENCE,
                f"external entry {ref.name!r} has one port",
                f"write ${{{ref.name}.port}}",
            )
        if ref.port not in (ports or []):
            return (
                Code.UNKNOWN_REFERENCE,
                f"{ref.name!r} has no port named {ref.port!r}",
                c.suggest(ref.port or "", ports or []),
            )
    return None


def _env_references(c: Context, name: str, svc: spec.Service) -> Iterable[Diagnostic]:
    for path, var, value in _env_values(svc):
        where = c.at("services", name, *path)
        try:
            refs = list(interpolate.references(value))
        except interpolate.BadReference as exc:
            yield Diagnostic(Code.BAD_VALUE, f"services.{name}.env.{var}: {exc}", where)
            continue
        for ref in refs:
            problem = _reference_problem(c, name, ref)
            if problem is not None:
                code, message, hint = problem
                yield Diagnostic(code, f"services.{name}.env.{var}: ${{{ref.text}}}: {message}", where, hint)


def _external_entries(c: Context) -> Iterable[Diagnostic]:
    for name, ext in c.mesh.external.items():
        for i, cidr in enumerate(ext.addresses or ()):
            problem = _cidr_problem(cidr)
            if problem:
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"external.{name}.addresses[{i}]: {cidr!r} {problem}",
                    c.at("external", name, "addresses", i),
                    "an address with its prefix length, e.g. 10.20.0.3/32",
                )


def _cidr_problem(cidr: str) -> str | None:
    import ipaddress

    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return f"is not a network address ({exc})"
    if network.prefixlen == 0:
        return "opens every address; name the addresses the service calls"
    return None


def _uncalled(svc: Service, reached: set[str]) -> Diagnostic | None:
    if not svc.has_service_object or svc.headless or svc.peer_port is not None:
        return None
    if svc.name in reached:
        return None
    return Diagnostic(
        Code.UNCALLED_SERVICE,
        f"service {svc.name!r} has a port but nothing calls it: no dependsOn entry or route names it",
        svc.source,
        "its policies admit no caller; add it to a caller's dependsOn or a route, or make it a worker",
        severity=Severity.WARNING,
    )


def check_calls(c: Context) -> Iterable[Diagnostic]:
    for name, svc in c.mesh.services.items():
        for i, entry in enumerate(svc.depends_on):
            if isinstance(entry, spec.Dependency):
                yield from _narrowed_entry(c, name, i, entry)
        yield from _env_references(c, name, svc)
    yield from _external_entries(c)
    # Read once: asking the graph per service would scan every edge for each of them.
    reached = {d for svc in c.model.services.values() for d in svc.depends_on}
    reached.update(r.service for r in c.model.gateway.routes)
    for resolved in c.model.services.values():
        warning = _uncalled(resolved, reached)
        if warning is not None:
            yield warning
