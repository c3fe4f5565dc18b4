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

from mpc.graph.front import Front
from mpc.lang.model import WHOLE_CALL, Narrowing
from mpc.render import k8s
from mpc.render.api import Artifact

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


# --- narrowed calls: ports, methods, paths ----------------------------------------------------------------

OTHER_METHOD = "DELETE"
OTHER_PATH = "/not/a/declared/path"
UNDECLARED_PORT = 1


def _request_for(narrowing: Narrowing) -> tuple[str, str]:
    method = narrowing.methods[0] if narrowing.methods else "GET"
    path = narrowing.paths[0] if narrowing.paths else "/anything"
    return method, path[:-1] + "x" if path.endswith("/*") else path


def _check_edges(front: Front, artifacts: list[Artifact]) -> int:
    """For every call edge: the request it allows passes; another method, path or port is denied."""
    model = front.model
    checked = 0
    for env in model.environments:
        ns = model.environments[env].namespace
        policies = objects(artifacts, "AuthorizationPolicy", ns)
        for svc in model.services_in(env):
            if svc.port is None:
                continue
            labels = pod_labels(model, svc.name)
            for caller in front.graph.callers(svc.name):
                if env not in model.services[caller].environments:
                    continue
                narrowing = model.services[caller].narrowing.get(svc.name, WHOLE_CALL)
                principal = k8s.principal(ns, caller)
                method, path = _request_for(narrowing)
                reached = svc.call_ports(narrowing)
                for port in reached:
                    ok = Request(caller, principal, port.target_port, None, method, path)
                    assert allowed(policies, labels, ok), (caller, svc.name, ok)
                others = [p for p in svc.ports if p not in reached] or [None]
                for other in others:
                    target = other.target_port if other is not None else UNDECLARED_PORT
                    denied = Request(caller, principal, target, None, method, path)
                    assert not allowed(policies, labels, denied), (caller, svc.name, denied)
                port = reached[0].target_port
                if narrowing.methods:
                    wrong = Request(caller, principal, port, None, OTHER_METHOD, path)
                    assert not allowed(policies, labels, wrong), (caller, svc.name, wrong)
                if narrowing.paths:
                    wrong = Request(caller, principal, port, None, method, OTHER_PATH)
                    assert not allowed(policies, labels, wrong), (caller, svc.name, wrong)
                checked += 1
    return checked


@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_each_edge_admits_its_requests_and_nothing_beside_them(mesh: Path) -> None:
    front, artifacts = render_file(mesh)
    assert _check_edges(front, artifacts) == sum(
        1
        for env in front.model.environments
        for svc in front.model.services_in(env)
        if svc.port is not None
        for caller in front.graph.callers(svc.name)
        if env in front.model.services[caller].environments
    )


def test_the_cart_admits_only_its_three_calls() -> None:
    boutique = next(p for p in EXAMPLES if p.parent.name == "online-boutique")
    front, artifacts = render_file(boutique)
    model = front.model
    policies = objects(artifacts, "AuthorizationPolicy", "online-boutique")
    labels = pod_labels(model, "cartservice")
    for caller in ("frontend", "checkoutservice"):
        principal = k8s.principal("online-boutique", caller)
        for method in ("AddItem", "GetCart", "EmptyCart"):
            call = Request(caller, principal, 7070, None, "POST", f"/hipstershop.CartService/{method}")
            assert allowed(policies, labels, call)
        other = Request(caller, principal, 7070, None, "POST", "/hipstershop.CartService/DropCart")
        assert not allowed(policies, labels, other)
        assert not allowed(
            policies,
            labels,
            Request(caller, principal, 7070, None, "GET", "/hipstershop.CartService/GetCart"),
        )
    # The emailservice is called on its container port (8080), not the Service port (5000).
    email = pod_labels(model, "emailservice")
    checkout = k8s.principal("online-boutique", "checkoutservice")
    assert allowed(policies, email, Request("checkoutservice", checkout, 8080, None))
    assert not allowed(policies, email, Request("checkoutservice", checkout, 5000, None))


@st.composite
def narrowed_meshes(draw: st.DrawFn) -> str:
    """Random acyclic meshes whose services have two ports and whose calls are narrowed at random."""
    count = draw(st.integers(min_value=2, max_value=5))
    names = NAMES[:count]
    lines = [
        "apiVersion: masterproxy.dev/v1alpha1",
        "kind: Mesh",
        "metadata: {name: prop}",
        "gateway:",
        "  name: front",
        "  port: 80",
        "  routes:",
        f"    - {{prefix: /{names[0]}, service: {names[0]}}}",
        "services:",
    ]
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[i + 1 :]), unique=True)) if i + 1 < count else []
        entries = []
        for dep in deps:
            kind = draw(st.sampled_from(["whole", "port", "methods", "paths", "all"]))
            entry = {
                "whole": dep,
                "port": f"{{service: {dep}, ports: [admin]}}",
                "methods": f"{{service: {dep}, methods: [POST, PUT]}}",
                "paths": f"{{service: {dep}, paths: [/{dep}/*, /health]}}",
                "all": f"{{service: {dep}, ports: [http], methods: [GET], paths: [/{dep}/items/*]}}",
            }[kind]
            entries.append(entry)
        lines += [
            f"  {name}:",
            f"    image: ghcr.io/x/{name}:1.0.0",
            "    ports:",
            "      - {name: http, port: 80, targetPort: 8080}",
            "      - {name: admin, port: 9000, targetPort: 19000}",
            f"    dependsOn: [{', '.join(entries)}]",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(narrowed_meshes())
def test_random_narrowed_meshes_admit_exactly_their_operations(text: str) -> None:
    front, artifacts = render_text(text)
    _check_edges(front, artifacts)
    for env in front.model.environments:
        assert allowed_pairs(front, artifacts, env) == expected_pairs(front, env), text
