"""The terraform backend: one root module per cluster, and one for the identity provider's OAuth2 clients.

    terraform/<cluster>/   versions.tf providers.tf main.tf variables.tf outputs.tf README.md
    terraform/identity/    the same, for auth.provider.kind keycloak and services with oauth2Client

A mesh without clusters has nothing to provision: the backend then writes no terraform folder at all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from mpc.errors import Code, Diagnostic, Location
from mpc.graph.mesh import MeshGraph, node_id
from mpc.lang.model import Cluster, Model
from mpc.render.api import Artifact, Validator

from . import digitalocean, gke, identity, readme
from .module import Backend, RootModule

ROOT = "terraform"
IDENTITY = f"{ROOT}/identity"
TITLES = {"gke": "Google Kubernetes Engine", "digitalocean": "DigitalOcean Kubernetes"}


def cluster_module(model: Model, graph: MeshGraph, cluster: Cluster) -> RootModule:
    path = f"{ROOT}/{cluster.name}"
    if cluster.provider == "gke":
        return gke.build(model, graph, cluster, path)
    return digitalocean.build(model, cluster, path)


def _summary(cluster: Cluster) -> str:
    pools = ", ".join(p.name for p in cluster.node_pools)
    envs = ", ".join(cluster.environments) or "none"
    ha = "a highly available control plane" if cluster.high_availability else "a standard control plane"
    return (
        f"The `{cluster.name}` cluster in `{cluster.region}` with {ha}, node pools {pools}; "
        f"environments placed on it: {envs}."
    )


def _artifacts(module: RootModule, readme_text: str, node: str | None) -> list[Artifact]:
    out = [Artifact(f"{module.path}/{name}", text, node=node) for name, text in module.files().items()]
    out.append(Artifact(f"{module.path}/README.md", readme_text, node=node))
    return out


class TerraformBackend:
    name = "terraform"

    def render(self, model: Model, graph: MeshGraph) -> list[Artifact]:
        if not model.clusters:
            return []
        artifacts: list[Artifact] = []
        modules: list[RootModule] = []
        for cluster in model.clusters.values():
            module = cluster_module(model, graph, cluster)
            modules.append(module)
            title = f"Terraform: {cluster.name} ({TITLES[cluster.provider]})"
            text = readme.render(model, module, title, _summary(cluster))
            artifacts.extend(_artifacts(module, text, node_id("cluster", cluster.name)))
        # The clients' state sits in the same store as the first cluster's.
        first = modules[0].backend
        backend = Backend(first.type, ((first.settings[0][0], _identity_key(model, first.type)),))
        clients = identity.build(model, IDENTITY, backend)
        if clients is not None:
            services = identity.clients(model)
            text = readme.render(
                model,
                clients,
                "Terraform: OAuth2 clients (Keycloak)",
                f"One confidential OpenID client per service with `oauth2Client`, in realm "
                f"`{model.identity_provider.realm if model.identity_provider else ''}`.",
                readme.secret_delivery(model, services, identity.SECRET_KEY),
            )
            artifacts.extend(_artifacts(clients, text, None))
        return sorted(artifacts, key=lambda a: a.path)

    def validators(self) -> list[Validator]:
        return [Validator("python-hcl2 (parse and re-emit)", importlib.util.find_spec("hcl2") is not None)]

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        """Parse every .tf with python-hcl2 (when installed) and check that re-emitting it is stable."""
        try:
            import hcl2  # noqa: F401
        except ImportError:
            return []
        from .hclread import roundtrip_problem

        found: list[Diagnostic] = []
        for art in artifacts:
            if not art.path.endswith(".tf") or not isinstance(art.content, str):
                continue
            try:
                problem = roundtrip_problem((root / art.path).read_text("utf-8"))
            except Exception as exc:  # python-hcl2 raises lark's exceptions on a syntax error
                problem = f"python-hcl2 cannot parse it: {exc}"
            if problem is not None:
                found.append(
                    Diagnostic(Code.VALIDATOR_REJECTED, f"{art.path}: {problem}", Location(art.path))
                )
        return found


def _identity_key(model: Model, backend_type: str) -> str:
    return f"{model.name}/identity" if backend_type == "gcs" else f"{model.name}/identity/terraform.tfstate"


backend = TerraformBackend()
