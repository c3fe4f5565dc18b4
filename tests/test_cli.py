"""The command line contract: exit codes, streams, and nothing written on bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, run_mpc

ACME = EXAMPLES / "acme" / "mesh.yaml"
SEED = EXAMPLES / "local-api-gateway" / "mesh.yaml"


def test_validate_ok() -> None:
    result = run_mpc("validate", SEED)
    assert result.code == 0
    assert "ok (3 services, 3 routes" in result.out
    assert result.err == ""


def test_warnings_are_printed_but_do_not_fail() -> None:
    result = run_mpc("validate", ACME)
    assert result.code == 0
    # acme's prod environment spans a GKE cluster with a GPU pool and a DigitalOcean one without.
    assert re.search(
        r"acme/mesh.yaml:\d+:3: warning\[W301\]: service 'brain' requests GPUs, but cluster 'do-ams'",
        result.err,
    )
    assert "ok (5 services" in result.out


def test_validate_reports_located_errors_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "mesh.yaml"
    bad.write_text(SEED.read_text().replace("port: 4000", "port: four"))
    result = run_mpc("validate", bad)
    assert result.code == 2
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: error\[E203\]: gateway.port", result.err, re.M)
    assert result.err.rstrip().endswith("mpc: 1 error")
    assert result.out == ""


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = run_mpc("validate", tmp_path / "nope.yaml")
    assert result.code == 2
    assert "error[E101]" in result.err


def test_build_writes_nothing_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "mesh.yaml"
    bad.write_text(SEED.read_text().replace("service: brain", "service: brian"))
    out = tmp_path / "out"
    result = run_mpc("build", bad, "-o", out)
    assert result.code == 2
    assert "did you mean 'brain'?" in result.err
    assert not out.exists()


def test_build_check_reports_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", SEED, "-o", out).code == 0
    up_to_date = run_mpc("build", SEED, "-o", out, "--check")
    assert up_to_date.code == 0, up_to_date.err
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(SEED.read_text().replace("auth:0.1.0", "auth:0.2.0"))
    result = run_mpc("build", mesh, "-o", out, "--check")
    assert result.code == 1
    assert "out of date" in result.err
    assert f"run: mpc build {mesh} -o {out}" in result.err


def test_build_summary_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_mpc("build", SEED, "-o", out, "--no-cache")
    assert first.code == 0
    assert re.match(
        rf"^{re.escape(str(out))}: \d+ written, 0 changed, 0 unchanged, 0 pruned$", first.out.strip()
    )
    again = run_mpc("build", SEED, "-o", out)
    assert re.match(r".*: 0 written, 0 changed, \d+ unchanged, 0 pruned$", again.out.strip())
    assert run_mpc("build", SEED, "-o", out, "-q").out == ""
    # A second folder from the same mesh: every service's output comes from the user cache.
    other = run_mpc("build", SEED, "-o", tmp_path / "other")
    assert re.match(
        r".*: \d+ written, 0 changed, 0 unchanged, 0 pruned \(0 of \d+ service units rendered, the rest from "
        r"the cache\)$",
        other.out.strip(),
    )


def test_unknown_backend_is_located_with_a_hint(tmp_path: Path) -> None:
    result = run_mpc("build", SEED, "-o", tmp_path / "out", "--backend", "kustomise")
    assert result.code == 2
    assert "<command line>: error[E314]: unknown backend 'kustomise'" in result.err


def test_internal_error_is_reported_as_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    import mpc.workflow.front

    def broken(*_: object, **__: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(mpc.workflow.front, "front_file", broken)
    result = run_mpc("validate", SEED)
    assert result.code == 3
    assert "internal error" in result.err and "please report" in result.err
    assert "Traceback" not in result.err


def test_usage_errors_exit_2() -> None:
    assert run_mpc("validate").code == 2
    assert run_mpc("no-such-command").code == 2


def test_help_and_version() -> None:
    assert run_mpc("--help").code == 0
    version = run_mpc("--version")
    assert version.code == 0 and version.out.startswith("mpc, version ")


def test_graph_formats() -> None:
    dot = run_mpc("graph", ACME)
    assert dot.code == 0 and dot.out.startswith("digraph mesh {")
    assert '"service:brain" -> "service:auth" [label="calls"];' in dot.out
    mermaid = run_mpc("graph", ACME, "--format", "mermaid")
    assert mermaid.out.startswith("flowchart LR")
    import json

    data = json.loads(run_mpc("graph", ACME, "--format", "json").out)
    assert data["rolloutWaves"] == [["data", "ledger"], ["auth", "billing-worker"], ["brain"]]


def test_console_script_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mpc", "validate", str(SEED)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
