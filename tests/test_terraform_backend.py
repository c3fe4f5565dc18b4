"""The terraform backend's modules, in memory: layout, GKE and DigitalOcean shapes, GPU pools, ordering from
the resource graph, Keycloak clients whose secrets never leave a sensitive output, no clusters."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, run_mpc

from mpc.backends.terraform import backend, names
from mpc.backends.terraform.hcl import Attribute, Block, Expr, Item
from mpc.backends.terraform.hclread import parse
from mpc.backends.terraform.module import Backend, RootModule, resource
from mpc.graph.front import Front
from mpc.render.api import Artifact
from mpc.workflow.front import front_text

MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
  owners: ["@shop/platform"]
  labels: {team: Core, "9lives": x}
defaults:
  registry: europe-docker.pkg.dev/shop/images
gateway:
  name: edge
  port: 8443
  routes:
    - {prefix: /web, service: web}
    - {prefix: /infer, service: infer}
auth:
  issuers:
    idp: {issuer: "https://id.shop.dev/realms/shop", jwksUri: "https://id.shop.dev/certs"}
  provider: {kind: keycloak, url: "https://id.shop.dev", realm: shop}
services:
  web:
    image: web:1.0.0
    port: 8080
    oauth2Client: {grantTypes: [authorization_code, password], redirectUris: ["https://shop.dev/cb"]}
  infer:
    image: infer:2.0.0
    archetype: ai-inference
    port: 8080
    oauth2Client: {grantTypes: [client_credentials, token_exchange]}
  batch:
    image: batch:1.0.0
    archetype: worker
clusters:
  gke-main-cluster-with-a-rather-long-name:
    provider: gke
    project: shop-prod
    region: europe-west4
    version: "1.32"
    nodePools:
      general: {machineType: e2-standard-4, min: 1, max: 6}
      gpu: {machineType: a2-highgpu-1g, min: 0, max: 2, gpu: {type: nvidia-tesla-a100, count: 1}, spot: true}
  do-edge:
    provider: digitalocean
    region: fra1
    version: "1.31"
    nodePools:
      base: {size: s-2vcpu-4gb, count: 2}
      burst: {size: c-4, min: 1, max: 5}
environments:
  dev: {clusters: [do-edge]}
  prod: {clusters: [gke-main-cluster-with-a-rather-long-name]}
"""
GKE = "gke-main-cluster-with-a-rather-long-name"


@pytest.fixture(scope="module")
def front() -> Front:
    return front_text(MESH)


@pytest.fixture(scope="module")
def tree(front: Front) -> dict[str, Artifact]:
    return {a.path: a for a in backend.render(front.model, front.graph)}


def text(tree: dict[str, Artifact], path: str) -> str:
    content = tree[path].content
    assert isinstance(content, str)
    return content


def blocks(tree: dict[str, Artifact], path: str) -> dict[str, Block]:
    """Top-level blocks of a file by address (`type.name`, `data.type.name`, `variable.name`, ...)."""
    out: dict[str, Block] = {}
    for item in parse(text(tree, path)):
        assert isinstance(item, Block)
        prefix = {"resource": "", "data": "data."}.get(item.type, item.type + ".")
        out[prefix + ".".join(item.labels)] = item
    return out


def attr(block: Block, name: str) -> object:
    found = [i.value for i in block.body if isinstance(i, Attribute) and i.name == name]
    assert len(found) == 1, f"{name} in {block.type} {block.labels}"
    return found[0]


def sub(block: Block, name: str) -> list[Block]:
    return [i for i in block.body if isinstance(i, Block) and i.type == name]


def test_one_root_module_per_cluster_and_one_for_identity(tree: dict[str, Artifact]) -> None:
    files = {"versions.tf", "providers.tf", "main.tf", "variables.tf", "outputs.tf", "README.md"}
    for folder in (GKE, "do-edge", "identity"):
        assert {p.rsplit("/", 1)[1] for p in tree if p.startswith(f"terraform/{folder}/")} == files
    assert len(tree) == 18
    assert tree[f"terraform/{GKE}/main.tf"].node == f"cluster:{GKE}"


def test_versions_pin_providers_and_leave_the_backend_partial(tree: dict[str, Artifact]) -> None:
    expected = {
        GKE: ("google", "hashicorp/google", "~> 7.9", "gcs", "prefix", f"shop/{GKE}"),
        "do-edge": (
            "digitalocean",
            "digitalocean/digitalocean",
            "~> 2.79",
            "s3",
            "key",
            "shop/do-edge/terraform.tfstate",
        ),
        # The identity state sits in the same store as the first cluster's.
        "identity": ("keycloak", "keycloak/keycloak", "~> 5.9", "gcs", "prefix", "shop/identity"),
    }
    for folder, (local, source, version, kind, key, where) in expected.items():
        (terraform,) = blocks(tree, f"terraform/{folder}/versions.tf").values()
        assert attr(terraform, "required_version") == ">= 1.6"
        (required,) = sub(terraform, "required_providers")
        assert attr(required, local) == {"source": source, "version": version}
        (partial,) = sub(terraform, "backend")
        assert partial.labels == (kind,)
        assert [(a.name, a.value) for a in partial.body if isinstance(a, Attribute)] == [(key, where)]
        readme = text(tree, f"terraform/{folder}/README.md")
        assert "terraform init -backend-config=backend.hcl" in readme


def test_gke_cluster_is_regional_private_and_hardened(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, f"terraform/{GKE}/main.tf")
    cluster = main["google_container_cluster.this"]
    assert attr(cluster, "location") == Expr("var.region")
    assert attr(cluster, "remove_default_node_pool") is True
    assert attr(cluster, "datapath_provider") == "ADVANCED_DATAPATH"
    assert attr(cluster, "enable_shielded_nodes") is True
    (private,) = sub(cluster, "private_cluster_config")
    assert attr(private, "enable_private_nodes") is True
    (wi,) = sub(cluster, "workload_identity_config")
    assert attr(wi, "workload_pool") == Expr('"${var.project}.svc.id.goog"')
    (channel,) = sub(cluster, "release_channel")
    assert attr(channel, "channel") == Expr("var.release_channel")
    (ip,) = sub(cluster, "ip_allocation_policy")
    subnet = main["google_compute_subnetwork.this"]
    ranges = {attr(r, "range_name") for r in sub(subnet, "secondary_ip_range")}
    assert ranges == {attr(ip, "cluster_secondary_range_name"), attr(ip, "services_secondary_range_name")}
    # Mesh labels are made valid GCP labels; one that cannot start with a letter is dropped.
    assert attr(cluster, "resource_labels") == {
        "cluster": GKE,
        "managed-by": "mpc",
        "mesh": "shop",
        "team": "core",
    }


def test_node_service_account_is_least_privilege(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, f"terraform/{GKE}/main.tf")
    sa = main["google_service_account.nodes"]
    account = attr(sa, "account_id")
    assert isinstance(account, str) and 6 <= len(account) <= 30 and account.endswith("-nodes")
    assert account == names.service_account_id(GKE)
    roles = attr(main["google_project_iam_member.nodes"], "for_each")
    # Images come from Artifact Registry here, so nodes may read it; nothing else beyond the node role.
    assert roles == Expr(
        'toset(["roles/artifactregistry.reader", "roles/container.defaultNodeServiceAccount"])'
    )
    for pool in ("general", "gpu"):
        (config,) = sub(main[f"google_container_node_pool.{pool}"], "node_config")
        assert attr(config, "service_account") == Expr("google_service_account.nodes.email")


def test_gpu_node_pool(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, f"terraform/{GKE}/main.tf")
    pool = main["google_container_node_pool.gpu"]
    (scaling,) = sub(pool, "autoscaling")
    assert (attr(scaling, "total_min_node_count"), attr(scaling, "total_max_node_count")) == (0, 2)
    (management,) = sub(pool, "management")
    assert attr(management, "auto_repair") is True and attr(management, "auto_upgrade") is True
    (config,) = sub(pool, "node_config")
    assert attr(config, "machine_type") == "a2-highgpu-1g"
    assert attr(config, "spot") is True
    (gpu,) = sub(config, "guest_accelerator")
    assert (attr(gpu, "type"), attr(gpu, "count")) == ("nvidia-tesla-a100", 1)
    (driver,) = sub(gpu, "gpu_driver_installation_config")
    assert attr(driver, "gpu_driver_version") == "LATEST"
    (shielded,) = sub(config, "shielded_instance_config")
    assert attr(shielded, "enable_secure_boot") is True
    # A pool without a GPU has no accelerator and is not spot.
    (general,) = sub(main["google_container_node_pool.general"], "node_config")
    assert not sub(general, "guest_accelerator")
    assert not [i for i in general.body if isinstance(i, Attribute) and i.name == "spot"]


def test_depends_on_only_where_no_reference_implies_the_order(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, f"terraform/{GKE}/main.tf")
    deps = {
        address: attr(b, "depends_on")
        for address, b in main.items()
        if any(isinstance(i, Attribute) and i.name == "depends_on" for i in b.body)
    }
    assert deps == {
        "google_compute_network.this": [Expr("google_project_service.compute")],
        "google_container_cluster.this": [Expr("google_project_service.container")],
        "google_container_node_pool.general": [
            Expr("google_compute_router_nat.this"),
            Expr("google_project_iam_member.nodes"),
        ],
        "google_container_node_pool.gpu": [
            Expr("google_compute_router_nat.this"),
            Expr("google_project_iam_member.nodes"),
        ],
    }


def _module(*extra: Item) -> RootModule:
    module = RootModule("terraform/x", [], Backend("gcs", ()))
    module.add(resource("a_thing", "base"))
    module.add(resource("a_thing", "middle", Attribute("ref", Expr("a_thing.base.id"))))
    module.add(
        resource(
            "a_thing", "top", Attribute("ref", Expr("a_thing.middle.id")), *extra, after=("a_thing.base",)
        )
    )
    return module


def test_depends_on_skips_orders_the_references_already_give() -> None:
    # top -> middle -> base by reference: naming base again would be redundant.
    assert _module().depends_on() == {}
    module = _module()
    module.add(resource("a_thing", "other", after=("a_thing.top",)))
    assert module.depends_on() == {"a_thing.other": ["a_thing.top"]}
    module.add(resource("a_thing", "broken", after=("a_thing.missing",)))
    with pytest.raises(ValueError, match="does not declare"):
        module.depends_on()


def test_digitalocean_cluster_pools_upgrades_and_ha(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, "terraform/do-edge/main.tf")
    cluster = main["digitalocean_kubernetes_cluster.this"]
    assert attr(cluster, "version") == Expr("data.digitalocean_kubernetes_versions.this.latest_version")
    assert attr(main["data.digitalocean_kubernetes_versions.this"], "version_prefix") == Expr(
        '"${var.kubernetes_version}."'
    )
    assert attr(cluster, "vpc_uuid") == Expr("digitalocean_vpc.this.id")
    assert attr(cluster, "auto_upgrade") is True and attr(cluster, "surge_upgrade") is True
    # dev has no minReplicas and one cluster: a standard control plane.
    assert attr(cluster, "ha") is False
    (policy,) = sub(cluster, "maintenance_policy")
    assert attr(policy, "day") == Expr("var.maintenance_day")
    (default,) = sub(cluster, "node_pool")
    assert (attr(default, "name"), attr(default, "size"), attr(default, "node_count")) == (
        "base",
        "s-2vcpu-4gb",
        2,
    )
    burst = main["digitalocean_kubernetes_node_pool.burst"]
    assert attr(burst, "cluster_id") == Expr("digitalocean_kubernetes_cluster.this.id")
    assert (attr(burst, "auto_scale"), attr(burst, "min_nodes"), attr(burst, "max_nodes")) == (True, 1, 5)


def test_ha_control_plane_for_federated_or_min_replica_environments() -> None:
    mesh = MESH.replace(
        "prod: {clusters: [gke-main-cluster-with-a-rather-long-name]}", "prod: {clusters: [do-edge]}"
    )
    front = front_text(mesh + "governance: {minReplicas: {prod: 2}}\n")
    tree = {a.path: a for a in backend.render(front.model, front.graph)}
    assert (
        attr(blocks(tree, "terraform/do-edge/main.tf")["digitalocean_kubernetes_cluster.this"], "ha") is True
    )


def test_outputs_mark_credentials_sensitive(tree: dict[str, Artifact]) -> None:
    for folder, secret in (
        (GKE, {"cluster_ca_certificate", "endpoint"}),
        ("do-edge", {"kubeconfig", "cluster_ca_certificate"}),
    ):
        outputs = blocks(tree, f"terraform/{folder}/outputs.tf")
        assert "output.cluster_id" in outputs
        sensitive = {
            name.split(".", 1)[1]
            for name, b in outputs.items()
            if any(isinstance(i, Attribute) and i.name == "sensitive" and i.value is True for i in b.body)
        }
        assert sensitive == secret


def test_variables_are_typed_described_and_defaulted_from_the_mesh(tree: dict[str, Artifact]) -> None:
    for folder in (GKE, "do-edge", "identity"):
        for name, var in blocks(tree, f"terraform/{folder}/variables.tf").items():
            assert isinstance(attr(var, "type"), Expr), name
            description = attr(var, "description")
            assert isinstance(description, str) and description.endswith("."), name
    gke_vars = blocks(tree, f"terraform/{GKE}/variables.tf")
    assert attr(gke_vars["variable.project"], "default") == "shop-prod"
    assert attr(gke_vars["variable.region"], "default") == "europe-west4"


def test_keycloak_clients_map_grant_types_to_flags(tree: dict[str, Artifact]) -> None:
    main = blocks(tree, "terraform/identity/main.tf")
    realm = main["data.keycloak_realm.this"]
    assert attr(realm, "realm") == Expr("var.realm")
    flags = (
        "standard_flow_enabled",
        "implicit_flow_enabled",
        "direct_access_grants_enabled",
        "service_accounts_enabled",
        "oauth2_device_authorization_grant_enabled",
        "standard_token_exchange_enabled",
    )
    web, infer = main["keycloak_openid_client.web"], main["keycloak_openid_client.infer"]
    for client in (web, infer):
        assert attr(client, "access_type") == "CONFIDENTIAL"
        assert attr(client, "realm_id") == Expr("data.keycloak_realm.this.id")
    assert {f for f in flags if attr(web, f)} == {"standard_flow_enabled", "direct_access_grants_enabled"}
    assert {f for f in flags if attr(infer, f)} == {
        "service_accounts_enabled",
        "standard_token_exchange_enabled",
    }
    assert attr(web, "client_id") == "shop-web"
    assert attr(web, "valid_redirect_uris") == ["https://shop.dev/cb"]
    assert attr(web, "pkce_code_challenge_method") == "S256"
    assert not [i for i in infer.body if isinstance(i, Attribute) and i.name == "valid_redirect_uris"]


def test_client_secrets_appear_only_in_a_sensitive_output(tree: dict[str, Artifact]) -> None:
    outputs = blocks(tree, "terraform/identity/outputs.tf")
    holders = [name for name, b in outputs.items() if "client_secret" in repr(attr(b, "value"))]
    assert holders == ["output.client_secrets"]
    assert attr(outputs["output.client_secrets"], "sensitive") is True
    for path in tree:
        if path != "terraform/identity/outputs.tf":
            assert ".client_secret" not in text(tree, path), path
    # The Kubernetes side is a reference: Secret name, key and namespaces, never a value.
    assert attr(outputs["output.kubernetes_secrets"], "value") == {
        "infer": {
            "name": "infer-oauth2-client",
            "key": "client-secret",
            "namespaces": ["shop-dev", "shop-prod"],
        },
        "web": {"name": "web-oauth2-client", "key": "client-secret", "namespaces": ["shop-dev", "shop-prod"]},
    }
    readme = text(tree, "terraform/identity/README.md")
    assert "kind: ExternalSecret" in readme and "kubeseal" in readme and "`client-secret`" in readme


def test_no_identity_module_without_keycloak_clients() -> None:
    front = front_text(
        MESH.replace("oauth2Client: {grantTypes: [client_credentials, token_exchange]}", "").replace(
            'oauth2Client: {grantTypes: [authorization_code, password], redirectUris: ["https://shop.dev/cb"]}',
            "",
        )
    )
    paths = {a.path for a in backend.render(front.model, front.graph)}
    assert paths and not any(p.startswith("terraform/identity/") for p in paths)


def test_output_is_deterministic(front: Front) -> None:
    first = backend.render(front.model, front.graph)
    second = backend.render(front_text(MESH).model, front_text(MESH).graph)
    assert first == second


def test_no_clusters_means_no_terraform_folder(tmp_path: Path) -> None:
    mesh = EXAMPLES / "local-api-gateway" / "mesh.yaml"
    out = tmp_path / "out"
    result = run_mpc("build", mesh, "-o", out, "-q")
    assert result.code == 0, result.err
    assert out.is_dir() and not (out / "terraform").exists()
    # Even with an identity provider and clients: nothing to provision without a cluster.
    no_clusters = MESH.split("clusters:\n")[0] + "environments:\n  dev: {}\n"
    front = front_text(no_clusters)
    assert front.model.identity_provider is not None
    assert backend.render(front.model, front.graph) == []


def test_validate_reports_a_file_that_python_hcl2_cannot_parse(
    tmp_path: Path, tree: dict[str, Artifact]
) -> None:
    path = f"terraform/{GKE}/main.tf"
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_text(text(tree, path))
    assert backend.validate(tmp_path, [tree[path]]) == []
    (tmp_path / path).write_text('resource "a" "b" {\n  x = \n}\n')
    (problem,) = backend.validate(tmp_path, [tree[path]])
    assert problem.code == "E502" and path in problem.message
