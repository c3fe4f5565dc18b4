"""memo: a rebuild renders only the units whose inputs changed since the previous build.

A backend wraps each piece of per-service output in a unit: `files(...)` for files of their own (a
service's base, its patches, its Istio policy file), `documents(...)` for its documents inside a shared
multi-document file (its NetworkPolicy, its PodMonitor), assembled by `multi_document(...)`. A unit's
memo key is the sha256 of the unit's name and scope and of the service's context digest
(mpc.build.fingerprint): everything the unit may read. The unit's render function must read nothing else:
`tests/test_incremental.py` rebuilds random edit sequences and requires the tree of a full build.

`mpc build` records each unit's key in mpc.lock (files: `keys`, documents: `parts`, with lengths). The
next build, when the lock was written by this mpc with the same plugins and no code is newer than the
lock, takes a unit whose key is unchanged from the previous tree: the files it wrote, or its slice of
the shared file, as far as the bytes on disk confirm the lock (Previous). A unit whose bytes are gone
or altered is rendered again. Outside `mpc build` (`render` for diff reports, tests, plugins) there is no
memo: units render in place and artifacts hold plain content.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpc.render.api import Artifact, Part, Pieces, Stored

if TYPE_CHECKING:
    from mpc.build.emit import Lock
    from mpc.build.fingerprint import Fingerprints
    from mpc.build.parallel import Child

KEY_PREFIX = "u:"  # memo keys in mpc.lock; content keys (mpc.build.emit.content_key) are bare hex
SEPARATOR = b"---\n"  # between the documents of a multi-document file (mpc.render.yamlwriter.Writer.dump_all)

Documents = Sequence[Mapping[str, Any]]


# The lock's memo entries, written here and read by Previous:
#   keys[path]  = "<memo key> <files in the unit> <binding>"   a unit's own file
#   parts[path] = ["<length>" | "<length> <memo key> <binding>", ...]   a shared file, part by part


def binding(key: str, data: bytes) -> str:
    """Ties a memo key to the bytes recorded with it in the lock: a lock whose lines come from different
    builds (a hand-resolved merge conflict, say) names bytes that do not match, and Previous refuses it."""
    return hashlib.sha256(key.encode("utf-8") + b"\0" + data).hexdigest()[:16]


def file_binding(key: str, path: str, sha256: str) -> str:
    """The binding of a unit's key to one of its files, by path and sha256."""
    return binding(key, f"{path} {sha256}".encode())


def part_entry(key: str | None, data: bytes) -> str:
    """A shared file's part as the lock records it."""
    return f"{len(data)} {key} {binding(key, data)}" if key else f"{len(data)}"


def unit_entries(keys: Mapping[str, str], hashes: Mapping[str, str]) -> dict[str, str]:
    """The lock's `keys`: content keys as they are, each unit's file with its unit's size and binding."""
    units: dict[str, int] = {}
    for key in keys.values():
        if key.startswith(KEY_PREFIX):
            units[key] = units.get(key, 0) + 1
    return {
        path: f"{key} {units[key]} {file_binding(key, path, hashes[path])}" if key in units else key
        for path, key in keys.items()
    }


CHECK_PARALLEL_MIN = 2000  # below this many files the check is quicker than a second process


class Checking:
    """The files of the previous tree's units, checked against the lock's sha256 in a forked child
    while this process parses the mesh (on a large mesh the two take about as long).

    The child only reports which files matched; this process then vouches for those without reading
    them (write_tree links them into the new tree, the lock keeps their sha256). Whatever the child
    could not do (no fork here, a failure, a short answer) this process does itself, as without it.
    """

    def __init__(self, root: str, paths: list[str], hashes: Mapping[str, str]) -> None:
        from mpc.build.emit import matching
        from mpc.build.parallel import start

        self.paths = paths
        self._child: Child | None = None
        if len(paths) >= CHECK_PARALLEL_MIN:
            self._child = start(lambda: matching(root, [(path, hashes.get(path)) for path in paths]))

    def verified(self) -> set[str]:
        """The paths the child found at their recorded sha256 (none when it did not run); waits for it."""
        if self._child is None:
            return set()
        payload, self._child = self._child.answer(), None
        if payload is None or len(payload) != len(self.paths):
            return set()
        return {path for path, ok in zip(self.paths, payload, strict=True) if ok == 1}


class Previous:
    """The previous tree, as its lock records it: which files and slices each memo key wrote.

    Nothing in the lock is taken on trust beyond what the bytes on disk confirm: each file must have its
    recorded sha256, a unit must have all the files it wrote (their count is recorded), each file or
    slice must carry the binding of its key to its bytes, and the parts of a shared file must cover it
    exactly. Anything else is a miss: the unit is rendered again.
    """

    def __init__(self, root: Path, lock: Lock) -> None:
        self.root = os.fspath(root)
        self.hashes = lock.files
        # key -> [(path, files in the unit, binding)]
        self.bundles: dict[str, list[tuple[str, int, str]]] = {}
        for path, entry in sorted(lock.keys.items()):
            fields = entry.split(" ")
            if len(fields) == 3 and fields[0].startswith(KEY_PREFIX) and fields[1].isdigit():
                self.bundles.setdefault(fields[0], []).append((path, int(fields[1]), fields[2]))
        # key -> (path, offset, length, binding); path -> the size its parts add up to
        self.slices: dict[str, tuple[str, int, int, str]] = {}
        self.sizes: dict[str, int] = {}
        for path, parts in lock.parts.items():
            offset = 0
            first = True
            for entry in parts:
                fields = entry.split(" ")
                if not (fields[0].isascii() and fields[0].isdigit()) or len(fields) not in (1, 3):
                    break
                length = int(fields[0])
                if length:
                    offset += 0 if first else len(SEPARATOR)
                    first = False
                if len(fields) == 3:
                    self.slices.setdefault(fields[1], (path, offset, length, fields[2]))
                offset += length
            else:
                self.sizes[path] = offset
        self._files: dict[str, tuple[bytes, str] | None] = {}
        self._checking: Checking | None = Checking(
            self.root, [path for entries in self.bundles.values() for path, _, _ in entries], self.hashes
        )
        self._verified: set[str] = set()

    def close(self) -> None:
        """Wait for the forked check, if it still runs (a build that stops early calls this)."""
        if self._checking is not None:
            self._verified = self._checking.verified()
            self._checking = None

    def _read(self, path: str) -> tuple[bytes, str] | None:
        """The bytes and sha256 of one file of the previous tree, when they match the lock."""
        if path in self._files:
            return self._files[path]
        from mpc.build.emit import read_recorded

        digest = self.hashes.get(path)
        data = read_recorded(f"{self.root}/{path}", digest)
        found = (data, digest) if data is not None and digest is not None else None
        self._files[path] = found
        return found

    def bundle(self, key: str) -> list[tuple[str, bytes | None]] | None:
        """The files a unit wrote: their bytes, or None for a file the forked check vouched for."""
        entries = self.bundles.get(key)
        if not entries:
            return None
        self.close()
        found: list[tuple[str, bytes | None]] = []
        for path, count, bound in entries:
            if count != len(entries):
                return None
            if path in self._verified:
                data, digest = None, self.hashes[path]
            else:
                read = self._read(path)
                if read is None:
                    return None
                data, digest = read
            if file_binding(key, path, digest) != bound:
                return None
            found.append((path, data))
        return found

    def slice(self, key: str) -> bytes | None:
        where = self.slices.get(key)
        if where is None:
            return None
        path, offset, length, bound = where
        read = self._read(path)
        if read is None or self.sizes.get(path) != len(read[0]):
            return None
        data = read[0][offset : offset + length]
        return data if binding(key, data) == bound else None


class Memo:
    def __init__(self, fingerprints: Fingerprints, previous: Previous | None = None) -> None:
        self.fingerprints = fingerprints
        self.previous = previous
        self.rendered = 0  # units rendered in this build
        self.reused = 0  # units taken from the previous tree

    def key(self, unit: str, service: str, scope: str, wave: bool = True) -> str:
        material = f"{unit}\0{scope}\0{service}\0{self.fingerprints.service(service, wave)}"
        # 128 bits tell units apart as well as 256 and keep mpc.lock shorter (a key per file).
        return KEY_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]

    def files(
        self, unit: str, service: str, scope: str, make: Callable[[], Iterable[Artifact]], wave: bool = True
    ) -> list[Artifact]:
        key = self.key(unit, service, scope, wave)
        node = f"service:{service}"
        stored = self.previous.bundle(key) if self.previous is not None else None
        if stored is not None:
            self.reused += 1
            return [Artifact(path, Stored(data), node=node, key=key) for path, data in stored]
        self.rendered += 1
        return _sorted([Artifact(a.path, a.content, a.overlays, node, key) for a in make()])

    def documents(
        self, unit: str, service: str, scope: str, make: Callable[[], Documents], wave: bool = True
    ) -> Part:
        key = self.key(unit, service, scope, wave)
        data = self.previous.slice(key) if self.previous is not None else None
        if data is not None:
            self.reused += 1
            return Part(key, None, data)
        self.rendered += 1
        return Part(key, tuple(make()))


def _path(art: Artifact) -> str:
    return art.path


def _sorted(artifacts: list[Artifact]) -> list[Artifact]:
    for art in artifacts:
        if art.overlays:  # the lock does not record them: a reused file could not bring them back
            raise ValueError(f"{art.path}: a unit's file cannot contribute to overlays")
    if len(artifacts) > 1:
        artifacts.sort(key=_path)
    return artifacts


_ACTIVE: contextvars.ContextVar[Memo | None] = contextvars.ContextVar("mpc_memo", default=None)


@contextlib.contextmanager
def active(memo: Memo) -> Iterator[Memo]:
    token = _ACTIVE.set(memo)
    try:
        yield memo
    finally:
        _ACTIVE.reset(token)


def files(
    unit: str, service: str, make: Callable[[], Iterable[Artifact]], scope: str = "", wave: bool = True
) -> list[Artifact]:
    """The files of one unit of `service`'s output: rendered by `make`, or the previous build's.

    `unit` names the kind of output ("<backend>/<what>"), `scope` what else tells two units of the
    same service apart (an environment, an overlay). `make` may read the service's context only
    (mpc.build.fingerprint); with `wave=False`, not the service's rollout wave (a dependency's edit can move
    it) either. The files come back sorted by path (also when rendered), each with the service's
    node; they cannot contribute to overlays (Artifact.overlays).
    """
    memo = _ACTIVE.get()
    if memo is None:
        node = f"service:{service}"
        return _sorted([Artifact(a.path, a.content, a.overlays, node) for a in make()])
    return memo.files(unit, service, scope, make, wave)


def documents(
    unit: str, service: str, make: Callable[[], Documents], scope: str = "", wave: bool = True
) -> Part:
    """One unit's documents inside a multi-document file (see files() for the arguments)."""
    memo = _ACTIVE.get()
    if memo is None:
        return Part(None, tuple(make()))
    return memo.documents(unit, service, scope, make, wave)


def multi_document(
    path: str, parts: Iterable[Part | Documents], *, overlays: tuple[str, ...] = (), node: str | None = None
) -> Artifact:
    """A multi-document file of parts from documents() and plain document lists, in order."""
    pieces = tuple(p if isinstance(p, Part) else Part(None, tuple(p)) for p in parts)
    if _ACTIVE.get() is None:
        return Artifact(path, [doc for p in pieces for doc in p.docs or ()], overlays, node)
    return Artifact(path, Pieces(pieces), overlays, node)


def plain(art: Artifact) -> Artifact:
    """The artifact with plain content, for validators that read documents; as it is when it holds
    bytes read back from the previous tree (those are on disk)."""
    content = art.content
    if isinstance(content, Pieces) and all(p.docs is not None for p in content.parts):
        return replace(art, content=[doc for p in content.parts for doc in p.docs or ()])
    return art
