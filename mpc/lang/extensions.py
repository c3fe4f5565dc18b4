"""`extensions:` blocks: plugin configuration in mesh.yaml, checked against each plugin's JSON Schema.

A key of `extensions` (at the top level or in a service) names an installed plugin, a backend or an
archetype. The plugin may publish a JSON Schema for its block; mpc validates the block with jsonschema
and reports every violation at the line it comes from, so a plugin never has to parse positions itself.

- A backend's `extension_schema` checks the top-level block, its `service_extension_schema` the blocks
  in services. A level the backend publishes no schema for is passed through unchecked.
- An archetype configures the services that use it: its `extension_schema` checks the service's block,
  and is checked even when the block is absent (as `{}`), so a required setting cannot be forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mpc.errors import Code, Diagnostic, Severity, did_you_mean
from mpc.lang.archetypes import Archetype
from mpc.lang.load import Document, PathKey, dotted

if TYPE_CHECKING:
    from jsonschema import ValidationError

    from mpc.lang.spec import Mesh

Schema = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Owner:
    """The plugin behind one `extensions` key, and the schemas it publishes for each level."""

    kind: str  # backend | archetype
    name: str
    distribution: str
    mesh_schema: Schema | None
    service_schema: Schema | None


class Plugins(Protocol):
    """What the installed plugins tell the front half (mpc.render.plugins.Installed is the real one)."""

    @property
    def archetypes(self) -> Mapping[str, Archetype]: ...

    def owners(self, names: Iterable[str]) -> dict[str, Owner]:
        """The plugins among `names` with the schemas of their blocks; only these are imported."""
        ...

    def names(self) -> list[str]:
        """Every installed backend and archetype (for "did you mean")."""
        ...


def _hint(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    expected: Any = error.validator_value
    if error.validator == "enum":
        return "one of: " + ", ".join(str(v) for v in expected)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [k for k in expected if k not in error.instance]
        props = schema.get("properties", {})
        described = [f"{k}: {props[k]['description']}" for k in missing if "description" in props.get(k, {})]
        return "; ".join(described) or f"add {', '.join(missing)}"
    description = schema.get("description")
    return str(description) if description else ""


def validate_block(
    doc: Document, where: PathKey, block: Any, schema: Schema, owner: Owner, *, anchor: PathKey | None = None
) -> list[Diagnostic]:
    """Every violation of `schema` by `block` (written at `where`), located in the mesh file.

    `anchor` is where to point when the block is absent from the file (an archetype's required block).
    """
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    validator = cls(dict(schema), format_checker=cls.FORMAT_CHECKER)
    label = f"{owner.kind} {owner.name!r}"
    out: list[Diagnostic] = []
    errors = sorted(validator.iter_errors(block), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        inner = tuple(error.absolute_path)
        path = (*where, *inner)
        at = doc.location(path) if anchor is None else doc.location(anchor)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = list(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
            patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) else {}
            for key in sorted(k for k in error.instance if k not in known):
                if any(re.search(p, key) for p in patterns):
                    continue
                out.append(
                    Diagnostic(
                        Code.EXTENSION_BLOCK,
                        f"{dotted((*path, key))}: unknown key {key!r} for {label}",
                        doc.location((*path, key), key=True),
                        did_you_mean(key, known),
                    )
                )
            continue
        text = error.message
        if error.validator == "pattern":  # the regular expression itself helps nobody; the hint explains
            text = f"{error.instance!r} is not in the expected form"
        if anchor is None:
            message = f"{dotted(path)}: {text} ({label})"
        else:  # the block is not written at all
            message = f"{dotted(where[:-2])}: {label} needs {dotted(where[-2:])}: {text}"
        out.append(Diagnostic(Code.EXTENSION_BLOCK, message, at, _hint(error)))
    return out


def check_extensions(doc: Document, mesh: Mesh, plugins: Plugins) -> list[Diagnostic]:
    """Validate every `extensions` block of the mesh against the schema of the plugin it names."""
    blocks: list[tuple[PathKey, str, Any, str | None]] = []  # (path of the block, plugin, block, service)
    for name, block in mesh.extensions.items():
        blocks.append((("extensions", name), name, block, None))
    for svc_name, svc in mesh.services.items():
        for name, block in svc.extensions.items():
            blocks.append((("services", svc_name, "extensions", name), name, block, svc_name))
    uses = {svc.archetype for svc in mesh.services.values()}
    found = plugins.owners({b[1] for b in blocks} | uses)
    known = plugins.names()
    out: list[Diagnostic] = []
    for path, name, block, service in blocks:
        owner = found.get(name)
        if owner is None:
            out.append(
                Diagnostic(
                    Code.UNKNOWN_PLUGIN,
                    f"{dotted(path)}: no installed plugin is named {name!r}",
                    doc.location(path, key=True),
                    did_you_mean(name, known) or "`mpc plugins` lists the installed backends and archetypes",
                )
            )
            continue
        if owner.kind == "archetype":
            if service is None:
                out.append(
                    Diagnostic(
                        Code.EXTENSION_BLOCK,
                        f"extensions.{name}: archetype {name!r} is set per service, not at the top level",
                        doc.location(path, key=True),
                        f"move it to services.<name>.extensions.{name} of the services with archetype {name}",
                    )
                )
                continue
            if mesh.services[service].archetype != name:
                out.append(
                    Diagnostic(
                        Code.EXTENSION_BLOCK,
                        f"{dotted(path)}: no effect: service {service!r} does not use archetype {name!r}",
                        doc.location(path, key=True),
                        f"set services.{service}.archetype: {name}, or remove the block",
                        Severity.WARNING,
                    )
                )
                continue
        schema = owner.mesh_schema if service is None else owner.service_schema
        if schema is not None:
            out.extend(validate_block(doc, path, block, schema, owner))
    # An archetype's block is required as far as its schema says so, even when it is not written.
    for svc_name, svc in mesh.services.items():
        owner = found.get(svc.archetype)
        if owner is None or owner.kind != "archetype" or owner.service_schema is None:
            continue
        if svc.archetype not in svc.extensions:
            path = ("services", svc_name, "extensions", svc.archetype)
            anchor = ("services", svc_name, "archetype")
            out.extend(validate_block(doc, path, {}, owner.service_schema, owner, anchor=anchor))
    return out
