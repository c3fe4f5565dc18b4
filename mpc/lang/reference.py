"""docs/mesh-reference.md read as data: the one source of what every field means.

The reference documents each spec model in a section (found by the dotted path the model is reached by,
and its provider for the cluster variants) with a table of `| key | type | default | meaning |` rows.
The JSON Schema takes its descriptions from the meaning column (mpc.lang.schema), so what an editor shows
on hover is what the reference says; tests/test_docs.py checks that every field has its row.

The package carries the reference as `mpc/lang/mesh-reference.md`, a link to docs/mesh-reference.md, so
that `mpc schema` works from an installed wheel too.
"""

from __future__ import annotations

import re
import types
import typing
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

REFERENCE_FILE = "mesh-reference.md"

ModelAt = tuple[str, type[BaseModel], str | None]  # dotted path, model, provider


def reference_text() -> str:
    return (resources.files("mpc.lang") / REFERENCE_FILE).read_text(encoding="utf-8")


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def models(model: type[BaseModel], path: str = "", provider: str | None = None) -> list[ModelAt]:
    """Every spec model reachable from `model`, with the dotted path the reference documents it under
    and the provider it belongs to (a GKE node pool and a DigitalOcean one have separate sections)."""
    provider = _discriminator(model) or provider
    out = [(path, model, provider)]
    for name, info in model.model_fields.items():
        key = info.alias or name
        for tp in _unwrap(info.annotation):
            origin = typing.get_origin(tp)
            inner, suffix = tp, ""
            if origin is dict:
                inner, suffix = typing.get_args(tp)[1], ".<name>"
            elif origin is list:
                inner, suffix = typing.get_args(tp)[0], "[]"
            for concrete in _unwrap(inner):
                if isinstance(concrete, type) and issubclass(concrete, BaseModel):
                    out.extend(models(concrete, f"{path}.{key}{suffix}".lstrip("."), provider))
    return out


def _discriminator(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("provider")
    if info is None:
        return None
    literal = [t for t in _unwrap(info.annotation) if typing.get_origin(t) is typing.Literal]
    return str(typing.get_args(literal[0])[0]) if literal and info.is_required() else None


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) for every heading; a body runs to the next heading."""
    parts = re.split(r"^(#{2,4} .*)$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def section_for(path: str, provider: str | None, found: list[tuple[str, str]]) -> str | None:
    wanted = f"`{path}`" if path else "Top level"
    for heading, body in found:
        if wanted in heading and (provider is None or provider in heading):
            return body
    return None


_ROW = re.compile(
    r"^\| `([A-Za-z0-9]+)` \|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|\s*$", re.M
)


def rows(body: str) -> dict[str, str]:
    """key -> meaning, for every row of a section's key table."""
    return {m.group(1): plain(m.group(4)) for m in _ROW.finditer(body)}


def plain(cell: str) -> str:
    """A table cell as hover text: links become their text, escaped pipes plain pipes."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", cell.strip())
    return text.replace("\\|", "|")


@cache
def descriptions() -> dict[str, dict[str, str]]:
    """Model class name -> field alias -> meaning, from the first section that documents the model."""
    from mpc.lang.spec import Mesh

    found = sections(reference_text())
    out: dict[str, dict[str, str]] = {}
    for path, model, provider in models(Mesh):
        if model.__name__ in out:
            continue
        body = section_for(path, provider, found)
        if body is not None:
            out[model.__name__] = rows(body)
    return out
