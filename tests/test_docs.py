"""The user documentation keeps up with the code: every spec field is in docs/mesh-reference.md, every
diagnostic code in docs/errors.md."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from pydantic import BaseModel

from mpc.errors import CODES
from mpc.lang import spec
from mpc.lang.reference import models, section_for, sections

REFERENCE = ROOT / "docs" / "mesh-reference.md"
ERRORS = ROOT / "docs" / "errors.md"


MODELS = models(spec.Mesh)


@pytest.mark.parametrize(
    ("path", "model", "provider"), MODELS, ids=[f"{p or 'top'}:{m.__name__}" for p, m, _ in MODELS]
)
def test_every_field_is_documented(path: str, model: type[BaseModel], provider: str | None) -> None:
    found = sections(REFERENCE.read_text(encoding="utf-8"))
    body = section_for(path, provider, found)
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
    by_heading = dict(sections(ERRORS.read_text(encoding="utf-8")))
    heading = next((h for h in by_heading if h.startswith(f"### {code}:")), None)
    assert heading is not None, f"docs/errors.md has no section for {code}"
    body = by_heading[heading]
    assert f"[{code}]" in body, f"docs/errors.md: {code} has no example diagnostic"
    assert len(body.split()) > 15, f"docs/errors.md: {code} needs an explanation and a fix"


def test_errors_doc_lists_no_unknown_codes() -> None:
    documented = set(re.findall(r"^### ([EW]\d{3}):", ERRORS.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert documented == set(CODES)
