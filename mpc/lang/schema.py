"""The JSON Schema of mesh.yaml, generated from the spec models (schemas/mesh.schema.json is this text).

What an editor can check, it checks: names as DNS-1123 labels (values, and mapping keys through
`propertyNames`), lengths, durations and quantities as patterns. Every property is described with the
meaning column of docs/mesh-reference.md (mpc.lang.reference: one text for both). Defaults are shown in
the type the user writes (`15s`, not 15000 milliseconds), and a field without a default has none (no
`null` to complete into the file).
"""

from __future__ import annotations

import json
from typing import Any

from mpc.lang.names import MAX_NAME, NAME_PATTERN
from mpc.lang.quantities import DURATION_PATTERN

SCHEMA_ID = "https://masterproxy.dev/schemas/mesh.schema.json"


def mesh_schema() -> dict[str, Any]:
    from mpc.lang.reference import descriptions
    from mpc.lang.spec import API_VERSION, Mesh

    schema = Mesh.model_json_schema(by_alias=True, mode="validation")
    props = schema["properties"]
    props["apiVersion"] = {"const": API_VERSION}
    props["kind"] = {"const": "Mesh"}
    defs = schema.get("$defs", {})
    meanings = descriptions()
    _describe(schema, meanings.get("Mesh", {}))
    for name, definition in defs.items():
        _describe(definition, meanings.get(name, {}))
    _walk(schema)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "masterproxy mesh.yaml",
        "description": "One file that describes a service mesh; compiled by mpc.",
    }
    out.update(schema)
    return out


def _describe(model: dict[str, Any], meanings: dict[str, str]) -> None:
    for key, prop in model.get("properties", {}).items():
        if key in meanings:
            prop["description"] = meanings[key]


def _walk(node: Any) -> None:
    """Every schema object below `node`: names by pattern, no titles, no null defaults, typed defaults."""
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    _name_keys(node)
    if "title" in node and ("type" in node or "anyOf" in node or "$ref" in node or "const" in node):
        node.pop("title")  # pydantic's "Maxage" titles: the description says it, in words
    if "default" in node and node["default"] is None:
        del node["default"]
    if isinstance(node.get("default"), int) and _is_duration(node):
        node["default"] = duration_text(node["default"])
    for value in node.values():
        _walk(value)


def _name_keys(node: dict[str, Any]) -> None:
    """A mapping keyed by names: pydantic writes the key pattern as patternProperties (which lets any
    other key through); the language means every key must be a name."""
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and list(patterns) == [NAME_PATTERN]:
        node["additionalProperties"] = node.pop("patternProperties")[NAME_PATTERN]
        node["propertyNames"] = {"pattern": NAME_PATTERN, "maxLength": MAX_NAME}


def duration_text(ms: int) -> str:
    """Milliseconds as a user writes them in mesh.yaml: the largest whole unit (1h, 2m, 15s, 250ms)."""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _is_duration(node: dict[str, Any]) -> bool:
    variants = [node, *node.get("anyOf", [])]
    return any(isinstance(v, dict) and v.get("pattern") == DURATION_PATTERN for v in variants)


def schema_text() -> str:
    return json.dumps(mesh_schema(), indent=2, sort_keys=True) + "\n"
