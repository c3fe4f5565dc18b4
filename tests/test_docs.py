"""The user documentation keeps up with the code: every spec field is in docs/mesh-reference.md, every
diagnostic code in docs/errors.md."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import pytest
from conftest import ROOT
from pydantic import BaseModel

from mpc.errors import CODES
from mpc.lang import spec

REFERENCE = ROOT / "docs" / "mesh-reference.md"
ERRORS = ROOT / "docs" / "errors.md"


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _models(
    model: type[BaseModel], path: str = "", provider: str | None = None
) -> list[tuple[str, type[BaseModel], str | None]]:
    """Every spec model reachable from Mesh, with the dotted path the reference documents it under and
    the provider it belongs to (a GKE node pool and a DigitalOcean one have separate sections)."""
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
                    out.extend(_models(concrete, f"{path}.{key}{suffix}".lstrip("."), provider))
    return out


def _discriminator(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("provider")
    if info is None:
        return None
    literal = [t for t in _unwrap(info.annotation) if typing.get_origin(t) is typing.Literal]
    return str(typing.get_args(literal[0])[0]) if literal and info.is_required() else None


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) for every heading; a body runs to the next heading."""
    parts = re.split(r"^(#{2,4} .*)$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _section_for(path: str, provider: str | None, sections: list[tuple[str, str]]) -> str | None:
    wanted = f"`{path}`" if path else "Top level"
    for heading, body in sections:
        if wanted in heading and (provider is None or provider in heading):
            return body
    return None


MODELS = _models(spec.Mesh)


@pytest.mark.parametrize(
    ("path", "model", "provider"), MODELS, ids=[f"{p or 'top'}:{m.__name__}" for p, m, _ in MODELS]
)
def test_every_field_is_documented(path: str, model: type[BaseModel], provider: str | None) -> None:
    sections = _sections(REFERENCE.read_text(encoding="utf-8"))
    body = _section_for(path, provider, sections)
    assert body is not None, f"docs/mesh-reference.md has no section for `{path}` ({model.__name__})"
    rows = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", body, flags=re.MULTILINE))
    fields = {info.alias or name for name, info in model.model_fields.items()}
    missing = sorted(fields - rows)
    assert missing == [], f"`{path or 'top level'}` fields missing from docs/mesh-reference.md: {missing}"
    unknown = sorted(rows - fields)
    assert unknown == [], f"docs/mesh-reference.md documents `{path}` fields that do not exist: {unknown}"


def test_the_walk_sees_the_whole_spec() -> None:
    names = {m.__name__ for _, m, _ in MODELS}
    assert {"Mesh", "Route", "GkeNodePool", "DoNodePool", "CrdField", "SecretRef", "Slo"} <= names


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_is_explained_with_an_example(code: str) -> None:
    sections = dict(_sections(ERRORS.read_text(encoding="utf-8")))
    heading = next((h for h in sections if h.startswith(f"### {code}:")), None)
    assert heading is not None, f"docs/errors.md has no section for {code}"
    body = sections[heading]
    assert f"[{code}]" in body, f"docs/errors.md: {code} has no example diagnostic"
    assert len(body.split()) > 15, f"docs/errors.md: {code} needs an explanation and a fix"


def test_errors_doc_lists_no_unknown_codes() -> None:
    documented = set(re.findall(r"^### ([EW]\d{3}):", ERRORS.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert documented == set(CODES)
