"""Check written Terraform against provider schemas (`terraform providers schema -json`).

python-hcl2 checks syntax only; the schema answers what a resource accepts. For every resource, data
source and provider block: the type exists; every argument and nested block is in the schema; required
arguments and blocks (`min_items >= 1`) are present; nothing computed-only, deprecated or over
`max_items` is written; literal values have the schema's type. The caller loads the schema files
(this module reads nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mpc.backends.terraform.hcl import Attribute, Block, Expr, Item, Value

# Arguments and blocks Terraform itself handles, on any resource or data source.
META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider"})
META_BLOCKS = frozenset({"lifecycle"})


def provider_of(type_name: str) -> str:
    return type_name.split("_", 1)[0]


class SchemaChecker:
    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        """`schemas` maps a provider's local name (google) to its entry under `provider_schemas`."""
        self.schemas = schemas

    def check(self, items: Sequence[Item]) -> list[str]:
        problems: list[str] = []
        for item in items:
            if not isinstance(item, Block):
                continue
            if item.type in ("resource", "data") and len(item.labels) == 2:
                problems += self._check_typed(item)
            elif item.type == "provider":
                problems += self._check_provider(item)
        return problems

    def _check_typed(self, block: Block) -> list[str]:
        type_name, name = block.labels
        where = f"{'data.' if block.type == 'data' else ''}{type_name}.{name}"
        schema = self.schemas.get(provider_of(type_name))
        if schema is None:
            return [f"{where}: no schema loaded for provider {provider_of(type_name)!r}"]
        table = schema.get("resource_schemas" if block.type == "resource" else "data_source_schemas", {})
        if type_name not in table:
            return [f"{where}: {block.type} type {type_name!r} does not exist in the provider schema"]
        return self._check_body(where, block.body, table[type_name]["block"], top=True)

    def _check_provider(self, block: Block) -> list[str]:
        (name,) = block.labels
        schema = self.schemas.get(name)
        if schema is None:
            return [f"provider.{name}: no schema loaded"]
        return self._check_body(f"provider.{name}", block.body, schema["provider"]["block"], top=False)

    def _check_body(
        self, where: str, body: Iterable[Item], schema: Mapping[str, Any], *, top: bool
    ) -> list[str]:
        problems: list[str] = []
        attributes: Mapping[str, Any] = schema.get("attributes", {})
        block_types: Mapping[str, Any] = schema.get("block_types", {})
        written: set[str] = set()
        counts: dict[str, int] = {}
        dynamic: set[str] = set()
        for item in body:
            if isinstance(item, Attribute):
                written.add(item.name)
                if top and item.name in META_ARGUMENTS:
                    continue
                spec = attributes.get(item.name)
                if spec is None:
                    hint = " (it is a nested block)" if item.name in block_types else ""
                    problems.append(f"{where}: argument {item.name!r} is not in the schema{hint}")
                    continue
                if spec.get("computed") and not (spec.get("optional") or spec.get("required")):
                    problems.append(f"{where}: {item.name!r} is computed-only and cannot be written")
                if spec.get("deprecated"):
                    problems.append(f"{where}: {item.name!r} is deprecated")
                mismatch = type_problem(item.value, spec.get("type"))
                if mismatch:
                    problems.append(f"{where}: {item.name!r} {mismatch}")
            elif isinstance(item, Block):
                if top and item.type in META_BLOCKS:
                    continue
                inner_where = f"{where}.{item.type}"
                target, content = item.type, item.body
                if item.type == "dynamic":
                    (target,) = item.labels
                    inner_where = f"{where}.dynamic[{target}]"
                    contents = [b for b in item.body if isinstance(b, Block) and b.type == "content"]
                    if len(contents) != 1:
                        problems.append(f"{inner_where}: a dynamic block needs exactly one content block")
                        continue
                    content = contents[0].body
                    dynamic.add(target)
                spec = block_types.get(target)
                if spec is None:
                    hint = " (it is an argument)" if target in attributes else ""
                    problems.append(f"{where}: block {target!r} is not in the schema{hint}")
                    continue
                if spec["block"].get("deprecated"):
                    problems.append(f"{where}: block {target!r} is deprecated")
                counts[target] = counts.get(target, 0) + 1
                problems += self._check_body(inner_where, content, spec["block"], top=False)
        for name, spec in sorted(attributes.items()):
            if spec.get("required") and name not in written:
                problems.append(f"{where}: required argument {name!r} is missing")
        for name, spec in sorted(block_types.items()):
            n = counts.get(name, 0)
            if name in dynamic:
                continue  # its count is known only at plan time
            if n < (spec.get("min_items") or 0):
                problems.append(f"{where}: block {name!r} is required at least {spec['min_items']} time(s)")
            limit = 1 if spec.get("nesting_mode") == "single" else (spec.get("max_items") or 0)
            if limit and n > limit:
                problems.append(f"{where}: block {name!r} is written {n} times, at most {limit} allowed")
        return problems


def type_problem(value: Value, type_spec: Any) -> str | None:
    """Why a literal does not fit a schema type (cty JSON form), or None (expressions are not judged)."""
    if isinstance(value, Expr) or value is None or type_spec is None or type_spec == "dynamic":
        return None
    if type_spec == "string":
        ok = isinstance(value, str)
    elif type_spec == "bool":
        ok = isinstance(value, bool)
    elif type_spec == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(type_spec, list) and type_spec[0] in ("list", "set"):
        if not isinstance(value, list | tuple):
            return f"should be a {type_spec[0]}"
        for element in value:
            problem = type_problem(element, type_spec[1])
            if problem:
                return f"has an element that {problem}"
        return None
    elif isinstance(type_spec, list) and type_spec[0] == "map":
        if not isinstance(value, Mapping):
            return "should be a map"
        for element in value.values():
            problem = type_problem(element, type_spec[1])
            if problem:
                return f"has a value that {problem}"
        return None
    else:
        return None
    return None if ok else f"should be a {type_spec}, not {type(value).__name__}"
