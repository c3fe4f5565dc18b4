"""The JSON Schema of mesh.yaml, generated from the spec models (schemas/mesh.schema.json is this text)."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://masterproxy.dev/schemas/mesh.schema.json"


def mesh_schema() -> dict[str, Any]:
    from mpc.lang.spec import API_VERSION, Mesh

    schema = Mesh.model_json_schema(by_alias=True, mode="validation")
    props = schema["properties"]
    props["apiVersion"] = {"const": API_VERSION, "title": "Apiversion"}
    props["kind"] = {"const": "Mesh", "title": "Kind"}
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "masterproxy mesh.yaml",
        "description": "One file that describes a service mesh; compiled by mpc.",
    }
    out.update(schema)
    return out


def schema_text() -> str:
    return json.dumps(mesh_schema(), indent=2, sort_keys=True) + "\n"
