"""OAuth2 clients as a root module: one confidential Keycloak OpenID client per service with `oauth2Client`.

Each grant type the mesh names switches on exactly one client capability; every other flow is switched
off explicitly, so a client can do only what its service asked for. Keycloak generates the client
secret; it leaves this module only as a sensitive output. The Kubernetes side never holds a value:
workloads read the Secret `Service.oauth2_client.secret_name`, key `client-secret`, which the operator
creates from that output (ExternalSecret or SealedSecret, see the module's README).
"""

from __future__ import annotations

from collections.abc import Mapping

from mpc.lang.model import IdentityProvider, Model, Service

from .hcl import Attribute as A
from .hcl import Expr, Item, Value
from .module import Backend, Output, Provider, Resource, RootModule, Variable, data, resource

# The admin client's secret comes from KEYCLOAK_CLIENT_SECRET in the environment, never from a file.
PROVIDER = Provider(
    "keycloak",
    "keycloak/keycloak",
    "~> 5.9",
    (
        A("url", Expr("var.keycloak_url")),
        A("realm", Expr("var.keycloak_admin_realm")),
        A("client_id", Expr("var.keycloak_client_id")),
    ),
)
SECRET_KEY = "client-secret"  # the key of the client secret inside the Kubernetes Secret
REALM = "data.keycloak_realm.this"

# mesh grant type -> the keycloak_openid_client flag that allows it
GRANT_FLAGS: Mapping[str, str] = {
    "authorization_code": "standard_flow_enabled",
    "client_credentials": "service_accounts_enabled",
    "password": "direct_access_grants_enabled",
    "device_code": "oauth2_device_authorization_grant_enabled",
    "token_exchange": "standard_token_exchange_enabled",
}


def clients(model: Model) -> list[Service]:
    return [s for s in model.services.values() if s.oauth2_client is not None]


def variables(provider: IdentityProvider) -> list[Variable]:
    return [
        Variable("keycloak_url", "string", "Base URL of the Keycloak server.", provider.url),
        Variable("realm", "string", "Realm the service clients are registered in.", provider.realm),
        Variable(
            "keycloak_admin_realm",
            "string",
            "Realm of the client Terraform signs in with.",
            "master",
        ),
        Variable(
            "keycloak_client_id",
            "string",
            "Client id Terraform signs in with (client credentials; its secret is read from "
            "KEYCLOAK_CLIENT_SECRET).",
            "terraform",
        ),
    ]


def client_resource(model: Model, svc: Service) -> Resource:
    oauth = svc.oauth2_client
    assert oauth is not None
    grants = set(oauth.grant_types)
    body: list[Item] = [
        A("realm_id", Expr(f"{REALM}.id")),
        A("client_id", oauth.client_id),
        A("name", svc.name),
        A("description", f"Service {svc.name} of mesh {model.name}"),
        A("enabled", True),
        A("access_type", "CONFIDENTIAL"),
        A("implicit_flow_enabled", False),
    ]
    body.extend(A(flag, grant in grants) for grant, flag in GRANT_FLAGS.items())
    if "authorization_code" in grants:
        body.append(A("valid_redirect_uris", list(oauth.redirect_uris)))
        body.append(A("pkce_code_challenge_method", "S256"))
    return resource("keycloak_openid_client", svc.name, *body)


def outputs(model: Model, services: list[Service]) -> list[Output]:
    ids: dict[str, Value] = {s.name: Expr(f"keycloak_openid_client.{s.name}.client_id") for s in services}
    secrets: dict[str, Value] = {
        s.name: Expr(f"keycloak_openid_client.{s.name}.client_secret") for s in services
    }
    refs: dict[str, Value] = {}
    for s in services:
        assert s.oauth2_client is not None
        namespaces = sorted({p.namespace for p in s.placements.values()})
        refs[s.name] = {"name": s.oauth2_client.secret_name, "key": SECRET_KEY, "namespaces": namespaces}
    return [
        Output("client_ids", ids, "OAuth2 client id of each service."),
        Output(
            "client_secrets",
            secrets,
            "OAuth2 client secret of each service: deliver it as the Secret in kubernetes_secrets, "
            "nowhere else.",
            sensitive=True,
        ),
        Output(
            "kubernetes_secrets",
            refs,
            "Secret (name, key, namespaces) each service reads its client secret from.",
        ),
    ]


def build(model: Model, path: str, backend: Backend) -> RootModule | None:
    provider = model.identity_provider
    services = clients(model)
    if provider is None or provider.kind != "keycloak" or not services:
        return None
    module = RootModule(
        path,
        [PROVIDER],
        backend,
        variables=variables(provider),
        outputs=outputs(model, services),
    )
    module.add(data("keycloak_realm", "this", A("realm", Expr("var.realm"))))
    for svc in services:
        module.add(client_resource(model, svc))
    return module
