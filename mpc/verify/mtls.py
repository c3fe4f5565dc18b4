"""PeerAuthentication modes as Istio resolves them, for connections without a mesh identity.

The mode of a port of a workload is, most specific first: the `portLevelMtls` entry for that (target)
port of a PeerAuthentication selecting the workload, that policy's `mtls.mode`, the namespace's policy
(no selector), then the mesh's (root namespace, no selector); UNSET or absent defers to the next, and
Istio's default is PERMISSIVE. STRICT refuses plain text; PERMISSIVE and DISABLE accept it. A pod
without a sidecar accepts plain text whatever the policies say.

Only connections without mutual TLS are judged here (the outside world, pods without a sidecar): a
caller with a sidecar speaks mutual TLS, which every mode but DISABLE accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import ROOT_NAMESPACE, ClusterView, Ref, Workload, labels_match
from .peers import Destination, Source, Verdict, allow, deny

PLAIN_TEXT_OK = frozenset({"PERMISSIVE", "DISABLE"})


def _levels(view: ClusterView, pod: Workload) -> list[Mapping[str, Any]]:
    """The policies that can set the pod's mode, most specific first."""
    policies = view.objects("PeerAuthentication", "security.istio.io")

    def ns(p: Mapping[str, Any]) -> str:
        return str((p.get("metadata") or {}).get("namespace") or "default")

    def selector(p: Mapping[str, Any]) -> Any:
        return (p.get("spec") or {}).get("selector")

    workload = [
        p
        for p in policies
        if ns(p) == pod.namespace and selector(p) and labels_match(selector(p), pod.labels)
    ]
    namespace = [p for p in policies if ns(p) == pod.namespace and not selector(p)]
    mesh = [p for p in policies if ns(p) == ROOT_NAMESPACE and not selector(p)]
    return [*workload, *namespace, *mesh]


def mode(view: ClusterView, pod: Workload, port: int) -> tuple[str, Ref | None]:
    for policy in _levels(view, pod):
        spec = policy.get("spec") or {}
        if spec.get("selector"):
            port_level = (spec.get("portLevelMtls") or {}).get(str(port)) or {}
            chosen = str(port_level.get("mode", "UNSET"))
            if chosen != "UNSET":
                return chosen, Ref.of(policy)
        chosen = str((spec.get("mtls") or {}).get("mode", "UNSET"))
        if chosen != "UNSET":
            return chosen, Ref.of(policy)
    return "PERMISSIVE", None


def evaluate(view: ClusterView, source: Source, dest: Destination) -> Verdict | None:
    """Whether the receiving proxy accepts the connection's plain text; None when the caller has mTLS."""
    pod = dest.workload
    if pod is None or source.mtls:
        return None
    if not pod.sidecar:
        return allow(f"{pod.name} has no sidecar: plain text reaches it")
    chosen, ref = mode(view, pod, dest.port)
    refs = (ref,) if ref is not None else ()
    if chosen in PLAIN_TEXT_OK:
        said = (
            f"mode {chosen} on port {dest.port}" if ref is not None else "no PeerAuthentication: PERMISSIVE"
        )
        return allow(f"{said} accepts plain text", *refs)
    return deny(f"mode {chosen} on port {dest.port} refuses plain text", *refs)
