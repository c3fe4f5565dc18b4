"""Self-traffic of a service's pods: only where they can be peers, and on the same ports in every layer.

examples/stateful has a standalone cache (one pod: no self-traffic anywhere) and a clustered queue (three
members: NetworkPolicy ingress and egress, AuthorizationPolicy and Sidecar all open the same ports).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import GOLDEN, ROOT, run_mpc

from mpc.errors import Code
from mpc.workflow.front import front_text

TREE = GOLDEN / "stateful"
NAME = "app.kubernetes.io/name"


def _docs(path: Path) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _selects(peer: Mapping[str, Any], name: str) -> bool:
    return (
        peer.get("podSelector", {}).get("matchLabels", {}).get(NAME) == name
        and "namespaceSelector" not in peer
    )


def _self_ports(policy: dict[str, Any], name: str) -> dict[str, set[int]]:
    """The ports a NetworkPolicy opens between the pods it selects, per direction (ingress, egress)."""
    out: dict[str, set[int]] = {"ingress": set(), "egress": set()}
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for rule in policy["spec"].get(direction, []):
            if any(_selects(p, name) for p in rule.get(key, [])):
                assert "ports" in rule, f"{name}: a {direction} rule to its own pods on every port"
                out[direction] |= {p["port"] for p in rule["ports"]}
    return out


def _authz_self_ports(policy: dict[str, Any] | None, principal: str) -> set[int]:
    if policy is None:
        return set()
    ports: set[int] = set()
    for rule in policy["spec"]["rules"]:
        if any(principal in f["source"].get("principals", []) for f in rule["from"]):
            ports |= {int(p) for t in rule["to"] for p in t["operation"]["ports"]}
    return ports


def _layers(name: str) -> tuple[dict[str, set[int]], set[int], bool]:
    policies = _docs(TREE / "kustomize/overlays/default/app/network-policies.yaml")
    istio = _docs(TREE / f"istio/default/services/{name}.yaml")
    authz = [d for d in istio if d["kind"] == "AuthorizationPolicy"]
    sidecar = _named(istio, "Sidecar", name)
    principal = f"cluster.local/ns/shop/sa/{name}"
    own_host = f"./{name}.shop.svc.cluster.local"
    imported = any(own_host in e["hosts"] for e in sidecar["spec"]["egress"])
    return (
        _self_ports(_named(policies, "NetworkPolicy", name), name),
        _authz_self_ports(authz[0] if authz else None, principal),
        imported,
    )


def test_a_single_replica_stateful_service_has_no_self_traffic_in_any_layer() -> None:
    network, authz, imported = _layers("cache")
    assert network == {"ingress": set(), "egress": set()}
    assert authz == set()
    assert not imported


def test_a_clustered_service_opens_the_same_ports_in_every_layer() -> None:
    network, authz, imported = _layers("queue")
    assert network == {"ingress": {5672}, "egress": {5672}}
    assert authz == {5672}
    assert imported  # the Sidecar imports its own headless Service: every port of it


def test_the_ledger_peers_on_its_peer_port_in_every_layer() -> None:
    acme = GOLDEN / "acme"
    policies = _docs(acme / "kustomize/overlays/prod/gke-prod/app/network-policies.yaml")
    istio = _docs(acme / "istio/prod/services/ledger.yaml")
    network = _self_ports(_named(policies, "NetworkPolicy", "ledger"), "ledger")
    authz = _authz_self_ports(
        _named(istio, "AuthorizationPolicy", "ledger"), "cluster.local/ns/acme-prod/sa/ledger"
    )
    sidecar = _named(istio, "Sidecar", "ledger")
    assert network == {"ingress": {26656}, "egress": {26656}}
    assert authz == {26656}
    assert "./ledger.acme-prod.svc.cluster.local" in sidecar["spec"]["egress"][0]["hosts"]


MESH = (ROOT / "examples/stateful/mesh.yaml").read_text()


@pytest.mark.parametrize(
    ("edit", "peers"),
    [
        ("    replicas: 1\n", False),  # as written: one pod
        ("    replicas: 2\n", False),  # two pods that do not replicate: a warning, still no peers
    ],
)
def test_peers_need_replication_and_more_than_one_pod(edit: str, peers: bool) -> None:
    front = front_text(MESH.replace("    replicas: 1\n", edit, 1))
    assert front.model.services["cache"].peers_in("default") is peers
    assert front.model.services["queue"].peers_in("default")
    assert front.graph.peer_services("default") == ["queue"]


def test_several_pods_of_a_stateful_service_that_does_not_replicate_warn(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(MESH.replace("    replicas: 1\n", "    replicas: 2\n", 1))
    result = run_mpc("validate", mesh)
    assert result.code == 0
    line = MESH.splitlines().index("    replicas: 1") + 1
    assert f"mesh.yaml:{line}:5: warning[{Code.UNREPLICATED_STATE}]: services.cache:" in result.err
    assert "clustering: dns" in result.err and "replicas: 1" in result.err
    assert run_mpc("validate", ROOT / "examples/stateful/mesh.yaml").err == ""
