"""The command line at a terminal and at the edges of the machine: colour and source excerpts (NO_COLOR),
the progress line (only on a terminal, a pseudo-terminal here), standard input, environment failures
(exit 2 with one line naming the path and the OS error), `mpc dev --log-level`, `build --validate`."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, run_mpc

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import mesh_text

SEED = EXAMPLES / "local-api-gateway" / "mesh.yaml"
MPC = [sys.executable, "-m", "mpc"]
BAD = SEED.read_text().replace("port: 4000", "port: four")


def on_a_terminal(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str]:
    """Run mpc with stdin, stdout and stderr on a pseudo-terminal; its exit code and everything shown."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*MPC, *args], stdin=slave, stdout=slave, stderr=slave, env={**os.environ, **(env or {})}
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return proc.wait(timeout=timeout), shown.decode("utf-8", errors="replace")


def plain(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MPC, *args], capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def bad_mesh(tmp_path: Path) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(BAD)
    return path


LINE = next(i + 1 for i, text in enumerate(BAD.splitlines()) if "port: four" in text)


def test_a_terminal_gets_colour_the_source_line_and_a_caret(bad_mesh: Path) -> None:
    code, shown = on_a_terminal(["validate", str(bad_mesh)], {"NO_COLOR": ""})
    assert code == 2
    assert "\x1b[1;31merror[E203]\x1b[0m" in shown
    assert f"  {LINE} | \x1b[0m  port: four" in shown
    assert "\x1b[1;31m^\x1b[0m" in shown


def test_no_color_keeps_the_excerpt_without_colour(bad_mesh: Path) -> None:
    code, shown = on_a_terminal(["validate", str(bad_mesh)], {"NO_COLOR": "1"})
    assert code == 2 and "\x1b[" not in shown
    lines = shown.replace("\r\n", "\n").splitlines()
    at = lines.index(f"  {LINE} |   port: four")
    caret = lines[at + 1]
    assert caret.endswith("^") and caret.index("^") == lines[at].index("four")


def test_a_pipe_gets_the_plain_located_lines(bad_mesh: Path) -> None:
    run = plain(["validate", str(bad_mesh)])
    assert run.returncode == 2 and "\x1b[" not in run.stderr and "port: four" not in run.stderr
    assert run.stderr.startswith(f"{bad_mesh}:{LINE}:9: error[E203]")


def test_validate_reads_standard_input() -> None:
    run = plain(["validate", "-"], input=SEED.read_text())
    assert run.returncode == 0, run.stderr
    assert run.stdout == "<stdin>: ok (3 services, 3 routes, 1 environment, 0 clusters)\n"
    bad = plain(["validate", "-"], input=BAD)
    assert bad.returncode == 2 and bad.stderr.startswith(f"<stdin>:{LINE}:9: error[E203]")


@pytest.mark.slow
def test_the_progress_line_shows_only_on_a_terminal(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(mesh_text(1000))  # a full build of 1,000 services takes more than a second
    code, shown = on_a_terminal(["build", str(mesh), "-o", str(tmp_path / "a"), "--no-cache"])
    assert code == 0, shown
    assert "\r\x1b[2K… " in shown and " s)" in shown
    assert " written, " in shown.rsplit("\r\x1b[2K", 1)[1]  # the line is cleared, then the summary
    quiet_code, quiet = on_a_terminal(["build", str(mesh), "-o", str(tmp_path / "b"), "--no-cache", "-q"])
    assert quiet_code == 0 and quiet == ""
    piped = plain(["build", str(mesh), "-o", str(tmp_path / "c"), "--no-cache"])
    assert piped.returncode == 0 and "\x1b" not in piped.stdout + piped.stderr and "\r" not in piped.stderr
    # Piped, stderr holds only the mesh's warnings (W302: the generator's stateful services that do not
    # cluster run three pods in prod), never a progress line.
    assert all(line.startswith((f"{mesh}:", "  hint: ")) for line in piped.stderr.splitlines())
    assert piped.stdout.count("\n") == 1  # the final summary, always


# --- environment failures: exit 2, one line naming the path and the OS error -----------------------


def one_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [["validate", str(SEED)], ["graph", str(SEED), "--format", "mermaid"], ["schema"]],
    ids=["validate", "graph", "schema"],
)
def test_a_full_disk_on_stdout(args: list[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is Linux's")
    with open("/dev/full", "w") as full:
        run = subprocess.run([*MPC, *args], stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert one_line(run) == "mpc: standard output (/dev/full): No space left on device"


def test_a_closed_stdout() -> None:
    run = subprocess.run(
        [*MPC, "validate", str(SEED)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        pass_fds=(),
        preexec_fn=lambda: os.close(1),
    )
    assert one_line(run) == "mpc: standard output: closed"


def test_an_output_folder_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_line(plain(["build", str(SEED), "-o", str(blocker / "out")]))
    assert line.startswith(f"mpc: {blocker}") and "a file is in the way" in line


def test_an_impossible_output_path() -> None:
    line = one_line(plain(["build", str(SEED), "-o", "/proc/mpc-test/out"]))
    assert line.startswith("mpc: /proc") and "No such file or directory" in line


def test_init_and_dev_into_impossible_paths(tmp_path: Path) -> None:
    line = one_line(plain(["init", "/proc/mpc-test", "--gateway", "edge", "--port", "4000", "--app", "api"]))
    assert line == "mpc: /proc/mpc-test: No such file or directory"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    envoy = fake_envoy(tmp_path)
    run = plain(["dev", str(SEED), "-o", str(blocker / "bootstrap.yaml"), "--envoy", str(envoy)])
    assert (
        run.returncode == 2
        and run.stderr.splitlines()[-1] == f"mpc: {blocker}: a file is in the way of this folder"
    )


# --- mpc dev --log-level ------------------------------------------------------------------------------


def fake_envoy(tmp_path: Path) -> Path:
    """An `envoy` that records its command line and exits: what mpc dev asks of Envoy, without one."""
    script = tmp_path / "envoy"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv"}\n')
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(("args", "level"), [([], "warning"), (["--log-level", "debug"], "debug")])
def test_dev_log_level(tmp_path: Path, args: list[str], level: str) -> None:
    envoy = fake_envoy(tmp_path)
    run = plain(["dev", str(SEED), "--envoy", str(envoy), "-o", str(tmp_path / "b.yaml"), *args])
    assert run.returncode == 0, run.stderr
    argv = (tmp_path / "argv").read_text().split()
    assert argv[argv.index("--log-level") + 1] == level
    assert "/auth" in run.stderr  # the route table is what the user sees
    bad = run_mpc("dev", SEED, "--log-level", "loud")
    assert bad.code == 2 and "--log-level" in bad.err


@pytest.mark.slow
def test_build_validate_lists_what_ran_and_what_was_skipped(tmp_path: Path) -> None:
    run = plain(["build", str(SEED), "-o", str(tmp_path / "out"), "--validate"])
    assert run.returncode == 0, run.stderr
    ran = next(ln for ln in run.stdout.splitlines() if ln.startswith("validated by: "))
    assert "kustomize: " in ran or "not installed, skipped: kustomize: kubectl kustomize" in run.stdout
    assert "envoy: envoy --mode validate" in run.stdout
    assert ran.endswith(", mpc: verify")  # the policies of the whole tree, layer by layer
    # Without kubectl on PATH (and the envoy beside Python still found), kubectl is listed as skipped.
    env = {**os.environ, "PATH": str(tmp_path)}
    without = plain(["build", str(SEED), "-o", str(tmp_path / "out2"), "--validate"], env=env)
    assert without.returncode == 0, without.stderr
    assert (
        "not installed, skipped: kustomize: kubectl kustomize, kustomize: kubernetes-validate --strict"
        in (without.stdout)
    )
