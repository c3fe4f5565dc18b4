output "client_ids" {
  description = "OAuth2 client id of each service."
  value = {
    auth = keycloak_openid_client.auth.client_id
  }
}

output "client_secrets" {
  description = "OAuth2 client secret of each service: deliver it as the Secret in kubernetes_secrets, nowhere else."
  value = {
    auth = keycloak_openid_client.auth.client_secret
  }
  sensitive = true
}

output "kubernetes_secrets" {
  description = "Secret (name, key, namespaces) each service reads its client secret from."
  value = {
    auth = {
      name       = "auth-oauth2-client"
      key        = "client-secret"
      namespaces = ["acme-prod", "acme-staging"]
    }
  }
}
