data "digitalocean_kubernetes_versions" "this" {
  version_prefix = "${var.kubernetes_version}."
}

resource "digitalocean_vpc" "this" {
  name        = "do-ams-vpc"
  region      = var.region
  ip_range    = var.vpc_ip_range
  description = "Network of the do-ams cluster of mesh acme"
}

resource "digitalocean_kubernetes_cluster" "this" {
  name          = "do-ams"
  region        = var.region
  version       = data.digitalocean_kubernetes_versions.this.latest_version
  vpc_uuid      = digitalocean_vpc.this.id
  auto_upgrade  = true
  surge_upgrade = true
  ha            = true
  tags          = ["cluster:do-ams", "managed-by:mpc", "mesh:acme"]

  maintenance_policy {
    day        = var.maintenance_day
    start_time = var.maintenance_start_time
  }

  control_plane_firewall {
    enabled           = length(var.control_plane_allowed_addresses) > 0
    allowed_addresses = var.control_plane_allowed_addresses
  }

  node_pool {
    name       = "default"
    size       = "s-4vcpu-8gb"
    node_count = 3
    labels = {
      "masterproxy.dev/cluster"   = "do-ams"
      "masterproxy.dev/node-pool" = "default"
    }
    tags = ["cluster:do-ams", "managed-by:mpc", "mesh:acme"]
  }
}
