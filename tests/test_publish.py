"""mpc publish against a real bare repository and a clone of it, in a temporary folder."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_mpc, tree_of

from mpc import __version__
from mpc.errors import MpcError
from mpc.workflow.publish import PublishOptions, publish

BASE = ROOT / "tests" / "diff_golden" / "base.yaml"  # gitops: {engine: flux, path: clusters, branch: main}

pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.rstrip("\n")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(mesh file, clone, bare remote): the clone has one commit with a README outside the path."""
    for var, value in {
        "GIT_AUTHOR_NAME": "Publisher",
        "GIT_AUTHOR_EMAIL": "publisher@example.dev",
        "GIT_COMMITTER_NAME": "Publisher",
        "GIT_COMMITTER_EMAIL": "publisher@example.dev",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(var, value)
    remote = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    (clone / "README.md").write_text("the GitOps repository\n")
    git(clone, "add", "README.md")
    git(clone, "commit", "-q", "-m", "start")
    git(clone, "push", "-q", "origin", "main")
    mesh = tmp_path / "src" / "mesh.yaml"
    mesh.parent.mkdir()
    mesh.write_text(BASE.read_text())
    return mesh, clone, remote


def message(clone: Path) -> str:
    return git(clone, "log", "-1", "--format=%B")


def test_first_run_commits_then_no_change_makes_no_commit(setup: tuple[Path, Path, Path]) -> None:
    mesh, clone, _ = setup
    result = publish(PublishOptions(mesh, clone))
    assert result.commit is not None and result.commit == git(clone, "rev-parse", "HEAD")
    text = message(clone)
    assert text.splitlines()[0] == "mpc: publish shop (initial)"
    trailers = git(clone, "log", "-1", "--format=%(trailers:only,unfold)")
    digest = hashlib.sha256(mesh.read_bytes()).hexdigest()
    assert trailers.splitlines() == [f"Mpc-Input-Sha256: {digest}", f"Mpc-Version: {__version__}"]
    # Everything lands under gitops.path, the published input beside the lock.
    committed = git(clone, "ls-files").splitlines()
    assert "README.md" in committed
    assert all(p == "README.md" or p.startswith("clusters/") for p in committed)
    assert {"clusters/mpc.lock", "clusters/mpc.input.yaml", "clusters/gitops/flux/gitrepository.yaml"} <= set(
        committed
    )

    again = publish(PublishOptions(mesh, clone))
    assert again.commit is None
    assert git(clone, "rev-parse", "HEAD") == result.commit
    assert git(clone, "status", "--porcelain") == ""


def test_a_change_commits_with_a_summary_of_the_graph_change(setup: tuple[Path, Path, Path]) -> None:
    mesh, clone, _ = setup
    publish(PublishOptions(mesh, clone))
    mesh.write_text(
        BASE.read_text()
        .replace("image: catalog:2.3.0", "image: catalog:2.4.0")
        .replace("{prefix: /cart, service: cart, auth: shop-id}", "{prefix: /cart, service: cart}")
    )
    result = publish(PublishOptions(mesh, clone))
    assert result.commit is not None
    lines = message(clone).splitlines()
    assert lines[0] == "mpc: publish shop (~1 route, ~1 service)"
    assert lines[2:4] == ["- changed route /cart: auth", "- changed service catalog: image"]
    assert "- auth dropped on route /cart" in lines
    assert lines[-1] == f"Mpc-Version: {__version__}"
    assert lines[-2] == f"Mpc-Input-Sha256: {hashlib.sha256(mesh.read_bytes()).hexdigest()}"
    changed = git(clone, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "clusters/mpc.input.yaml" in changed and all(p.startswith("clusters/") for p in changed)


def test_a_second_publish_is_incremental_and_equals_a_fresh_one(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """Publishing after a change renders only the changed service (the rest from the user cache) and
    commits only the files that changed; the path then holds exactly what a first publish writes."""
    mesh, clone, _ = setup
    publish(PublishOptions(mesh, clone))
    mesh.write_text(BASE.read_text().replace("image: catalog:2.3.0", "image: catalog:2.4.0"))
    second = publish(PublishOptions(mesh, clone))
    assert second.units is not None
    rendered, total = second.units
    assert 0 < rendered < total
    changed = git(clone, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert any("catalog" in p for p in changed) and not any("payments" in p for p in changed)

    fresh = tmp_path / "fresh"
    subprocess.run(["git", "init", "-q", "-b", "main", str(fresh)], check=True)
    git(fresh, "commit", "-q", "--allow-empty", "-m", "start")
    publish(PublishOptions(mesh, fresh))
    assert tree_of(clone / "clusters") == tree_of(fresh / "clusters")


def test_push_reaches_the_remote_and_custom_subject(setup: tuple[Path, Path, Path]) -> None:
    mesh, clone, remote = setup
    r = run_mpc("publish", mesh, "--repo", clone, "--push", "--message", "deploy shop")
    assert r.code == 0, r.err
    assert "committed" in r.out and "pushed" in r.out
    head = git(clone, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "main") == head
    assert git(remote, "log", "-1", "--format=%s", "main") == "deploy shop"


def test_nothing_outside_the_path_is_touched(setup: tuple[Path, Path, Path]) -> None:
    mesh, clone, _ = setup
    (clone / "README.md").write_text("edited, not committed\n")
    (clone / "notes.txt").write_text("untracked\n")
    (clone / "staged.txt").write_text("staged\n")
    git(clone, "add", "staged.txt")
    publish(PublishOptions(mesh, clone))
    assert (clone / "README.md").read_text() == "edited, not committed\n"
    assert (clone / "notes.txt").read_text() == "untracked\n"
    # The user's own work outside the path stays theirs: not committed, still staged or modified.
    assert git(clone, "show", "--name-only", "--format=", "HEAD").splitlines()[0].startswith("clusters/")
    status = set(git(clone, "status", "--porcelain").splitlines())
    assert status == {" M README.md", "?? notes.txt", "A  staged.txt"}
    assert not any(p.name.startswith(".mpc-tmp") for p in clone.iterdir())


def test_a_dirty_path_is_refused(setup: tuple[Path, Path, Path]) -> None:
    mesh, clone, _ = setup
    first = publish(PublishOptions(mesh, clone))
    (clone / "clusters" / "hand-edit.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(MpcError) as err:
        publish(PublishOptions(mesh, clone))
    [diag] = err.value.diagnostics
    assert diag.code == "E602" and "hand-edit.yaml" in diag.message and "commit or discard" in diag.hint
    assert git(clone, "rev-parse", "HEAD") == first.commit
    r = run_mpc("publish", mesh, "--repo", clone)
    assert r.code == 2 and "error[E602]" in r.err


def test_git_failures_are_clear_errors(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    mesh, clone, _ = setup
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    r = run_mpc("publish", mesh, "--repo", not_a_repo)
    assert r.code == 2 and "error[E601]: git rev-parse failed" in r.err
    assert "hint: " in r.err
    git(clone, "remote", "remove", "origin")
    r = run_mpc("publish", mesh, "--repo", clone, "--push")
    assert r.code == 2 and "error[E601]: git push failed" in r.err
    git(clone, "switch", "-q", "-c", "other")
    r = run_mpc("publish", mesh, "--repo", clone)
    assert r.code == 2 and "not on gitops.branch 'main'" in r.err and "switch main" in r.err
