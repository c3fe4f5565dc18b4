provider "keycloak" {
  url       = var.keycloak_url
  realm     = var.keycloak_admin_realm
  client_id = var.keycloak_client_id
}
