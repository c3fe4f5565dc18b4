"""A DigitalOcean Kubernetes (DOKS) cluster as a root module: a VPC, the cluster and its node pools.

The first pool of the mesh is the cluster's own `node_pool` block (DOKS requires exactly one); the others
are `digitalocean_kubernetes_node_pool` resources. Patch releases are applied by DigitalOcean in the
maintenance window (`auto_upgrade`), with surge upgrades so capacity never drops; the version comes
from the newest release of the mesh's minor version, as the provider documents for auto-upgrading
clusters.
"""

from __future__ import annotations

from mpc.lang.model import Cluster, Model, NodePool

from . import names
from .hcl import Attribute as A
from .hcl import Block as B
from .hcl import Expr, Item
from .module import Backend, Output, Provider, Resource, RootModule, Variable, data, resource

# The API token comes from DIGITALOCEAN_TOKEN in the environment: never from a file mpc writes.
PROVIDER = Provider("digitalocean", "digitalocean/digitalocean", "~> 2.79")
CLUSTER = "digitalocean_kubernetes_cluster.this"
DAYS = ("any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def variables(cluster: Cluster) -> list[Variable]:
    return [
        Variable("region", "string", "DigitalOcean region slug of the cluster and its VPC.", cluster.region),
        Variable(
            "kubernetes_version",
            "string",
            "Kubernetes minor version; the newest DOKS release of it is used.",
            cluster.version,
        ),
        Variable(
            "vpc_ip_range",
            "string",
            "CIDR of the VPC; null lets DigitalOcean choose a free range.",
            None,
        ),
        Variable(
            "control_plane_allowed_addresses",
            "list(string)",
            "Addresses or CIDRs allowed to reach the Kubernetes API; empty leaves the API open to all.",
            [],
        ),
        Variable(
            "maintenance_day",
            "string",
            "Day of the weekly maintenance window in which patch upgrades run.",
            "sunday",
            validation=(
                "contains([" + ", ".join(f'"{d}"' for d in DAYS) + "], var.maintenance_day)",
                "maintenance_day must be a day of the week in lower case, or any.",
            ),
        ),
        Variable(
            "maintenance_start_time",
            "string",
            "Start of the maintenance window, HH:MM in UTC.",
            "04:00",
        ),
    ]


def _pool_sizing(pool: NodePool) -> list[Item]:
    if pool.autoscale:
        return [A("auto_scale", True), A("min_nodes", pool.min), A("max_nodes", pool.max)]
    return [A("node_count", pool.count)]


def _pool_items(model: Model, cluster: Cluster, pool: NodePool) -> list[Item]:
    return [
        A("name", pool.name),
        A("size", pool.size),
        *_pool_sizing(pool),
        A("labels", dict(names.node_labels(cluster.name, pool.name))),
        A("tags", names.do_tags(model, cluster.name)),
    ]


def cluster_resources(model: Model, cluster: Cluster) -> list[Resource]:
    default = cluster.node_pools[0]
    out = [
        data(
            "digitalocean_kubernetes_versions",
            "this",
            A("version_prefix", Expr('"${var.kubernetes_version}."')),
        ),
        resource(
            "digitalocean_vpc",
            "this",
            A("name", names.fit(cluster.name, 63, "-vpc")),
            A("region", Expr("var.region")),
            A("ip_range", Expr("var.vpc_ip_range")),
            A("description", f"Network of the {cluster.name} cluster of mesh {model.name}"),
        ),
        resource(
            "digitalocean_kubernetes_cluster",
            "this",
            A("name", cluster.name),
            A("region", Expr("var.region")),
            A("version", Expr("data.digitalocean_kubernetes_versions.this.latest_version")),
            A("vpc_uuid", Expr("digitalocean_vpc.this.id")),
            A("auto_upgrade", True),
            A("surge_upgrade", True),
            # A highly available control plane where an environment needs it (minReplicas, federation).
            A("ha", cluster.high_availability),
            A("tags", names.do_tags(model, cluster.name)),
            B(
                "maintenance_policy",
                (),
                (A("day", Expr("var.maintenance_day")), A("start_time", Expr("var.maintenance_start_time"))),
            ),
            B(
                "control_plane_firewall",
                (),
                (
                    A("enabled", Expr("length(var.control_plane_allowed_addresses) > 0")),
                    A("allowed_addresses", Expr("var.control_plane_allowed_addresses")),
                ),
            ),
            B("node_pool", (), tuple(_pool_items(model, cluster, default))),
        ),
    ]
    for pool in cluster.node_pools[1:]:
        out.append(
            resource(
                "digitalocean_kubernetes_node_pool",
                pool.name,
                A("cluster_id", Expr(f"{CLUSTER}.id")),
                *_pool_items(model, cluster, pool),
            )
        )
    return out


def outputs() -> list[Output]:
    return [
        Output("cluster_id", Expr(f"{CLUSTER}.id"), "Id of the DOKS cluster."),
        Output("cluster_urn", Expr(f"{CLUSTER}.urn"), "URN of the cluster, for DigitalOcean projects."),
        Output("endpoint", Expr(f"{CLUSTER}.endpoint"), "Kubernetes API endpoint."),
        Output("kubernetes_version", Expr(f"{CLUSTER}.version"), "DOKS release the cluster runs."),
        Output(
            "kubeconfig",
            Expr(f"{CLUSTER}.kube_config[0].raw_config"),
            "Kubeconfig with a short-lived token; prefer `doctl kubernetes cluster kubeconfig save`.",
            sensitive=True,
        ),
        Output(
            "cluster_ca_certificate",
            Expr(f"{CLUSTER}.kube_config[0].cluster_ca_certificate"),
            "Base64 PEM of the cluster CA.",
            sensitive=True,
        ),
        Output("vpc_id", Expr("digitalocean_vpc.this.id"), "Id of the cluster's VPC."),
    ]


def build(model: Model, cluster: Cluster, path: str) -> RootModule:
    module = RootModule(
        path,
        [PROVIDER],
        Backend("s3", (("key", f"{model.name}/{cluster.name}/terraform.tfstate"),)),
        variables=variables(cluster),
        outputs=outputs(),
    )
    for r in cluster_resources(model, cluster):
        module.add(r)
    return module
