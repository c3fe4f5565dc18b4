"""The name-reservation table is complete: a mesh named with hostile names either gets a located error in
validation, or builds into a tree where no path is written twice and kubectl kustomize finds no two
objects of one kind and name (issue 17, items 12-14)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realtools import kustomize

from mpc.build.compile import compile_tree
from mpc.errors import MpcError
from mpc.graph.reserved import CLAIMS, reserved_label, system_namespace
from mpc.render.plugins import Installed
from mpc.workflow.front import front_text

# Names built to meet: a stem with the prefixes and suffixes mpc derives names with (x-pdb, x-env,
# jwks-x, identity-x...), stems that join with a hyphen into each other (a + b-c = a-b + c), and the
# names of mpc's own objects, files and folders.
STEMS = ("a", "b-c", "a-b", "keycloak")
AFFIXES = ("", "-pdb", "-env", "-slo", "-listener", "-apps", "-b-c", "jwks-", "identity-", "mesh-")
FIXED = (
    "mesh-default-deny",
    "mesh-allow-dns",
    "mesh-allow-istio-control-plane",
    "mesh-allow-tracing",
    "allow-nothing",
    "default",
    "mesh-default",
    "identity",
    "services",
    "external",
    "network",
    "eastwest-gateway",
    "kustomization",
    "install",
    "apps",
    "gitrepository",
)


PATHS = ("/a/b", "/a_b", "/a_b_idempotent", "/path_parameters", "/c", "/c_idempotent", "/d", "/e")


def _affixed(stem: str) -> list[str]:
    return [affix + stem if affix.endswith("-") else stem + affix for affix in AFFIXES]


EXAMPLES = int(os.environ.get("MPC_FUZZ_EXAMPLES", "60"))


@st.composite
def hostile_mesh(draw: st.DrawFn) -> dict[str, Any]:
    # Most names grow from one stem, so that they meet often.
    stem = draw(st.sampled_from(STEMS))
    names = st.one_of(
        st.sampled_from(_affixed(stem)),
        st.sampled_from(_affixed(stem)),
        st.sampled_from(FIXED),
        st.sampled_from([n for other in STEMS for n in _affixed(other)]),
    )
    services = draw(st.lists(names, min_size=2, max_size=4, unique=True))
    externals = draw(st.lists(names, min_size=0, max_size=2, unique=True))
    issuers = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    clusters = draw(st.lists(names, min_size=2, max_size=3, unique=True))
    envs = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    spread = [draw(st.booleans()) for _ in envs]
    # Replicas that differ between the base and an environment make PodDisruptionBudget patches.
    replicas = [draw(st.sampled_from([None, None, 1, 2])) for _ in services]
    env_replicas = [draw(st.sampled_from([1, 1, None, 3])) for _ in envs]
    first, *rest = services
    # Paths whose routes' names meet: /a/b and /a_b, the twin of a retrying route, mpc's own route.
    paths = draw(
        st.lists(st.sampled_from(PATHS), min_size=len(services), max_size=len(services), unique=True)
    )
    routes = [
        {"prefix": p, "service": s, "auth": issuers[i % len(issuers)], "retries": i % 2}
        for i, (p, s) in enumerate(zip(paths, services, strict=True))
    ]
    # A second service in versions (a Deployment and an env ConfigMap each) with a `files` volume (a
    # ConfigMap): names that meet the first's `-env` and the other services'.
    second: dict[str, Any] = {"port": 8080}
    if draw(st.booleans()):
        version = draw(names)
        second["versions"] = {version: {"image": "ghcr.io/acme/x:1.0.0", "env": {"A": "b"}}}
        second["volumes"] = [{"name": draw(names), "mountPath": "/etc/x", "files": {"x.conf": "x"}}]
    else:
        second["image"] = "ghcr.io/acme/x:1.0.0"
    return {
        "apiVersion": "masterproxy.dev/v1alpha1",
        "kind": "Mesh",
        "metadata": {"name": draw(names), "owners": ["@acme/platform"]},
        "gateway": {"name": draw(names), "port": 4000, "routes": routes},
        "auth": {
            "issuers": {
                i: {"issuer": f"https://id.acme.dev/{i}", "jwksUri": f"https://{i}.acme.dev/certs"}
                for i in issuers
            },
            "provider": {"kind": "keycloak", "url": "https://kc.acme.dev", "realm": "acme"},
        },
        "services": {
            first: {
                "image": "ghcr.io/acme/x:1.0.0",
                "port": 8080,
                "env": {"MODE": "x"},
                "dependsOn": externals,
                "oauth2Client": {"grantTypes": ["client_credentials"]},
                "autoscale": {"min": 2, "max": 4},
            },
            **{
                s: ({"image": "ghcr.io/acme/x:1.0.0", "port": 8080} if i > 1 else dict(second))
                | ({"replicas": replicas[i]} if replicas[i] is not None else {})
                for i, s in enumerate(rest, start=1)
            },
        },
        "external": {e: {"host": f"{e}.example.com", "port": 443} for e in externals},
        "clusters": {
            c: {
                "provider": "digitalocean",
                "region": "ams3",
                "version": "1.31",
                "nodePools": {"p": {"size": "s", "count": 1}},
            }
            for c in clusters
        },
        # The first environment spans two clusters (federation files), the others one or none.
        "environments": {
            e: {
                "clusters": clusters[:2] if i == 0 else clusters[-1:] if spread[i] else [],
                **({"replicas": env_replicas[i]} if env_replicas[i] is not None else {}),
            }
            for i, e in enumerate(envs)
        },
        "observability": {
            "tracing": {"endpoint": "jaeger.observability:4317"},
            "metrics": {"provider": "prometheus"},
            "slos": [{"service": first, "availability": 99.9}],
        },
        "gitops": {
            "engine": draw(st.sampled_from(["argocd", "flux"])),
            "repo": "https://github.com/acme/gitops.git",
        },
        "customResources": [
            {
                "group": "acme.dev",
                "kind": "Model",
                "version": "v1",
                "scope": "Cluster",
                "instances": [{"name": "m"}],
            }
        ],
    }


def _kustomize_folders(files: dict[str, bytes]) -> list[str]:
    """Every folder whose kustomization stands alone: the overlays and the GitOps engines' folders."""
    roots = [p.removesuffix("/kustomization.yaml") for p in files if p.endswith("/kustomization.yaml")]
    return sorted(
        r
        for r in roots
        if r.startswith("gitops/") or (r.startswith("kustomize/overlays/") and not r.endswith("/app"))
    )


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mesh=hostile_mesh())
def test_hostile_names_are_refused_or_build_without_collisions(
    tmp_path_factory: pytest.TempPathFactory, mesh: dict[str, Any]
) -> None:
    text = json.dumps(mesh, indent=1)
    try:
        front = front_text(text)
    except MpcError as exc:
        assert all(d.location.line > 0 for d in exc.diagnostics), str(exc)
        return
    # compile_tree raises (a bug, exit 3) on a path written twice or a file where a folder goes.
    compiled = compile_tree(front, Installed(), ())
    root = tmp_path_factory.mktemp("tree")
    for path, data in compiled.files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for folder in _kustomize_folders(compiled.files):
        result = kustomize(root / folder)
        assert result.returncode == 0, f"{folder}: {result.stderr}\n--- mesh ---\n{text}"


def _front(text: str) -> list[tuple[str, str, int]]:
    try:
        front_text(text)
    except MpcError as exc:
        return [(d.code, d.location.path, d.location.line) for d in exc.diagnostics]
    return []


BASE = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop, owners: ["@shop/platform"]}
gateway:
  name: edge
  port: 4000
  routes: [{prefix: /api, service: api}]
services:
  api: {image: ghcr.io/shop/api:1.0.0, port: 8080}
"""


@pytest.mark.parametrize("name", ["mesh-default-deny", "allow-nothing", "mesh-allow-dns"])
def test_a_service_or_gateway_named_like_mpcs_own_objects_is_refused(name: str) -> None:
    # item 14: these built (exit 0) into a tree kustomize refuses
    service = BASE + f"  {name}: {{image: ghcr.io/shop/x:1.0.0, port: 8080}}\n"
    assert ("E321", f"services.{name}") in [(code, path) for code, path, _ in _front(service)]
    gateway = BASE.replace("name: edge", f"name: {name}")
    assert ("E321", "gateway.name") in [(code, path) for code, path, _ in _front(gateway)]


def test_derived_names_that_collide_are_refused_where_the_later_name_is() -> None:
    # item 14: auth beside auth-pdb, external jwks-<issuer>, cluster identity with auth.provider, cluster
    # services with service network gave an unlocated E313 or exit 3 at build time
    pdb = BASE + "  api-pdb: {image: ghcr.io/shop/x:1.0.0, port: 8080, replicas: 2}\n"
    assert ("E321", "services.api-pdb") in [(c, p) for c, p, _ in _front(pdb)]
    jwks = BASE.replace("service: api}]", "service: api, auth: id}]") + (
        "auth: {issuers: {id: {issuer: https://id.shop.dev, jwksUri: https://id.shop.dev/certs}}}\n"
        "external: {jwks-id: {host: x.shop.dev, port: 443}}\n"
    )
    assert ("E321", "external.jwks-id") in [(c, p) for c, p, _ in _front(jwks)]
    pool = "{provider: digitalocean, region: ams3, version: '1.31', nodePools: {p: {size: s, count: 1}}}"
    identity = BASE + f"clusters: {{identity: {pool}}}\n"
    assert ("E321", "clusters.identity") in [(c, p) for c, p, _ in _front(identity)]
    network = (
        BASE
        + "  network: {image: ghcr.io/shop/x:1.0.0, port: 8080}\n"
        + f"clusters: {{services: {pool}, other: {pool}}}\n"
        + "environments: {prod: {clusters: [services, other]}}\n"
    )
    assert ("E321", "clusters.services") in [(c, p) for c, p, _ in _front(network)]


@pytest.mark.parametrize(
    "key", ["istio-injection", "istio.io/rev", "app.kubernetes.io/name", "kubernetes.io/x"]
)
def test_metadata_labels_cannot_set_the_labels_mpc_and_istio_own(key: str) -> None:
    # item 12: istio-injection: disabled on the Namespace turned the sidecars off
    text = BASE.replace("metadata: {name: shop,", f'metadata: {{name: shop, labels: {{"{key}": disabled}},')
    assert [(c, p) for c, p, _ in _front(text)] == [("E321", f"metadata.labels.{key}")]
    assert reserved_label(key)
    assert not reserved_label("team") and not reserved_label("acme.dev/team")


def test_the_namespace_keeps_mpcs_injection_label_whatever_the_mesh_says() -> None:
    from mpc.backends.kustomize.overlays import namespace

    front = front_text(BASE.replace("metadata: {name: shop,", "metadata: {name: shop, labels: {team: x},"))
    labels = namespace(front.model, front.model.environments["default"])["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled" and labels["team"] == "x"


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ("defaults: {namespace: kube-system}\n", "defaults.namespace"),
        ("defaults: {namespace: istio-system}\n", "defaults.namespace"),
        ("environments: {prod: {namespace: kube-public}}\n", "environments.prod.namespace"),
        ("environments: {system: {}}\ndefaults: {namespace: kube}\n", "environments.system"),
    ],
)
def test_system_namespaces_are_refused(setting: str, path: str) -> None:
    # item 13: kube-system was labelled for injection, with a default deny that selects CoreDNS
    assert [(c, p) for c, p, _ in _front(BASE + setting)] == [("E321", path)]
    assert system_namespace("kube-node-lease") and system_namespace("kube-anything")
    assert not system_namespace("shop")


def test_a_mesh_named_like_a_system_namespace_is_refused_when_it_names_the_namespace() -> None:
    text = BASE.replace("metadata: {name: shop,", "metadata: {name: default,")
    assert [(c, p) for c, p, _ in _front(text)] == [("E321", "metadata.name")]
    assert _front(text + "defaults: {namespace: shop}\n") == []


def test_every_claim_names_a_kind_or_a_file() -> None:
    assert len({(c.kind, c.template) for c in CLAIMS}) == len(CLAIMS)
    assert all(c.purpose for c in CLAIMS if "{" not in c.template)


def test_the_table_names_every_object_and_route_of_the_examples() -> None:
    """Every object of a claimed kind and every route of the proxy's bootstraps that the examples render
    is a value of some claim: a backend that names something new must add it to the table."""
    import itertools

    import yaml as pyyaml
    from conftest import example_meshes

    from mpc.graph.checks import reserved as check
    from mpc.graph.checks.context import Context
    from mpc.graph.reserved import ENVOY_ROUTE
    from mpc.workflow.front import front_file

    kinds = {c.kind for c in CLAIMS}
    for mesh in example_meshes():
        front = front_file(mesh)
        names = check._names(Context(front.mesh, front.doc, front.model, front.graph))
        values: dict[str, set[str]] = {}
        for claim in CLAIMS:
            variables = check._variables(claim.template)
            for filling in itertools.product(*(names[v] for v in variables)):
                values.setdefault(claim.kind, set()).add(
                    claim.template.format(**{n.family: n.value for n in filling})
                )
        unclaimed = set()
        for path, data in compile_tree(front, Installed(), ()).files.items():
            if not path.endswith(".yaml"):
                continue
            for doc in pyyaml.safe_load_all(data):
                if not isinstance(doc, dict) or "metadata" not in doc:
                    if isinstance(doc, dict) and path.endswith("bootstrap.yaml"):
                        for listener in doc["static_resources"]["listeners"]:
                            for chain in listener["filter_chains"]:
                                hcm = chain["filters"][0]["typed_config"]
                                for vhost in hcm["route_config"]["virtual_hosts"]:
                                    if vhost["name"] == front.model.gateway.name:
                                        unclaimed |= {
                                            (ENVOY_ROUTE, r["name"])
                                            for r in vhost["routes"]
                                            if r["name"] not in values[ENVOY_ROUTE]
                                        }
                    continue
                kind = doc["kind"]
                if "toolkit.fluxcd.io" in doc.get("apiVersion", "") and kind == "Kustomization":
                    kind = "Kustomization.kustomize.toolkit.fluxcd.io"
                if kind in kinds and doc["metadata"]["name"] not in values[kind]:
                    unclaimed.add((kind, doc["metadata"]["name"]))
        assert unclaimed == set(), f"{mesh.parent.name}: names no claim gives: {sorted(unclaimed)}"
