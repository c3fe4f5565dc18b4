"""Every resource, data source and provider block the backend writes, checked against the real provider
schemas (`terraform providers schema -json` of digitalocean 2.79.0, google 7.9.0, keycloak 5.9.0) kept in
../shared/data/terraform-schemas/. They are read from there, never copied into the project."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, example_meshes, run_mpc
from terraform_schemas import SchemaChecker
from test_terraform_backend import MESH

from mpc.backends.terraform import backend
from mpc.backends.terraform.hcl import Attribute, Block, Expr
from mpc.backends.terraform.hclread import parse
from mpc.workflow.front import front_text

SCHEMAS = SHARED / "data" / "terraform-schemas"
FILES = {
    "digitalocean": ("digitalocean-2.79.0.json", "registry.terraform.io/digitalocean/digitalocean", "2.79.0"),
    "google": ("google-7.9.0.json", "registry.terraform.io/hashicorp/google", "7.9.0"),
    "keycloak": ("keycloak-5.9.0.json", "registry.terraform.io/keycloak/keycloak", "5.9.0"),
}

pytestmark = pytest.mark.skipif(
    not SCHEMAS.is_dir(), reason=f"provider schemas not present at {SCHEMAS} (shared data folder absent)"
)


@pytest.fixture(scope="module")
def schemas() -> dict[str, Mapping[str, Any]]:
    out = {}
    for name, (file, address, _) in FILES.items():
        data = json.loads((SCHEMAS / file).read_text("utf-8"))
        out[name] = data["provider_schemas"][address]
    return out


@pytest.fixture(scope="module")
def checker(schemas: dict[str, Mapping[str, Any]]) -> SchemaChecker:
    return SchemaChecker(schemas)


def _modules_from_examples(tmp_path: Path) -> dict[str, dict[str, str]]:
    """module folder -> file name -> text, for every example and the test mesh (GPU, DO pools, clients)."""
    modules: dict[str, dict[str, str]] = {}
    for mesh in example_meshes():
        out = tmp_path / mesh.parent.name
        result = run_mpc("build", mesh, "-o", out, "--backend", "terraform", "-q")
        assert result.code == 0, result.err
        for path in sorted(out.rglob("*.tf")):
            folder = f"{mesh.parent.name}/{path.parent.relative_to(out).as_posix()}"
            modules.setdefault(folder, {})[path.name] = path.read_text("utf-8")
    front = front_text(MESH)
    for art in backend.render(front.model, front.graph):
        if art.path.endswith(".tf"):
            assert isinstance(art.content, str)
            folder, name = art.path.rsplit("/", 1)
            modules.setdefault(f"test-mesh/{folder}", {})[name] = art.content
    return modules


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return _modules_from_examples(tmp_path_factory.mktemp("tf"))


@pytest.mark.slow
def test_every_block_matches_its_provider_schema(
    checker: SchemaChecker, modules: dict[str, dict[str, str]]
) -> None:
    checked: set[str] = set()
    problems: list[str] = []
    for folder, files in modules.items():
        for name, text in files.items():
            items = parse(text)
            problems += [f"{folder}/{name}: {p}" for p in checker.check(items)]
            checked |= {
                "/".join(b.labels[:1])
                for b in items
                if isinstance(b, Block) and b.type in ("resource", "data")
            }
    assert problems == []
    # The check covered every kind of resource the backend writes.
    assert {
        "digitalocean_kubernetes_cluster",
        "digitalocean_kubernetes_node_pool",
        "digitalocean_vpc",
        "digitalocean_kubernetes_versions",
        "google_container_cluster",
        "google_container_node_pool",
        "google_compute_network",
        "google_compute_subnetwork",
        "google_service_account",
        "google_project_iam_member",
        "keycloak_openid_client",
        "keycloak_realm",
    } <= checked


@pytest.mark.slow
def test_required_providers_match_the_schema_versions(modules: dict[str, dict[str, str]]) -> None:
    for folder, files in modules.items():
        (terraform,) = parse(files["versions.tf"])
        assert isinstance(terraform, Block)
        (required,) = [b for b in terraform.body if isinstance(b, Block) and b.type == "required_providers"]
        for item in required.body:
            assert isinstance(item, Attribute) and isinstance(item.value, dict)
            _, address, version = FILES[item.name]
            assert f"registry.terraform.io/{item.value['source']}" == address, folder
            # `~> X.Y` admits X.Y.0 and later X.* releases: the schema version must be one of them.
            constraint = item.value["version"]
            assert isinstance(constraint, str) and constraint.startswith("~> ")
            major, minor = constraint[3:].split(".")
            assert version.split(".")[:2] == [major, minor], folder


# --- the checker itself catches what it should ----------------------------------------------------------


def _resource(type_: str, *body: Attribute | Block) -> list[Attribute | Block]:
    return [Block("resource", (type_, "x"), tuple(body))]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (_resource("google_no_such_thing"), "does not exist"),
        (_resource("digitalocean_vpc", Attribute("region", "ams3")), "required argument 'name' is missing"),
        (
            _resource(
                "digitalocean_vpc", Attribute("name", "v"), Attribute("region", "r"), Attribute("urn", "u")
            ),
            "'urn' is computed-only",
        ),
        (
            _resource(
                "digitalocean_vpc", Attribute("name", "v"), Attribute("region", "r"), Attribute("colour", "r")
            ),
            "argument 'colour' is not in the schema",
        ),
        (
            _resource("digitalocean_vpc", Attribute("name", 3), Attribute("region", "r")),
            "'name' should be a string",
        ),
        (
            _resource(
                "google_compute_subnetwork",
                Attribute("name", "s"),
                Attribute("network", "n"),
                Attribute("fingerprint", "f"),
            ),
            "'fingerprint' is computed-only",
        ),
        (
            _resource(
                "google_container_cluster",
                Attribute("name", "c"),
                Block("enterprise_config", (), (Attribute("desired_tier", "STANDARD"),)),
            ),
            "block 'enterprise_config' is deprecated",
        ),
        (
            _resource(
                "google_container_cluster",
                Attribute("name", "c"),
                Block("release_channel"),
                Block("release_channel"),
            ),
            "written 2 times, at most 1",
        ),
        (
            _resource("google_container_cluster", Attribute("name", "c"), Block("release_channel")),
            "required argument 'channel' is missing",
        ),
        (
            _resource(
                "digitalocean_kubernetes_cluster",
                Attribute("name", "c"),
                Attribute("region", "r"),
                Attribute("version", Expr("var.v")),
            ),
            "block 'node_pool' is required at least 1",
        ),
        ([Block("provider", ("keycloak",), (Attribute("realm", "master"),))], "required argument 'url'"),
    ],
)
def test_checker_finds(checker: SchemaChecker, items: list[Attribute | Block], expected: str) -> None:
    problems = checker.check(items)
    assert any(expected in p for p in problems), problems


def test_checker_reads_dynamic_blocks_and_meta_arguments(checker: SchemaChecker) -> None:
    items = _resource(
        "google_project_iam_member",
        Attribute("for_each", Expr("toset([])")),
        Attribute("project", "p"),
        Attribute("role", Expr("each.value")),
        Attribute("member", "m"),
        Block("lifecycle", (), (Attribute("create_before_destroy", True),)),
        Attribute("depends_on", [Expr("google_service_account.x")]),
    )
    assert checker.check(items) == []
    bad_dynamic = _resource(
        "google_container_cluster",
        Attribute("name", "c"),
        Block(
            "master_authorized_networks_config",
            (),
            (Block("dynamic", ("cidr_blocks",), (Block("content", (), (Attribute("cidr", "x"),)),)),),
        ),
    )
    problems = checker.check(bad_dynamic)
    assert any("'cidr' is not in the schema" in p for p in problems), problems
