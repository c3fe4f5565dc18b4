"""The gitops backend: Argo CD Applications / Flux Kustomizations per overlay, and CODEOWNERS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, to_files
from realtools import kustomize_docs

from mpc.graph.front import Front
from mpc.render.api import Artifact
from mpc.workflow.front import front_text, render

ACME = EXAMPLES / "acme" / "mesh.yaml"
SEED = EXAMPLES / "local-api-gateway" / "mesh.yaml"


def gitops(text: str) -> tuple[Front, dict[str, Artifact]]:
    front = front_text(text)
    return front, {a.path: a for a in render(front, ["gitops"]).artifacts}


def doc(art: Artifact) -> dict[str, Any]:
    assert isinstance(art.content, dict)
    return art.content


def flux_text() -> str:
    return ACME.read_text().replace("engine: argocd", "engine: flux")


def test_no_gitops_section_means_no_gitops_folder() -> None:
    _, arts = gitops(SEED.read_text())
    assert arts == {}


def test_an_argocd_application_per_overlay() -> None:
    front, arts = gitops(ACME.read_text())
    model = front.model
    apps = {
        p: doc(a) for p, a in arts.items() if p.startswith("gitops/argocd/apps/") and "kustomization" not in p
    }
    assert len(apps) == len(model.overlays) == 3
    by_name = {a["metadata"]["name"]: a for a in apps.values()}
    prod = by_name["acme-prod-gke-prod"]
    assert prod["apiVersion"] == "argoproj.io/v1alpha1" and prod["kind"] == "Application"
    assert prod["metadata"]["namespace"] == "argocd"
    assert prod["spec"]["source"] == {
        "repoURL": "https://github.com/acme/gitops.git",
        "targetRevision": "main",
        "path": "rendered/kustomize/overlays/prod/gke-prod",
    }
    assert prod["spec"]["destination"] == {"name": "gke-prod", "namespace": "acme-prod"}
    policy = prod["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in policy["syncOptions"]
    # Staging is listed first in mesh.yaml, so it syncs in an earlier wave than prod.
    waves = {
        a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for a in apps.values()
    }
    assert waves == {"acme-staging-do-ams": 0, "acme-prod-gke-prod": 1, "acme-prod-do-ams": 1}
    for overlay in model.overlays:
        app = by_name[f"acme-{overlay.environment}-{overlay.cluster}"]
        assert app["spec"]["source"]["path"] == f"rendered/{overlay.path}"
        assert app["metadata"]["annotations"]["masterproxy.dev/source"].startswith("mesh.yaml#environments.")


def test_the_root_app_of_apps_syncs_the_apps_folder(tmp_path: Path) -> None:
    _, arts = gitops(ACME.read_text())
    root = doc(arts["gitops/argocd/root.yaml"])
    assert root["spec"]["source"]["path"] == "rendered/gitops/argocd/apps"
    assert root["spec"]["destination"] == {"name": "in-cluster", "namespace": "argocd"}
    # What Argo CD renders from that folder is exactly the child Applications.
    for path, data in to_files(arts.values()).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    shown = kustomize_docs(tmp_path / "gitops/argocd/apps")
    children = [
        a for p, a in arts.items() if p.startswith("gitops/argocd/apps/") and "kustomization" not in p
    ]
    assert [d["kind"] for d in shown] == ["Application"] * len(children)


def test_app_sources_are_folders_the_kustomize_backend_renders() -> None:
    front = front_text(ACME.read_text())
    rendered = render(front).artifacts
    paths = {a.path for a in rendered}
    if not any(p.startswith("kustomize/overlays/") for p in paths):
        pytest.skip("the kustomize backend is not installed")
    for art in rendered:
        if art.path.startswith("gitops/argocd/apps/") and not art.path.endswith("kustomization.yaml"):
            source = doc(art)["spec"]["source"]["path"].removeprefix("rendered/")
            assert f"{source}/kustomization.yaml" in paths


def test_flux_kustomizations_per_overlay_with_promotion_order() -> None:
    _, arts = gitops(flux_text())
    repo = doc(arts["gitops/flux/gitrepository.yaml"])
    assert repo["apiVersion"] == "source.toolkit.fluxcd.io/v1" and repo["kind"] == "GitRepository"
    assert repo["spec"]["url"] == "https://github.com/acme/gitops.git"
    assert repo["spec"]["ref"] == {"branch": "main"}
    ks = {d["metadata"]["name"]: d for d in objects(arts) if d["apiVersion"].startswith("kustomize.toolkit")}
    assert set(ks) == {"acme-staging-do-ams", "acme-prod-gke-prod", "acme-prod-do-ams"}
    prod = ks["acme-prod-gke-prod"]["spec"]
    assert prod["path"] == "./rendered/kustomize/overlays/prod/gke-prod"
    assert prod["prune"] is True and prod["wait"] is True
    assert prod["sourceRef"] == {"kind": "GitRepository", "name": "acme"}
    assert prod["kubeConfig"] == {"secretRef": {"name": "gke-prod-kubeconfig"}}
    assert prod["dependsOn"] == [{"name": "acme-staging-do-ams"}]
    assert "dependsOn" not in ks["acme-staging-do-ams"]["spec"]
    assert not any(p.startswith("gitops/argocd") for p in arts)


def objects(arts: dict[str, Artifact]) -> list[dict[str, Any]]:
    return [a.content for a in arts.values() if isinstance(a.content, dict)]


@pytest.mark.slow
def test_flux_objects_match_the_flux_api() -> None:
    """Every field is one Flux knows: the models parse it and give back exactly what was written."""
    models = pytest.importorskip(
        "cloudcoil.models.fluxcd.kustomize.v1", reason="cloudcoil-models-fluxcd missing"
    )
    sources = pytest.importorskip("cloudcoil.models.fluxcd.source.v1")
    _, arts = gitops(flux_text())
    checked = 0
    for data in objects(arts):
        kind = data.get("kind")
        if data.get("apiVersion") == "source.toolkit.fluxcd.io/v1" and kind == "GitRepository":
            model = sources.GitRepository.model_validate(data)
        elif data.get("apiVersion") == "kustomize.toolkit.fluxcd.io/v1" and kind == "Kustomization":
            model = models.Kustomization.model_validate(data)
        else:
            continue
        # Unknown fields are dropped silently by these models: a round trip that loses a key fails here.
        assert model.model_dump(by_alias=True, exclude_none=True, exclude_unset=True) == data
        checked += 1
    assert checked == 4


def test_an_environment_without_clusters_syncs_in_cluster() -> None:
    text = SEED.read_text() + (
        "\ngitops: {engine: argocd, repo: 'https://example.dev/g.git', branch: main, path: deploy/seed}\n"
    )
    _, arts = gitops(text)
    app = doc(arts["gitops/argocd/apps/default.yaml"])
    assert app["spec"]["destination"]["name"] == "in-cluster"
    assert app["spec"]["source"]["path"] == "deploy/seed/kustomize/overlays/default"
    _, flux = gitops(text.replace("engine: argocd", "engine: flux"))
    assert "kubeConfig" not in doc(flux["gitops/flux/default.yaml"])["spec"]


def test_codeowners() -> None:
    _, arts = gitops(ACME.read_text())
    text = arts["gitops/CODEOWNERS"].content
    assert isinstance(text, str)
    lines = text.splitlines()
    # The mesh's owners over the whole rendered folder, first (GitHub: the last match wins).
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "/rendered/ @acme/platform"
    assert "/rendered/kustomize/base/auth/ @acme/identity" in rules
    assert "/rendered/kustomize/base/brain/ @acme/platform" in rules
    assert "/rendered/istio/*/services/auth.yaml @acme/identity" in rules
    assert "/rendered/kustomize/overlays/**/patches/auth.yaml @acme/identity" in rules
    protected = [ln for ln in lines if "protected" in ln]
    assert [ln.split()[1] for ln in protected] == ["data", "ledger"]
    assert not any("auth" in ln for ln in protected)


def codeowners_regex(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS path (gitignore style, anchored at the root) as a regex over repository paths."""
    out = ""
    body = pattern.lstrip("/")
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif body[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(body[i]), i + 1
    return re.compile(out + (".*" if body.endswith("/") else "") + r"\Z")


def test_codeowners_patterns_cover_each_services_files() -> None:
    """Every rendered file that belongs to one service is owned by that service's owners (last match wins)."""
    front = front_text(ACME.read_text())
    rendered = [f"rendered/{a.path}" for a in render(front).artifacts]
    text = next(a.content for a in render(front, ["gitops"]).artifacts if a.path == "gitops/CODEOWNERS")
    assert isinstance(text, str)
    rules = [line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")]

    def owners_of(path: str) -> str:
        return [who for pattern, who in rules if codeowners_regex(pattern).match(path)][-1]

    auth_files = [p for p in rendered if re.search(r"/auth(/|\.yaml$|-[a-z]+\.yaml$)", p)]
    if len(auth_files) <= 5:
        pytest.skip("the kustomize and istio backends are not installed")
    for path in auth_files:
        assert owners_of(path) == "@acme/identity", path
    assert owners_of("rendered/kustomize/base/brain/deployment.yaml") == "@acme/platform"
    assert owners_of("rendered/istio/prod/services/data.yaml") == "@acme/platform"
    assert owners_of("rendered/kustomize/overlays/prod/gke-prod/kustomization.yaml") == "@acme/platform"


def test_long_names_fit_a_label_value() -> None:
    long_env = "e" * 40
    text = ACME.read_text().replace("  staging: {clusters", f"  {long_env}: {{clusters")
    _, arts = gitops(text)
    names = [
        doc(a)["metadata"]["name"]
        for p, a in arts.items()
        if p.endswith(".yaml") and "kustomization" not in p
    ]
    assert all(len(n) <= 63 for n in names)
    assert len(set(names)) == len(names)


def test_output_is_deterministic() -> None:
    a = to_files(gitops(ACME.read_text())[1].values())
    b = to_files(gitops(ACME.read_text())[1].values())
    assert a == b
