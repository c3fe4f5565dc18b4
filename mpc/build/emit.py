"""emit: artifacts to bytes, and bytes to an output folder, deterministically and atomically.

The new tree is assembled in a temporary folder beside the target: unchanged files and files mpc does
not own are hard-linked (or copied) from the old tree, changed files are written, and the folders are
then exchanged in one step (renameat2 RENAME_EXCHANGE on Linux; two renames elsewhere). A failure or a
kill before the exchange leaves the previous tree as it was. `mpc.lock` records what mpc owns.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpc.build.memo import part_entry
from mpc.build.parallel import start
from mpc.errors import Diagnostic, Location, MpcError
from mpc.render import yamlwriter
from mpc.render.api import Artifact, Pieces, Stored

LOCK_NAME = "mpc.lock"
LOCK_FORMAT = 4  # 2: plugins and per-node hashes; 3: content keys; 4: memo keys and parts
TEMP_PREFIX = ".mpc-tmp-"


def serialize(artifact: Artifact, writer: yamlwriter.Writer | None = None) -> bytes:
    content = artifact.content
    if isinstance(content, Stored):
        if content.data is None:
            raise ValueError(f"{artifact.path}: a file taken from the previous tree unread has no bytes here")
        return content.data
    if isinstance(content, Pieces):
        return serialize_pieces(content, writer)[0]
    if isinstance(content, str):
        text = content
    elif artifact.path.endswith(".json"):
        text = json.dumps(content, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    else:
        writer = writer or yamlwriter.Writer()
        text = writer.dump(content) if isinstance(content, Mapping) else writer.dump_all(list(content))
    return text.encode("utf-8")


def serialize_pieces(pieces: Pieces, writer: yamlwriter.Writer | None = None) -> tuple[bytes, list[str]]:
    """The file's bytes (what dump_all writes for all its documents) and its parts as the lock records
    them (mpc.build.memo.part_entry)."""
    writer = writer or yamlwriter.Writer()
    chunks: list[bytes] = []
    entries: list[str] = []
    for part in pieces.parts:
        data = part.data
        if data is None:
            data = writer.dump_all(list(part.docs or ())).encode("utf-8")
        if data:
            chunks.append(data)
        entries.append(part_entry(part.key, data))
    return b"---\n".join(chunks), entries


# marshal format 2: no back-references and no "interned" flag (formats 3 and 4 write both, and they
# depend on how the objects happen to be shared in memory), so the bytes depend on the value alone.
_MARSHAL_FORMAT = 2


def content_key(artifact: Artifact) -> str | None:
    """A key that is equal only for contents that serialise to equal bytes; None when there is none.

    marshal writes only exact built-in types (a subclass of str or dict, an enum, any other object is
    refused), keeps dict order and tells 1, 1.0 and True apart: equal bytes mean equal values of equal
    types in equal order, which the serialiser writes identically. (Bytes-like values share one marshal
    code, but the serialiser refuses them all.) Text needs no key: it is written as it is. The key does
    not name the serialiser: Reuse.of trusts keys only from a lock newer than the serialiser's code.
    """
    content = artifact.content
    if type(content) is not dict and type(content) is not list:
        return None
    try:
        payload = marshal.dumps(content, _MARSHAL_FORMAT)
    except ValueError:
        return None
    return hashlib.sha256(payload).hexdigest()


def _serializer_time() -> int:
    """When the serialiser's code last changed (ns): a lock older than that has keys of another one."""
    return max(os.stat(module).st_mtime_ns for module in (__file__, yamlwriter.__file__))


@dataclass(frozen=True)
class Reuse:
    """The previous tree, as its lock records it: files whose content key is unchanged are read back
    from disk (when their bytes still have the recorded sha256) instead of serialised again."""

    root: str
    lock: Lock

    @property
    def hashes(self) -> Mapping[str, str]:
        """Path -> the sha256 the lock records."""
        return self.lock.files

    @classmethod
    def of(cls, out: Path, mpc_version: str, lock: Lock | None = None) -> Reuse | None:
        """The previous tree's record, when this serialiser (same version, unchanged code) wrote it."""
        lock = lock or Lock.read(out)
        if lock is None or not lock.keys or lock.mpc_version != mpc_version:
            return None
        try:
            if os.stat(out / LOCK_NAME).st_mtime_ns <= _serializer_time():
                return None
        except OSError:
            return None
        return cls(os.fspath(out), lock)

    def load(self, path: str, key: str) -> bytes | None:
        if self.lock.keys.get(path) != key:
            return None
        return read_recorded(f"{self.root}/{path}", self.hashes.get(path))


@dataclass
class Serialized:
    files: dict[str, bytes]  # path -> bytes, sorted by path (b"" for a file in `reused` left unread)
    keys: dict[str, str]  # path -> content key (files of dict or list content) or memo key
    reused: set[str]  # paths whose bytes were read back from the previous tree (they equal the disk)
    parts: dict[str, list[str]] = field(default_factory=dict)  # path -> its parts (serialize_pieces)


_ODD_PARTS = frozenset({"", ".", ".."})


def check_path(path: str) -> str | None:
    """Why a relative output path is unsafe, or None."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return "is not a relative POSIX path"
    # Normalised and inside the folder exactly when no component is empty, "." or "..".
    if not _ODD_PARTS.isdisjoint(path.split("/")):
        return "would leave the output folder or is not normalised"
    if path == LOCK_NAME or path.split("/")[0].startswith(TEMP_PREFIX):
        return "is reserved by mpc"
    return None


def to_files(artifacts: Iterable[Artifact]) -> dict[str, bytes]:
    """Serialize every artifact; refuse unsafe or duplicate paths (a backend bug, reported located)."""
    return serialize_files(artifacts).files


def serialize_files(artifacts: Iterable[Artifact], reuse: Reuse | None = None) -> Serialized:
    """to_files, with each file's content key, reading unchanged files back from `reuse`'s tree."""
    files: dict[str, bytes] = {}
    problems: list[Diagnostic] = []
    todo: list[Artifact] = []
    for art in artifacts:
        why = check_path(art.path)
        if why is not None:
            problems.append(Diagnostic("E313", f"output path {art.path!r} {why}", Location("<backend>")))
            continue
        if art.path in files:
            problems.append(Diagnostic("E313", f"two artifacts write {art.path!r}", Location("<backend>")))
            continue
        files[art.path] = b""  # a placeholder that keeps the order; the bytes come below
        todo.append(art)
    # A file and a folder of the same name cannot both exist.
    folders = {posixpath.dirname(p) for p in files}
    expanded = set()
    for folder in folders:
        while folder:
            expanded.add(folder)
            folder = posixpath.dirname(folder)
    for clash in sorted(expanded & files.keys()):
        problems.append(Diagnostic("E313", f"{clash!r} is both a file and a folder", Location("<backend>")))
    if problems:
        raise MpcError(problems)
    keys: dict[str, str] = {}
    reused: set[str] = set()
    parts: dict[str, list[str]] = {}
    work: list[Artifact] = []
    for art in todo:
        if isinstance(art.content, Stored):  # taken by mpc.build.memo and checked: nothing to serialise
            # Unread, its bytes are on disk as the lock records them; write_tree links the file and the
            # lock takes its sha256 from the old lock, so nothing reads the empty placeholder.
            files[art.path] = art.content.data if art.content.data is not None else b""
            reused.add(art.path)
            if art.key is not None:
                keys[art.path] = art.key
        else:
            work.append(art)
    for art, (data, key, from_disk, lengths) in zip(work, _serialize_all(work, reuse), strict=True):
        files[art.path] = data
        if key is not None:
            keys[art.path] = key
        if from_disk:
            reused.add(art.path)
        if lengths is not None and any(" " in entry for entry in lengths):
            parts[art.path] = lengths
    return Serialized(dict(sorted(files.items())), keys, reused, parts)


PARALLEL_MIN = 2000  # below this many files a second process costs more than it saves


# The bytes, the content or memo key, whether read back from disk, the parts (serialize_pieces).
Done = tuple[bytes, "str | None", bool, "list[str] | None"]


def _serialize_all(artifacts: list[Artifact], reuse: Reuse | None = None) -> list[Done]:
    """Every artifact's bytes, in order; the last part in a forked child when that pays.

    Serialisation is a pure function of each artifact, so the child's bytes are exactly what this process
    would produce (the Writer's memo only caches). A child that fails for any reason hands its half back
    to be serialised here, where the same error (a backend's unwritable value) surfaces as it would.
    """
    # The child is the slower half: its first touch of each object copies the page (copy-on-write).
    half = len(artifacts) * 58 // 100
    child = (
        start(lambda: marshal.dumps(_serialize_range(artifacts[half:], reuse)))
        if len(artifacts) >= PARALLEL_MIN
        else None
    )
    if child is None:
        return _serialize_range(artifacts, reuse)
    try:
        first = _serialize_range(artifacts[:half], reuse)
    except BaseException:
        child.abandon()
        raise
    payload = child.answer()
    received: Any = None
    if payload is not None:
        with contextlib.suppress(ValueError, EOFError, TypeError):
            received = marshal.loads(payload)
    second: list[Done]
    if isinstance(received, list) and len(received) == len(artifacts) - half:
        second = [done for done in received if _is_done(done)]
    else:
        second = []
    if len(second) != len(artifacts) - half:
        second = _serialize_range(artifacts[half:], reuse)
    return first + second


def _is_done(value: Any) -> bool:
    return (
        type(value) is tuple
        and len(value) == 4
        and isinstance(value[0], bytes)
        and (value[1] is None or isinstance(value[1], str))
        and isinstance(value[2], bool)
        and (value[3] is None or isinstance(value[3], list))
    )


def _serialize_range(artifacts: list[Artifact], reuse: Reuse | None) -> list[Done]:
    writer = yamlwriter.Writer()  # one per process: it remembers how each repeated string is written
    done: list[Done] = []
    for art in artifacts:
        content = art.content
        if isinstance(content, Pieces):
            data, lengths = serialize_pieces(content, writer)
            done.append((data, None, False, lengths))
            continue
        if art.key is not None:  # rendered by a memo unit whose inputs changed: no need to look back
            done.append((serialize(art, writer), art.key, False, None))
            continue
        key = content_key(art)
        found = reuse.load(art.path, key) if reuse is not None and key is not None else None
        if found is not None:
            done.append((found, key, True, None))
        else:
            done.append((serialize(art, writer), key, False, None))
    return done


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Lock:
    mpc_version: str
    input_file: str
    input_sha256: str
    files: dict[str, str]  # path -> sha256
    backends: list[str] = field(default_factory=list)
    # Third-party plugins the build used (name -> "distribution version"): a new version is a new build.
    plugins: dict[str, str] = field(default_factory=dict)
    # Graph node -> sha256 of the files derived from it ("mesh" for files of the whole mesh): what a
    # change touched, node by node (mpc.build.incremental).
    nodes: dict[str, str] = field(default_factory=dict)
    # Path -> content key (mpc.build.emit.content_key): a rebuild reads a file whose key is unchanged back
    # from disk instead of serialising it again.
    keys: dict[str, str] = field(default_factory=dict)
    # Path -> the parts of a multi-document file assembled from memo units (mpc.build.memo), one string each:
    # "<length>", or "<length> <memo key> <binding>" for a unit's documents. A rebuild takes an
    # unchanged unit's slice of the file instead of rendering it.
    parts: dict[str, list[str]] = field(default_factory=dict)
    _bytes: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_bytes(self) -> bytes:
        """The lock as written: made once (a build's lock is not changed after it is made)."""
        if self._bytes is None:
            self._bytes = self._encode()
        return self._bytes

    def _encode(self) -> bytes:
        body = {
            "format": LOCK_FORMAT,
            "mpcVersion": self.mpc_version,
            "input": {"file": self.input_file, "sha256": self.input_sha256},
            "backends": self.backends,
            "plugins": dict(sorted(self.plugins.items())),
            "nodes": dict(sorted(self.nodes.items())),
            "files": dict(sorted(self.files.items())),
            "keys": dict(sorted(self.keys.items())),
            "parts": dict(sorted(self.parts.items())),
        }
        return (_indented(body, "") + "\n").encode("utf-8")

    @classmethod
    def read(cls, out: Path) -> Lock | None:
        try:
            data = (out / LOCK_NAME).read_bytes()
        except OSError:
            return None
        return cls.parse(data)

    @classmethod
    def parse(cls, data: bytes) -> Lock | None:
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
            return None
        files = {
            str(k): str(v) for k, v in raw["files"].items() if isinstance(k, str) and check_path(k) is None
        }
        inp = raw.get("input") or {}
        return cls(
            str(raw.get("mpcVersion", "")),
            str(inp.get("file", "")),
            str(inp.get("sha256", "")),
            files,
            [str(b) for b in raw.get("backends", [])],
            _strings(raw.get("plugins")),
            _strings(raw.get("nodes")),
            _strings(raw.get("keys")),
            _parts(raw.get("parts")),
        )


def _indented(value: Any, indent: str) -> str:
    """json.dumps(value, indent=2), byte for byte, for the lock's plain data (dicts, lists, str, int).

    With an indent, json.dumps runs its pure-Python encoder: ~40 ms for a 1,000-service lock; this
    writes each string with the C escaper and costs a quarter of that.
    """
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        items = [
            f"{inner}{_escape(str(k))}: {_escape(v) if type(v) is str else _indented(v, inner)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = indent + "  "
        items = [f"{inner}{_escape(v) if type(v) is str else _indented(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    if isinstance(value, str):
        return _escape(value)
    return json.dumps(value)


_escape = json.encoder.encode_basestring_ascii


def _parts(table: Any) -> dict[str, list[str]]:
    if not isinstance(table, dict):
        return {}
    return {
        path: parts
        for path, parts in table.items()
        if isinstance(path, str) and isinstance(parts, list) and all(isinstance(p, str) for p in parts)
    }


def _strings(table: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {}


@dataclass(frozen=True)
class Summary:
    written: list[str]
    changed: list[str]
    unchanged: list[str]
    pruned: list[str]

    def line(self, out: str) -> str:
        return (
            f"{out}: {len(self.written)} written, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {len(self.pruned)} pruned"
        )


def plan(
    out: Path, files: Mapping[str, bytes], verified: Iterable[str] = (), old_lock: Lock | None = None
) -> tuple[Summary, Lock | None]:
    """Compare new files with what is on disk (by content, not by the lock's word).

    `verified` paths were just read from disk as regular files and their bytes are the new bytes
    (Serialized.reused): unchanged without a second read. `old_lock`: the lock on disk, when the caller
    has just read it.
    """
    old = old_lock or Lock.read(out)
    known = verified if isinstance(verified, (set, frozenset)) else set(verified)
    written: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    # Plain strings and os calls: pathlib's overhead was a third of the write step at 10,000 files.
    root = os.fspath(out)
    exists = os.path.isdir(root)
    for path, data in files.items():
        if path in known:
            unchanged.append(path)
            continue
        current = _read_regular(f"{root}/{path}") if exists else None
        if current is None:
            written.append(path)
        elif current != data:
            changed.append(path)
        else:
            unchanged.append(path)
    pruned = sorted(set(old.files) - set(files)) if old else []
    pruned = [p for p in pruned if (out / p).is_file() or (out / p).is_symlink()]
    return Summary(written, changed, unchanged, pruned), old


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)


def read_recorded(target: str, digest: str | None) -> bytes | None:
    """A regular file's bytes (not through a symlink) when they have the sha256 a lock records."""
    data = _read_regular(target)
    return data if data is not None and hashlib.sha256(data).hexdigest() == digest else None


def matching(root: str, recorded: Iterable[tuple[str, str | None]]) -> bytes:
    """One byte per (path, sha256): 1 where the file under `root` has it (read_recorded), else 0."""
    return bytes(read_recorded(f"{root}/{path}", digest) is not None for path, digest in recorded)


def _read_regular(target: str) -> bytes | None:
    """The bytes of a regular file, not through a symlink; None for anything else (never blocks on a FIFO)."""
    try:
        fd = os.open(target, _READ_FLAGS)  # O_NOFOLLOW: a symlink fails to open
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (not _NOFOLLOW and os.path.islink(target)):
            return None
        chunks = [os.read(fd, info.st_size + 1)]  # the whole file at once, then read on to the end
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write_new(target: str, data: bytes) -> None:
    """open(target, "wb").write(data) without the file object: a third less time per file."""
    fd = os.open(target, _WRITE_FLAGS, 0o666)
    try:
        written = os.write(fd, data)
        if written < len(data):
            view = memoryview(data)
            while written < len(data):
                written += os.write(fd, view[written:])
    finally:
        os.close(fd)


def stale(
    out: Path, files: Mapping[str, bytes], verified: Iterable[str] = (), old_lock: Lock | None = None
) -> list[str]:
    """`build --check`: every path that a build would write, change or prune, sorted."""
    summary, _ = plan(out, files, verified, old_lock)
    return sorted(summary.written + summary.changed + summary.pruned)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes  # here: ~5 ms to import, and only a rebuild over an existing tree swaps
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rename_exchange = 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)


def _link_or_copy(src: Path, dst: Path) -> None:
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _carry_over(old: Path, new: Path, owned: set[str], skip: set[str]) -> None:
    """Bring every file mpc does not own (and empty folders) from the old tree into the new one."""
    # One scandir per folder and plain strings: this walks the whole old tree on every changed build.
    old_root, new_root = os.fspath(old), os.fspath(new)
    stack = [""]
    while stack:
        rel_root = stack.pop()
        with os.scandir(os.path.join(old_root, rel_root) if rel_root else old_root) as entries:
            listing = list(entries)
        for entry in listing:
            rel = f"{rel_root}/{entry.name}" if rel_root else entry.name
            if entry.is_symlink():
                if rel not in owned and rel not in skip and rel != LOCK_NAME:
                    os.symlink(os.readlink(entry.path), os.path.join(new_root, rel))
            elif entry.is_dir():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(os.path.join(new_root, rel))
                stack.append(rel)
            elif rel not in owned and rel not in skip and rel != LOCK_NAME:
                _link_or_copy(Path(entry.path), Path(new_root, rel))


def clean_stale_temps(out: Path) -> None:
    parent = out.parent
    prefix = f"{TEMP_PREFIX}{out.name}-"
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry.name.startswith(prefix) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def write_tree(
    out: Path,
    files: Mapping[str, bytes],
    lock: Lock,
    *,
    before_swap: Any = None,
    verified: Iterable[str] = (),
    old_lock: Lock | None = None,
) -> Summary:
    """Write `files` (and mpc.lock) as the new content of `out`, atomically.

    `before_swap(tmp_dir)` runs on the complete new tree before it replaces the old one (validators);
    raising there leaves the old tree untouched.
    """
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise MpcError([Diagnostic("E101", f"{out.name} exists and is not a folder", Location(str(out)))])
    summary, old_lock = plan(out, files, verified, old_lock)
    owned_before = set(old_lock.files) if old_lock else set()
    foreign = sorted(p for p in summary.changed if p not in owned_before)
    if foreign:
        raise MpcError(
            [
                Diagnostic(
                    "E315",
                    f"refusing to overwrite {path}, which mpc did not write",
                    Location(str(out / path)),
                    "move the file away (or delete it) and build again",
                )
                for path in foreign
            ]
        )
    if out.is_dir() and not summary.written and not summary.changed and not summary.pruned:
        current = (out / LOCK_NAME).read_bytes() if (out / LOCK_NAME).is_file() else b""
        if current == lock.to_bytes() and before_swap is None:
            # The lock's time says when a full build last agreed with the tree (mpc.build.incremental).
            os.utime(out / LOCK_NAME)
            return summary
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{out.name}-", dir=out.parent))
    try:
        unchanged = set(summary.unchanged)
        made: set[str] = set()
        new_root, old_root = os.fspath(tmp), os.fspath(out)
        for path, data in files.items():
            target = f"{new_root}/{path}"  # checked paths: relative, normalised, "/"-separated
            parent = path.rpartition("/")[0]
            if parent and parent not in made:
                os.makedirs(f"{new_root}/{parent}", exist_ok=True)
                made.add(parent)
            if path in unchanged:
                try:  # plan() just read it as a regular file: a plain hard link, no pathlib on this path
                    os.link(f"{old_root}/{path}", target)
                except OSError:
                    _link_or_copy(Path(old_root, path), Path(target))
            else:
                _write_new(target, data)
        (tmp / LOCK_NAME).write_bytes(lock.to_bytes())
        if out.is_dir():
            # Files mpc does not own survive; an old owned file that the user replaced is theirs now only
            # if it is not in the new output (otherwise mpc's version wins, as the lock says it owns it).
            _carry_over(out, tmp, owned=owned_before | set(files), skip=set())
        if before_swap is not None:
            before_swap(tmp)
        os.chmod(tmp, 0o755)
        if out.is_dir():
            if not _exchange(tmp, out):
                backup = tmp.with_name(tmp.name + "-old")
                os.rename(out, backup)
                try:
                    os.rename(tmp, out)
                except OSError:
                    os.rename(backup, out)
                    raise
                tmp = backup
        else:
            os.rename(tmp, out)
            return summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return summary
