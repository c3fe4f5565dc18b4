"""GitOps: the folder mpc publishes into is a folder of the repository, the branch a branch git accepts."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import Context

# git check-ref-format: no component starts with '.' or ends with '.lock', no '..', '@{', '//', control
# characters, space or any of ~^:?*[\ ; a branch is not HEAD, does not start with '-' or end with '/'
# or '.', and is not '@'.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def branch_problem(name: str) -> str | None:
    """Why git would refuse `name` as a branch name (`git check-ref-format --branch`), or None."""
    if not name:
        return "is empty"
    if name == "HEAD" or name == "@":
        return f"is {name!r}, which git reads as a revision, not a branch"
    if name.startswith("-"):
        return "starts with '-' (git would read it as an option)"
    found = _REF_FORBIDDEN.search(name)
    if found is not None:
        return f"contains {found.group()!r}"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "starts or ends with '/', or ends with '.'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"has the component {part!r} (none may start with '.' or end with '.lock')"
    return None


def check_gitops(c: Context) -> Iterable[Diagnostic]:
    gitops = c.mesh.gitops
    if gitops is None:
        return
    parts = gitops.path.split("/")
    if any(p in (".", "..") for p in parts):
        yield Diagnostic(
            Code.BAD_VALUE,
            "gitops.path must stay inside the repository ('.' and '..' are not allowed)",
            c.at("gitops", "path"),
            "a folder of the repository, e.g. path: rendered",
        )
    elif any(p.lower() == ".git" for p in parts):
        yield Diagnostic(
            Code.BAD_VALUE,
            f"gitops.path {gitops.path!r} is the repository's .git folder or inside it",
            c.at("gitops", "path"),
            "a folder of the work tree, e.g. path: rendered (publish would write into git's own data)",
        )
    problem = branch_problem(gitops.branch)
    if problem is not None:
        yield Diagnostic(
            Code.BAD_VALUE,
            f"gitops.branch {gitops.branch!r} {problem}",
            c.at("gitops", "branch"),
            "a branch name git accepts, e.g. branch: main (publish pushes it by this name)",
        )
