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
from mpc.workflow.front import front_text, read_mesh

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
    # Names: what mpc reports as E308, an editor flags too.
    "service-name-not-a-label": ("  api: {image", "  Hello_World: {image"),
    "mesh-name-with-a-space": ("metadata: {name: shop}", "metadata: {name: My Mesh}"),
    "gateway-name-upper-case": ("name: edge", "name: Edge"),
    "name-too-long": ("metadata: {name: shop}", "metadata: {name: " + "a" * 41 + "}"),
    "dependency-not-a-name": ("port: 8080}", "port: 8080, dependsOn: [Not_A_Name]}"),
    "namespace-not-a-label": ("services:", "defaults: {namespace: My_NS}\nservices:"),
    "environment-key-not-a-label": ("services:", "environments: {Prod: {}}\nservices:"),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_schema_rejects_what_the_models_reject(case: str, validator: Draft202012Validator) -> None:
    old, new = REJECTED[case]
    assert old in BASE
    text = BASE.replace(old, new, 1)
    doc = load_text(text, "mesh.yaml")
    with pytest.raises(MpcError):
        front_text(text)  # the parser, or the checks after it (names, references)
    assert list(validator.iter_errors(doc.data)), f"the schema accepts {case}"


def test_base_case_is_valid_for_both(validator: Draft202012Validator) -> None:
    doc = load_text(BASE, "mesh.yaml")
    parse(doc)
    assert list(validator.iter_errors(doc.data)) == []


def test_name_checks_are_mpc_checks(validator: Draft202012Validator) -> None:
    """The names the schema refuses are E308 for mpc, in the same pass as any schema error."""
    for case in ("service-name-not-a-label", "mesh-name-with-a-space", "gateway-name-upper-case"):
        old, new = REJECTED[case]
        text = BASE.replace(old, new, 1).replace("port: 4000", "port: four")
        with pytest.raises(MpcError) as raised:
            parse(load_text(text, "mesh.yaml"))
        assert sorted(d.code for d in raised.value.diagnostics) == ["E203", "E308"], case


def _properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            found.append((f"{path}.{key}", prop))
        for key, value in node.items():
            found.extend(_properties(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_properties(value, f"{path}[{i}]"))
    return found


def test_every_property_is_described_by_the_reference() -> None:
    from mpc.lang.reference import descriptions

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    props = _properties(schema)
    assert len(props) > 140
    assert [p for p, prop in props if not prop.get("description")] == []
    assert [p for p, prop in props if "title" in prop] == []  # "Port || Port" on hover
    # The text is the reference's meaning column, word for word.
    reference = (ROOT / "docs" / "mesh-reference.md").read_text(encoding="utf-8")
    cors = schema["$defs"]["Cors"]["properties"]["maxAge"]["description"]
    assert cors == descriptions()["Cors"]["maxAge"]
    assert f"| `maxAge` | duration | `1h` | {cors} |" in reference


def test_defaults_are_never_null_and_of_the_declared_type() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    with_defaults = [(p, prop) for p, prop in _properties(schema) if "default" in prop]
    assert with_defaults
    for path, prop in with_defaults:
        assert prop["default"] is not None, path
        errors = list(Draft202012Validator({**schema, **prop}).iter_errors(prop["default"]))
        assert errors == [], f"{path}: default {prop['default']!r} does not match its own schema"
    assert schema["$defs"]["Defaults"]["properties"]["timeout"]["default"] == "15s"
    assert schema["$defs"]["Cors"]["properties"]["maxAge"]["default"] == "1h"


def test_name_maps_check_every_key() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for section in ("services", "external", "clusters", "environments"):
        prop = schema["properties"][section]
        assert prop["propertyNames"]["pattern"] == "^[a-z]([-a-z0-9]*[a-z0-9])?$", section
        assert prop["propertyNames"]["maxLength"] == 40
        assert "patternProperties" not in prop


def test_the_packaged_reference_is_the_docs_one() -> None:
    """`mpc schema` reads the reference from the package (mpc/lang/mesh-reference.md links to docs/)."""
    from mpc.lang.reference import reference_text

    assert reference_text() == (ROOT / "docs" / "mesh-reference.md").read_text(encoding="utf-8")
