"""Every Istio object of every example validates against Istio's schemas, unknown fields rejected.

The schemas are the cloudcoil-models-istio pydantic models (Istio 1.24) with `extra="forbid"` forced onto
every model class (mpc.backends.istio.validate); without that they drop unknown fields silently.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import example_meshes
from test_istio_support import documents, render_file

EXAMPLES = example_meshes()
ACME = next(p for p in EXAMPLES if p.parent.name == "acme")

pytest.importorskip("cloudcoil.models.istio", reason="cloudcoil-models-istio is not installed")

from mpc.backends.istio.validate import is_istio, problems, validate_artifacts  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_every_istio_object_validates_strictly(mesh: Path) -> None:
    _, artifacts = render_file(mesh)
    checked: dict[str, int] = {}
    for path, doc in documents(artifacts):
        if not is_istio(doc):
            continue
        assert problems(doc) == [], f"{path}: {doc['kind']} {doc['metadata']['name']}"
        checked[doc["kind"]] = checked.get(doc["kind"], 0) + 1
    assert validate_artifacts(artifacts) == []
    # Each kind the backend writes for these examples was checked at least once.
    expected = {
        "PeerAuthentication",
        "AuthorizationPolicy",
        "VirtualService",
        "DestinationRule",
        "Sidecar",
    }
    if mesh == ACME:
        expected |= {"RequestAuthentication", "ServiceEntry", "Telemetry", "Gateway"}
    assert expected <= set(checked), checked


def _first(artifacts_docs: list[tuple[str, Mapping[str, Any]]], kind: str) -> dict[str, Any]:
    """The first object of a kind with a non-empty spec (allow-nothing has none to misspell)."""
    return copy.deepcopy(dict(next(d for _, d in artifacts_docs if d["kind"] == kind and d["spec"])))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("AuthorizationPolicy", ("spec", "rules", 0, "from", 0, "source"), "principal"),
        ("Sidecar", ("spec", "egress", 0), "host"),
        ("DestinationRule", ("spec", "trafficPolicy", "outlierDetection"), "consecutive5xx"),
        ("VirtualService", ("spec", "http", 0, "retries"), "retryOnn"),
        ("Gateway", ("spec", "servers", 0, "tls"), "modes"),
        ("Telemetry", ("spec", "tracing", 0), "samplingPercentage"),
        ("RequestAuthentication", ("spec", "jwtRules", 0), "jwksUrl"),
    ],
)
def test_a_misspelt_field_is_rejected(kind: str, path: tuple[str | int, ...], field: str) -> None:
    """The strict models catch what the stock ones drop silently: proof that the check above has teeth."""
    _, artifacts = render_file(ACME)
    doc = _first(list(documents(artifacts)), kind)
    assert problems(doc) == []
    target: Any = doc
    for step in path:
        target = target[step]
    target[field] = "x"
    found = problems(doc)
    assert found and any(field in p for p in found), found


@pytest.mark.slow
def test_a_wrong_enum_is_rejected() -> None:
    _, artifacts = render_file(ACME)
    doc = _first(list(documents(artifacts)), "PeerAuthentication")
    doc["spec"]["mtls"]["mode"] = "STRICTEST"
    assert problems(doc)
