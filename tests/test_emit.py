"""emit: atomic swaps, pruning only what mpc owns, refusing paths that leave the output folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import tree_of

from mpc.build import emit
from mpc.build import parallel as forked
from mpc.build.emit import LOCK_NAME, TEMP_PREFIX, Lock, sha256, stale, to_files, write_tree
from mpc.errors import MpcError
from mpc.render.api import Artifact


def _lock(files: dict[str, bytes]) -> Lock:
    return Lock("0.0.0", "mesh.yaml", "0" * 64, {p: sha256(d) for p, d in files.items()}, ["test"])


def test_first_build_writes_files_and_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a/x.yaml": b"x: 1\n", "b.txt": b"b\n"}
    summary = write_tree(out, files, _lock(files))
    assert summary.written == ["a/x.yaml", "b.txt"]
    assert tree_of(out) == {**files, LOCK_NAME: _lock(files).to_bytes()}
    lock = Lock.read(out)
    assert lock is not None and lock.files == {p: sha256(d) for p, d in files.items()}


def test_rebuild_counts_unchanged_changed_and_prunes_only_owned_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"keep.yaml": b"k: 1\n", "change.yaml": b"c: 1\n", "gone/old.yaml": b"o: 1\n"}
    write_tree(out, first, _lock(first))
    (out / "NOTES.md").write_text("mine\n")
    (out / "gone" / "user.txt").write_text("also mine\n")
    (out / "empty-user-dir").mkdir()
    second = {"keep.yaml": b"k: 1\n", "change.yaml": b"c: 2\n", "new/n.yaml": b"n: 1\n"}
    summary = write_tree(out, second, _lock(second))
    assert summary.unchanged == ["keep.yaml"]
    assert summary.changed == ["change.yaml"]
    assert summary.written == ["new/n.yaml"]
    assert summary.pruned == ["gone/old.yaml"]
    tree = tree_of(out)
    assert tree["NOTES.md"] == b"mine\n"
    assert tree["gone/user.txt"] == b"also mine\n"
    assert "gone/old.yaml" not in tree
    assert (out / "empty-user-dir").is_dir()
    assert tree["change.yaml"] == b"c: 2\n"


def test_no_change_rebuild_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = {"a.yaml": b"a: 1\n"}
    write_tree(out, files, _lock(files))
    inode = (out / "a.yaml").stat().st_ino
    summary = write_tree(out, files, _lock(files))
    assert summary.unchanged == ["a.yaml"] and not summary.written and not summary.changed
    assert (out / "a.yaml").stat().st_ino == inode


def test_refuses_to_overwrite_a_file_mpc_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.yaml").write_text("hand written\n")
    files = {"a.yaml": b"a: 1\n"}
    with pytest.raises(MpcError) as err:
        write_tree(out, files, _lock(files))
    assert err.value.diagnostics[0].code == "E315"
    assert (out / "a.yaml").read_text() == "hand written\n"
    assert not (out / LOCK_NAME).exists()


def test_failure_before_swap_leaves_previous_tree_intact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n"}
    write_tree(out, first, _lock(first))
    before = tree_of(out)

    def explode(tree: Path) -> None:
        assert (tree / "a.yaml").read_bytes() == b"a: 2\n"
        raise RuntimeError("validator crashed")

    second = {"a.yaml": b"a: 2\n", "b.yaml": b"b: 1\n"}
    with pytest.raises(RuntimeError):
        write_tree(out, second, _lock(second), before_swap=explode)
    assert tree_of(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.slow
def test_killed_build_leaves_previous_tree_intact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n"}
    write_tree(out, first, _lock(first))
    before = tree_of(out)
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from mpc.build.emit import Lock, write_tree
        files = {{"a.yaml": b"a: 2\\n", **{{f"many/{{i}}.yaml": b"x: 1\\n" for i in range(200)}}}}
        def hang(tree):
            Path({str(ready)!r}).write_text("1")
            time.sleep(60)
        write_tree(Path({str(out)!r}), files, Lock("0", "m", "0", {{}}), before_swap=hang)
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
    write_tree(out, second, _lock(second))
    assert (out / "a.yaml").read_bytes() == b"a: 3\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize(
    "path", ["../escape.yaml", "/etc/passwd", "a/../../b.yaml", "a/./b.yaml", "a\\b.yaml", "", LOCK_NAME]
)
def test_paths_that_leave_the_output_folder_are_refused(path: str) -> None:
    with pytest.raises(MpcError) as err:
        to_files([Artifact(path, "x")])
    assert err.value.diagnostics[0].code == "E313"


def test_duplicate_and_file_folder_clashes_are_refused() -> None:
    with pytest.raises(MpcError):
        to_files([Artifact("a.yaml", "x"), Artifact("a.yaml", "y")])
    with pytest.raises(MpcError):
        to_files([Artifact("a", "x"), Artifact("a/b.yaml", "y")])


def test_serialisation_by_kind() -> None:
    files = to_files(
        [
            Artifact("one.yaml", {"a": 1}),
            Artifact("many.yaml", [{"a": 1}, {"b": 2}]),
            Artifact("data.json", {"b": [1, 2]}),
            Artifact("notes.txt", "plain\n"),
        ]
    )
    assert files["one.yaml"] == b"a: 1\n"
    assert files["many.yaml"] == b"a: 1\n---\nb: 2\n"
    assert files["data.json"] == b'{\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert files["notes.txt"] == b"plain\n"
    assert list(files) == sorted(files)


def _many(n: int) -> list[Artifact]:
    kinds: list[Artifact] = []
    for i in range(n):
        doc = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"c{i}"},
            "data": {"k": f"v\n{i}"},
        }
        if i % 4 == 0:
            kinds.append(Artifact(f"d{i % 7}/f{i}.yaml", doc))
        elif i % 4 == 1:
            kinds.append(Artifact(f"d{i % 7}/f{i}.yaml", [doc, {"n": i, "x": [1.5, None, True]}]))
        elif i % 4 == 2:
            kinds.append(Artifact(f"d{i % 7}/f{i}.json", doc))
        else:
            kinds.append(Artifact(f"d{i % 7}/f{i}.txt", f"line {i}\n"))
    return kinds


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked")
def test_parallel_serialisation_equals_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large trees are serialised in two processes; the bytes and their order are the serial ones."""
    artifacts = _many(emit.PARALLEL_MIN + 501)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    parallel = to_files(artifacts)
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    serial = to_files(artifacts)
    assert list(parallel.items()) == list(serial.items())
    assert len(serial) == len(artifacts)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked")
def test_parallel_serialisation_reports_an_unwritable_value_in_either_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    for at in (0, -1):  # the first half is this process's, the last the child's
        artifacts = _many(emit.PARALLEL_MIN + 10)
        artifacts[at] = Artifact("bad.yaml", {"a": {1, 2}})
        with pytest.raises(TypeError, match="cannot write set"):
            to_files(artifacts)


def test_stale_lists_written_changed_and_pruned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"}
    write_tree(out, first, _lock(first))
    assert stale(out, first) == []
    assert stale(out, {"a.yaml": b"a: 2\n", "c.yaml": b"c\n"}) == ["a.yaml", "b.yaml", "c.yaml"]
    assert stale(tmp_path / "missing", first) == ["a.yaml", "b.yaml"]


def test_symlink_in_output_is_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    first = {"a.yaml": b"a: 1\n"}
    write_tree(out, first, _lock(first))
    (out / "link").symlink_to(outside)
    second = {"a.yaml": b"a: 1\n", "link2/x.yaml": b"x\n"}
    write_tree(out, second, _lock(second))
    assert list(outside.iterdir()) == []
    assert (out / "link").is_symlink()


def test_content_keys_tell_apart_what_serialises_differently() -> None:
    """Equal keys only for equal values of equal exact types in equal order; no key for anything else."""

    class Text(str):
        pass

    def key(content: object) -> str | None:
        return emit.content_key(Artifact("x.yaml", content))  # type: ignore[arg-type]

    assert key({"a": 1}) == key({"a": 1}) is not None
    distinct = [{"a": 1}, {"a": True}, {"a": 1.0}, {"a": "1"}, {"a": [1]}, {"a": (1,)}, {"a": -0.0}]
    assert len({key(c) for c in distinct}) == len(distinct)
    assert key({"a": 1, "b": 2}) != key({"b": 2, "a": 1})  # order is written, so it is keyed
    assert key([{"a": 1}]) != key({"a": 1})
    assert key({"a": Text("x")}) is None and key({"a": object()}) is None
    assert key("text\n") is None


def _keyed_lock(out: Path, artifacts: list[Artifact]) -> tuple[dict[str, bytes], Lock]:
    done = emit.serialize_files(artifacts, emit.Reuse.of(out, "0.0.0"))
    lock = _lock(done.files)
    lock.keys = done.keys
    return done.files, lock


def test_unchanged_contents_are_read_back_only_while_the_disk_matches_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = [Artifact("a.yaml", {"a": 1}), Artifact("b.yaml", {"b": 1}), Artifact("t.txt", "t\n")]
    files, lock = _keyed_lock(out, first)
    write_tree(out, files, lock)
    assert set(Lock.read(out).keys) == {"a.yaml", "b.yaml"}  # type: ignore[union-attr]
    reuse = emit.Reuse.of(out, "0.0.0")
    assert reuse is not None and emit.Reuse.of(out, "9.9.9") is None  # another mpc's keys are not trusted

    second = [Artifact("a.yaml", {"a": 1}), Artifact("b.yaml", {"b": 2}), Artifact("t.txt", "t\n")]
    done = emit.serialize_files(second, reuse)
    assert done.reused == {"a.yaml"} and done.files["b.yaml"] == b"b: 2\n"

    (out / "a.yaml").write_bytes(b"a: edited\n")  # the key still matches, the bytes no longer do
    done = emit.serialize_files(second, emit.Reuse.of(out, "0.0.0"))
    assert done.reused == set() and done.files["a.yaml"] == b"a: 1\n"
    write_tree(out, done.files, _lock(done.files), verified=done.reused)
    assert (out / "a.yaml").read_bytes() == b"a: 1\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked")
def test_parallel_reuse_equals_serial_serialisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    artifacts = _many(emit.PARALLEL_MIN + 101)
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    files, lock = _keyed_lock(out, artifacts)
    write_tree(out, files, lock)
    artifacts[3] = Artifact(artifacts[3].path, ["changed"])
    artifacts[-3] = Artifact(artifacts[-3].path, ["changed too"])
    done = emit.serialize_files(artifacts, emit.Reuse.of(out, "0.0.0"))
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    assert list(done.files.items()) == list(to_files(artifacts).items())
    keyed = {a.path for a in artifacts if not isinstance(a.content, str)}
    assert done.reused == keyed - {artifacts[3].path, artifacts[-3].path}
