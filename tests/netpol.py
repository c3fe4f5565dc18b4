"""NetworkPolicies evaluated as Kubernetes does, for the tests that compare what policies allow.

A connection from pod A to pod B (or to an address outside the cluster) on a port is allowed when the
egress side allows it (no policy of A's namespace selects A for Egress, or one of those that do has a
rule matching B and the port) and the ingress side does too (the same for B and Ingress). Rules of all
selecting policies are ORed; within a rule, `to`/`from` peers are ORed and `ports` are ORed; an empty
rule list for a type denies that type, an empty rule (`{}`) allows everything. Only what mpc and the
upstream files use is modelled (matchLabels, namespaceSelector by name, ipBlock with except); anything
else fails the test.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME_KEY = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = "10.0.0.1"  # pod addresses are private: an ipBlock of the public Internet never holds one


@dataclass(frozen=True)
class Address:
    """A destination outside the cluster."""

    ip: str


Endpoint = Pod | Address


def _labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    unknown = set(selector) - {"matchLabels"}
    assert not unknown, f"selector form not modelled: {unknown}"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _in_block(block: Mapping[str, Any], ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(address in ipaddress.ip_network(e) for e in block.get("except", []))


def _peer_matches(peer: Mapping[str, Any], own_namespace: str, other: Endpoint) -> bool:
    unknown = set(peer) - {"podSelector", "namespaceSelector", "ipBlock"}
    assert not unknown, f"peer form not modelled: {unknown}"
    if "ipBlock" in peer:
        return _in_block(peer["ipBlock"], other.ip)
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        wanted = (peer["namespaceSelector"] or {}).get("matchLabels", {})
        namespace_labels = {NAME_KEY: other.namespace}
        if not all(namespace_labels.get(k) == v for k, v in wanted.items()):
            return False
    elif other.namespace != own_namespace:
        return False
    return _labels_match(peer.get("podSelector"), other.labels)


def _port_matches(ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("port", port) == port and p.get("protocol", "TCP") == protocol for p in ports)


def side_allows(
    policies: Iterable[Mapping[str, Any]], pod: Pod, direction: str, other: Endpoint, port: int, protocol: str
) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", pod.namespace) == pod.namespace
        and _labels_match(p["spec"].get("podSelector"), pod.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, pod.namespace, other) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(
    policies: Sequence[Mapping[str, Any]], source: Pod, target: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the policies let `source` open a connection to `target` on `port`."""
    if not side_allows(policies, source, "Egress", target, port, protocol):
        return False
    if isinstance(target, Pod):
        return side_allows(policies, target, "Ingress", source, port, protocol)
    return True
