"""AuthorizationPolicies (and the RequestAuthentications they read) as Istio evaluates them.

For a workload with a sidecar, the policies that apply are those of its namespace whose `selector`
matches its pods (or that have none), and those of the root namespace (istio-system), mesh-wide. Then:

1. a CUSTOM policy with a matching rule hands the request to its external provider (verify cannot know
   the answer and counts it as refused);
2. a DENY policy with a matching rule denies;
3. no ALLOW policy: allowed; an ALLOW policy with a matching rule: allowed; otherwise denied.

A rule matches when each of `from` (any source), `to` (any operation) and `when` (every condition)
that it has matches. Within a source or an operation every field present must match, and a field
matches when any of its values does (`not...` fields: when none does). Values match exactly, by prefix
(`abc*`), by suffix (`*abc`), or `*` for any value that is present. A principal exists only for a
caller with a sidecar (mutual TLS); `namespaces` are read from it. A request principal (`<iss>/<sub>`)
exists only for a token that a RequestAuthentication of the workload validates; a token from an issuer
no such rule names is refused (401) where any applies, and ignored where none does.

On a port that is not HTTP, a rule with HTTP-only fields (`requestPrincipals`, `hosts`, `methods`,
`paths`, `request.*` conditions) never matches in an ALLOW policy, and is read without them in a DENY
policy, as Istio does for TCP traffic. `targetRef(s)` policies (waypoints, gateways) are not evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .objects import ROOT_NAMESPACE, ClusterView, Ref, Workload, in_block, labels_match
from .peers import Destination, Source, Verdict, allow, deny

HTTP_SOURCE = ("requestPrincipals", "notRequestPrincipals")
HTTP_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
SUBJECT = "subject"  # the `sub` of the sample tokens


@dataclass(frozen=True, slots=True)
class Request:
    """What one probe sends on a connection (methods and paths only on HTTP ports)."""

    method: str | None = None
    path: str | None = None
    token: str | None = None  # the issuer of a valid JWT the request carries

    def describe(self) -> str:
        parts = [p for p in (self.method, self.path) if p]
        if self.token:
            parts.append(f"with a token from {self.token}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class _Context:
    source: Source
    dest: Destination
    request: Request
    principal: str | None
    request_principal: str | None
    host: str


def value_matches(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


def _any(patterns: Iterable[Any], value: str | None) -> bool:
    return any(value_matches(str(p), value) for p in patterns)


def _blocks(blocks: Iterable[Any], address: str) -> bool:
    return any(in_block(address, str(b)) for b in blocks)


def _source_namespace(ctx: _Context) -> str | None:
    return ctx.source.workload.namespace if ctx.principal and ctx.source.workload else None


# field -> how its values are read off the request context
SOURCE_FIELDS = {
    "principals": lambda v, c: _any(v, c.principal),
    "notPrincipals": lambda v, c: not _any(v, c.principal),
    "requestPrincipals": lambda v, c: _any(v, c.request_principal),
    "notRequestPrincipals": lambda v, c: not _any(v, c.request_principal),
    "namespaces": lambda v, c: _any(v, _source_namespace(c)),
    "notNamespaces": lambda v, c: not _any(v, _source_namespace(c)),
    "ipBlocks": lambda v, c: _blocks(v, c.source.address),
    "notIpBlocks": lambda v, c: not _blocks(v, c.source.address),
    "remoteIpBlocks": lambda v, c: _blocks(v, c.source.address),
    "notRemoteIpBlocks": lambda v, c: not _blocks(v, c.source.address),
}
OPERATION_FIELDS = {
    "ports": lambda v, c: str(c.dest.port) in {str(p) for p in v},
    "notPorts": lambda v, c: str(c.dest.port) not in {str(p) for p in v},
    "methods": lambda v, c: _any(v, c.request.method),
    "notMethods": lambda v, c: not _any(v, c.request.method),
    "paths": lambda v, c: _any(v, c.request.path),
    "notPaths": lambda v, c: not _any(v, c.request.path),
    "hosts": lambda v, c: _any(v, c.host) or _any(v, f"{c.host}:{c.dest.port}"),
    "notHosts": lambda v, c: not (_any(v, c.host) or _any(v, f"{c.host}:{c.dest.port}")),
}
CONDITIONS: dict[str, Callable[[_Context], str | None]] = {
    "source.ip": lambda c: c.source.address,
    "remote.ip": lambda c: c.source.address,
    "source.namespace": _source_namespace,
    "source.principal": lambda c: c.principal,
    "request.auth.principal": lambda c: c.request_principal,
    "request.auth.issuer": lambda c: c.request.token,
    "destination.port": lambda c: str(c.dest.port),
}


def _fields(
    spec: Mapping[str, Any],
    table: Mapping[str, Any],
    http_only: tuple[str, ...],
    ctx: _Context,
    deny_rule: bool,
) -> bool:
    for name, values in spec.items():
        if name in http_only and not ctx.dest.http:
            if deny_rule:
                continue  # a DENY rule is read without its HTTP fields on a TCP port
            return False
        check = table.get(name)
        if check is None:
            if deny_rule:
                continue  # a field verify does not model: assume the worst for either action
            return False
        if not check(values or [], ctx):
            return False
    return True


def _condition(cond: Mapping[str, Any], ctx: _Context, deny_rule: bool) -> bool:
    key = str(cond.get("key"))
    read = CONDITIONS.get(key)
    if read is None:
        if key.startswith("request.") and not ctx.dest.http and deny_rule:
            return True
        return deny_rule
    value = read(ctx)
    values, not_values = cond.get("values"), cond.get("notValues")
    if values is not None and not _any(values, value):
        return False
    return not (not_values is not None and _any(not_values, value))


def rule_matches(rule: Mapping[str, Any], ctx: _Context, deny_rule: bool) -> bool:
    froms, tos, when = rule.get("from"), rule.get("to"), rule.get("when")
    if froms is not None and not any(
        _fields(f.get("source") or {}, SOURCE_FIELDS, HTTP_SOURCE, ctx, deny_rule) for f in froms
    ):
        return False
    if tos is not None and not any(
        _fields(t.get("operation") or {}, OPERATION_FIELDS, HTTP_OPERATION, ctx, deny_rule) for t in tos
    ):
        return False
    return not when or all(_condition(c, ctx, deny_rule) for c in when)


def _applies(obj: Mapping[str, Any], pod: Workload) -> bool:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if "targetRef" in spec or "targetRefs" in spec:
        return False
    namespace = str(meta.get("namespace") or "default")
    if namespace not in (pod.namespace, ROOT_NAMESPACE):
        return False
    return labels_match(spec.get("selector"), pod.labels)


def _request_principal(
    view: ClusterView, pod: Workload, token: str | None
) -> tuple[str | None, Verdict | None]:
    """The request principal a token gives, or the refusal of a token no rule accepts."""
    if token is None:
        return None, None
    rules = [
        (obj, rule)
        for obj in view.objects("RequestAuthentication", "security.istio.io")
        if _applies(obj, pod)
        for rule in (obj.get("spec") or {}).get("jwtRules") or []
    ]
    if not rules:
        return None, None  # no JWT filter on the workload: the token is not read
    for _, rule in rules:
        if rule.get("issuer") == token:
            return f"{token}/{SUBJECT}", None
    refs = tuple(dict.fromkeys(Ref.of(obj) for obj, _ in rules))
    return None, deny(f"no RequestAuthentication rule accepts tokens from {token} (401)", *refs)


def evaluate(view: ClusterView, source: Source, dest: Destination, request: Request) -> Verdict:
    pod = dest.workload
    if pod is None or not pod.sidecar:
        return allow("no sidecar receives it, so no AuthorizationPolicy applies")
    principal = source.workload.principal if source.mtls and source.workload else None
    request_principal, refused = _request_principal(view, pod, request.token)
    if refused is not None:
        return refused
    services = view.services_of(pod)
    host = services[0].host if services else pod.name
    ctx = _Context(source, dest, request, principal, request_principal, host)
    policies = [p for p in view.objects("AuthorizationPolicy", "security.istio.io") if _applies(p, pod)]
    by_action: dict[str, list[Mapping[str, Any]]] = {}
    for policy in policies:
        by_action.setdefault(str((policy.get("spec") or {}).get("action", "ALLOW")), []).append(policy)
    for action in ("CUSTOM", "DENY"):
        for policy in by_action.get(action, []):
            for i, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
                if rule_matches(rule, ctx, deny_rule=True):
                    what = "hands it to an external authorizer" if action == "CUSTOM" else "denies it"
                    return deny(f"{action} rule {i + 1} {what}", Ref.of(policy))
    allowing = by_action.get("ALLOW", [])
    if not allowing:
        return allow("no ALLOW policy applies to the workload")
    for policy in allowing:
        for i, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            if rule_matches(rule, ctx, deny_rule=False):
                return allow(f"ALLOW rule {i + 1}", Ref.of(policy))
    return deny("no rule of the ALLOW policies matches", *(Ref.of(p) for p in allowing))
