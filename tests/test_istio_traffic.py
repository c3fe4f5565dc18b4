"""Traffic, egress, external entries and telemetry as the acme example resolves them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from conftest import ROOT, example_meshes
from ruamel.yaml import YAML
from test_istio_support import objects, render_file, render_text

from mpc.render import k8s

ACME = next(p for p in example_meshes() if p.parent.name == "acme")
SEED = next(p for p in example_meshes() if p.parent.name == "local-api-gateway")
NS = "acme-prod"


@pytest.fixture(scope="module")
def acme() -> Any:
    return render_file(ACME)


def _by_name(docs: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs}


def _fqdn(name: str) -> str:
    return k8s.service_fqdn(name, NS)


def test_virtual_services_carry_the_resolved_timeout_and_retries(acme: Any) -> None:
    front, artifacts = acme
    vs = _by_name(objects(artifacts, "VirtualService", NS))
    # One per HTTP/gRPC service with a Service object: not the TCP ledger, not the worker.
    assert set(vs) == {"auth", "brain", "data"}
    gateway = {"sourceLabels": {"app.kubernetes.io/name": "local-api-gateway"}}
    for name, doc in vs.items():
        svc = front.model.services[name]
        assert doc["spec"]["hosts"] == [_fqdn(name)]
        routes = {r["name"]: r for r in doc["spec"]["http"]}
        # The master proxy's requests first, not retried (its own route retries); then the idempotent
        # methods, retried on a 503; then the rest, retried only when the request never left.
        assert list(routes) == ["from-master-proxy", "idempotent", "other-methods"]
        assert routes["from-master-proxy"]["match"] == [gateway]
        assert routes["from-master-proxy"]["retries"] == {"attempts": 0}
        assert routes["idempotent"]["match"] == [{"method": {"regex": "GET|HEAD|OPTIONS|PUT|DELETE"}}]
        assert routes["idempotent"]["retries"]["attempts"] == svc.retries
        assert "503" in routes["idempotent"]["retries"]["retryOn"]
        assert routes["other-methods"]["retries"] == {
            "attempts": svc.retries,
            "retryOn": "connect-failure,refused-stream",
        }
        for http in routes.values():
            assert http["route"] == [{"destination": {"host": _fqdn(name), "port": {"number": svc.port}}}]
    # ai-inference's 60 s default; the /data route's `retries: 0` is the proxy's, not the mesh's.
    assert vs["brain"]["spec"]["http"][0]["timeout"] == "60s"
    assert vs["auth"]["spec"]["http"][0]["timeout"] == "15s"
    assert vs["data"]["spec"]["http"][1]["retries"]["attempts"] == 2


def test_retries_zero_disables_them() -> None:
    text = ACME.read_text().replace(
        "    health: {path: /healthz}\n", "    health: {path: /healthz}\n    retries: 0\n", 1
    )
    _, artifacts = render_text(text)
    auth = _by_name(objects(artifacts, "VirtualService", NS))["auth"]
    assert auth["spec"]["http"][0]["retries"] == {"attempts": 0}


def test_destination_rules_are_istio_mutual_with_limits(acme: Any) -> None:
    _, artifacts = acme
    drs = _by_name(objects(artifacts, "DestinationRule", NS))
    assert set(drs) == {"auth", "brain", "data", "ledger"}
    for name, doc in drs.items():
        policy = doc["spec"]["trafficPolicy"]
        assert doc["spec"]["host"] == _fqdn(name)
        assert policy["tls"] == {"mode": "ISTIO_MUTUAL"}
        assert policy["connectionPool"]["tcp"]["maxConnections"] > 0
        assert policy["outlierDetection"]["consecutive5xxErrors"] > 0
    # A TCP service has no HTTP pool; brain scales to 10 pods, so its limits are ten pods' worth.
    assert "http" not in drs["ledger"]["spec"]["trafficPolicy"]["connectionPool"]
    assert drs["brain"]["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnections"] == 1000


def _egress(doc: Mapping[str, Any]) -> set[str]:
    (egress,) = doc["spec"]["egress"]
    return set(egress["hosts"])


def test_sidecars_reach_only_dependencies(acme: Any) -> None:
    front, artifacts = acme
    sidecars = _by_name(objects(artifacts, "Sidecar", NS))
    assert set(sidecars) == set(front.model.services) | {front.model.gateway.name}
    platform = {"istio-system/*", "observability/jaeger-collector.observability.svc.cluster.local"}
    assert _egress(sidecars["brain"]) == platform | {
        f"./{_fqdn('auth')}",
        f"./{_fqdn('data')}",
        "./api.openai.com",
    }
    assert _egress(sidecars["billing-worker"]) == platform | {f"./{_fqdn('data')}", "./api.stripe.com"}
    # auth has an OAuth2 client: it reaches the identity provider for its tokens.
    assert _egress(sidecars["auth"]) == platform | {f"./{_fqdn('data')}", "./id.acme.dev"}
    # data replicates (clustering: dns, 3 replicas in prod): its pods reach each other through its Service.
    assert _egress(sidecars["data"]) == platform | {f"./{_fqdn('data')}"}
    # The master proxy: its routed services and the JWKS host of the issuer its routes require.
    assert _egress(sidecars["local-api-gateway"]) == platform | {
        f"./{_fqdn(s)}" for s in ("auth", "brain", "data")
    } | {"./id.acme.dev"}
    for doc in sidecars.values():
        assert doc["spec"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
        assert doc["spec"]["workloadSelector"]["labels"] == k8s.selector(doc["metadata"]["name"])


def test_identity_provider_gets_its_own_entry_when_nothing_else_covers_it() -> None:
    text = (ROOT / "examples" / "acme" / "mesh.yaml").read_text()
    text = text.replace("url: https://id.acme.dev", "url: https://login.acme.dev:8443")
    _, artifacts = render_text(text)
    entries = _by_name(objects(artifacts, "ServiceEntry", NS))
    assert entries["identity-keycloak"]["spec"]["hosts"] == ["login.acme.dev"]
    assert entries["identity-keycloak"]["spec"]["ports"] == [
        {"number": 8443, "name": "tls-8443", "protocol": "TLS"}
    ]
    sidecars = _by_name(objects(artifacts, "Sidecar", NS))
    assert "./login.acme.dev" in _egress(sidecars["auth"])
    assert "./login.acme.dev" not in _egress(sidecars["brain"])  # no OAuth2 client, no provider


def test_external_entries_are_mesh_external_dns(acme: Any) -> None:
    _, artifacts = acme
    entries = _by_name(objects(artifacts, "ServiceEntry", NS))
    assert set(entries) == {"stripe", "openai", "jwks-acme-id"}
    assert entries["stripe"]["spec"] == {
        "hosts": ["api.stripe.com"],
        "exportTo": ["."],
        "location": "MESH_EXTERNAL",
        "ports": [{"number": 443, "name": "tls-443", "protocol": "TLS"}],
        "resolution": "DNS",
    }


def test_request_authentication_per_issuer_on_routed_workloads(acme: Any) -> None:
    front, artifacts = acme
    ras = _by_name(objects(artifacts, "RequestAuthentication", NS))
    assert set(ras) == {"brain-acme-id", "data-acme-id"}
    issuer = front.model.issuers["acme-id"]
    for name, doc in ras.items():
        assert doc["spec"]["selector"]["matchLabels"] == k8s.selector(name.removesuffix("-acme-id"))
        assert doc["spec"]["jwtRules"] == [
            {"issuer": issuer.issuer, "jwksUri": issuer.jwks_uri, "audiences": list(issuer.audiences)}
        ]


def test_telemetry_and_the_mesh_config_beside_it(acme: Any) -> None:
    _, artifacts = acme
    (tel,) = objects(artifacts, "Telemetry", NS)
    assert tel["spec"]["tracing"] == [{"providers": [{"name": "jaeger"}], "randomSamplingPercentage": 10.0}]
    assert tel["spec"]["metrics"] == [{"providers": [{"name": "prometheus"}]}]
    text = next(a.content for a in artifacts if a.path == "istio/prod/mesh-config.yaml")
    assert isinstance(text, str)
    header = text.split("\nmeshConfig:")[0]
    assert header.startswith("#") and "spec.meshConfig" in header  # says where it goes
    config = YAML(typ="safe").load(text)["meshConfig"]
    assert config["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    assert {
        "name": "jaeger",
        "opentelemetry": {"service": "jaeger-collector.observability.svc.cluster.local", "port": 4317},
    } in config["extensionProviders"]
    # Beside the Telemetry, and not a resource of the kustomization.
    kust = next(a.content for a in artifacts if a.path == "istio/prod/kustomization.yaml")
    assert isinstance(kust, Mapping)
    assert "mesh-config.yaml" not in kust["resources"] and "telemetry.yaml" in kust["resources"]


def test_the_seed_has_no_telemetry_tokens_or_entries() -> None:
    _, artifacts = render_file(SEED)
    assert objects(artifacts, "Telemetry") == []
    assert objects(artifacts, "RequestAuthentication") == []
    assert objects(artifacts, "ServiceEntry") == []
    assert {d["metadata"]["namespace"] for d in objects(artifacts, "AuthorizationPolicy")} == {
        "local-api-gateway"
    }


def test_readme_documents_what_the_platform_sets() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "REGISTRY_ONLY" in readme
    assert "create-remote-secret" in readme and "15443" in readme


def test_a_jwks_served_in_the_cluster_gets_no_external_entry() -> None:
    """A JWKS host in the cluster is a Service: no MESH_EXTERNAL ServiceEntry, and the master proxy's
    Sidecar imports it from its own namespace (the same classifier as the bootstrap and the policies)."""
    text = (ROOT / "examples" / "acme" / "mesh.yaml").read_text()
    text = text.replace(
        "jwksUri: https://id.acme.dev/realms/acme/protocol/openid-connect/certs",
        "jwksUri: http://keycloak.identity.svc.cluster.local:8080/realms/acme/protocol/openid-connect/certs",
    )
    _, artifacts = render_text(text)
    entries = _by_name(objects(artifacts, "ServiceEntry", NS))
    assert "jwks-acme-id" not in entries
    sidecars = _by_name(objects(artifacts, "Sidecar", NS))
    assert "identity/keycloak.identity.svc.cluster.local" in _egress(sidecars["local-api-gateway"])
