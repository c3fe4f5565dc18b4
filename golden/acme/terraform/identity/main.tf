data "keycloak_realm" "this" {
  realm = var.realm
}

resource "keycloak_openid_client" "auth" {
  realm_id                                  = data.keycloak_realm.this.id
  client_id                                 = "acme-auth"
  name                                      = "auth"
  description                               = "Service auth of mesh acme"
  enabled                                   = true
  access_type                               = "CONFIDENTIAL"
  implicit_flow_enabled                     = false
  standard_flow_enabled                     = false
  service_accounts_enabled                  = true
  direct_access_grants_enabled              = false
  oauth2_device_authorization_grant_enabled = false
  standard_token_exchange_enabled           = false
}
