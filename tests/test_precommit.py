"""The pre-commit hooks, run by the real pre-commit framework in a temporary git repository.

pre-commit installs a hook repository at a commit, so the hooks come from a clone of this checkout's
HEAD (commit .pre-commit-hooks.yaml before running this). `pre-commit run` with a configuration that
pins that clone shares one installed environment across the session (and xdist workers); `try-repo`
always installs into a throw-away store, so only one test uses it. Expect about a minute per install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

SEED = EXAMPLES / "local-api-gateway" / "mesh.yaml"

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Hooks:
    repo: Path  # a clone of HEAD: what `rev:` would pin
    rev: str
    env: dict[str, str]  # PRE_COMMIT_HOME and a git identity


def pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    if found.exists():
        return str(found)
    which = shutil.which("pre-commit")
    if which is None:
        pytest.skip("pre-commit is not installed (pip install 'masterproxy[test]')")
    return which


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900)


@pytest.fixture(scope="session")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hooks]:
    if not (ROOT / ".git").exists():
        pytest.skip("this checkout is not a git repository")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    rev = rev.strip()
    repo = shared / f"hook-repo-{rev[:12]}"
    if not repo.exists():
        tmp = shared / f"hook-repo-{rev[:12]}-{os.getpid()}"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(tmp)], check=True)
        subprocess.run(["git", "checkout", "-q", rev], cwd=tmp, check=True)
        try:
            tmp.rename(repo)
        except OSError:  # another worker won the race: use its clone
            shutil.rmtree(tmp, ignore_errors=True)
    env = dict(os.environ)
    env.update(
        {
            "PRE_COMMIT_HOME": str(shared / "pre-commit-home"),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.dev",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.dev",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    yield Hooks(repo, rev, env)


def project(path: Path, hooks: Hooks, mesh_text: str, args: list[str] | None = None) -> Path:
    """A git repository with a mesh.yaml, whose .pre-commit-config.yaml points at the hook repository."""
    path.mkdir()
    run(["git", "init", "-q", "-b", "main"], path, hooks.env)
    (path / "mesh.yaml").write_text(mesh_text)
    hook_args = f", args: {args!r}" if args else ""
    (path / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {hooks.repo}\n"
        f"    rev: {hooks.rev}\n"
        "    hooks:\n"
        "      - id: mpc-validate\n"
        f"      - {{id: mpc-build-check{hook_args}}}\n".replace("'", '"')
    )
    run(["git", "add", "-A"], path, hooks.env)
    return path


def hook_mpc(hooks: Hooks) -> Path:
    """The mpc that pre-commit installed for the hooks (the same code as the hooks run)."""
    home = Path(hooks.env["PRE_COMMIT_HOME"])
    found = sorted(home.glob("repo*/py_env-*/bin/mpc"))
    assert found, f"no hook environment under {home}"
    return found[0]


def precommit_run(repo: Path, hooks: Hooks, hook: str) -> subprocess.CompletedProcess[str]:
    return run([pre_commit(), "run", hook, "--all-files"], repo, hooks.env)


def test_try_repo_checks_each_mesh_file(tmp_path: Path, hooks: Hooks) -> None:
    """`pre-commit try-repo` against this checkout's HEAD: a valid mesh is ok, a broken one is located."""
    broken = SEED.read_text().replace("service: brain", "service: brian")
    repo = project(tmp_path / "p", hooks, SEED.read_text())
    (repo / "broken").mkdir()
    (repo / "broken" / "mesh.yml").write_text(broken)
    (repo / "other.yaml").write_text("not: a mesh\n")  # not a mesh file: the hook must not look at it
    run(["git", "add", "-A"], repo, hooks.env)
    done = run([pre_commit(), "try-repo", str(hooks.repo), "mpc-validate", "--all-files"], repo, hooks.env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "mesh.yaml: ok (3 services" in done.stdout
    line = next(i + 1 for i, text in enumerate(broken.splitlines()) if "service: brian" in text)
    assert f"broken/mesh.yml:{line}:" in done.stdout and "error[E301]" in done.stdout
    assert "other.yaml" not in done.stdout


def test_validate_passes_on_a_valid_mesh(tmp_path: Path, hooks: Hooks) -> None:
    repo = project(tmp_path / "p", hooks, SEED.read_text())
    done = precommit_run(repo, hooks, "mpc-validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mpc validate" in done.stdout and "Passed" in done.stdout


def test_validate_fails_with_the_located_error(tmp_path: Path, hooks: Hooks) -> None:
    broken = SEED.read_text().replace("port: 4000", "port: four")
    repo = project(tmp_path / "p", hooks, broken)
    done = precommit_run(repo, hooks, "mpc-validate")
    assert done.returncode == 1
    line = next(i + 1 for i, text in enumerate(broken.splitlines()) if "port: four" in text)
    assert f"mesh.yaml:{line}:" in done.stdout and "error[E203]: gateway.port" in done.stdout


def test_build_check_fails_on_a_stale_tree_and_names_the_fix(tmp_path: Path, hooks: Hooks) -> None:
    repo = project(tmp_path / "p", hooks, SEED.read_text(), args=["--map", "mesh.yaml=rendered"])
    # Install (or reuse) the hook environment, then render with exactly the hooks' mpc.
    warm = run([pre_commit(), "install-hooks"], repo, hooks.env)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    built = run([str(hook_mpc(hooks)), "build", "mesh.yaml", "-o", "rendered", "-q"], repo, hooks.env)
    assert built.returncode == 0, built.stderr
    run(["git", "add", "-A"], repo, hooks.env)
    fresh = precommit_run(repo, hooks, "mpc-build-check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    (repo / "mesh.yaml").write_text(SEED.read_text().replace("auth:0.1.0", "auth:0.2.0"))
    run(["git", "add", "mesh.yaml"], repo, hooks.env)
    stale = precommit_run(repo, hooks, "mpc-build-check")
    assert stale.returncode == 1
    assert "out of date" in stale.stdout
    assert "run: mpc build mesh.yaml -o rendered" in stale.stdout


def test_build_check_without_a_map_says_what_is_missing(tmp_path: Path, hooks: Hooks) -> None:
    repo = project(tmp_path / "p", hooks, SEED.read_text())
    done = precommit_run(repo, hooks, "mpc-build-check")
    assert done.returncode != 0
    assert "--map mesh.yaml=rendered" in done.stdout


def rendered(repo: Path, hooks: Hooks, mesh: str, out: str) -> None:
    """Render with exactly the hooks' mpc (installing the hook environment first)."""
    warm = run([pre_commit(), "install-hooks"], repo, hooks.env)
    assert warm.returncode == 0, warm.stdout + warm.stderr
    built = run([str(hook_mpc(hooks)), "build", mesh, "-o", out, "-q"], repo, hooks.env)
    assert built.returncode == 0, built.stderr


def commit(repo: Path, hooks: Hooks, message: str) -> subprocess.CompletedProcess[str]:
    run(["git", "add", "-A"], repo, hooks.env)
    return run(["git", "commit", "-q", "-m", message], repo, hooks.env)


def test_a_hand_edit_under_the_rendered_folder_fails_the_commit(tmp_path: Path, hooks: Hooks) -> None:
    repo = project(tmp_path / "p", hooks, SEED.read_text(), args=["--map", "mesh.yaml=rendered"])
    rendered(repo, hooks, "mesh.yaml", "rendered")
    assert run([pre_commit(), "install"], repo, hooks.env).returncode == 0
    first = commit(repo, hooks, "mesh and its tree")
    assert first.returncode == 0, first.stdout + first.stderr

    edited = next(p for p in sorted((repo / "rendered").rglob("*.yaml")) if "deployment" in p.name)
    before = edited.read_text()
    assert "runAsNonRoot: true" in before
    edited.write_text(before.replace("runAsNonRoot: true", "runAsNonRoot: false"))
    done = commit(repo, hooks, "a hand edit")  # only a file under rendered/ is in this commit
    assert done.returncode != 0, done.stdout + done.stderr
    shown = done.stdout + done.stderr
    assert str(edited.relative_to(repo / "rendered")) in shown
    assert "run: mpc build mesh.yaml -o rendered" in shown
    assert "mpc validate" in shown and "Skipped" in shown  # no mesh file in the commit: validate skips


def test_two_meshes_pass_and_fail_independently(tmp_path: Path, hooks: Hooks) -> None:
    maps = ["--map", "a/mesh.yaml=a/rendered", "--map", "b/mesh.yaml=b/rendered"]
    repo = project(tmp_path / "p", hooks, SEED.read_text(), args=maps)
    for name in ("a", "b"):
        (repo / name).mkdir()
        (repo / name / "mesh.yaml").write_text(SEED.read_text())
        rendered(repo, hooks, f"{name}/mesh.yaml", f"{name}/rendered")
    run(["git", "add", "-A"], repo, hooks.env)
    both = precommit_run(repo, hooks, "mpc-build-check")
    assert both.returncode == 0, both.stdout + both.stderr

    (repo / "b" / "mesh.yaml").write_text(SEED.read_text().replace("auth:0.1.0", "auth:0.2.0"))
    run(["git", "add", "-A"], repo, hooks.env)
    done = run([pre_commit(), "run", "mpc-build-check", "--files", "a/mesh.yaml"], repo, hooks.env)
    assert done.returncode == 0, done.stdout  # a is current; b is not this commit's business
    stale = precommit_run(repo, hooks, "mpc-build-check")
    assert stale.returncode == 1
    assert "run: mpc build b/mesh.yaml -o b/rendered" in stale.stdout
    assert "a/rendered" not in stale.stdout


def test_a_broken_mesh_prints_its_diagnostics_once(tmp_path: Path, hooks: Hooks) -> None:
    broken = SEED.read_text().replace("port: 4000", "port: four")
    repo = project(tmp_path / "p", hooks, broken, args=["--map", "mesh.yaml=rendered"])
    done = run([pre_commit(), "run", "--all-files"], repo, hooks.env)  # both hooks
    assert done.returncode == 1
    assert done.stdout.count("error[E203]") == 1, done.stdout
    assert "mesh.yaml: not valid (1 error), so rendered was not checked" in done.stdout
