"""schemas/mesh.schema.json: generated from the models, checked in, and in agreement with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MINIMAL_MESH, ROOT, example_meshes, run_mpc
from jsonschema import Draft202012Validator

from mpc.errors import MpcError
from mpc.lang.load import Document, load_bytes, load_text
from mpc.lang.parse import parse
from mpc.workflow.front import read_mesh

SCHEMA_FILE = ROOT / "schemas" / "mesh.schema.json"


def load_file(path: Path, display: str | None = None) -> Document:
    """A mesh file as the commands load it."""
    name = display or str(path)
    return load_bytes(read_mesh(path, name), name)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_checked_in_schema_is_the_generated_one() -> None:
    run = run_mpc("schema")
    assert run.code == 0
    assert run.out == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "schemas/mesh.schema.json is stale: run `.venv/bin/mpc schema > schemas/mesh.schema.json`"
    )


def test_schema_output_is_deterministic() -> None:
    assert run_mpc("schema").out == run_mpc("schema").out


@pytest.mark.parametrize("mesh", example_meshes(), ids=lambda p: p.parent.name)
def test_examples_validate_against_the_schema(mesh: Any, validator: Draft202012Validator) -> None:
    data = load_file(mesh).data
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("mesh", example_meshes(), ids=lambda p: p.parent.name)
def test_examples_point_at_the_schema(mesh: Any) -> None:
    first = mesh.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")


BASE = MINIMAL_MESH

# Edits that the models refuse: the schema must refuse them too (the common cases an editor flags).
REJECTED = {
    "unknown-top-level-key": ("metadata: {name: shop}", "metadata: {name: shop}\nservice: {}"),
    "unknown-service-key": ("port: 8080}", "port: 8080, replica: 2}"),
    "unknown-route-key": ("service: api}", "service: api, method: GET}"),
    "port-as-string-word": ("port: 4000", "port: four"),
    "port-out-of-range": ("port: 4000", "port: 70000"),
    "services-as-list": ("  api: {image: ghcr.io/shop/api:1.0.0, port: 8080}", "  - api"),
    "routes-as-mapping": ("routes: [{prefix: /api, service: api}]", "routes: {api: /api}"),
    "protocol-not-offered": ("port: 8080}", "port: 8080, protocol: https}"),
    "duration-without-unit": ("port: 8080}", "port: 8080, timeout: fast}"),
    "quantity-malformed": ("port: 8080}", "port: 8080, resources: {memory: 128MB}}"),
    "api-version": ("masterproxy.dev/v1alpha1", "masterproxy.dev/v2"),
    "missing-image": ("image: ghcr.io/shop/api:1.0.0, ", ""),
    "prefix-without-slash": ("prefix: /api", "prefix: api"),
    "cluster-provider": ("services:", "clusters: {c: {provider: aws, region: x, version: '1'}}\nservices:"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_schema_rejects_what_the_models_reject(case: str, validator: Draft202012Validator) -> None:
    old, new = REJECTED[case]
    assert old in BASE
    text = BASE.replace(old, new, 1)
    doc = load_text(text, "mesh.yaml")
    with pytest.raises(MpcError):
        parse(doc)
    assert list(validator.iter_errors(doc.data)), f"the schema accepts {case}"


def test_base_case_is_valid_for_both(validator: Draft202012Validator) -> None:
    doc = load_text(BASE, "mesh.yaml")
    parse(doc)
    assert list(validator.iter_errors(doc.data)) == []
