"""`mpc verify`: every example and random meshes verify clean; each seeded fault is caught by the right
layer, naming the object that decided; mpc's own overlay reading equals kubectl kustomize's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, example_meshes, run_mpc

from mpc.workflow.verify import kubectl_overlay, render_overlay

EXAMPLES = example_meshes()
ACME = ROOT / "examples/acme/mesh.yaml"


@pytest.fixture(scope="module")
def acme_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("acme") / "out"
    assert run_mpc("build", ACME, "-o", out, "-q", "--no-cache").code == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_every_example_verifies_without_disagreement(mesh: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "-q", "--no-cache").code == 0
    result = run_mpc("verify", out, "--mesh", mesh)
    assert result.code == 0, result.err
    assert "error[" not in result.err
    report = json.loads(run_mpc("verify", out, "--mesh", mesh, "--format", "json").out)
    assert report["findings"] == [] or all(f["severity"] == "warning" for f in report["findings"])
    for overlay in report["overlays"]:
        assert overlay["cells"]
        for cell in overlay["cells"]:
            for layer, answer in cell["layers"].items():
                for entry in answer if isinstance(answer, list) else [answer]:
                    assert entry["allowed"] == entry["meant"], (overlay["path"], cell, layer)


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _save(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _delete_authorization_policy(out: Path) -> None:
    path = out / "istio/prod/services/data.yaml"
    _save(path, [d for d in _load(path) if d["kind"] != "AuthorizationPolicy"])


def _widen_network_policy(out: Path) -> None:
    path = out / "kustomize/overlays/prod/gke-prod/app/network-policies.yaml"
    docs = _load(path)
    for doc in docs:
        if doc["metadata"]["name"] == "auth":
            for rule in doc["spec"]["ingress"]:
                rule.pop("ports", None)
    _save(path, docs)


def _drop_sidecar_host(out: Path) -> None:
    path = out / "istio/prod/services/brain.yaml"
    docs = _load(path)
    for doc in docs:
        if doc["kind"] == "Sidecar":
            doc["spec"]["egress"][0]["hosts"].remove("./data.acme-prod.svc.cluster.local")
    _save(path, docs)


def _remove_service_entry(out: Path) -> None:
    (out / "istio/prod/external/stripe.yaml").unlink()
    path = out / "istio/prod/kustomization.yaml"
    (kustomization,) = _load(path)
    kustomization["resources"].remove("external/stripe.yaml")
    _save(path, [kustomization])


def _permissive(out: Path) -> None:
    path = out / "istio/prod/namespace-policy.yaml"
    docs = _load(path)
    for doc in docs:
        if doc["kind"] == "PeerAuthentication":
            doc["spec"]["mtls"]["mode"] = "PERMISSIVE"
    _save(path, docs)


def _deny_an_edge(out: Path) -> None:
    path = out / "istio/prod/namespace-policy.yaml"
    deny = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "block-auth", "namespace": "acme-prod"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "data"}},
            "action": "DENY",
            "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/acme-prod/sa/auth"]}}]}],
        },
    }
    _save(path, [*_load(path), deny])


FAULTS: list[tuple[Callable[[Path], None], str, str]] = [
    # (fault, a flow and the layer that must report it, the object that decided)
    (
        _delete_authorization_policy,
        "auth -> data:8080 for GET /: AuthorizationPolicy denies",
        "AuthorizationPolicy acme-prod/allow-nothing",
    ),
    (
        _widen_network_policy,
        "brain -> auth:65535: NetworkPolicy ingress allows",
        "NetworkPolicy acme-prod/auth",
    ),
    (_drop_sidecar_host, "brain -> data:8080: Sidecar denies", "Sidecar acme-prod/brain"),
    (
        _remove_service_entry,
        "billing-worker -> stripe:443: Sidecar denies",
        "no ServiceEntry registers api.stripe.com:443",
    ),
    (_permissive, "outside -> data:8080: PeerAuthentication allows", "PeerAuthentication acme-prod/default"),
    (
        _deny_an_edge,
        "auth -> data:8080 for GET /: AuthorizationPolicy denies",
        "AuthorizationPolicy acme-prod/block-auth",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "flow", "decided"), FAULTS, ids=[f[0].__name__.strip("_") for f in FAULTS])
def test_seeded_faults_are_caught_by_the_right_layer(
    fault: Callable[[Path], None], flow: str, decided: str, acme_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(acme_tree, out)
    fault(out)
    result = run_mpc("verify", out, "--mesh", ACME)
    assert result.code == 1, result.err
    lines = [line for line in result.err.splitlines() if "error[E701]" in line and flow in line]
    assert lines, result.err
    assert decided in lines[0]
    assert lines[0].startswith(f"{ACME}:")  # located in the mesh


def test_verify_reports_the_retry_bound_and_a_json_matrix(acme_tree: Path) -> None:
    report = json.loads(run_mpc("verify", acme_tree, "--mesh", ACME, "--format", "json").out)
    worst = {(w["method"], w["attempts"]) for r in report["retries"] for w in r["worst"]}
    assert ("POST", 1) in worst  # a POST that reached a service is never repeated
    assert ("GET", 27) in worst  # /brain -> brain -> auth -> data, three attempts per hop
    assert any(f["code"] == "W701" for f in report["findings"])
    assert report["layers"] == ["network-egress", "network-ingress", "mtls", "authorization", "sidecar"]


def test_a_tree_from_another_mesh_is_refused(acme_tree: Path, tmp_path: Path) -> None:
    other = tmp_path / "mesh.yaml"
    other.write_text(ACME.read_text().replace("retries: 2", "retries: 1"))
    result = run_mpc("verify", acme_tree, "--mesh", other)
    assert result.code == 2 and "error[E702]" in result.err
    assert run_mpc("verify", acme_tree).code == 2  # no mpc.input.yaml and no --mesh


@pytest.mark.slow
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_mpc_reads_overlays_as_kubectl_kustomize_does(mesh: Path, tmp_path: Path, kubectl: str) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "-q", "--no-cache").code == 0

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        meta = obj["metadata"]
        return (obj["kind"], meta.get("namespace", ""), meta["name"])

    for overlay in sorted(p.parent for p in (out / "kustomize/overlays").rglob("kustomization.yaml")):
        if overlay.name == "app":
            continue
        ours = sorted(render_overlay(overlay), key=key)
        theirs = sorted(kubectl_overlay(kubectl, overlay), key=key)
        assert [key(o) for o in ours] == [key(o) for o in theirs]
        assert ours == theirs, overlay


@pytest.mark.slow
def test_forty_random_meshes_verify_clean(tmp_path: Path) -> None:
    for seed in range(40):
        mesh = tmp_path / f"mesh-{seed}.yaml"
        text = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks/gen.py"), "12", "--seed", str(seed)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        mesh.write_text(text)
        out = tmp_path / f"out-{seed}"
        built = run_mpc(
            "build",
            mesh,
            "-o",
            out,
            "-q",
            "--no-cache",
            "--backend",
            "kustomize",
            "--backend",
            "istio",
            "--backend",
            "envoy",
        )
        assert built.code == 0, built.err
        result = run_mpc("verify", out, "--mesh", mesh, "--renderer", "mpc")
        assert result.code == 0, f"seed {seed}:\n{result.err[:3000]}"
        shutil.rmtree(out)
