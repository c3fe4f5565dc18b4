"""A GKE cluster as a root module: VPC-native network, a private regional cluster, one node pool per pool.

Hardening follows the GKE hardening guide and CIS GKE benchmark: private nodes behind Cloud NAT, Workload
Identity, shielded nodes with secure boot, Dataplane V2 (which enforces NetworkPolicy), a release channel,
no client certificate, no legacy metadata, and a node service account that holds only
`roles/container.defaultNodeServiceAccount` (plus Artifact Registry read access when an image placed on
the cluster comes from there).
"""

from __future__ import annotations

from mpc.graph.mesh import MeshGraph
from mpc.lang.model import Cluster, Model, NodePool

from . import names
from .hcl import Attribute as A
from .hcl import Block as B
from .hcl import Expr, Item
from .module import Backend, Output, Provider, Resource, RootModule, Variable, resource

PROVIDER = Provider(
    "google",
    "hashicorp/google",
    "~> 7.9",
    (A("project", Expr("var.project")), A("region", Expr("var.region"))),
)
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
REGISTRY_READER = "roles/artifactregistry.reader"
CLUSTER = "google_container_cluster.this"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def node_roles(model: Model, graph: MeshGraph, cluster: Cluster) -> list[str]:
    """The node service account's roles: pulling from Artifact Registry only when an image needs it."""
    roles = list(NODE_ROLES)
    images = [model.services[s].image for s in graph.services_on(cluster.name)]
    if any(image.split("/", 1)[0].endswith(("-docker.pkg.dev", "gcr.io")) for image in images):
        roles.append(REGISTRY_READER)
    return sorted(roles)


def variables(cluster: Cluster) -> list[Variable]:
    return [
        Variable("project", "string", "Google Cloud project that holds the cluster.", cluster.project),
        Variable("region", "string", "Region of the regional cluster and its subnetwork.", cluster.region),
        Variable(
            "kubernetes_version",
            "string",
            "Minimum control plane version (a GKE version or alias such as 1.31); the release channel "
            "upgrades it.",
            cluster.version,
        ),
        Variable(
            "release_channel",
            "string",
            "GKE release channel the cluster follows.",
            "REGULAR",
            validation=(
                'contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)',
                "release_channel must be RAPID, REGULAR or STABLE.",
            ),
        ),
        _cidr("subnet_cidr", "Primary range of the node subnetwork.", "10.0.0.0/20"),
        _cidr("pods_cidr", "Secondary range for pod IPs.", "10.4.0.0/14"),
        _cidr("services_cidr", "Secondary range for Service cluster IPs.", "10.8.0.0/20"),
        _cidr("master_cidr", "The /28 the private control plane is peered into.", "172.16.0.0/28"),
        Variable(
            "master_authorized_networks",
            "map(string)",
            "CIDR blocks, by display name, allowed to reach the control plane endpoint (none by default).",
            {},
        ),
        Variable(
            "maintenance_start_time",
            "string",
            "Daily maintenance window start, HH:MM in UTC.",
            "03:00",
        ),
        Variable(
            "deletion_protection",
            "bool",
            "Refuse `terraform destroy` of the cluster until this is set to false.",
            True,
        ),
    ]


def _cidr(name: str, description: str, default: str) -> Variable:
    return Variable(
        name,
        "string",
        description,
        default,
        validation=(f"can(cidrhost(var.{name}, 0))", f"{name} must be a CIDR block."),
    )


def services_resources(module: RootModule) -> None:
    for api in ("compute", "container"):
        module.add(
            resource(
                "google_project_service",
                api,
                A("service", f"{api}.googleapis.com"),
                # Other workloads in the project may use the API too: never turn it off on destroy.
                A("disable_on_destroy", False),
            )
        )


def network_resources(module: RootModule, cluster: Cluster) -> None:
    name = cluster.name
    module.add(
        resource(
            "google_compute_network",
            "this",
            A("name", names.fit(name, 63, "-vpc")),
            A("auto_create_subnetworks", False),
            A("routing_mode", "REGIONAL"),
            after=("google_project_service.compute",),
        )
    )
    module.add(
        resource(
            "google_compute_subnetwork",
            "this",
            A("name", names.fit(name, 63, "-nodes")),
            A("region", Expr("var.region")),
            A("network", Expr("google_compute_network.this.id")),
            A("ip_cidr_range", Expr("var.subnet_cidr")),
            A("private_ip_google_access", True),
            B("secondary_ip_range", (), (A("range_name", "pods"), A("ip_cidr_range", Expr("var.pods_cidr")))),
            B(
                "secondary_ip_range",
                (),
                (A("range_name", "services"), A("ip_cidr_range", Expr("var.services_cidr"))),
            ),
            B(
                "log_config",
                (),
                (
                    A("aggregation_interval", "INTERVAL_10_MIN"),
                    A("flow_sampling", 0.5),
                    A("metadata", "INCLUDE_ALL_METADATA"),
                ),
            ),
        )
    )
    # The VPC denies unsolicited ingress implicitly; an explicit, logged rule makes blocked traffic visible.
    # GKE adds its own higher-priority rules for the control plane and load balancer health checks.
    module.add(
        resource(
            "google_compute_firewall",
            "deny_ingress",
            A("name", names.fit(name, 63, "-deny-ingress")),
            A("network", Expr("google_compute_network.this.id")),
            A("direction", "INGRESS"),
            A("priority", 65534),
            A("source_ranges", ["0.0.0.0/0"]),
            B("deny", (), (A("protocol", "all"),)),
            B("log_config", (), (A("metadata", "INCLUDE_ALL_METADATA"),)),
        )
    )
    module.add(
        resource(
            "google_compute_router",
            "this",
            A("name", names.fit(name, 63, "-router")),
            A("region", Expr("var.region")),
            A("network", Expr("google_compute_network.this.id")),
        )
    )
    # Private nodes have no public address: Cloud NAT is their way to registries outside Google.
    module.add(
        resource(
            "google_compute_router_nat",
            "this",
            A("name", names.fit(name, 63, "-nat")),
            A("region", Expr("var.region")),
            A("router", Expr("google_compute_router.this.name")),
            A("nat_ip_allocate_option", "AUTO_ONLY"),
            A("source_subnetwork_ip_ranges_to_nat", "LIST_OF_SUBNETWORKS"),
            B(
                "subnetwork",
                (),
                (
                    A("name", Expr("google_compute_subnetwork.this.id")),
                    A("source_ip_ranges_to_nat", ["ALL_IP_RANGES"]),
                ),
            ),
            B("log_config", (), (A("enable", True), A("filter", "ERRORS_ONLY"))),
        )
    )


def identity_resources(module: RootModule, model: Model, cluster: Cluster, roles: list[str]) -> None:
    module.add(
        resource(
            "google_service_account",
            "nodes",
            A("account_id", names.service_account_id(cluster.name)),
            A("display_name", f"GKE nodes of {cluster.name}"),
            A(
                "description",
                f"Node identity of the {cluster.name} cluster of mesh {model.name}; least privilege.",
            ),
        )
    )
    module.add(
        resource(
            "google_project_iam_member",
            "nodes",
            A("for_each", Expr("toset([" + ", ".join(f'"{r}"' for r in roles) + "])")),
            A("project", Expr("var.project")),
            A("role", Expr("each.value")),
            A("member", Expr("google_service_account.nodes.member")),
        )
    )


def _control_plane_access() -> tuple[Item, ...]:
    """Private nodes, an API endpoint open only to the authorized networks, no client certificates, and
    only images the project's Binary Authorization policy admits, scanned by the security posture."""
    return (
        B(
            "private_cluster_config",
            (),
            (
                A("enable_private_nodes", True),
                A("enable_private_endpoint", False),
                A("master_ipv4_cidr_block", Expr("var.master_cidr")),
            ),
        ),
        B(
            "master_authorized_networks_config",
            (),
            (
                A("gcp_public_cidrs_access_enabled", False),
                B(
                    "dynamic",
                    ("cidr_blocks",),
                    (
                        A("for_each", Expr("var.master_authorized_networks")),
                        B(
                            "content",
                            (),
                            (
                                A("cidr_block", Expr("cidr_blocks.value")),
                                A("display_name", Expr("cidr_blocks.key")),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        B("master_auth", (), (B("client_certificate_config", (), (A("issue_client_certificate", False),)),)),
        B(
            "binary_authorization",
            (),
            (A("evaluation_mode", "PROJECT_SINGLETON_POLICY_ENFORCE"),),
        ),
        B(
            "security_posture_config",
            (),
            (A("mode", "BASIC"), A("vulnerability_mode", "VULNERABILITY_BASIC")),
        ),
    )


def cluster_resource(model: Model, cluster: Cluster) -> Resource:
    labels = names.gcp_labels(model, cluster.name)
    body: list[Item] = [
        A("name", cluster.name),
        A("location", Expr("var.region")),
        A("network", Expr("google_compute_network.this.id")),
        A("subnetwork", Expr("google_compute_subnetwork.this.id")),
        A("min_master_version", Expr("var.kubernetes_version")),
        A("networking_mode", "VPC_NATIVE"),
        # Dataplane V2: eBPF networking that enforces NetworkPolicy itself.
        A("datapath_provider", "ADVANCED_DATAPATH"),
        A("enable_shielded_nodes", True),
        A("enable_intranode_visibility", True),
        # The default pool cannot be configured like the others: create the smallest one, then drop it.
        A("remove_default_node_pool", True),
        A("initial_node_count", 1),
        A("deletion_protection", Expr("var.deletion_protection")),
        A("resource_labels", labels),
        # The Calico addon stays off: Dataplane V2 already enforces NetworkPolicy, the two cannot be combined.
        B("network_policy", (), (A("enabled", False),)),
        B("release_channel", (), (A("channel", Expr("var.release_channel")),)),
        B("workload_identity_config", (), (A("workload_pool", Expr('"${var.project}.svc.id.goog"')),)),
        B(
            "ip_allocation_policy",
            (),
            (A("cluster_secondary_range_name", "pods"), A("services_secondary_range_name", "services")),
        ),
        *_control_plane_access(),
        B(
            "maintenance_policy",
            (),
            (B("daily_maintenance_window", (), (A("start_time", Expr("var.maintenance_start_time")),)),),
        ),
        # Only the short-lived default pool uses this node_config: it boots with the least-privilege
        # account (an organisation may have disabled the default compute account) and is hardened all
        # the same. Once that pool is gone the API reports no node_config, so later plans ignore it
        # rather than replace the cluster.
        B("node_config", (), _node_config_common(cluster, None)),
        B("lifecycle", (), (A("ignore_changes", [Expr("node_config")]),)),
    ]
    return resource(
        "google_container_cluster",
        "this",
        *body,
        after=("google_project_service.container",),
        skips=(
            (
                "CKV_GCP_65",
                "Google Groups for RBAC needs a Workspace domain group the mesh does not name",
            ),
        ),
    )


def _node_config_common(cluster: Cluster, pool: NodePool | None) -> tuple[Item, ...]:
    items: list[Item] = []
    if pool is not None:
        items.append(A("machine_type", pool.machine_type))
        if pool.spot:
            items.append(A("spot", True))
    items.extend(
        [
            A("image_type", "COS_CONTAINERD"),
            A("service_account", Expr("google_service_account.nodes.email")),
            # Access is governed by the account's IAM roles; the scope only has to let them through.
            A("oauth_scopes", [CLOUD_PLATFORM]),
            A("metadata", {"disable-legacy-endpoints": "true"}),
        ]
    )
    if pool is not None:
        items.append(A("labels", dict(names.node_labels(cluster.name, pool.name))))
    if pool is not None and pool.gpu_type is not None:
        items.append(
            B(
                "guest_accelerator",
                (),
                (
                    A("type", pool.gpu_type),
                    A("count", pool.gpu_count),
                    B("gpu_driver_installation_config", (), (A("gpu_driver_version", "LATEST"),)),
                ),
            )
        )
    items.extend(
        [
            B(
                "shielded_instance_config",
                (),
                (A("enable_secure_boot", True), A("enable_integrity_monitoring", True)),
            ),
            B("workload_metadata_config", (), (A("mode", "GKE_METADATA"),)),
        ]
    )
    return tuple(items)


def node_pool_resource(cluster: Cluster, pool: NodePool) -> Resource:
    assert pool.min is not None and pool.max is not None, "GKE pools always autoscale"
    return resource(
        "google_container_node_pool",
        pool.name,
        A("name", pool.name),
        A("cluster", Expr(f"{CLUSTER}.id")),
        A("location", Expr(f"{CLUSTER}.location")),
        # The mesh gives the pool's size across all zones of the region, not per zone.
        B(
            "autoscaling",
            (),
            (
                A("total_min_node_count", pool.min),
                A("total_max_node_count", pool.max),
                A("location_policy", "BALANCED"),
            ),
        ),
        B("management", (), (A("auto_repair", True), A("auto_upgrade", True))),
        B("upgrade_settings", (), (A("strategy", "SURGE"), A("max_surge", 1), A("max_unavailable", 0))),
        B("node_config", (), _node_config_common(cluster, pool)),
        # Nodes must not boot before their account holds its roles (logging, image pulls) and before
        # NAT gives private nodes a way out; neither is implied by a reference.
        after=("google_project_iam_member.nodes", "google_compute_router_nat.this"),
    )


def outputs() -> list[Output]:
    return [
        Output("cluster_id", Expr(f"{CLUSTER}.id"), "Full resource id of the cluster."),
        Output("cluster_name", Expr(f"{CLUSTER}.name"), "Name of the cluster."),
        Output("location", Expr(f"{CLUSTER}.location"), "Region of the cluster."),
        Output(
            "endpoint", Expr(f"{CLUSTER}.endpoint"), "Control plane endpoint (IP address).", sensitive=True
        ),
        Output(
            "cluster_ca_certificate",
            Expr(f"{CLUSTER}.master_auth[0].cluster_ca_certificate"),
            "Base64 PEM of the cluster CA, for kubeconfig.",
            sensitive=True,
        ),
        Output(
            "workload_identity_pool",
            Expr(f"{CLUSTER}.workload_identity_config[0].workload_pool"),
            "Workload Identity pool: bind Kubernetes ServiceAccounts to Google service accounts in it.",
        ),
        Output(
            "node_service_account",
            Expr("google_service_account.nodes.email"),
            "Email of the node service account.",
        ),
        Output("network_id", Expr("google_compute_network.this.id"), "Id of the cluster's VPC network."),
    ]


def build(model: Model, graph: MeshGraph, cluster: Cluster, path: str) -> RootModule:
    module = RootModule(
        path,
        [PROVIDER],
        Backend("gcs", (("prefix", f"{model.name}/{cluster.name}"),)),
        variables=variables(cluster),
        outputs=outputs(),
    )
    services_resources(module)
    network_resources(module, cluster)
    identity_resources(module, model, cluster, node_roles(model, graph, cluster))
    module.add(cluster_resource(model, cluster))
    for pool in cluster.node_pools:
        module.add(node_pool_resource(cluster, pool))
    return module
