"""Image names: the full name a runtime pulls (as written, defaults.registry, or Docker Hub's), the rules
that judge it (allowedRegistries, requireDigests), and tags that follow releases (W304).

The rendered name is checked where it lands, in the workload mpc writes, and through the CLI's exit codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import run_mpc

from mpc.errors import Code, MpcError, Severity
from mpc.lang.images import Rule, floating, full_name
from mpc.workflow.front import front_text, render

DIGEST = "sha256:" + "4f2bd6a8e4c0a0f1" * 4

MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
  owners: ["@shop/platform"]
{defaults}gateway:
  name: edge
  port: 4000
  routes:
    - {{prefix: /api, service: api}}
services:
  api:
    image: {image}
    port: 8080
{governance}"""


def mesh(image: str, defaults: str = "", governance: str = "") -> str:
    return MESH.format(image=image, defaults=defaults, governance=governance)


@pytest.mark.parametrize(
    ("written", "registry", "full", "rule"),
    [
        ("redis:alpine", None, "docker.io/library/redis:alpine", Rule.DOCKER_HUB),
        ("istio/reviews:1", None, "docker.io/istio/reviews:1", Rule.DOCKER_HUB),
        ("redis:alpine", "ghcr.io/acme", "ghcr.io/acme/redis:alpine", Rule.REGISTRY),
        ("istio/reviews:1", "ghcr.io/acme/", "ghcr.io/acme/istio/reviews:1", Rule.REGISTRY),
        ("docker.io/redis:7.4.1", None, "docker.io/library/redis:7.4.1", Rule.HUB_NAME),
        ("index.docker.io/istio/reviews:1", "r.example", "docker.io/istio/reviews:1", Rule.HUB_NAME),
        ("docker.io/library/redis:7.4.1", "r.example", "docker.io/library/redis:7.4.1", Rule.WRITTEN),
        ("ghcr.io/acme/api:1.4.2", "r.example", "ghcr.io/acme/api:1.4.2", Rule.WRITTEN),
        ("localhost/api:1.0.3", "r.example", "localhost/api:1.0.3", Rule.WRITTEN),
        ("localhost:5000/api:1.0.3", None, "localhost:5000/api:1.0.3", Rule.WRITTEN),
        (f"redis@{DIGEST}", None, f"docker.io/library/redis@{DIGEST}", Rule.DOCKER_HUB),
    ],
)
def test_full_name(written: str, registry: str | None, full: str, rule: Rule) -> None:
    assert full_name(written, registry) == (full, rule)


@pytest.mark.parametrize(
    ("tag", "moves"),
    [
        *[(t, True) for t in ("alpine", "stable", "lts", "edge", "main", "master", "16", "v2", "16-alpine")],
        *[(t, True) for t in ("lts-slim", "Mainline", "nightly")],
        *[
            (t, False)
            for t in ("7.4.1-alpine", "1.2", "3.13.7", "bookworm", "2024-05-01", "v1.4.2", "sha-4f2b")
        ],
    ],
)
def test_floating_tags(tag: str, moves: bool) -> None:
    assert floating(tag) is moves


def _image_in_workload(text: str) -> str:
    artifacts = render(front_text(text), ["kustomize"]).by_path()
    docs = artifacts["kustomize/base/api/deployment.yaml"].content
    deployment: Any = docs[0] if isinstance(docs, list) else docs
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def test_a_short_name_is_written_as_docker_hubs_full_name() -> None:
    assert _image_in_workload(mesh("redis:7.4.1")) == "docker.io/library/redis:7.4.1"
    assert _image_in_workload(mesh("istio/reviews:1.20.1")) == "docker.io/istio/reviews:1.20.1"


def test_defaults_registry_still_prefixes_a_short_name() -> None:
    text = mesh("redis:7.4.1", defaults="defaults: {registry: ghcr.io/shop}\n")
    assert _image_in_workload(text) == "ghcr.io/shop/redis:7.4.1"


def test_allowed_registries_judge_the_full_name() -> None:
    allowed = "governance: {allowedRegistries: [docker.io/library]}\n"
    front_text(mesh("redis:7.4.1", governance=allowed))  # Docker Hub's official image: allowed
    with pytest.raises(MpcError) as caught:
        front_text(mesh("redis:7.4.1", defaults="defaults: {registry: ghcr.io/shop}\n", governance=allowed))
    (problem,) = caught.value.diagnostics
    assert problem.code == Code.REGISTRY_NOT_ALLOWED
    assert "ghcr.io/shop/redis:7.4.1: defaults.registry applied" in problem.message
    assert "docker.io/library/redis:7.4.1" in problem.hint


def test_a_floating_tag_warns_and_the_mesh_still_builds(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_text(mesh("redis:alpine"))
    result = run_mpc("build", path, "-o", tmp_path / "out", "--backend", "kustomize")
    assert result.code == 0, result.err
    line = mesh("redis:alpine").splitlines().index("    image: redis:alpine") + 1
    assert (
        f"mesh.yaml:{line}:12: warning[{Code.FLOATING_TAG}]: services.api.image 'redis:alpine'" in result.err
    )


def test_a_digest_is_never_floating_and_satisfies_require_digests() -> None:
    front = front_text(mesh(f"redis:alpine@{DIGEST}", governance="governance: {requireDigests: true}\n"))
    assert [w for w in front.warnings if w.severity is Severity.WARNING] == []


def test_require_digests_refuses_a_tag_alone() -> None:
    with pytest.raises(MpcError) as caught:
        front_text(mesh("ghcr.io/shop/api:1.0.0", governance="governance: {requireDigests: true}\n"))
    (problem,) = caught.value.diagnostics
    assert problem.code == Code.DIGEST_REQUIRED
    assert problem.notes[0][1] == "governance.requireDigests is set here"
