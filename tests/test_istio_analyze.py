"""mpc's own analysis of the generated Istio objects: located E313 findings before anything is written."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import example_meshes, run_mpc
from test_istio_support import render_file

from mpc.backends.istio import cluster_folders, environment_folder, service_objects
from mpc.backends.istio.analyze import analyze
from mpc.backends.istio.common import Generated, Scope, ServiceScope
from mpc.errors import Location
from mpc.graph.context import service_contexts

ACME = next(p for p in example_meshes() if p.parent.name == "acme")


def _objects(scope: Scope) -> list[Generated]:
    """Every Istio object of an environment: its folders' and its services' files'."""
    folders = [environment_folder(scope), *cluster_folders(scope)]
    contexts = service_contexts(scope.model, scope.graph)
    services = [
        g
        for svc in scope.services
        for g in service_objects(ServiceScope(scope.model, scope.env, contexts[svc.name]))
    ]
    return [g for f in folders for g in f.objects()] + services


def _generated(env: str = "prod") -> tuple[Scope, list[Generated]]:
    front, _ = render_file(ACME)
    scope = Scope(front.model, front.graph, front.model.environments[env])
    return scope, _objects(scope)


def _find(objs: list[Generated], kind: str, name: str) -> Generated:
    return next(g for g in objs if g.kind == kind and g.name == name)


def _replace(objs: list[Generated], old: Generated, obj: dict[str, Any]) -> list[Generated]:
    return [Generated(obj, old.source) if g is old else g for g in objs]


@pytest.mark.slow
@pytest.mark.parametrize("mesh", example_meshes(), ids=[m.parent.name for m in example_meshes()])
def test_the_examples_have_no_findings(mesh: Path) -> None:
    front, _ = render_file(mesh)
    for env in front.model.environments.values():
        scope = Scope(front.model, front.graph, env)
        assert analyze(scope, _objects(scope)) == []


def test_a_principal_without_a_service_account_is_located() -> None:
    scope, objs = _generated()
    policy = _find(objs, "AuthorizationPolicy", "data")
    obj = copy.deepcopy(policy.obj)
    obj["spec"]["rules"][1]["from"][0]["source"]["principals"].append("cluster.local/ns/acme-prod/sa/brian")
    (finding,) = analyze(scope, _replace(objs, policy, obj))
    assert finding.code == "E313"
    assert "brian" in finding.message and "ServiceAccount" in finding.message
    assert finding.location == policy.source == scope.model.services["data"].source
    assert "brain" in finding.hint


def test_a_principal_of_another_namespace_is_reported() -> None:
    scope, objs = _generated()
    policy = _find(objs, "AuthorizationPolicy", "auth")
    obj = copy.deepcopy(policy.obj)
    obj["spec"]["rules"][0]["from"][0]["source"]["principals"] = ["cluster.local/ns/acme-staging/sa/brain"]
    findings = analyze(scope, _replace(objs, policy, obj))
    assert [f.code for f in findings] == ["E313"]


def test_a_host_that_is_neither_service_nor_entry_is_reported() -> None:
    scope, objs = _generated()
    rule = _find(objs, "DestinationRule", "auth")
    obj = copy.deepcopy(rule.obj)
    obj["spec"]["host"] = "auth.acme-staging.svc.cluster.local"
    (finding,) = analyze(scope, _replace(objs, rule, obj))
    assert "auth.acme-staging.svc.cluster.local" in finding.message and "DestinationRule" in finding.message


def test_two_virtual_services_claiming_one_host_are_reported_with_both_locations() -> None:
    scope, objs = _generated()
    brain = _find(objs, "VirtualService", "brain")
    obj = copy.deepcopy(brain.obj)
    obj["spec"]["hosts"] = ["auth.acme-prod.svc.cluster.local"]
    findings = analyze(scope, _replace(objs, brain, obj))
    claim = [f for f in findings if "already claimed" in f.message]
    assert len(claim) == 1
    first = _find(objs, "VirtualService", "auth")
    assert {claim[0].location, claim[0].notes[0][0]} == {brain.source, first.source}


def test_a_selector_of_no_workload_is_reported() -> None:
    scope, objs = _generated()
    sidecar = _find(objs, "Sidecar", "brain")
    obj = copy.deepcopy(sidecar.obj)
    obj["spec"]["workloadSelector"]["labels"] = {"app.kubernetes.io/name": "brane"}
    (finding,) = analyze(scope, _replace(objs, sidecar, obj))
    assert "brane" in finding.message


def test_a_dependency_missing_from_an_environment_fails_the_build(tmp_path: Path) -> None:
    """brain runs everywhere but would depend on ledger, which runs only in prod: staging cannot work."""
    text = ACME.read_text().replace(
        "dependsOn: [auth, data, openai]", "dependsOn: [auth, data, openai, ledger]"
    )
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(text)
    result = run_mpc("build", mesh, "-o", tmp_path / "out", "--backend", "istio")
    assert result.code == 2, result.err
    brain_line = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("  brain:"))
    assert f"mesh.yaml:{brain_line}:3: error[E313]: Sidecar acme-staging/brain" in result.err
    assert "ledger.acme-staging.svc.cluster.local" in result.err
    assert not (tmp_path / "out").exists()
    # In prod alone it would be fine: the finding is about staging only.
    assert "acme-prod" not in result.err


def test_findings_are_located_in_the_mesh_file() -> None:
    _, objs = _generated()
    assert all(isinstance(g.source, Location) and g.source.line > 0 for g in objs)
