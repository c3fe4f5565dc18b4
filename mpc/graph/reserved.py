"""The one name-reservation table: every name mpc gives an object or a file, as a template over the
names a mesh chooses, and the names and labels mpc keeps for itself.

A service called `mesh-default-deny` would name its NetworkPolicy like the namespace's default deny; a
service `auth-pdb` beside `auth` would write auth's PodDisruptionBudget patch; a cluster `identity` would
write into the identity provider's Terraform module. mpc.graph.checks.reserved expands these templates
with the mesh's names and reports any two that meet as a located error, before anything is rendered.
Backends take the fixed names below from here, and tests/test_reserved.py renders hostile meshes to
prove the table complete: a mesh that passes it never writes one path twice, nor two objects of one
kind and name into one namespace.

Template variables: service, gateway, external, issuer, provider (auth.provider.kind), cluster, env,
overlay (`<env>` or `<env>-<cluster>`), overlay_dir (`<env>` or `<env>/<cluster>`), mesh, crd (a custom
resource definition's name, `<plural>.<group>`), versioned (`<service>-<version>`), files
(`<service>-<volume>` of a `files` volume), route (a gateway route's name, route_name()).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mpc.lang.names import ISTIO_SYSTEM

# Fixed names of mpc's own objects in each environment's namespace.
DEFAULT_DENY = "mesh-default-deny"
ALLOW_DNS = "mesh-allow-dns"
ALLOW_ISTIO = "mesh-allow-istio-control-plane"
ALLOW_TRACING = "mesh-allow-tracing"
ALLOW_NOTHING = "allow-nothing"
MTLS_DEFAULT = "default"
TELEMETRY_DEFAULT = "mesh-default"

FILE = "file"  # the kind of a Claim on a path of the output tree
ENVOY_ROUTE = "route of the master proxy"  # a name in its bootstrap (stats, access logs, mpc's checks)
PATH_PARAMETERS_ROUTE = "route_path_parameters"
IDEMPOTENT_SUFFIX = "_idempotent"  # the twin of a retrying route for its idempotent methods


def route_name(match: str, exact: bool, methods: tuple[str, ...]) -> str:
    """route_auth for /auth, route_api_v1 for /api/v1, route_root for the catch-all; an exact path is
    route_exact_<path>, and methods follow in lower case (route_login_get_post)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", match.strip("/"))
    name = f"route_{'exact_' if exact else ''}{slug or 'root'}"
    if methods:
        name += "_" + "_".join(m.lower() for m in methods)
    return name


@dataclass(frozen=True, slots=True)
class Claim:
    """A name mpc gives: an object of `kind` in the environment's namespace (or Argo CD's, Flux's), or a
    file of the output tree. `purpose` says what a fixed name is for."""

    kind: str
    template: str
    purpose: str = ""


_WORKLOAD_KINDS = ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget")

CLAIMS: tuple[Claim, ...] = (
    # NetworkPolicies (kustomize/overlays/*/app/network-policies.yaml, kustomize/gateway/*/)
    Claim("NetworkPolicy", DEFAULT_DENY, "the namespace's default deny"),
    Claim("NetworkPolicy", ALLOW_DNS, "DNS for every pod of the namespace"),
    Claim("NetworkPolicy", ALLOW_ISTIO, "the sidecars' access to istiod"),
    Claim("NetworkPolicy", ALLOW_TRACING, "trace export for every pod of the namespace"),
    Claim("NetworkPolicy", "{service}"),
    Claim("NetworkPolicy", "{gateway}"),
    # Istio (istio/<env>/)
    Claim("AuthorizationPolicy", ALLOW_NOTHING, "the namespace's deny-by-default authorization"),
    Claim("AuthorizationPolicy", "{service}"),
    Claim("AuthorizationPolicy", "{gateway}"),
    Claim("PeerAuthentication", MTLS_DEFAULT, "strict mTLS for the namespace"),
    Claim("PeerAuthentication", "{gateway}-listener"),
    Claim("RequestAuthentication", "{service}-{issuer}"),
    Claim("Sidecar", "{service}"),
    Claim("Sidecar", "{gateway}"),
    Claim("VirtualService", "{service}"),
    Claim("DestinationRule", "{service}"),
    Claim("ServiceEntry", "{external}"),
    Claim("ServiceEntry", "jwks-{issuer}"),
    Claim("ServiceEntry", "identity-{provider}"),
    Claim("Telemetry", TELEMETRY_DEFAULT, "the namespace's telemetry"),
    # Workloads (kustomize/base/<service>/, kustomize/gateway/<env>/) and monitoring
    *(Claim(kind, "{service}") for kind in _WORKLOAD_KINDS),
    *(Claim(kind, "{gateway}") for kind in _WORKLOAD_KINDS),
    Claim("StatefulSet", "{service}"),
    Claim("HorizontalPodAutoscaler", "{service}"),
    Claim("ConfigMap", "{service}-env"),
    Claim("ConfigMap", "{gateway}"),
    Claim("PodMonitor", "{service}"),
    Claim("PrometheusRule", "{service}-slo"),
    # Versions (a Deployment each, and its env ConfigMap) and `files` volumes (a ConfigMap each)
    Claim("Deployment", "{versioned}"),
    Claim("ConfigMap", "{versioned}-env"),
    Claim("ConfigMap", "{files}"),
    # Routes of the master proxy's bootstrap, named after their paths
    Claim(ENVOY_ROUTE, "{route}"),
    Claim(ENVOY_ROUTE, "{route}" + IDEMPOTENT_SUFFIX),
    Claim(ENVOY_ROUTE, PATH_PARAMETERS_ROUTE, "the refusal of paths with ; parameters"),
    # GitOps engines (their own namespaces)
    Claim("Application", "{mesh}-{overlay}"),
    Claim("Application", "{mesh}-apps", "the root application of applications"),
    Claim("Kustomization.kustomize.toolkit.fluxcd.io", "{mesh}-{overlay}"),
    # Files: where two names' files share a folder. A file named kustomization.yaml is read as its
    # folder's kustomization (mpc.render.link lists the folder), so no name may make one.
    *(
        Claim(FILE, f"{folder}/kustomization.yaml", "the folder's kustomization")
        for folder in (
            "kustomize/overlays/{overlay_dir}/app/patches",
            "istio/{env}/services",
            "istio/{env}/external",
        )
    ),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/patches/{service}.yaml"),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/patches/{versioned}.yaml"),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/patches/configmap-{service}-env.yaml"),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/patches/configmap-{versioned}-env.yaml"),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/patches/{service}-pdb.yaml"),
    Claim(FILE, "kustomize/overlays/{overlay_dir}/app/{service}-pdb.yaml"),
    Claim(FILE, "istio/{env}/services/{service}.yaml"),
    Claim(FILE, "istio/{env}/external/{external}.yaml"),
    Claim(FILE, "istio/{env}/external/jwks-{issuer}.yaml"),
    Claim(FILE, "istio/{env}/external/identity-{provider}.yaml"),
    *(
        Claim(FILE, f"istio/{{env}}/{{cluster}}/{name}")
        for name in (
            "kustomization.yaml",
            "network.yaml",
            "eastwest-gateway.yaml",
            "install/istiod.yaml",
            "install/eastwest-gateway.yaml",
        )
    ),
    Claim(FILE, "terraform/{cluster}/main.tf"),
    Claim(FILE, "terraform/identity/main.tf", "the identity provider's Terraform module"),
    Claim(FILE, "gitops/argocd/apps/{overlay}.yaml"),
    Claim(FILE, "gitops/argocd/apps/kustomization.yaml", "the list of Argo CD applications"),
    Claim(FILE, "gitops/flux/{overlay}.yaml"),
    Claim(FILE, "gitops/flux/kustomization.yaml", "the list of Flux objects"),
    Claim(FILE, "gitops/flux/gitrepository.yaml", "Flux's GitRepository"),
    Claim(FILE, "kustomize/crds/{crd}.yaml"),
    Claim(FILE, "kustomize/crds/{crd}-instances.yaml"),
    Claim(FILE, "kustomize/crds/kustomization.yaml", "the list of custom resource definitions"),
)

# Namespaces a mesh cannot use: Kubernetes' own (and every `kube-` name, a prefix it reserves), and
# those of the platform mpc's policies name (Istio's control plane, Prometheus, the GitOps engines).
SYSTEM_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", ISTIO_SYSTEM, "monitoring", "argocd"}
    | {"flux-system"}
)
SYSTEM_NAMESPACE_PREFIX = "kube-"

# Label keys metadata.labels cannot set: mpc's own, those that switch Istio's sidecars, revisions and
# networks, and the prefixes Kubernetes, Istio, mpc and the GitOps engines keep for themselves.
RESERVED_LABELS = frozenset({"istio-injection", "app", "version"})
RESERVED_LABEL_DOMAINS = (
    "kubernetes.io",
    "k8s.io",
    "istio.io",
    "masterproxy.dev",
    "argoproj.io",
    "fluxcd.io",
)


def reserved_label(key: str) -> bool:
    """Whether metadata.labels may not set this key."""
    prefix, slash, name = key.rpartition("/")
    if not slash:
        return name in RESERVED_LABELS
    return any(prefix == domain or prefix.endswith("." + domain) for domain in RESERVED_LABEL_DOMAINS)


def system_namespace(name: str) -> bool:
    return name in SYSTEM_NAMESPACES or name.startswith(SYSTEM_NAMESPACE_PREFIX)
