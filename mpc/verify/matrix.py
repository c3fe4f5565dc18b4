"""The reachability matrix of one overlay: every caller, every destination port, every layer on its own.

Callers are the workloads of the environment's namespace and the outside world; destinations are each
workload's ports (what its Services target and what the mesh declares) plus one port nothing declares
(OTHER_PORT, standing for every other), and each external host and port (the mesh's and the
ServiceEntries'). Each layer answers on its own:

  network-egress   the caller's NetworkPolicies (mpc.verify.netpol)
  network-ingress  the receiver's NetworkPolicies
  mtls             PeerAuthentication, for callers without mutual TLS (mpc.verify.mtls)
  authorization    AuthorizationPolicies and RequestAuthentications, per request probe (mpc.verify.authz)
  sidecar          the caller's Sidecar, its outbound policy and the registry (mpc.verify.egress)

and each answer is compared with the mesh's intent (mpc.verify.intent). On HTTP ports the
authorization layer is asked once per probe: every method and path the policies or the edges name,
one of neither, and the tokens the master proxy's routes carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mpc.lang.model import Model

from . import authz, egress, mtls, netpol
from .authz import Request
from .intent import Edge, Intent, service_ports
from .objects import ClusterView, Workload
from .peers import OUTSIDE, Destination, Source, Verdict

OTHER_PORT = 65535  # a port nothing declares: stands for every port a workload does not serve
LAYERS = ("network-egress", "network-ingress", "mtls", "authorization", "sidecar")
HTTP_PROTOCOLS = frozenset({"http", "grpc", "http2", "https", "grpc-web"})
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
OTHER_PATH = "/mpc-verify/other"


@dataclass(frozen=True, slots=True)
class Answer:
    """One layer's verdict on one flow (a probe, on the authorization layer), and what the mesh meant."""

    layer: str
    request: Request | None
    verdict: Verdict
    meant: Edge | None

    @property
    def agrees(self) -> bool:
        return self.verdict.allowed == (self.meant is not None)


@dataclass
class Cell:
    source: Source
    dest: Destination
    meant: bool  # the mesh means this caller to reach this destination (some request of it)
    answers: list[Answer] = field(default_factory=list)

    def disagreements(self) -> list[Answer]:
        return [a for a in self.answers if not a.agrees]

    def to_json(self) -> dict[str, Any]:
        layers: dict[str, Any] = {}
        for answer in self.answers:
            entry = {
                "allowed": answer.verdict.allowed,
                "meant": answer.meant is not None,
                "by": [str(r) for r in answer.verdict.by],
                "reason": answer.verdict.reason,
            }
            if answer.request is not None and answer.layer == "authorization":
                entry["request"] = answer.request.describe()
                layers.setdefault(answer.layer, []).append(entry)
            else:
                layers[answer.layer] = entry
        kind, name, port = self.dest.key()
        out: dict[str, Any] = {"from": self.source.name, "to": name, "kind": kind, "port": port}
        if self.dest.host:
            out["host"] = self.dest.host
        out["protocol"] = self.dest.protocol
        out["meant"] = self.meant
        out["layers"] = layers
        return out


def _workload_ports(view: ClusterView, model: Model, pod: Workload) -> dict[int, tuple[str, bool]]:
    """port -> (protocol, speaks HTTP) for a workload: what its Services target, what the mesh declares."""
    ports: dict[int, tuple[str, bool]] = {}
    svc = model.services.get(pod.name)
    declared_http = svc is not None and svc.serves_http
    for service in view.services_of(pod):
        for port in service.ports:
            target = service.target_of(port, pod)
            if target is None:
                continue
            named = (port.app_protocol or port.name or "").split("-")[0]
            ports[target] = (port.protocol, named in HTTP_PROTOCOLS or declared_http)
    if svc is not None:
        for number in service_ports(svc):
            ports.setdefault(number, ("UDP" if svc.protocol == "udp" else "TCP", declared_http))
    if pod.name == model.gateway.name:
        ports.setdefault(model.gateway.listen_port, ("TCP", True))
    ports.setdefault(OTHER_PORT, ("TCP", False))
    return ports


def destinations(
    view: ClusterView, model: Model, intended: Intent, pods: list[Workload]
) -> list[Destination]:
    out = []
    for pod in pods:
        for port, (protocol, http) in sorted(_workload_ports(view, model, pod).items()):
            out.append(Destination(pod.name, port, protocol, workload=pod, http=http))
    seen: set[tuple[str, int]] = set()
    for target in intended.externals:
        seen.add((target.host, target.port))
        out.append(Destination(target.name, target.port, "TCP", host=target.host, address=target.address))
    namespace = pods[0].namespace if pods else ""
    for entry in view.objects("ServiceEntry", "networking.istio.io"):
        if str((entry.get("metadata") or {}).get("namespace")) != namespace:
            continue
        spec = entry.get("spec") or {}
        for host in spec.get("hosts") or []:
            for port in spec.get("ports") or []:
                key = (str(host), int(port["number"]))
                if "*" not in key[0] and key not in seen:
                    seen.add(key)
                    out.append(Destination(str(entry["metadata"]["name"]), key[1], "TCP", host=key[0]))
    return out


@dataclass(frozen=True, slots=True)
class Mentioned:
    """The methods and paths the overlay's AuthorizationPolicies name: what probes must tell apart."""

    methods: frozenset[str]
    paths: frozenset[str]

    @classmethod
    def of(cls, view: ClusterView) -> Mentioned:
        found: dict[str, set[str]] = {key: set() for key in ("methods", "notMethods", "paths", "notPaths")}
        for policy in view.objects("AuthorizationPolicy", "security.istio.io"):
            for rule in (policy.get("spec") or {}).get("rules") or []:
                for to in rule.get("to") or []:
                    for name, values in found.items():
                        values.update(str(v) for v in (to.get("operation") or {}).get(name) or [])
        return cls(
            frozenset(found["methods"] | found["notMethods"]), frozenset(found["paths"] | found["notPaths"])
        )


def probes(intended: Intent, mentioned: Mentioned, source: Source, dest: Destination) -> list[Request]:
    """The requests that tell the policies' answers apart on this flow."""
    assert dest.workload is not None
    edges = intended.edges_between(source.name, dest.name)
    tokens: set[str | None] = {None}
    for edge in edges:
        tokens.update(edge.tokens or ())
    if not dest.http:
        return [Request(token=t) for t in sorted(tokens, key=str)]
    named_methods = set(mentioned.methods)
    named_paths = set(mentioned.paths)
    for edge in edges:
        named_methods.update(edge.methods or ())
        named_paths.update(edge.paths or ())
    methods = sorted(named_methods | {"GET"}) + [m for m in METHODS if m not in named_methods][:1]
    paths = {"/"}
    for p in named_paths:
        paths.add(p[:-1] + "probe" if p.endswith("*") else p if not p.startswith("*") else "/probe" + p[1:])
    if named_paths:
        paths.add(OTHER_PATH)
    return [
        Request(m, p, t)
        for m in dict.fromkeys(methods)
        for p in sorted(paths)
        for t in sorted(tokens, key=str)
    ]


def evaluate_cell(
    view: ClusterView, intended: Intent, mentioned: Mentioned, source: Source, dest: Destination
) -> Cell:
    cell = Cell(source, dest, intended.allows("mesh", source, dest, None) is not None)
    single = (
        ("network-egress", netpol.egress(view, source, dest)),
        ("network-ingress", netpol.ingress(view, source, dest)),
        ("mtls", mtls.evaluate(view, source, dest)),
    )
    for layer, verdict in single:
        if verdict is not None:
            cell.answers.append(Answer(layer, None, verdict, intended.allows(layer, source, dest, None)))
    if dest.workload is not None:
        for request in probes(intended, mentioned, source, dest):
            verdict = authz.evaluate(view, source, dest, request)
            meant = intended.allows("authorization", source, dest, request)
            cell.answers.append(Answer("authorization", request, verdict, meant))
    out = egress.evaluate(view, source, dest)
    if out is not None:
        cell.answers.append(Answer("sidecar", None, out, intended.allows("sidecar", source, dest, None)))
    return cell


def matrix(view: ClusterView, model: Model, intended: Intent, namespace: str) -> list[Cell]:
    pods = sorted((w for w in view.workloads if w.namespace == namespace), key=lambda w: w.name)
    sources = [Source(OUTSIDE, None), *(Source(p.name, p) for p in pods)]
    dests = destinations(view, model, intended, pods)
    mentioned = Mentioned.of(view)
    cells = []
    for source in sources:
        for dest in dests:
            if source.workload is None and dest.external:
                continue  # the outside world calling the internet is no flow of the mesh
            cells.append(evaluate_cell(view, intended, mentioned, source, dest))
    return cells
