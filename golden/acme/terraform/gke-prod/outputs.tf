output "cluster_id" {
  description = "Full resource id of the cluster."
  value       = google_container_cluster.this.id
}

output "cluster_name" {
  description = "Name of the cluster."
  value       = google_container_cluster.this.name
}

output "location" {
  description = "Region of the cluster."
  value       = google_container_cluster.this.location
}

output "endpoint" {
  description = "Control plane endpoint (IP address)."
  value       = google_container_cluster.this.endpoint
  sensitive   = true
}

output "cluster_ca_certificate" {
  description = "Base64 PEM of the cluster CA, for kubeconfig."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "workload_identity_pool" {
  description = "Workload Identity pool: bind Kubernetes ServiceAccounts to Google service accounts in it."
  value       = google_container_cluster.this.workload_identity_config[0].workload_pool
}

output "node_service_account" {
  description = "Email of the node service account."
  value       = google_service_account.nodes.email
}

output "network_id" {
  description = "Id of the cluster's VPC network."
  value       = google_compute_network.this.id
}
