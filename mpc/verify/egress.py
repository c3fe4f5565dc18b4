"""A sidecar's way out: the Sidecar resource, the outbound traffic policy and the registry (Services and
ServiceEntries), as Istio applies them to the calling workload.

- The Sidecar of a workload is the one of its namespace whose `workloadSelector` matches its pods, else
  the namespace's Sidecar without a selector, else the root namespace's; with none, every host of the
  registry is visible and the outbound policy is ALLOW_ANY (Istio's default).
- A destination is reached through a registry host: for a pod, a Kubernetes Service that selects it and
  whose port targets the destination port (`<name>.<namespace>.svc.cluster.local`); for an external
  destination, a ServiceEntry whose `hosts` (or `addresses`) and `ports` name it, exported to the
  caller's namespace (`exportTo`: `.` its own namespace, `*` or absent every namespace).
- An egress listener imports `namespace/host` entries (`.` the Sidecar's namespace, `*` any; `*` and
  `*.suffix` host wildcards), on its `port` only when it has one.
- An imported host is reachable. Anything else passes only under ALLOW_ANY; REGISTRY_ONLY sends it to
  the black hole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .authz import value_matches
from .objects import ROOT_NAMESPACE, ClusterView, Ref, Workload, in_block
from .peers import Destination, Source, Verdict, allow, deny

Candidate = tuple[str, str, int, Ref]  # namespace, host, registry port, the object that registers it


def sidecar_of(view: ClusterView, pod: Workload) -> Mapping[str, Any] | None:
    sidecars = view.objects("Sidecar", "networking.istio.io")

    def ns(s: Mapping[str, Any]) -> str:
        return str((s.get("metadata") or {}).get("namespace") or "default")

    def selector(s: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return ((s.get("spec") or {}).get("workloadSelector") or {}).get("labels")

    for s in sidecars:
        labels = selector(s)
        if ns(s) == pod.namespace and labels and all(pod.labels.get(k) == v for k, v in labels.items()):
            return s
    for namespace in (pod.namespace, ROOT_NAMESPACE):
        for s in sidecars:
            if ns(s) == namespace and not selector(s):
                return s
    return None


def _exported_to(entry: Mapping[str, Any], namespace: str) -> bool:
    own = str((entry.get("metadata") or {}).get("namespace") or "default")
    export = (entry.get("spec") or {}).get("exportTo")
    if not export:
        return True
    return any(e == "*" or (e == "." and own == namespace) or e == namespace for e in export)


def _candidates(view: ClusterView, caller: Workload, dest: Destination) -> Iterator[Candidate]:
    """The registry hosts through which the caller's proxy can reach the destination."""
    if dest.workload is not None:
        for svc in view.services_of(dest.workload):
            for port in svc.ports:
                if svc.target_of(port, dest.workload) == dest.port and port.protocol == dest.protocol:
                    yield svc.namespace, svc.host, port.port, svc.ref
        return
    for entry in view.objects("ServiceEntry", "networking.istio.io"):
        spec = entry.get("spec") or {}
        if not _exported_to(entry, caller.namespace):
            continue
        ports = {int(p["number"]) for p in spec.get("ports") or [] if "number" in p}
        if dest.port not in ports:
            continue
        namespace = str((entry.get("metadata") or {}).get("namespace") or "default")
        hosts = [str(h) for h in spec.get("hosts") or []]
        by_host = dest.host is not None and any(value_matches(h, dest.host) for h in hosts)
        by_address = any(in_block(dest.address, str(a)) for a in spec.get("addresses") or [])
        if by_host or by_address:
            yield namespace, dest.host or hosts[0], dest.port, Ref.of(entry)


def _imports(sidecar: Mapping[str, Any], namespace: str, host: str, port: int) -> bool:
    own = str((sidecar.get("metadata") or {}).get("namespace") or "default")
    for listener in (sidecar.get("spec") or {}).get("egress") or []:
        number = (listener.get("port") or {}).get("number")
        if number is not None and int(number) != port:
            continue
        for entry in listener.get("hosts") or []:
            ns, _, pattern = str(entry).partition("/")
            if ns == "~":
                continue
            if ns not in ("*", namespace) and not (ns == "." and own == namespace):
                continue
            if value_matches(pattern, host):
                return True
    return False


def evaluate(view: ClusterView, source: Source, dest: Destination) -> Verdict | None:
    """Whether the caller's sidecar forwards the connection; None for a caller without a sidecar."""
    caller = source.workload
    if caller is None or not caller.sidecar:
        return None
    sidecar = sidecar_of(view, caller)
    found = list(_candidates(view, caller, dest))
    if sidecar is None:
        return allow("no Sidecar resource: every registry host is visible, outbound ALLOW_ANY")
    ref = Ref.of(sidecar)
    for namespace, host, port, registered in found:
        if _imports(sidecar, namespace, host, port):
            return allow(f"egress imports {namespace}/{host}", ref, registered)
    policy = str(((sidecar.get("spec") or {}).get("outboundTrafficPolicy") or {}).get("mode", "ALLOW_ANY"))
    if policy == "ALLOW_ANY":
        return allow("outbound ALLOW_ANY passes what the egress does not import", ref)
    if not found:
        what = f"{dest.host}:{dest.port}" if dest.external else f"port {dest.port} of {dest.name}"
        registry = "no ServiceEntry registers" if dest.external else "no Service exposes"
        return deny(f"REGISTRY_ONLY and {registry} {what}", ref)
    hosts = ", ".join(sorted({f"{ns}/{host}" for ns, host, _, _ in found}))
    return deny(f"REGISTRY_ONLY and the egress does not import {hosts}", ref)
