"""The layer rules are import-linter contracts (pyproject.toml) that `make lint` runs: they fail on a
wrong-way import, and the project keeps them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(lint), "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(ROOT / "mpc", root / "mpc", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_project_keeps_its_layers(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        (
            "mpc/lang/quantities.py",
            "from mpc.build import cache",
            "mpc.lang is not allowed to import mpc.build",
        ),
        ("mpc/graph/mesh.py", "import mpc.render.k8s", "mpc.graph is not allowed to import mpc.render"),
        ("mpc/backends/istio/common.py", "import mpc.backends.kustomize", "Backends never import each other"),
        (
            "mpc/build/cache.py",
            "import mpc.backends.envoy",
            "mpc.build is not allowed to import mpc.backends",
        ),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout
