"""resolve: defaults, environment overrides and archetype presets applied; every value explicit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import EXAMPLES

from mpc.lang.model import Model
from mpc.workflow.front import front_file, front_text

MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop, owners: ["@shop/platform"]}
defaults:
  registry: registry.example.com:5000/shop
  replicas: 2
  resources: {cpu: 200m, memory: 256Mi}
  timeout: 10s
  retries: 3
gateway:
  name: edge
  port: 4000
  routes:
    - {prefix: /api, service: api}
    - {prefix: /ml, service: ml, timeout: 90s, retries: 0}
services:
  api: {image: api:1.0.0, port: 8080, dependsOn: [db], replicas: 4, owners: ["@shop/api"]}
  db: {archetype: stateful, image: docker.io/library/postgres:16, port: 5432, protocol: tcp, storage: 10Gi}
  ml: {archetype: ai-inference, image: ml:2.0.0, port: 8000, resources: {memory: 8Gi}}
  cron: {archetype: worker, image: localhost/cron:1.0.0, environments: [prod], timeout: 0s}
environments:
  staging: {replicas: 1, resources: {cpu: 50m}}
  prod: {replicas: 3, namespace: shop-live}
"""


@pytest.fixture(scope="module")
def model() -> Model:
    return front_text(MESH).model


def test_registry_is_applied_only_to_images_without_one(model: Model) -> None:
    assert model.services["api"].image == "registry.example.com:5000/shop/api:1.0.0"
    assert model.services["db"].image == "docker.io/library/postgres:16"
    assert model.services["cron"].image == "localhost/cron:1.0.0"


def test_replicas_service_then_environment_then_defaults(model: Model) -> None:
    api, db = model.services["api"], model.services["db"]
    assert {e: p.replicas for e, p in api.placements.items()} == {"staging": 4, "prod": 4}
    assert {e: p.replicas for e, p in db.placements.items()} == {"staging": 1, "prod": 3}


def test_resources_field_by_field(model: Model) -> None:
    db = model.services["db"]
    assert str(db.placements["staging"].resources.cpu) == "50m"  # environment
    assert str(db.placements["staging"].resources.memory) == "256Mi"  # defaults
    assert str(db.placements["prod"].resources.cpu) == "200m"
    assert db.placements["prod"].resources.cpu_limit.value == Decimal("0.4")


def test_archetype_presets(model: Model) -> None:
    ml = model.services["ml"]
    assert ml.timeout_ms == 60_000  # ai-inference's long default beats defaults.timeout
    assert ml.resources.gpu == 1
    assert str(ml.resources.memory) == "8Gi"
    assert model.services["cron"].port is None
    assert model.services["api"].timeout_ms == 10_000
    assert model.services["api"].retries == 3


def test_zero_is_a_value_not_a_missing_one(model: Model) -> None:
    assert model.services["cron"].timeout_ms == 0


def test_routes_resolve_timeouts_and_retries(model: Model) -> None:
    api_route, ml_route = model.gateway.routes
    assert (api_route.timeout_ms, api_route.retries) == (10_000, 3)
    assert (ml_route.timeout_ms, ml_route.retries) == (90_000, 0)


def test_environments_namespaces_and_placement(model: Model) -> None:
    assert model.environments["staging"].namespace == "shop-staging"
    assert model.environments["prod"].namespace == "shop-live"
    assert model.services["cron"].environments == ("prod",)
    assert [o.path for o in model.overlays] == ["kustomize/overlays/staging", "kustomize/overlays/prod"]


def test_owners_fall_back_to_the_mesh(model: Model) -> None:
    assert model.services["api"].owners == ("@shop/api",)
    assert model.services["db"].owners == ("@shop/platform",)


def test_no_environments_means_one_implicit_default() -> None:
    model = front_file(EXAMPLES / "local-api-gateway" / "mesh.yaml").model
    assert list(model.environments) == ["default"]
    assert model.environments["default"].implicit
    assert model.environments["default"].namespace == "local-api-gateway"
    assert [o.path for o in model.overlays] == ["kustomize/overlays/default"]
    assert model.services["auth"].image == "ghcr.io/example/auth:0.1.0"


def test_acme_multi_cluster() -> None:
    model = front_file(EXAMPLES / "acme" / "mesh.yaml").model
    assert [o.path for o in model.overlays_of("prod")] == [
        "kustomize/overlays/prod/gke-prod",
        "kustomize/overlays/prod/do-ams",
    ]
    assert model.environments["prod"].federated
    assert model.clusters["gke-prod"].high_availability
    pools = model.clusters["do-ams"].node_pools
    assert pools[0].default and pools[0].count == 3
    assert model.services["ledger"].environments == ("prod",)
    # ledger's own port is already the peer-to-peer port: no second one.
    assert model.services["ledger"].port == 26656 and model.services["ledger"].peer_port is None
    assert model.services["auth"].oauth2_client is not None
