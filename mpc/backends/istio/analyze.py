"""mpc's own analysis of the generated Istio objects, in the spirit of `istioctl analyze`, before rendering.

It reads the objects the backend built (not the model's intent) and checks them against what the output
tree creates: the ServiceAccounts and Services the kustomize backend names after each service that runs
in the environment (and after the master proxy), and the ServiceEntries generated here. A finding is an
E313 diagnostic located at the mesh.yaml entry the object derives from.

A service's own file is analysed when it is rendered, against what its context says the tree creates
(Inventory.for_service): the service, the services it calls and that call it, the master proxy and the
environment's ServiceEntries, which is everything its objects can name. A build that reuses the file
reuses it for the same context, so the verdict is the same. The one check across files, that no two
VirtualServices claim a host, covers the mesh-wide files; a service's VirtualService claims only its
own FQDN, and service names are unique.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mpc.errors import Code, Diagnostic, did_you_mean

from .common import ISTIO_SYSTEM, Generated, Scope, ServiceScope


@dataclass(frozen=True, slots=True)
class Inventory:
    """What the tree creates in one environment's namespace."""

    namespace: str
    service_accounts: frozenset[str]
    workloads: frozenset[str]  # pod selectors' app.kubernetes.io/name values
    services: frozenset[str]  # fully qualified host names of Kubernetes Services
    entries: frozenset[str]  # hosts of ServiceEntries
    hosts: frozenset[str]  # both

    @classmethod
    def of(cls, scope: Scope, entries: Iterable[Generated]) -> Inventory:
        """From the environment's services and its ServiceEntries."""
        gw = scope.model.gateway.name
        names = [s.name for s in scope.services]
        hosts = {
            host
            for g in entries
            if g.kind == "ServiceEntry"
            for host in g.obj.get("spec", {}).get("hosts", [])
        }
        services = {scope.fqdn(s.name) for s in scope.services if s.has_service_object}
        services.add(scope.fqdn(gw))
        return cls(
            scope.namespace,
            frozenset([gw, *names]),
            frozenset([gw, *names]),
            frozenset(services),
            frozenset(hosts),
            frozenset(services | hosts),
        )

    @classmethod
    def for_service(cls, scope: ServiceScope, hosts: Iterable[str]) -> Inventory:
        """What the tree creates that one service's objects can name: itself, the services it calls and
        that call it where they run in this environment, the master proxy, and the ServiceEntries' hosts."""
        env = scope.env.name
        gw = scope.model.gateway.name
        context = scope.context
        peers = [p for p in (*context.calls, *context.callers) if p.runs_in(env)]
        names = [scope.service.name, *(p.name for p in peers)]
        services = {scope.fqdn(p.name) for p in peers if p.port is not None}
        if scope.service.has_service_object:
            services.add(scope.fqdn(scope.service.name))
        services.add(scope.fqdn(gw))
        entries = frozenset(hosts)
        return cls(
            scope.namespace,
            frozenset([gw, *names]),
            frozenset([gw, *names]),
            frozenset(services),
            entries,
            frozenset(services | entries),
        )


def _finding(g: Generated, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic(Code.GENERATED_OBJECT, f"{g.describe()}: {message}", g.source, hint)


def _principals(spec: dict[str, Any]) -> Iterator[str]:
    for rule in spec.get("rules", []):
        for frm in rule.get("from", []):
            yield from frm.get("source", {}).get("principals", [])


def check_principals(g: Generated, inv: Inventory) -> Iterator[Diagnostic]:
    if g.kind != "AuthorizationPolicy":
        return
    for principal in _principals(g.obj.get("spec", {})):
        parts = principal.split("/")
        if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa":
            yield _finding(g, f"principal {principal!r} is not of the form <trust domain>/ns/<ns>/sa/<name>")
        elif parts[2] != inv.namespace or parts[4] not in inv.service_accounts:
            yield _finding(
                g,
                f"principal {principal!r} names no ServiceAccount the tree creates in {inv.namespace}",
                did_you_mean(parts[4], set(inv.service_accounts)),
            )


def check_selectors(g: Generated, inv: Inventory) -> Iterator[Diagnostic]:
    spec = g.obj.get("spec", {})
    labels = (spec.get("selector") or {}).get("matchLabels") or (spec.get("workloadSelector") or {}).get(
        "labels"
    )
    if not labels:
        return
    name = labels.get("app.kubernetes.io/name")
    if name not in inv.workloads:
        yield _finding(g, f"selects workload {name!r}, which the tree does not create")


def check_hosts(g: Generated, inv: Inventory) -> Iterator[Diagnostic]:
    spec = g.obj.get("spec", {})
    if g.kind == "VirtualService":
        hosts = list(spec.get("hosts", []))
        for http in spec.get("http", []):
            hosts.extend(r["destination"]["host"] for r in http.get("route", []))
    elif g.kind == "DestinationRule":
        hosts = [spec["host"]]
    else:
        return
    for host in dict.fromkeys(hosts):
        if host not in inv.hosts:
            yield _finding(g, f"host {host!r} is neither a Service in the tree nor a ServiceEntry")


def check_egress(g: Generated, inv: Inventory) -> Iterator[Diagnostic]:
    """Sidecar egress to this namespace must name a host that exists; other namespaces are the platform's."""
    if g.kind != "Sidecar":
        return
    for egress in g.obj.get("spec", {}).get("egress", []):
        for entry in egress.get("hosts", []):
            namespace, _, host = entry.partition("/")
            if namespace in (".", inv.namespace) and host not in inv.hosts:
                yield _finding(
                    g,
                    f"egress host {host!r} is neither a Service in the tree nor a ServiceEntry",
                    "a dependency must run in every environment its caller runs in",
                )


def check_unique_hosts(objects: Sequence[Generated]) -> Iterator[Diagnostic]:
    claimed: dict[str, Generated] = {}
    for g in objects:
        if g.kind != "VirtualService":
            continue
        for host in g.obj.get("spec", {}).get("hosts", []):
            first = claimed.setdefault(host, g)
            if first is not g:
                yield Diagnostic(
                    Code.GENERATED_OBJECT,
                    f"{g.describe()}: host {host!r} is already claimed by {first.describe()}",
                    g.source,
                    notes=((first.source, f"{first.describe()} claims it first"),),
                )


def check_namespaces(g: Generated, inv: Inventory) -> Iterator[Diagnostic]:
    namespace = g.obj["metadata"].get("namespace")
    if namespace not in (inv.namespace, ISTIO_SYSTEM) and g.kind != "Namespace":
        yield _finding(g, f"is in namespace {namespace!r}, not the environment's {inv.namespace!r}")


PER_OBJECT = (check_namespaces, check_principals, check_selectors, check_hosts, check_egress)


def check_objects(objects: Iterable[Generated], inv: Inventory) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for g in objects:
        for check in PER_OBJECT:
            found.extend(check(g, inv))
    return found


def analyze(scope: Scope, objects: Sequence[Generated]) -> list[Diagnostic]:
    """Every check on objects rendered together (the ServiceEntries among them define the hosts)."""
    inv = Inventory.of(scope, objects)
    found = check_objects(objects, inv)
    found.extend(check_unique_hosts(objects))
    return found
