from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from mpc.graph.front import Front
from mpc.render.api import Artifact
from mpc.workflow.diff import DiffReport

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "golden"
SHARED = ROOT.parent / "shared"


# The smallest valid mesh: one route to one service. Tests edit it to break one thing at a time.
MINIMAL_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway:
  name: edge
  port: 4000
  routes: [{prefix: /api, service: api}]
services:
  api: {image: ghcr.io/shop/api:1.0.0, port: 8080}
"""


def tree_of(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative POSIX path -> bytes), in path order."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` as a fixed committer, reading no user or system configuration; its stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.dev",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.dev",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def example_meshes() -> list[Path]:
    """Every bundled example mesh (not the plugin examples, which need their plugin installed)."""
    return sorted(p for p in EXAMPLES.glob("*/mesh.yaml"))


@pytest.fixture(autouse=True, scope="session")
def _user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests' own user cache (mpc.build.cache), never the developer's."""
    previous = os.environ.get("MPC_CACHE_DIR")
    os.environ["MPC_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if previous is None:
        del os.environ["MPC_CACHE_DIR"]
    else:
        os.environ["MPC_CACHE_DIR"] = previous


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden files from the current output (review the diff before committing)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_mpc(*args: str | os.PathLike[str]) -> Run:
    """Run the CLI in-process, as `mpc ARGS...`, capturing its output and exit code."""
    from mpc.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def mpc() -> object:
    return run_mpc


@pytest.fixture
def kubectl() -> Iterator[str]:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed")
    yield path


def envoy_binary() -> str | None:
    candidate = Path(sys.executable).parent / "envoy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("envoy")


def to_files(artifacts: Iterable[Artifact]) -> dict[str, bytes]:
    """Plain artifacts as the bytes a build writes for them, by path."""
    from mpc.build.serialize import Serializer

    serializer = Serializer()
    return {art.path: serializer.content(art.path, art.content) for art in artifacts}


def diff_texts(
    old_text: str | None, new_text: str, old_label: str, new_label: str, backends: tuple[str, ...] = ()
) -> DiffReport:
    """`mpc diff` of two versions given as text; `old_text` None means the mesh is new."""
    from mpc.workflow.diff import diff_sides
    from mpc.workflow.front import front_text

    def old() -> Front | None:
        return front_text(old_text, old_label) if old_text is not None else None

    return diff_sides(old, lambda: front_text(new_text, new_label), old_label, new_label, backends)
