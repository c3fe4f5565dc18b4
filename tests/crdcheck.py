"""Custom resources checked as the API server checks them: the real CRDs' structural schemas (unknown
fields refused, as under strict field validation) and their CEL rules (`x-kubernetes-validations`).

The CRDs are the upstream files in ../shared/data/crds/ (SOURCES.md there says where each comes from).
CEL runs in cel-python; the few functions of Kubernetes' CEL library that those rules call
(`substring`, `url`, `getScheme`, `isURL`) are supplied here. A rule that cannot be evaluated fails the
check: a silent skip would pass anything.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

CRDS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "crds"


@cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of every CRD in the data folder."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served", True) and "schema" in version:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    out[key] = version["schema"]["openAPIV3Schema"]
    return out


def _strict(schema: Any) -> Any:
    """The schema as JSON Schema with unknown fields refused where Kubernetes would prune or refuse them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if schema.get("type") == "object" and "properties" in schema and not preserve:
        out.setdefault("additionalProperties", False)
    if out.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            out["type"] = [out["type"], "null"]
    return out


def _cel_functions() -> dict[str, Any]:
    from celpy import celtypes

    def substring(text: Any, start: Any, end: Any = None) -> Any:
        return celtypes.StringType(str(text)[int(start) : None if end is None else int(end)])

    def is_url(text: Any) -> Any:
        parts = urlsplit(str(text))
        return celtypes.BoolType(bool(parts.scheme) or str(text).startswith("/"))

    def url(text: Any) -> Any:
        return celtypes.StringType(str(text))

    def get_scheme(value: Any) -> Any:
        return celtypes.StringType(urlsplit(str(value)).scheme)

    return {"substring": substring, "isURL": is_url, "url": url, "getScheme": get_scheme}


def _rules(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(path, value's path, rule) for every rule whose node is present in the value."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, value, rule
    if isinstance(value, dict):
        for key, sub in value.items():
            prop = (schema.get("properties") or {}).get(key)
            extra = schema.get("additionalProperties")
            child = prop if prop is not None else (extra if isinstance(extra, dict) else None)
            if child is not None:
                yield from _rules(child, sub, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _rules(schema["items"], item, f"{path}[{i}]")


def cel_problems(schema: Mapping[str, Any], obj: Mapping[str, Any]) -> list[str]:
    import celpy

    env = celpy.Environment()
    functions = _cel_functions()
    out = []
    for path, value, rule in _rules(schema, obj, ""):
        expression = rule["rule"]
        if "oldSelf" in expression:
            continue  # transition rules compare with a previous version; a creation has none
        program = env.program(env.compile(expression), functions=functions)
        result = program.evaluate({"self": celpy.json_to_cel(value)})
        if isinstance(result, celpy.CELEvalError):
            # cel-go's `has()` on an absent key is false, and an error on an absent optional field
            # makes the rule fail there too: report it, with the expression.
            out.append(f"{path or '.'}: cannot evaluate {expression!r}: {result}")
        elif not bool(result):
            out.append(f"{path or '.'}: {rule.get('message', expression)}")
    return out


def problems(obj: Mapping[str, Any]) -> list[str] | None:
    """What the API server would refuse in a custom resource; None when no CRD here defines its kind."""
    import jsonschema

    schema = schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        return None
    body = copy.deepcopy(dict(obj))
    strict = _strict(schema)
    # metadata is the API server's own (ObjectMeta), not part of the CRD's schema.
    strict.get("properties", {}).pop("metadata", None)
    body.pop("metadata", None)
    strict["properties"] = {**strict.get("properties", {}), "apiVersion": {}, "kind": {}}
    strict["required"] = [r for r in strict.get("required", []) if r != "metadata"]
    found = [
        f"{'.'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in jsonschema.Draft7Validator(strict).iter_errors(body)
    ]
    return found + cel_problems(schema, body)
