"""The generated AuthorizationPolicies admit exactly the graph's edges and the gateway's routes.

The policies are interpreted as Istio evaluates them (selectors, principals, request principals, ports),
and the resulting (caller, callee) set must equal MeshGraph.allowed_calls(): no more, no less.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import example_meshes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_istio_support import (
    EXTERNAL,
    Request,
    allowed,
    allowed_pairs,
    expected_pairs,
    objects,
    pod_labels,
    render_file,
    render_text,
)

EXAMPLES = example_meshes()
ACME = next(p for p in EXAMPLES if p.parent.name == "acme")


@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_policies_admit_exactly_the_graph(mesh: Path) -> None:
    front, artifacts = render_file(mesh)
    for env in front.model.environments:
        pairs = allowed_pairs(front, artifacts, env)
        assert pairs == expected_pairs(front, env), env
        # The graph itself, exactly, limited to the services that run in this environment.
        gw = f"gateway:{front.model.gateway.name}"
        running = {s.name for s in front.model.services_in(env)} | {gw}
        graph_pairs = {(a, b) for a, b in front.graph.allowed_calls(env) if a in running and b in running}
        assert pairs - {(EXTERNAL, gw)} == graph_pairs, env


def test_acme_pairs_are_the_ones_written_in_the_mesh() -> None:
    front, artifacts = render_file(ACME)
    gw = "gateway:local-api-gateway"
    assert allowed_pairs(front, artifacts, "prod") == {
        (EXTERNAL, gw),
        (gw, "auth"),
        (gw, "brain"),
        (gw, "data"),
        ("auth", "data"),
        ("brain", "auth"),
        ("brain", "data"),
        ("billing-worker", "data"),
        # Replicas of the stateful data service and of the ledger reach each other.
        ("data", "data"),
        ("ledger", "ledger"),
    }


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_adding_a_dependency_admits_that_call_only() -> None:
    text = ACME.read_text()
    before, _ = render_text(text)
    after_front, artifacts = render_text(
        _edit(text, "dependsOn: [data, stripe]", "dependsOn: [data, stripe, auth]")
    )
    for env in after_front.model.environments:
        pairs = allowed_pairs(after_front, artifacts, env)
        assert pairs == expected_pairs(after_front, env)
        assert pairs - expected_pairs(before, env) == {("billing-worker", "auth")}


def test_removing_a_dependency_revokes_that_call_only() -> None:
    text = ACME.read_text()
    before, _ = render_text(text)
    after_front, artifacts = render_text(
        _edit(text, "dependsOn: [auth, data, openai]", "dependsOn: [data, openai]")
    )
    for env in after_front.model.environments:
        pairs = allowed_pairs(after_front, artifacts, env)
        assert pairs == expected_pairs(after_front, env)
        assert expected_pairs(before, env) - pairs == {("brain", "auth")}


def test_removing_a_route_revokes_the_proxy_and_its_token_rule() -> None:
    text = _edit(ACME.read_text(), "    - {prefix: /auth, service: auth}\n", "")
    front, artifacts = render_text(text)
    assert ("gateway:local-api-gateway", "auth") not in allowed_pairs(front, artifacts, "prod")
    assert allowed_pairs(front, artifacts, "prod") == expected_pairs(front, "prod")


def test_a_service_limited_to_one_environment_is_called_only_there() -> None:
    text = _edit(
        ACME.read_text(),
        "    dependsOn: [data, stripe]\n",
        "    dependsOn: [data, stripe]\n    environments: [prod]\n",
    )
    front, artifacts = render_text(text)
    assert ("billing-worker", "data") in allowed_pairs(front, artifacts, "prod")
    staging = allowed_pairs(front, artifacts, "staging")
    assert not any("billing-worker" in pair for pair in staging)
    assert staging == expected_pairs(front, "staging")


def test_routes_requiring_a_token_are_denied_in_the_mesh_without_one() -> None:
    front, artifacts = render_file(ACME)
    model = front.model
    ns = model.environments["prod"].namespace
    policies = objects(artifacts, "AuthorizationPolicy", ns)
    gw_principal = f"cluster.local/ns/{ns}/sa/{model.gateway.name}"
    issuer = model.issuers["acme-id"].issuer
    for service, needs_token in (("brain", True), ("data", True), ("auth", False)):
        labels = pod_labels(model, service)
        without = Request("gateway", gw_principal, 8080, None)
        with_token = Request("gateway", gw_principal, 8080, issuer)
        assert allowed(policies, labels, with_token)
        assert allowed(policies, labels, without) is not needs_token, service
        # A token from another issuer is no token.
        other = Request("gateway", gw_principal, 8080, "https://evil.example/realms/x")
        assert allowed(policies, labels, other) is not needs_token, service
    # Service-to-service calls carry no end-user token and need none.
    assert allowed(
        policies, pod_labels(model, "data"), Request("auth", f"cluster.local/ns/{ns}/sa/auth", 8080, None)
    )


def test_no_namespace_wide_allow_and_no_rule_without_a_source() -> None:
    for mesh in EXAMPLES:
        _, artifacts = render_file(mesh)
        for policy in objects(artifacts, "AuthorizationPolicy"):
            spec = policy["spec"]
            if spec == {}:
                assert policy["metadata"]["name"] == "allow-nothing"
                continue
            assert spec["selector"]["matchLabels"], policy["metadata"]["name"]
            assert spec["action"] == "ALLOW"
            for rule in spec["rules"]:
                assert rule["from"] and all(f["source"] for f in rule["from"])


def test_the_master_proxy_admits_outside_traffic_on_its_listener_only() -> None:
    front, artifacts = render_file(ACME)
    model = front.model
    policies = objects(artifacts, "AuthorizationPolicy", "acme-prod")
    labels = pod_labels(model, model.gateway.name)
    assert allowed(policies, labels, Request(EXTERNAL, None, 4000, None))
    assert not allowed(policies, labels, Request(EXTERNAL, None, 9902, None))
    for svc in model.services.values():
        if svc.port is not None:
            assert not allowed(policies, pod_labels(model, svc.name), Request(EXTERNAL, None, svc.port, None))
    # The listener accepts plain traffic; every other port of the proxy stays mutual TLS only.
    (listener,) = [
        p for p in objects(artifacts, "PeerAuthentication", "acme-prod") if p["metadata"]["name"] != "default"
    ]
    assert listener["spec"]["portLevelMtls"] == {"4000": {"mode": "PERMISSIVE"}}
    assert listener["spec"]["mtls"] == {"mode": "STRICT"}


# --- property: random acyclic meshes -------------------------------------------------------------------

NAMES = ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e", "svc-f"]


@st.composite
def meshes(draw: st.DrawFn) -> str:
    count = draw(st.integers(min_value=1, max_value=len(NAMES)))
    names = NAMES[:count]
    lines = [
        "apiVersion: masterproxy.dev/v1alpha1",
        "kind: Mesh",
        'metadata: {name: prop, owners: ["@x/y"]}',
        "auth:",
        "  issuers:",
        "    idp: {issuer: https://id.example/realm, jwksUri: https://id.example/certs, audiences: [api]}",
        "gateway:",
        "  name: front",
        "  port: 4000",
        "  routes:",
    ]
    routed = draw(st.lists(st.sampled_from(names), min_size=1, max_size=count, unique=True))
    for name in routed:
        auth = ", auth: idp" if draw(st.booleans()) else ""
        lines.append(f"    - {{prefix: /{name}, service: {name}{auth}}}")
    lines.append("services:")
    for i, name in enumerate(names):
        # Depending only on later names keeps the graph acyclic.
        deps = draw(st.lists(st.sampled_from(names[i + 1 :]), unique=True)) if i + 1 < count else []
        lines.append(
            f"  {name}: {{image: ghcr.io/x/{name}:1.0.0, port: 8080, dependsOn: [{', '.join(deps)}]}}"
        )
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshes())
def test_random_meshes_admit_exactly_their_graph(text: str) -> None:
    front, artifacts = render_text(text)
    for env in front.model.environments:
        assert allowed_pairs(front, artifacts, env) == expected_pairs(front, env), text
    assert re.search(r"allow-nothing", str(objects(artifacts, "AuthorizationPolicy")))


def test_a_route_to_a_service_of_another_environment_is_no_call_here() -> None:
    """The proxy answers such a route itself (503); staging's policies and egress do not mention it."""
    text = _edit(
        ACME.read_text(),
        "    - {prefix: /auth, service: auth}\n",
        "    - {prefix: /auth, service: auth}\n    - {prefix: /ledger, service: ledger}\n",
    )
    text = _edit(text, "    protocol: tcp\n    storage: 100Gi", "    protocol: http\n    storage: 100Gi")
    front, artifacts = render_text(text)
    assert ("gateway:local-api-gateway", "ledger") in allowed_pairs(front, artifacts, "prod")
    staging = allowed_pairs(front, artifacts, "staging")
    assert staging == expected_pairs(front, "staging")
    assert not any("ledger" in pair for pair in staging)
    sidecars = {d["metadata"]["name"]: d for d in objects(artifacts, "Sidecar", "acme-staging")}
    assert not any("ledger" in h for h in sidecars["local-api-gateway"]["spec"]["egress"][0]["hosts"])
