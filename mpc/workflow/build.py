"""The build command's library half: compile, then write, check or validate. No printing here."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mpc import __version__
from mpc.build.emit import LOCK_NAME, Lock, Reuse, Serialized, Summary, serialize_files, stale, write_tree
from mpc.errors import Diagnostic, MpcError, PluginError, Severity
from mpc.render.api import Artifact, ValidatingBackend

if TYPE_CHECKING:
    from mpc.build.memo import Memo, Previous
    from mpc.workflow.front import Front

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    mesh: Path
    out: Path
    backends: tuple[str, ...] = ()
    check: bool = False
    validate: bool = False


@dataclass(frozen=True)
class BuildResult:
    front: Front | None  # None when the lock proved the tree up to date (nothing was parsed)
    files: dict[str, bytes]  # b"" for a file taken unread from the previous tree (Serialized.files)
    summary: Summary | None  # None for --check
    stale: list[str]
    findings: list[Diagnostic]
    # Memo units (mpc.build.memo) rendered, of all units, when some were taken from the previous tree.
    units: tuple[int, int] | None = None


def compile_files(
    front: Front, backends: tuple[str, ...] = ()
) -> tuple[list[Artifact], dict[str, bytes], list[str]]:
    artifacts, serialized, names = compile_serialized(front, backends)
    return artifacts, serialized.files, names


def compile_serialized(
    front: Front, backends: tuple[str, ...] = (), reuse: Reuse | None = None, memo: Memo | None = None
) -> tuple[list[Artifact], Serialized, list[str]]:
    """Render and serialise; files whose content key `reuse` records unchanged are read back from disk.

    With a `memo`, backends record the memo keys of their units, and take the units whose inputs did
    not change from the memo's previous tree (mpc.build.memo).
    """
    from mpc.build.memo import active
    from mpc.workflow.front import render

    with active(memo) if memo is not None else contextlib.nullcontext():
        rendered = render(front, list(backends) or None)
    return rendered.artifacts, serialize_files(rendered.artifacts, reuse), rendered.backends


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic collector off while the model, the artifacts, their bytes and the lock are built.

    Almost everything allocated then lives until the build ends, so each collection walks a large young
    generation to free nothing (~0.12 s of a 1,000-service build even at mpc.cli's raised threshold; a
    collection while the lock of 10,000 services is encoded walks every object and costs ~0.7 s).
    On the way out the survivors join the oldest generation (freeze, then unfreeze): left young, the
    first collection after the build would walk them all at once.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def lock_for(
    front: Front,
    files: dict[str, bytes],
    backends: list[str],
    artifacts: list[Artifact] | None = None,
    serialized: Serialized | None = None,
    reuse: Reuse | None = None,
) -> Lock:
    from mpc.build.emit import sha256
    from mpc.build.incremental import node_hashes, used_plugins
    from mpc.build.memo import unit_entries

    if serialized is not None and reuse is not None:
        # A file read back from the old tree was just checked against the old lock's sha256.
        hashes = {p: reuse.hashes[p] if p in serialized.reused else sha256(d) for p, d in files.items()}
    else:
        hashes = {p: sha256(d) for p, d in files.items()}
    keys = unit_entries(serialized.keys, hashes) if serialized is not None else {}
    return Lock(
        mpc_version=__version__,
        input_file=front.model.source_file,
        input_sha256=front.digest,
        files=hashes,
        backends=sorted(backends),
        plugins=used_plugins(backends, front.model),
        nodes=node_hashes(artifacts, hashes) if artifacts is not None else {},
        keys=keys,
        parts=dict(serialized.parts) if serialized is not None else {},
    )


def build(options: BuildOptions, progress: Progress = lambda _: None) -> BuildResult:
    from mpc.build.incremental import read_lock, up_to_date

    read = read_lock(options.out)
    old_lock = read[1]
    if not options.validate:
        # The lock proves the tree is what a full build would write: nothing to parse, render or write.
        proven = up_to_date(options.mesh, options.out, options.backends, read)
        if proven is not None:
            _, on_disk = proven
            summary = None if options.check else Summary([], [], list(on_disk), [])
            return BuildResult(None, on_disk, summary, [], [])
    with _no_collection():
        return _build(options, old_lock, progress)


@contextlib.contextmanager
def over_previous(out: Path, old_lock: Lock | None, memo: bool = True) -> Iterator[Over]:
    """What a build over the tree in `out` may take from it (content keys, memo units).

    Enter before parsing: the previous tree's files are checked in a second process meanwhile
    (mpc.build.memo.Checking). Compile with `compile_serialized(front, backends, over.reuse,
    over.memo(front))`, and write with `verified=serialized.reused`: files taken unread hold b"".
    """
    from mpc.build.incremental import previous_tree

    reuse = Reuse.of(out, __version__, old_lock)
    previous = previous_tree(reuse) if memo else None
    try:
        yield Over(reuse, previous)
    finally:
        if previous is not None:
            previous.close()


@dataclass(frozen=True)
class Over:
    reuse: Reuse | None
    previous: Previous | None

    def memo(self, front: Front) -> Memo:
        from mpc.build.fingerprint import Fingerprints
        from mpc.build.memo import Memo

        return Memo(Fingerprints(front.model, front.graph), self.previous)


def _build(options: BuildOptions, old_lock: Lock | None, progress: Progress) -> BuildResult:
    from mpc.workflow.front import (
        front_file,  # after the check above: pydantic and friends cost ~0.2 s to import
    )

    # No memo for --validate: the validators read every document.
    with over_previous(options.out, old_lock, memo=not options.validate) as over:
        progress("checking the mesh")
        front = front_file(options.mesh)
        progress("rendering")
        memo = over.memo(front)
        artifacts, serialized, names = compile_serialized(front, options.backends, over.reuse, memo)
    reuse = over.reuse
    files = serialized.files
    lock = lock_for(front, files, names, artifacts, serialized, reuse)
    if options.check:
        progress("comparing")
        differing = stale(options.out, files, serialized.reused, old_lock)
        # The lock is part of the tree: it vouches for the input it was built from.
        lock_path = options.out / LOCK_NAME
        current = lock_path.read_bytes() if lock_path.is_file() else b""
        if current != lock.to_bytes():
            differing = sorted([*differing, LOCK_NAME])
        return BuildResult(front, files, None, differing, [], _units(memo))
    findings: list[Diagnostic] = []

    def validate(tree: Path) -> None:
        from mpc.build.memo import plain
        from mpc.render.plugins import load_backends

        documents = [plain(a) for a in artifacts]

        for plugin, backend in load_backends(names):
            if not isinstance(backend, ValidatingBackend):
                continue
            progress(f"validating ({backend.name})")
            if plugin.builtin:
                findings.extend(backend.validate(tree, documents))
                continue
            try:
                findings.extend(backend.validate(tree, documents))
            except MpcError:
                raise
            except Exception as exc:  # a third-party validator's failure is that plugin's, reported by name
                raise PluginError("backend", plugin.name, plugin.distribution, exc) from exc
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise MpcError(findings)

    progress("writing")
    summary = write_tree(
        options.out,
        files,
        lock,
        before_swap=validate if options.validate else None,
        verified=serialized.reused,
        old_lock=old_lock,
    )
    return BuildResult(front, files, summary, [], findings, _units(memo))


def _units(memo: Memo) -> tuple[int, int] | None:
    return (memo.rendered, memo.rendered + memo.reused) if memo.reused else None
