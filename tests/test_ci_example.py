"""examples/ci/github-actions.yml: its shape (pinned actions, concurrency, a timeout, the fork case) and
its scripts run for real: the path filter in a git repository, the diff step with mpc, the comment
script under Node with GitHub's client stubbed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT, git
from ruamel.yaml import YAML

WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
SEED = EXAMPLES / "local-api-gateway" / "mesh.yaml"


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(WORKFLOW.read_text())
    return data


def steps() -> list[dict[str, Any]]:
    return list(workflow()["jobs"]["mesh"]["steps"])


def step(step_id: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("id") == step_id)


def test_shape() -> None:
    wf = workflow()
    job = wf["jobs"]["mesh"]
    assert isinstance(job["timeout-minutes"], int) and job["timeout-minutes"] <= 60
    assert wf["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in wf["concurrency"]["group"]
    assert wf["on"] == {"pull_request": None}  # no fixed paths: the filter comes from MESH and OUT
    text = WORKFLOW.read_text()
    uses = re.findall(r"uses: (\S+)@(\S+)(.*)", text)
    assert len(uses) == 4
    for action, ref, comment in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action} is not pinned by commit: {ref}"
        assert re.search(r"# v\d", comment), f"{action}: name the release beside the commit"
    commands = "\n".join(s.get("run", "") for s in steps())
    assert 'mpc validate "$MESH"' in commands and 'mpc build-check --map "$MESH=$OUT"' in commands
    assert "mpc diff --base" in commands and "--format markdown" in commands
    assert steps()[0]["with"]["fetch-depth"] == 0  # --base needs the base commit
    assert "${{" not in commands  # values reach scripts through env, never pasted into shell text


def test_forks_get_the_job_summary_not_a_failing_comment() -> None:
    post = next(s for s in steps() if "github-script" in s.get("uses", ""))
    summary = next(s for s in steps() if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "head.repo.full_name == github.repository" in post["if"]
    assert "head.repo.full_name != github.repository" in summary["if"]


def run_script(body: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", body],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("changed", "relevant"),
    [
        ("README.md", "false"),
        ("mesh.yaml", "true"),
        ("rendered/kustomize/x.yaml", "true"),
        ("rendered-old/x.yaml", "false"),
        (".github/workflows/mpc.yml", "true"),
    ],
)
def test_the_path_filter_follows_mesh_and_out(tmp_path: Path, changed: str, relevant: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "base.txt").write_text("x")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    target = repo / changed
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("changed")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")
    output = tmp_path / "output"
    env = {k: str(v) for k, v in workflow()["env"].items()}
    done = run_script(step("paths")["run"], repo, {**env, "BASE_SHA": base, "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stderr
    assert output.read_text() == f"relevant={relevant}\n"


@pytest.mark.slow
@pytest.mark.parametrize("valid", [True, False])
def test_the_diff_step_writes_a_report_even_for_an_invalid_mesh(tmp_path: Path, valid: bool) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "mesh.yaml").write_text(SEED.read_text())
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    new = SEED.read_text().replace("auth:0.1.0", "auth:0.2.0")
    (repo / "mesh.yaml").write_text(new if valid else new.replace("port: 4000", "port: four"))
    env = {
        "MESH": "mesh.yaml",
        "BASE_SHA": base,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = run_script(step("diff")["run"], repo, env)
    report = (repo / "mpc-diff.md").read_text()
    data = json.loads((repo / "mpc-diff.json").read_text())
    if valid:
        assert done.returncode == 0, done.stderr
        assert report.startswith("## mpc diff:") and data["changed"] is True
    else:
        assert done.returncode == 2
        assert "**Nothing was compared**" in report and "error[E203]" in report
        assert data["compared"] is False


COMMENT_HARNESS = """
const fs = require('fs');
const calls = [];
const existing = JSON.parse(process.env.EXISTING);
const github = {
  paginate: async (_fn, _args) => existing,
  rest: { issues: {
    listComments: () => {},
    updateComment: async (args) => calls.push(['update', args]),
    createComment: async (args) => calls.push(['create', args]),
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
const core = { warning: (text) => calls.push(['warning', text]) };
(async () => {
  const script = fs.readFileSync(process.env.SCRIPT, 'utf8');
  const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
  await new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, context, core);
  process.stdout.write(JSON.stringify(calls));
})();
"""


def comment_calls(tmp_path: Path, report: str | None, existing: list[dict[str, Any]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed: the comment script is JavaScript")
    post = next(s for s in steps() if "github-script" in s.get("uses", ""))
    (tmp_path / "script.js").write_text(post["with"]["script"])
    (tmp_path / "harness.js").write_text(COMMENT_HARNESS)
    if report is not None:
        (tmp_path / "mpc-diff.md").write_text(report)
    env = {**os.environ, "SCRIPT": str(tmp_path / "script.js"), "EXISTING": json.dumps(existing)}
    done = subprocess.run(
        [node, str(tmp_path / "harness.js")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls: list[Any] = json.loads(done.stdout)
    return calls


def test_the_comment_is_never_blanked(tmp_path: Path) -> None:
    for report in (None, "", "\n"):
        calls = comment_calls(tmp_path, report, [{"id": 1, "body": "<!-- mpc-diff -->\nold"}])
        assert [c[0] for c in calls] == ["warning"]


def test_the_comment_is_created_then_updated(tmp_path: Path) -> None:
    [(kind, args)] = comment_calls(tmp_path, "## mpc diff: report\n", [{"id": 3, "body": "someone else"}])
    assert kind == "create" and args["body"] == "<!-- mpc-diff -->\n## mpc diff: report\n"
    [(kind, args)] = comment_calls(tmp_path, "## new\n", [{"id": 4, "body": "<!-- mpc-diff -->\nold"}])
    assert kind == "update" and args["comment_id"] == 4 and args["body"].endswith("## new\n")
    [(kind, args)] = comment_calls(tmp_path, "x" * 70_000, [])
    assert kind == "create" and len(args["body"]) < 200 and "artifact" in args["body"]
