"""publish: write the rendered tree into a clone of the GitOps repository and commit it.

Only `<repo>/<gitops.path>` is touched. A dirty work tree there is refused (a commit would sweep up
someone's edits). The commit message summarises the graph change against the previously published
input, which is kept beside the tree (`mpc.input.yaml`), and ends with trailers that record the input's
sha256 and the mpc version. Nothing changed means no commit. git runs as a subprocess, as in pre-commit.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mpc import __version__
from mpc.build.lock import INPUT_NAME
from mpc.errors import Code, Diagnostic, Location, MpcError

if TYPE_CHECKING:
    from mpc.graph.front import Front
    from mpc.lang.model import GitOps

TRAILER_DIGEST = "Mpc-Input-Sha256"
TRAILER_VERSION = "Mpc-Version"
GIT_FAILED = Code.GIT_FAILED
DIRTY = Code.GITOPS_DIRTY


@dataclass(frozen=True)
class PublishOptions:
    mesh: Path
    repo: Path
    push: bool = False
    message: str | None = None  # the subject; default: a summary of the graph change


@dataclass(frozen=True)
class PublishResult:
    path: str  # gitops.path inside the repository
    commit: str | None  # the new commit, None when nothing changed
    pushed: bool
    subject: str
    units: tuple[int, int] | None = None  # service units rendered, of all, when the cache held some

    def line(self) -> str:
        if self.commit is None:
            state = f"{self.path}: nothing changed, no commit"
        else:
            state = f"{self.path}: committed {self.commit[:12]} ({self.subject})"
        return state + (", pushed" if self.pushed else "")


class Git:
    """The git command line in one work tree; a failure is a located error with a hint."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, hint: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise MpcError(
                [Diagnostic(GIT_FAILED, f"cannot run git: {exc}", Location(str(self.root)), "install git")]
            ) from None
        if check and done.returncode != 0:
            detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise MpcError(
                [
                    Diagnostic(
                        GIT_FAILED,
                        f"git {args[0]} failed: {detail[-1] if detail else f'exit {done.returncode}'}",
                        Location(str(self.root)),
                        hint,
                    )
                ]
            )
        return done

    def out(self, *args: str, hint: str = "") -> str:
        return self.run(*args, hint=hint).stdout.strip()


def _error(code: str, message: str, where: Path, hint: str) -> MpcError:
    return MpcError([Diagnostic(code, message, Location(str(where)), hint)])


def summary(old_text: str | None, new_text: str, label: str) -> tuple[str, list[str]]:
    """A subject line and body lines describing the graph change (against nothing: "initial")."""
    from mpc.workflow.diff import Side, compare
    from mpc.workflow.front import front_text

    if old_text is None:
        return "initial", []
    try:
        old = front_text(old_text, label)
    except MpcError:
        return "previous input no longer valid", []  # e.g. published by an older mpc; say so, go on
    new = front_text(new_text, label)
    # The graph alone: the output change is the commit's own diff.
    graph_only = compare(Side("published", old, {}, {}), Side(label, new, {}, {}))
    parts = []
    for kind, row in graph_only.node_counts().items():
        for change, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            if row[change]:
                parts.append(f"{sign}{row[change]} {kind}")
    body = [
        f"{n.change} {n.kind} {n.name}" + (f": {', '.join(f.field for f in n.fields)}" if n.fields else "")
        for n in graph_only.nodes
    ]
    sec = graph_only.security
    body += [f"new allowed call {c.caller} -> {c.callee}" for c in sec.calls_added]
    body += [f"removed allowed call {c.caller} -> {c.callee}" for c in sec.calls_removed]
    body += [f"auth {a.change} on route {a.route}" for a in sec.auth]
    return (", ".join(parts) if parts else "output only"), body


def publish(options: PublishOptions) -> PublishResult:
    from mpc.render.plugins import Installed
    from mpc.workflow.build import BuildOptions, Source, build_source

    source = Source.read(options.mesh)
    installed = Installed()
    front = source.analyse(installed)
    git, rel, out, gitops = _target(options, front)
    branch = _ensure_branch(git, gitops.branch)
    previous = out / INPUT_NAME
    old_text = previous.read_text("utf-8") if previous.is_file() else None
    subject, body = summary(old_text, front.doc.text, front.model.source_file)
    subject = options.message or f"mpc: publish {front.model.name} ({subject})"
    # The same build as `mpc build`, with the published input beside the rendered files.
    build = BuildOptions(options.mesh, out, extra_files={INPUT_NAME: front.doc.text.encode("utf-8")})
    built = build_source(source, build, installed=installed, front=front)
    commit = _commit(git, rel, subject, body, front.digest)
    pushed = False
    if options.push:
        remote = _remote(git, branch)
        git.run(
            "push",
            "--quiet",
            remote,
            f"HEAD:refs/heads/{branch}",
            hint=f"check that the clone can push to {remote} (credentials, branch protection)",
        )
        pushed = True
    return PublishResult(rel, commit, pushed, subject, built.units)


def _target(options: PublishOptions, front: Front) -> tuple[Git, str, Path, GitOps]:
    """The clone's git, `gitops.path` within it and that folder: refused before anything is written
    when the mesh names no GitOps repository, the path leaves the clone or holds uncommitted changes."""
    gitops = front.model.gitops
    if gitops is None:
        raise _error(
            Code.MISSING_KEY,
            "the mesh has no gitops section: nothing says where to publish",
            options.mesh,
            "add gitops: {engine: argocd, repo: ..., branch: main, path: rendered}",
        )
    repo = options.repo
    if not repo.is_dir():
        raise _error(GIT_FAILED, f"{repo} is not a folder", repo, "clone the GitOps repository first")
    git = Git(repo)
    top = Path(git.out("rev-parse", "--show-toplevel", hint=f"{repo} must be a clone of {gitops.repo}"))
    git = Git(top)
    rel = gitops.path.strip("/") or "."
    out = (top / rel).resolve()
    if out != top and top not in out.parents:
        raise _error(
            Code.BAD_VALUE,
            f"gitops.path {gitops.path!r} leaves the repository",
            options.mesh,
            "use a relative path",
        )
    dirty = git.out("status", "--porcelain", "--untracked-files=all", "--", rel)
    if dirty:
        first = dirty.splitlines()[0]
        more = ", ..." if len(dirty.splitlines()) > 1 else ""
        raise _error(
            DIRTY,
            f"{rel} in {top} has uncommitted changes ({first.strip()}{more})",
            top,
            f"commit or discard them first (git -C {top} status -- {rel})",
        )
    return git, rel, out, gitops


def _commit(git: Git, rel: str, subject: str, body: list[str], digest: str) -> str | None:
    """Commit what changed under `rel` (nothing changed: no commit, None)."""
    git.run("add", "--all", "--", rel)
    if git.run("diff", "--cached", "--quiet", "--", rel, check=False).returncode == 0:
        return None
    message = "\n\n".join(
        part
        for part in (
            subject,
            "\n".join(f"- {line}" for line in body),
            f"{TRAILER_DIGEST}: {digest}\n{TRAILER_VERSION}: {__version__}",
        )
        if part
    )
    git.run(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        message,
        "--",
        rel,
        hint="set user.name and user.email (git config) in the GitOps clone",
    )
    return git.out("rev-parse", "HEAD")


def _ensure_branch(git: Git, branch: str) -> str:
    """Publish on gitops.branch: a fresh clone of an empty repository is put on it; anything else must be."""
    current = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if current == branch:
        return branch
    unborn = git.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0
    if unborn:
        git.run("symbolic-ref", "HEAD", f"refs/heads/{branch}")
        return branch
    raise _error(
        GIT_FAILED,
        f"the clone is on {current or 'a detached HEAD'!s}, not on gitops.branch {branch!r}",
        git.root,
        f"git -C {git.root} switch {branch}",
    )


def _remote(git: Git, branch: str) -> str:
    configured = git.run("config", f"branch.{branch}.remote", check=False).stdout.strip()
    if configured:
        return configured
    remotes = git.out("remote").split()
    if "origin" in remotes or not remotes:
        return "origin"
    return remotes[0]
