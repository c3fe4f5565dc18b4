"""NetworkPolicies as Kubernetes evaluates them (networking.k8s.io/v1).

- A pod is isolated for a direction when some policy of its namespace selects it (`podSelector`) and
  lists that direction in `policyTypes` (absent: Ingress, plus Egress when the policy has egress rules).
  A pod that no policy isolates allows everything in that direction.
- An isolated pod allows a connection when some rule of a policy selecting it admits it: every peer of
  the rule (`from`/`to`; none means any) is an alternative, and so is every port (none means any).
- A peer is an `ipBlock` (the address inside `cidr` and outside each `except`), or a `podSelector`
  (pods of the policy's namespace), a `namespaceSelector` (every pod of the matching namespaces), or both
  (matching pods in matching namespaces). Namespaces carry `kubernetes.io/metadata.name`.
- A port is a number (with `endPort`, a range) or a name, resolved against the container ports of the
  receiving pod, with its protocol (default TCP); a port without `port` matches every port of it.
- A connection needs both the sender's egress and the receiver's ingress; verify judges each on its own,
  so that a policy widened on one side shows even while the other side still holds.

Pod addresses: ipBlocks are matched against a sample pod address in 10.0.0.0/8 (Kubernetes leaves it to
the network plugin whether pod traffic matches ipBlocks; mpc's rules except the private ranges).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .objects import POD_ADDRESS, ClusterView, Ref, Workload, in_block, labels_match
from .peers import Destination, Source, Verdict, allow, deny

DIRECTIONS = {"Ingress": ("ingress", "from"), "Egress": ("egress", "to")}


def _types(spec: Mapping[str, Any]) -> list[str]:
    types = spec.get("policyTypes")
    if types:
        return [str(t) for t in types]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _selecting(view: ClusterView, pod: Workload, direction: str) -> Iterator[Mapping[str, Any]]:
    for policy in view.objects("NetworkPolicy", "networking.k8s.io"):
        meta = policy.get("metadata") or {}
        spec = policy.get("spec") or {}
        if str(meta.get("namespace") or "default") != pod.namespace:
            continue
        if direction in _types(spec) and labels_match(spec.get("podSelector"), pod.labels):
            yield policy


def _peer_matches(
    view: ClusterView, peer: Mapping[str, Any], policy_ns: str, pod: Workload | None, address: str
) -> bool:
    """Whether one `from`/`to` entry names the other end: a pod (or None for an address outside)."""
    block = peer.get("ipBlock")
    if block is not None:
        return in_block(address, str(block.get("cidr")), block.get("except") or [])
    if pod is None:
        return False  # pod and namespace selectors name pods only
    ns_selector = peer.get("namespaceSelector")
    pod_selector = peer.get("podSelector")
    if ns_selector is None:
        return pod.namespace == policy_ns and labels_match(pod_selector, pod.labels)
    if not labels_match(ns_selector, view.namespace_labels(pod.namespace)):
        return False
    return pod_selector is None or labels_match(pod_selector, pod.labels)


def _port_matches(entry: Mapping[str, Any], dest: Destination) -> bool:
    if str(entry.get("protocol", "TCP")) != dest.protocol:
        return False
    port = entry.get("port")
    if port is None:
        return True
    if isinstance(port, int) or str(port).isdigit():
        low = int(port)
        high = int(entry.get("endPort", low))
        return low <= dest.port <= high
    # A named port means the receiving pod's container port of that name.
    return dest.workload is not None and dest.workload.named_port(str(port), dest.protocol) == dest.port


def _rule_admits(
    view: ClusterView,
    rule: Mapping[str, Any],
    peers_key: str,
    ns: str,
    other: Workload | None,
    address: str,
    dest: Destination,
) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(view, p, ns, other, address) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(_port_matches(p, dest) for p in ports)


def _direction(
    view: ClusterView, pod: Workload, direction: str, other: Workload | None, address: str, dest: Destination
) -> Verdict:
    key, peers_key = DIRECTIONS[direction]
    isolating = list(_selecting(view, pod, direction))
    if not isolating:
        return allow(f"no NetworkPolicy isolates {pod.name} for {key}")
    for policy in isolating:
        ns = str((policy.get("metadata") or {}).get("namespace") or "default")
        for i, rule in enumerate((policy.get("spec") or {}).get(key) or []):
            if _rule_admits(view, rule, peers_key, ns, other, address, dest):
                return allow(f"{key} rule {i + 1}", Ref.of(policy))
    return deny(f"{pod.name} is isolated for {key} and no rule admits it", *(Ref.of(p) for p in isolating))


def egress(view: ClusterView, source: Source, dest: Destination) -> Verdict | None:
    """The sender's NetworkPolicies (None: the sender is no pod)."""
    if source.workload is None:
        return None
    target = dest.address if dest.external else POD_ADDRESS
    return _direction(view, source.workload, "Egress", dest.workload, target, dest)


def ingress(view: ClusterView, source: Source, dest: Destination) -> Verdict | None:
    """The receiver's NetworkPolicies (None: the receiver is no pod)."""
    if dest.workload is None:
        return None
    return _direction(view, dest.workload, "Ingress", source.workload, source.address, dest)
