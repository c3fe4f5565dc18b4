variable "keycloak_url" {
  description = "Base URL of the Keycloak server."
  type        = string
  default     = "https://id.acme.dev"
}

variable "realm" {
  description = "Realm the service clients are registered in."
  type        = string
  default     = "acme"
}

variable "keycloak_admin_realm" {
  description = "Realm of the client Terraform signs in with."
  type        = string
  default     = "master"
}

variable "keycloak_client_id" {
  description = "Client id Terraform signs in with (client credentials; its secret is read from KEYCLOAK_CLIENT_SECRET)."
  type        = string
  default     = "terraform"
}
