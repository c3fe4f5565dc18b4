"""Hosts and URLs: every one mpc writes into the bootstrap, Istio or a NetworkPolicy is one they accept.

A value that reaches a generated file is checked here, located, so that a valid mesh never builds into
a bootstrap Envoy refuses (a URL without a host, a port over 65535, two hosts equal but for case) or a
policy that opens more than meant (a wildcard external host, signing keys over plain HTTP).
"""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import Context
from mpc.lang.hosts import endpoint_problem, host_problem, link_local, parse_url, place
from mpc.lang.load import key_path


def _url(c: Context, text: str, path: tuple[str | int, ...], what: str, risk: str) -> Iterable[Diagnostic]:
    where = key_path(path)
    try:
        url = parse_url(text)
    except ValueError as exc:
        yield Diagnostic(
            Code.BAD_VALUE,
            f"{where}: {text!r} is not a usable URL: {exc}",
            c.at(*path),
            f"the URL of {what}, e.g. https://id.acme.dev/realms/acme/protocol/openid-connect/certs",
        )
        return
    if link_local(url.host):
        yield Diagnostic(
            Code.BAD_VALUE,
            f"{where}: {url.host} is a link-local address, where cloud metadata servers hand out credentials",
            c.at(*path),
            f"name {what} by its host name",
        )
    elif not url.tls and not place(url.host, short_form=False).in_cluster:
        yield Diagnostic(
            Code.PLAIN_HTTP,
            f"{where}: {what} over plain http:// from outside the cluster",
            c.at(*path),
            f"use https://; {risk} (plain http is for a service of the cluster, NAME.NAMESPACE.svc, "
            "where Istio adds mTLS)",
        )


def _external(c: Context) -> Iterable[Diagnostic]:
    for name, ext in c.mesh.external.items():
        if ext.host is None:
            continue  # an entry by address alone
        problem = host_problem(ext.host)
        if problem is None and ext.host != ext.host.lower():
            problem = "has upper-case letters (write host names in lower case)"
        if problem is None and "." not in ext.host and place(ext.host, short_form=False).address is None:
            problem = "is not a fully qualified name (a single label is a service of the cluster)"
        if problem is not None:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"external.{name}.host: {ext.host!r} {problem}",
                c.at("external", name, "host"),
                "one host name, e.g. host: api.stripe.com (no scheme, port, path or wildcard): "
                "the entry opens egress to exactly that host",
            )


def _domain_problem(host: str) -> str | None:
    """Why a text is not one of Envoy's virtual host domains: a name or address (with an optional port),
    `*`, or one wildcard at either end (`*.acme.dev`, `*-api.acme.dev`, `api.*`)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if port and not ((port.isdigit() and 1 <= int(port) <= 65535) or port == "*"):
        return f"port {port} is not between 1 and 65535"
    if name == "*":
        return None
    inner = name.removeprefix("*").removesuffix("*")
    if "*" in inner or (name.startswith("*") and name.endswith("*")):
        return "has a wildcard other than one at the start or the end"
    if name != inner:
        inner = inner.strip(".-") or "x"
    return host_problem(inner)


def _gateway_hosts(c: Context) -> Iterable[Diagnostic]:
    seen: dict[str, int] = {}
    for i, host in enumerate(c.mesh.gateway.hosts):
        problem = _domain_problem(host)
        if problem is not None:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"gateway.hosts[{i}]: {host!r} {problem}",
                c.at("gateway", "hosts", i),
                "a host name (api.acme.dev), one with a port (api.acme.dev:8443), *.acme.dev, or *",
            )
            continue
        folded = host.lower()
        if folded in seen:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"gateway.hosts[{i}]: {host!r} is listed already (host names are matched in any case)",
                c.at("gateway", "hosts", i),
                "list each host once",
                notes=((c.at("gateway", "hosts", seen[folded]), "listed here"),),
            )
        seen.setdefault(folded, i)


def check_hosts(c: Context) -> Iterable[Diagnostic]:
    auth = c.mesh.auth
    if auth is not None:
        for name, issuer in auth.issuers.items():
            path: tuple[str | int, ...] = ("auth", "issuers", name, "jwksUri")
            risk = "anyone on the way could swap the keys and sign tokens the proxy accepts"
            yield from _url(c, issuer.jwks_uri, path, f"{name}'s signing keys", risk)
        if auth.provider is not None:
            path = ("auth", "provider", "url")
            risk = "anyone on the way could read the clients' secrets and tokens"
            yield from _url(c, auth.provider.url, path, "the identity provider", risk)
    tracing = c.mesh.observability.tracing if c.mesh.observability else None
    if tracing is not None:
        problem = endpoint_problem(tracing.endpoint)
        if problem is not None:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"observability.tracing.endpoint: {tracing.endpoint!r}: {problem}",
                c.at("observability", "tracing", "endpoint"),
                "host:port of the collector, e.g. jaeger-collector.observability:4317",
            )
    yield from _external(c)
    yield from _gateway_hosts(c)
