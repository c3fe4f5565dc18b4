"""The output folder: atomic swaps, only mpc's own files replaced or pruned, safe folders, kept modes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_mpc, tree_of

from mpc.build.files import TEMP_PREFIX, sha256
from mpc.build.lock import LOCK_NAME, Lock
from mpc.build.swap import plan, write_tree
from mpc.errors import MpcError

SEED = ROOT / "examples" / "local-api-gateway" / "mesh.yaml"


def _lock(files: dict[str, bytes]) -> bytes:
    return Lock("0.0.0", "mesh.yaml", "0" * 64, {p: sha256(d) for p, d in files.items()}, ["test"]).to_bytes()


def _owned(files: dict[str, bytes]) -> dict[str, str]:
    return {p: sha256(d) for p, d in files.items()}


def _write(out: Path, files: dict[str, bytes], before: dict[str, bytes] | None = None) -> object:
    return write_tree(out, files, _lock(files), _owned(before or {}))


def _refused(out: Path, files: dict[str, bytes], before: dict[str, bytes] | None = None) -> str:
    with pytest.raises(MpcError) as err:
        _write(out, files, before)
    (diagnostic,) = err.value.diagnostics
    return f"{diagnostic.code} {diagnostic.message}"


def test_first_build_writes_files_and_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a/x.yaml": b"x: 1\n", "b.txt": b"b\n"}
    summary = _write(out, files)
    assert summary.written == ["a/x.yaml", "b.txt"]  # type: ignore[attr-defined]
    assert tree_of(out) == {**files, LOCK_NAME: _lock(files)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_rebuild_counts_changes_prunes_only_untouched_owned_files_and_keeps_the_users(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {
        "keep.yaml": b"k: 1\n",
        "change.yaml": b"c: 1\n",
        "gone/old.yaml": b"o: 1\n",
        "edited.yaml": b"e\n",
    }
    _write(out, first)
    (out / "NOTES.md").write_text("mine\n")
    (out / "gone" / "user.txt").write_text("also mine\n")
    (out / "empty-user-dir").mkdir()
    (out / "edited.yaml").write_text("edited by hand, no longer generated\n")
    second = {"keep.yaml": b"k: 1\n", "change.yaml": b"c: 2\n", "new/n.yaml": b"n: 1\n"}
    summary = write_tree(out, second, _lock(second), _owned(first))
    assert summary.unchanged == ["keep.yaml"]
    assert summary.changed == ["change.yaml"]
    assert summary.written == ["new/n.yaml"]
    assert summary.pruned == ["gone/old.yaml"]
    assert summary.kept == ["edited.yaml"]
    tree = tree_of(out)
    assert tree["NOTES.md"] == b"mine\n"
    assert tree["gone/user.txt"] == b"also mine\n"
    assert tree["edited.yaml"] == b"edited by hand, no longer generated\n"
    assert "gone/old.yaml" not in tree
    assert (out / "empty-user-dir").is_dir()
    assert tree["change.yaml"] == b"c: 2\n"


def test_no_change_rebuild_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a.yaml": b"a: 1\n"}
    _write(out, files)
    inodes = (os.stat(out).st_ino, (out / "a.yaml").stat().st_ino, (out / LOCK_NAME).stat().st_ino)
    summary = _write(out, files, files)
    assert summary.unchanged == ["a.yaml"] and not summary.written and not summary.changed  # type: ignore[attr-defined]
    assert (os.stat(out).st_ino, (out / "a.yaml").stat().st_ino, (out / LOCK_NAME).stat().st_ino) == inodes


def test_a_hand_edit_of_an_owned_file_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a.yaml": b"a: 1\n"}
    _write(out, files)
    (out / "a.yaml").write_text("privileged: true\n")
    summary = _write(out, files, files)
    assert summary.changed == ["a.yaml"]  # type: ignore[attr-defined]
    assert (out / "a.yaml").read_bytes() == b"a: 1\n"


def test_refuses_to_overwrite_a_file_mpc_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.yaml").write_text("hand written\n")
    assert _refused(out, {"a.yaml": b"a: 1\n"}).startswith("E315 refusing to replace a.yaml: a file with")
    assert (out / "a.yaml").read_text() == "hand written\n"
    assert not (out / LOCK_NAME).exists()


@pytest.mark.parametrize("kind", ["symlink", "fifo", "empty folder", "folder with files"])
def test_refuses_anything_but_a_file_where_mpc_writes_one(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "a.yaml"
    if kind == "symlink":
        (tmp_path / "elsewhere").write_text("x\n")
        target.symlink_to(tmp_path / "elsewhere")
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
        if kind == "folder with files":
            (target / "data").write_text("keep me\n")
    message = _refused(out, {"a.yaml": b"a: 1\n"})
    assert message.startswith("E315 refusing to replace a.yaml: a "), message
    if kind == "symlink":
        assert target.is_symlink() and (tmp_path / "elsewhere").read_text() == "x\n"


@pytest.mark.parametrize("owned", [False, True])
def test_a_symlinked_folder_is_never_written_through(tmp_path: Path, owned: bool) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    files = {"base/a.yaml": b"a: 1\n"}
    _write(out, files)
    (out / "base" / "a.yaml").unlink()
    (out / "base").rmdir()
    (out / "base").symlink_to(outside)
    message = _refused(out, files, files if owned else None)
    assert message == "E315 refusing to replace base: a symlink, which mpc did not write"
    assert list(outside.iterdir()) == []


def test_a_new_symlink_elsewhere_in_the_tree_is_carried_over_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    first = {"a.yaml": b"a: 1\n"}
    _write(out, first)
    (out / "link").symlink_to(outside)
    second = {"a.yaml": b"a: 1\n", "link2/x.yaml": b"x\n"}
    _write(out, second, first)
    assert list(outside.iterdir()) == []
    assert (out / "link").is_symlink()


def test_failure_before_swap_leaves_previous_tree_intact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n"}
    _write(out, first)
    before = tree_of(out)

    def explode(tree: Path) -> None:
        assert (tree / "a.yaml").read_bytes() == b"a: 2\n"
        raise RuntimeError("validator crashed")

    second = {"a.yaml": b"a: 2\n", "b.yaml": b"b: 1\n"}
    with pytest.raises(RuntimeError):
        write_tree(out, second, _lock(second), _owned(first), before_swap=explode)
    assert tree_of(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_folder_modes_owners_and_setgid_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"secret/a.yaml": b"a: 1\n", "b.yaml": b"b\n"}
    _write(out, files)
    os.chmod(out, 0o700)
    os.chmod(out / "secret", 0o2750)
    (out / "mine").mkdir(mode=0o700)
    os.chmod(out / "mine", 0o700)
    changed = {"secret/a.yaml": b"a: 2\n", "b.yaml": b"b\n"}
    _write(out, changed, files)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out / "secret").st_mode) == 0o2750
    assert stat.S_IMODE(os.stat(out / "mine").st_mode) == 0o700


def test_a_first_build_gets_the_umask_mode(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        _write(tmp_path / "out", {"a/b.yaml": b"x\n"})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "a").st_mode) == 0o750


def test_plan_lists_written_changed_and_pruned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"}
    _write(out, first)
    assert plan(out, first, _owned(first)).stale == []
    assert plan(out, {"a.yaml": b"a: 2\n", "c.yaml": b"c\n"}, _owned(first)).stale == [
        "a.yaml",
        "b.yaml",
        "c.yaml",
    ]
    assert plan(tmp_path / "missing", first, {}).stale == ["a.yaml", "b.yaml"]


@pytest.mark.slow
def test_killed_build_leaves_previous_tree_intact_and_the_next_build_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n"}
    _write(out, first)
    before = tree_of(out)
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from mpc.build.lock import Lock
        from mpc.build.swap import write_tree
        files = {{"a.yaml": b"a: 2\\n", **{{f"many/{{i}}.yaml": b"x: 1\\n" for i in range(200)}}}}
        def hang(tree):
            Path({str(ready)!r}).write_text("1")
            time.sleep(60)
        owned = {_owned(first)!r}
        write_tree(Path({str(out)!r}), files, Lock("0", "m", "0", {{}}).to_bytes(), owned, before_swap=hang)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "the build never reached the swap"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert tree_of(out) == before
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert leftovers, "the killed build's temporary tree should still be there"
    second = {"a.yaml": b"a: 3\n"}
    _write(out, second, first)
    assert (out / "a.yaml").read_bytes() == b"a: 3\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


# --- which folder -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "is the current folder or one above it"),
        ("/", "is the root of the file system"),
        (".", "is the current folder or one above it"),
        ("sub/..", "is the current folder or one above it"),
        ("..", "is the current folder or one above it"),
    ],
)
def test_folders_that_cannot_be_replaced_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, why: str
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "mesh.yaml").write_text(SEED.read_text())
    monkeypatch.chdir(tmp_path)
    result = run_mpc("build", "mesh.yaml", "-o", given)
    assert result.code == 2, result.err
    assert "error[E316]" in result.err and why in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mesh.yaml", "sub"]


def test_the_home_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    result = run_mpc("build", SEED, "-o", tmp_path / "home")
    assert result.code == 2 and "is the home folder" in result.err


def test_a_file_as_the_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = run_mpc("build", SEED, "-o", tmp_path / "file")
    assert result.code == 2 and "is a file" in result.err
    assert run_mpc("build", SEED, "-o", tmp_path / "file" / "sub").code == 2


def test_a_symlink_to_a_folder_builds_into_that_folder_and_stays(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    result = run_mpc("build", SEED, "-o", link)
    assert result.code == 0, result.err
    assert link.is_symlink() and (target / LOCK_NAME).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert run_mpc("build", SEED, "-o", link, "--check").code == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_mount_points_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", SEED, "-o", out).code == 0
    inner = out / "data"
    inner.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(inner)], capture_output=True).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        (inner / "x").write_text("on the mount\n")
        text = SEED.read_text().replace("local-api-gateway", "edge-gateway", 1)
        (tmp_path / "mesh.yaml").write_text(text)
        result = run_mpc("build", tmp_path / "mesh.yaml", "-o", out)
        assert result.code == 2 and "error[E316]" in result.err and "mount point" in result.err
        assert (inner / "x").read_text() == "on the mount\n"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
        mounted = run_mpc("build", SEED, "-o", inner)
        assert mounted.code == 2 and "is a mount point" in mounted.err
    finally:
        subprocess.run(["umount", str(inner)], check=False)


@pytest.mark.slow
def test_a_large_build_finishes_in_a_detached_process_that_holds_the_build_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the replaced tree and recording the new one happen after the command returns (on large
    trees); the next build into the folder waits for that, and finds the tree whole and current."""
    import mpc.workflow.build as workflow

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    monkeypatch.setattr(workflow, "DETACH_MIN", 0)
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(SEED.read_text())
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out).code == 0
    mesh.write_text(SEED.read_text().replace("image: auth:0.1.0", "image: auth:0.1.1"))
    assert run_mpc("build", mesh, "-o", out).code == 0
    again = run_mpc("build", mesh, "-o", out)  # waits for the detached process, if it still runs
    assert again.code == 0 and "0 written, 0 changed" in again.out
    deadline = time.monotonic() + 20
    while [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]:
        assert time.monotonic() < deadline, "the replaced tree was never deleted"
        time.sleep(0.05)
    fresh = tmp_path / "fresh"
    assert run_mpc("build", mesh, "-o", fresh, "--no-cache").code == 0
    assert tree_of(out) == tree_of(fresh)
