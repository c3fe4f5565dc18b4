"""The real validators the tests run (kubectl kustomize, checkov), found and invoked in one place.

Each finder skips the calling test with the reason when its tool is absent; `make test` installs checkov
in its own virtual environment and passes its path in MPC_CHECKOV.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml


def kubectl_binary() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed")
    return path


def kustomize(folder: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize FOLDER`, offline (no cluster, no kubeconfig)."""
    return subprocess.run(
        [kubectl_binary(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": "/nonexistent"},
        timeout=timeout,
        check=False,
    )


def kustomize_docs(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` prints for a folder; fails the test with kustomize's error."""
    proc = kustomize(folder)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def checkov_binary() -> str:
    path = os.environ.get("MPC_CHECKOV") or shutil.which("checkov")
    if not path:
        pytest.skip("checkov is not installed: set MPC_CHECKOV or put checkov on PATH (`make test` does)")
    return path


def checkov_scan(
    framework: str,
    *,
    directory: Path | None = None,
    files: Sequence[Path] = (),
    cwd: Path | None = None,
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework run) for a folder or some files, offline."""
    target = ["-d", str(directory)] if directory is not None else [a for f in files for a in ("-f", str(f))]
    proc = subprocess.run(
        [checkov_binary(), *target, "--framework", framework, "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: some check failed, reported below
    report = json.loads(proc.stdout)
    return report if isinstance(report, list) else [report]
