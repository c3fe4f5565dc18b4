output "cluster_id" {
  description = "Id of the DOKS cluster."
  value       = digitalocean_kubernetes_cluster.this.id
}

output "cluster_urn" {
  description = "URN of the cluster, for DigitalOcean projects."
  value       = digitalocean_kubernetes_cluster.this.urn
}

output "endpoint" {
  description = "Kubernetes API endpoint."
  value       = digitalocean_kubernetes_cluster.this.endpoint
}

output "kubernetes_version" {
  description = "DOKS release the cluster runs."
  value       = digitalocean_kubernetes_cluster.this.version
}

output "kubeconfig" {
  description = "Kubeconfig with a short-lived token; prefer `doctl kubernetes cluster kubeconfig save`."
  value       = digitalocean_kubernetes_cluster.this.kube_config[0].raw_config
  sensitive   = true
}

output "cluster_ca_certificate" {
  description = "Base64 PEM of the cluster CA."
  value       = digitalocean_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
  sensitive   = true
}

output "vpc_id" {
  description = "Id of the cluster's VPC."
  value       = digitalocean_vpc.this.id
}
