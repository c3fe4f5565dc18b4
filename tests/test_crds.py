"""Every custom resource of every example validates against the real CRDs, CEL rules included.

Istio (1.24), Argo CD, Flux and Prometheus Operator objects, rendered by every backend, checked as the
API server would check them on creation (tests/crdcheck.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import example_meshes
from crdcheck import CRDS, problems

from mpc.workflow.front import front_file, render

pytest.importorskip("celpy", reason="cel-python is not installed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CRDS.is_dir(), reason=f"no CRDs at {CRDS} (shared data folder absent)"),
]

EXAMPLES = example_meshes()


def _documents(mesh: Path) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for art in render(front_file(mesh, "mesh.yaml")).artifacts:
        if isinstance(art.content, str):
            continue
        docs = [art.content] if isinstance(art.content, Mapping) else list(art.content)
        out.extend(
            (art.path, d) for d in docs if isinstance(d, Mapping) and "kind" in d and "apiVersion" in d
        )
    return out


@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_every_custom_resource_passes_its_crd_and_cel_rules(mesh: Path) -> None:
    checked: dict[str, int] = {}
    found: list[str] = []
    for path, doc in _documents(mesh):
        result = problems(doc)
        if result is None:
            continue
        checked[doc["kind"]] = checked.get(doc["kind"], 0) + 1
        found.extend(f"{path}: {doc['kind']}/{doc['metadata']['name']}: {p}" for p in result)
    assert found == []
    assert {"AuthorizationPolicy", "PeerAuthentication", "Sidecar"} <= set(checked), checked


def test_the_check_refuses_what_the_api_server_refuses() -> None:
    entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "x"},
        "spec": {
            "hosts": ["db.example"],
            "addresses": ["10.0.0.0/24"],
            "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}],
            "resolution": "STATIC",
            "endpoints": [{"address": "10.0.0.3"}],
        },
    }
    assert problems(entry) == []
    dns = {**entry, "spec": {**entry["spec"], "resolution": "DNS"}}
    assert any("CIDR addresses are allowed only for NONE/STATIC resolution" in p for p in problems(dns) or [])
    unknown = {**entry, "spec": {**entry["spec"], "hostz": ["x"]}}
    assert any("hostz" in p for p in problems(unknown) or [])
    twice = {**entry, "spec": {**entry["spec"], "ports": entry["spec"]["ports"] * 2}}
    assert any("port number cannot be duplicated" in p for p in problems(twice) or [])
