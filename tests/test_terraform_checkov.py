"""checkov (`--framework terraform --skip-download`) reports no failed check on any example's Terraform; a
check that does not apply is skipped only by a `# checkov:skip=CKV_...: reason` comment on the resource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import example_meshes, run_mpc
from realtools import checkov_scan
from test_terraform_backend import MESH

from mpc.backends.terraform import backend
from mpc.workflow.front import front_text


def _write_trees(root: Path) -> None:
    """Every example's Terraform, and the test mesh's (GPU pool, DigitalOcean pools, clients), under root."""
    for mesh in example_meshes():
        out = root / mesh.parent.name
        result = run_mpc("build", mesh, "-o", out, "--backend", "terraform", "-q")
        assert result.code == 0, result.err
    front = front_text(MESH)
    for art in backend.render(front.model, front.graph):
        target = root / "test-mesh" / art.path
        target.parent.mkdir(parents=True, exist_ok=True)
        assert isinstance(art.content, str)
        target.write_text(art.content)


@pytest.mark.slow
def test_checkov_finds_no_failed_check(tmp_path: Path) -> None:
    _write_trees(tmp_path)
    # One run over all modules: checkov's start-up dominates its time.
    (report,) = checkov_scan("terraform", directory=tmp_path)
    summary, results = report["summary"], report["results"]
    assert summary["parsing_errors"] == 0
    failed = [(c["check_id"], c["file_path"], c["resource"]) for c in results["failed_checks"]]
    assert summary["failed"] == 0, failed
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert reason.strip(), f"{skipped['check_id']} is skipped without a reason"
    # The GKE checks really ran on both GKE clusters (acme and the test mesh).
    gke = {
        c["file_path"]
        for c in results["passed_checks"]
        if c["resource"].startswith("google_container_cluster")
    }
    assert len(gke) == 2, gke
    assert summary["passed"] >= 80, summary


def test_every_skip_comment_names_a_check_and_gives_a_reason(tmp_path: Path) -> None:
    front = front_text(MESH)
    skips = [
        line.strip()
        for art in backend.render(front.model, front.graph)
        if isinstance(art.content, str) and art.path.endswith(".tf")
        for line in art.content.splitlines()
        if "checkov:skip" in line
    ]
    assert skips, "the GKE cluster documents the check it cannot meet"
    for line in skips:
        assert re.fullmatch(r"# checkov:skip=CKV2?_[A-Z]+_\d+: \S.{10,}", line), line
