"""mpc diff: graph, security, blast radius and output changes, rendered as markdown and JSON.

Golden reports live in tests/diff_golden/<case>/ (regenerate with `pytest --update-golden`, then review).
They compare the gitops backend's output only, so that they pin the report and its shape, not the
evolving output of every other backend; one test below runs every installed backend.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, diff_texts, git, run_mpc

from mpc.graph.draw import MAX_CHARS
from mpc.workflow.diff import file_change
from mpc.workflow.report import LIMIT, json_text, markdown

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import mesh_text

GOLDEN = ROOT / "tests" / "diff_golden"
BASE = GOLDEN / "base.yaml"
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/mesh.yaml"))
ACME = EXAMPLES / "acme" / "mesh.yaml"


def case_report(case: str, backends: tuple[str, ...] = ("gitops",)):  # type: ignore[no-untyped-def]
    new = GOLDEN / case / "mesh.yaml"
    return diff_texts(BASE.read_text(), new.read_text(), "base.yaml", f"{case}/mesh.yaml", backends)


def check_golden(path: Path, text: str, update: bool) -> None:
    if update:
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run pytest --update-golden and review it"
    assert text == path.read_text(), f"{path} differs: review, then pytest --update-golden"


def test_the_cases_are_all_there() -> None:
    assert CASES == [
        "cluster-added",
        "edge-added",
        "edge-moved",
        "image-bumped",
        "invalid-new",
        "route-public",
        "service-added",
        "service-removed",
    ]


@pytest.mark.parametrize("case", CASES)
def test_golden_reports(case: str, update_golden: bool) -> None:
    report = case_report(case)
    check_golden(GOLDEN / case / "report.md", markdown(report), update_golden)
    check_golden(GOLDEN / case / "report.json", json_text(report), update_golden)


def test_service_added() -> None:
    r = case_report("service-added")
    changes = {(n.id, n.change) for n in r.nodes}
    assert ("service:reviews", "added") in changes and ("route:/reviews", "added") in changes
    calls = {(c.caller, c.callee) for c in r.security.calls_added}
    assert calls == {("reviews", "catalog"), ("gateway:edge", "reviews")}
    assert not r.security.calls_removed
    codeowners = next(f for b in r.outputs for f in b.files if f.path == "gitops/CODEOWNERS")
    assert "+/clusters/kustomize/base/reviews/ @shop/content" in codeowners.diff


def test_service_removed() -> None:
    r = case_report("service-removed")
    assert ("service:payments", "removed") in {(n.id, n.change) for n in r.nodes}
    assert {(c.caller, c.callee) for c in r.security.calls_removed} == {("cart", "payments")}
    cart = next(n for n in r.nodes if n.id == "service:cart")
    assert [(f.field, f.old, f.new) for f in cart.fields] == [
        ("dependsOn", ["catalog", "payments"], ["catalog"])
    ]
    # The blast radius of a removed node is read in the old graph: who depended on it.
    blast = next(b for b in r.blast if b.node == "service:payments")
    assert blast.services == ("cart",) and blast.routes == ("/cart",)


def test_image_bumped() -> None:
    r = case_report("image-bumped")
    [node] = r.nodes
    assert node.id == "service:catalog"
    fields = {f.field: (f.old, f.new) for f in node.fields}
    assert fields["image"] == ("ghcr.io/shop/catalog:2.3.0", "ghcr.io/shop/catalog:2.4.0")
    assert not r.security.changed and not r.edges
    blast = next(b for b in r.blast if b.node == "service:catalog")
    assert blast.services == ("cart",) and blast.routes == ("/cart", "/catalog")


def test_edge_added_is_a_new_allowed_call() -> None:
    r = case_report("edge-added")
    assert [(e.source, e.target, e.kind, e.change) for e in r.edges] == [
        ("service:catalog", "service:payments", "calls", "added")
    ]
    assert [(c.caller, c.callee) for c in r.security.calls_added] == [("catalog", "payments")]
    assert "**new allowed call**: `catalog` → `payments`" in markdown(r)


def test_route_made_public_is_auth_dropped() -> None:
    r = case_report("route-public")
    [auth] = r.security.auth
    assert (auth.route, auth.service, auth.old, auth.new, auth.change) == (
        "/cart",
        "cart",
        "shop-id",
        None,
        "dropped",
    )
    # The gateway could already call cart: no new allowed call, but the route lost its token check.
    assert not r.security.calls_added
    assert "**auth dropped**: route `/cart` → `cart` is now public (was `shop-id`)" in markdown(r)


def test_auth_dropped_is_drawn_as_a_removed_edge() -> None:
    """The picture draws what the change did: the route's `authenticates` edge is gone, not still there."""
    mermaid = case_report("route-public").picture.mermaid
    lines = mermaid.splitlines()
    edge = next(
        i for i, line in enumerate(ln for ln in lines if "|" in ln and "-" in ln) if "authenticates" in line
    )
    drawn = [ln for ln in lines if "|" in ln and "-" in ln]
    assert "-.-x" in drawn[edge] and "#8722; authenticates" in drawn[edge]  # dashed, ending in x, minus
    assert f"  linkStyle {edge} stroke:#cf222e,stroke-width:4px,stroke-dasharray:5 5" in lines  # red, thick
    assert '-.->|"authenticates"|' not in mermaid
    assert ":::changed" in next(ln for ln in lines if "route: /cart" in ln)
    assert 'subgraph legend_box["legend"]' in mermaid


def test_an_edge_added_and_one_removed() -> None:
    r = case_report("edge-moved")
    assert [(e.source, e.target, e.change) for e in r.edges] == [
        ("service:cart", "service:payments", "removed"),
        ("service:catalog", "service:payments", "added"),
    ]
    drawn = [ln for ln in r.picture.mermaid.splitlines() if "calls" in ln and "|" in ln]
    ids = {
        ln.split('"')[1].split(": ")[1]: ln.split("[")[0].strip()
        for ln in r.picture.mermaid.splitlines()
        if '["service: ' in ln
    }
    assert f'  {ids["cart"]} -.-x|"#8722; calls"| {ids["payments"]}' in drawn
    assert f'  {ids["catalog"]} ==>|"+ calls"| {ids["payments"]}' in drawn
    assert f'  {ids["cart"]} -->|"calls"| {ids["catalog"]}' in drawn  # unchanged: drawn plain
    md = markdown(r)
    assert "**new allowed call**: `catalog` → `payments`" in md
    assert "allowed call removed: `cart` → `payments`" in md


def test_an_invalid_new_mesh_is_a_report_of_its_diagnostics() -> None:
    r = case_report("invalid-new")
    assert not r.compared and not r.nodes and not r.outputs
    [invalid] = r.invalid
    assert invalid.side == "new" and invalid.label == "invalid-new/mesh.yaml"
    codes = sorted(d.code for d in invalid.diagnostics)
    assert codes == ["E203", "E308"]  # the bad name in the same pass as the schema error
    md = markdown(r)
    assert "**Nothing was compared**: the new mesh (`invalid-new/mesh.yaml`) is not valid." in md
    assert "invalid-new/mesh.yaml:33:3: error[E308]: service name 'Payments_Service'" in md
    data = json.loads(json_text(r))
    assert data["compared"] is False and data["changed"] is None
    assert [d["code"] for d in data["invalid"][0]["diagnostics"]] == ["E308", "E203"]
    assert data["invalid"][0]["diagnostics"][0]["line"] == 33


def test_cli_reports_an_invalid_side_and_exits_2(tmp_path: Path) -> None:
    bad = GOLDEN / "invalid-new" / "mesh.yaml"
    for fmt in ("markdown", "json"):
        run = run_mpc("diff", BASE, bad, "--format", fmt, "--backend", "gitops")
        assert run.code == 2
        assert "error[E203]" in run.out and "nothing was compared" in run.err
    both = run_mpc("diff", bad, bad, "--backend", "gitops")
    assert both.code == 2 and "the old mesh" in both.out and "the new mesh" in both.out
    assert "are not valid" in both.err


def test_injection_through_names_stays_well_formed() -> None:
    """A route prefix may hold quotes, pipes, brackets and backticks: the report's tables, fences and
    picture keep their shape (item 23 of issue 17)."""
    nasty = '/a"|]`x```<b>'
    new = BASE.read_text().replace(
        "{prefix: /catalog, service: catalog}", f"{{prefix: '{nasty}', service: catalog}}"
    )
    r = diff_texts(BASE.read_text(), new, "base.yaml", "new.yaml", ("gitops",))
    md = markdown(r)
    mermaid = r.picture.mermaid
    assert nasty not in mermaid and "`" not in mermaid and "<" not in mermaid
    label = next(ln for ln in mermaid.splitlines() if "route: " in ln and ":::added" in ln)
    assert label.count('"') == 2  # the label's own quotes, nothing from the name
    # Every table row has as many unescaped pipes as its header; the one fence holds the whole picture.
    for line in md.splitlines():
        if line.startswith("| ") and "route" in line:
            assert len(re.findall(r"(?<!\\)\|", line)) in (4, 5), line
    assert md.count("```mermaid") == 1
    assert '| route ````/a"\\|]`x```<b>```` | added |' in md  # a code span longer than any run inside


def test_a_defaults_change_on_a_generated_mesh_names_its_cause(update_golden: bool) -> None:
    """1,000 services: every service changes; the report names the cause, draws no oversized picture and
    fits one comment; the JSON lists everything."""
    old = mesh_text(1000)
    new = old.replace("  timeout: 15s", "  timeout: 30s", 1)
    r = diff_texts(old, new, "mesh.yaml", "mesh.yaml", ("gitops",))
    md = markdown(r)
    check_golden(GOLDEN / "defaults-1000.md", md, update_golden)
    assert len(md) < LIMIT
    assert "**Cause**: `defaults.timeout`: `15s` → `30s`" in md
    assert r.picture.mermaid == "" and "No picture: the change touches 1,227 nodes" in md
    data = json.loads(json_text(r))
    assert len(data["graph"]["nodes"]) == 1227
    assert data["causes"] == [{"field": "defaults.timeout", "old": "15s", "new": "30s"}]


@pytest.mark.slow
def test_a_defaults_change_with_every_backend_fits_one_comment() -> None:
    old = mesh_text(1000)
    r = diff_texts(old, old.replace("  timeout: 15s", "  timeout: 30s", 1), "mesh.yaml", "mesh.yaml")
    md = markdown(r)
    assert len(md) < LIMIT, len(md)
    files = sum(len(b.files) for b in r.outputs)
    assert files > 1000 and "more files (`--format json` lists them all)" in md
    assert md.count("<details>") == len(r.outputs) and md.count("</details>") == len(r.outputs)
    assert sum(len(b["files"]) for b in json.loads(json_text(r))["outputs"]) == files


def test_a_picture_past_the_cap_draws_the_changed_nodes_only() -> None:
    old = mesh_text(100)
    # Three services change image: with their neighbours the picture is past 50 nodes, alone it is not.
    new = old
    for name in ("svc-00040", "svc-00041", "svc-00042"):
        new = re.sub(rf"(image: ghcr.io/bench/{name}:[^\n]*)", r"\1-r2", new)
    r = diff_texts(old, new, "a", "b", ("gitops",))
    assert len([n for n in r.nodes if n.change == "changed"]) == 3
    drawn = [ln for ln in r.picture.mermaid.splitlines() if '["service: ' in ln]
    if r.picture.note:
        assert r.picture.note.startswith("Only the 3 changed nodes are drawn") and len(drawn) == 3
    assert len(r.picture.mermaid) <= MAX_CHARS


def test_cluster_added() -> None:
    r = case_report("cluster-added")
    assert ("cluster:gke-prod", "added") in {(n.id, n.change) for n in r.nodes}
    added = [f.path for b in r.outputs for f in b.files if f.change == "added"]
    assert added == ["gitops/flux/prod-gke-prod.yaml"]
    blast = next(b for b in r.blast if b.node == "cluster:gke-prod")
    assert blast.services == ("cart", "catalog", "payments")


def test_no_change() -> None:
    r = diff_texts(BASE.read_text(), BASE.read_text(), "a/mesh.yaml", "b/mesh.yaml")
    assert not r.changed
    assert "No changes" in markdown(r)
    assert json.loads(json_text(r))["changed"] is False


def test_a_renamed_file_is_not_an_output_change() -> None:
    # Annotations name the file; both sides are rendered under the new name.
    r = diff_texts(BASE.read_text(), BASE.read_text(), "old-name.yaml", "mesh.yaml", ("gitops",))
    assert not r.outputs


def test_secrets_are_never_shown() -> None:
    secret = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: hunter2\n"
    change = file_change("x/secret.yaml", None, secret)
    assert change.redacted and change.diff == "" and change.additions == 6
    r = diff_texts(ACME.read_text(), ACME.read_text().replace("key: password", "key: pw"), "a", "b")
    auth = next(n for n in r.nodes if n.id == "service:auth")
    assert [(f.field, f.new) for f in auth.fields] == [
        ("secrets", ["DB_PASSWORD from secret data-credentials[pw]"])
    ]


def test_every_backend_reports_the_image_bump() -> None:
    old = ACME.read_text()
    r = diff_texts(old, old.replace("auth:1.4.2", "auth:1.5.0"), "mesh.yaml", "mesh.yaml")
    files = {f.path: f for b in r.outputs for f in b.files}
    if not any(b.backend != "gitops" for b in r.outputs):
        pytest.skip("no backend that renders images is installed")
    assert any("+" in f.diff and "auth:1.5.0" in f.diff for f in files.values())
    # Per backend, and every changed file is attributed to the backend that wrote it.
    assert all(b.backend != "other" for b in r.outputs)


def test_cli_formats_and_exit_codes(tmp_path: Path) -> None:
    new = GOLDEN / "edge-added" / "mesh.yaml"
    md = run_mpc("diff", BASE, new, "--backend", "gitops")
    assert md.code == 0 and md.out.startswith("## mpc diff:")
    js = run_mpc("diff", BASE, new, "--format", "json", "--backend", "gitops")
    assert js.code == 0 and json.loads(js.out)["format"] == "mpc-diff/v1"
    assert run_mpc("diff", BASE, new, "--exit-code", "--backend", "gitops").code == 1
    assert run_mpc("diff", BASE, BASE, "--exit-code", "--backend", "gitops").code == 0
    usage = run_mpc("diff", BASE)
    assert usage.code == 2 and "OLD and NEW" in usage.err


def test_base_reads_the_old_version_from_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "mesh").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    mesh = repo / "mesh" / "mesh.yaml"
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    mesh.write_text(BASE.read_text())
    git(repo, "add", "mesh/mesh.yaml")
    git(repo, "commit", "-q", "-m", "mesh")
    mesh.write_text((GOLDEN / "route-public" / "mesh.yaml").read_text())

    r = run_mpc("diff", "--base", "HEAD", mesh, "--format", "json", "--backend", "gitops")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["old"] == f"HEAD:{mesh}"
    assert data["security"]["auth"] == [
        {"route": "/cart", "service": "cart", "old": "shop-id", "new": None, "change": "dropped"}
    ]
    # Before the mesh existed: everything is new.
    first = json.loads(
        run_mpc("diff", "--base", "HEAD~1", mesh, "--format", "json", "--backend", "gitops").out
    )
    assert first["summary"]["nodes"]["service"] == {"added": 3, "removed": 0, "changed": 0}
    bad = run_mpc("diff", "--base", "no-such-ref", mesh)
    assert bad.code == 2 and "error[E101]" in bad.err and "no-such-ref" in bad.err


def test_base_is_never_an_option_nor_the_index(tmp_path: Path) -> None:
    """Item 22 of issue 17: `--base=--output=FILE` must not reach git as an option; `--base ''` is an
    error, not a comparison with the index."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    mesh = repo / "mesh.yaml"
    mesh.write_text(BASE.read_text())
    git(repo, "add", "mesh.yaml")
    git(repo, "commit", "-q", "-m", "mesh")
    target = tmp_path / "written"
    for ref in (f"--output={target}", "-p", "--output", ""):
        run = run_mpc("diff", f"--base={ref}", mesh, "--backend", "gitops")
        assert run.code == 2, (ref, run.out, run.err)
        assert "error[E101]" in run.err and "names no commit" in run.err
        assert not target.exists()
    assert run_mpc("diff", "--base", "HEAD", mesh, "--backend", "gitops").code == 0
