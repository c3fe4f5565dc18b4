"""The build command's library half: compile, then write, check or validate. No printing here.

    read the mesh (bounded) ─▶ is the tree current? ─▶ analyse ─▶ compile ─▶ write, check or validate
                               (cache record + disk)              (unit cache)

A tree is proven current only by what mpc keeps itself: the user cache records, for this exact input and
code, the sha256 of every file a build wrote; the files on disk must have them. On a fresh machine (no
record) the mesh is compiled and compared byte for byte. Nothing is decided by the lock in the output
folder, which anyone who can write the tree can edit.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mpc import __version__
from mpc.build.cache import Cache, tree_key
from mpc.build.files import read_lock, read_regular, sha256
from mpc.build.identity import code_identity
from mpc.build.lock import LOCK_NAME, Lock
from mpc.build.parallel import detach
from mpc.build.swap import Seen, Summary, build_lock, current, look, output_folder, plan, write_tree
from mpc.errors import Diagnostic, Location, OutputRejected, Severity
from mpc.lang.load import load_bytes
from mpc.lang.names import SOURCE_ANNOTATION
from mpc.render.api import Artifact, ValidatingBackend, Validator
from mpc.render.plugins import Installed, guarded
from mpc.workflow.source import display_name, read_mesh

if TYPE_CHECKING:
    from mpc.build.compile import Compiled
    from mpc.graph.front import Front

Progress = Callable[[str], None]
# The backends whose objects mpc verify reads: the NetworkPolicies and overlays, and the Istio policies.
VERIFIED_BACKENDS = frozenset({"kustomize", "istio"})
# A tree this large finishes (the replaced tree deleted, its files seen) after the command returns.
DETACH_MIN = 20_000
# A tree this large waits for its files' status to settle before it is recorded: reading every file on
# the next build costs more than the wait.
SETTLE_MIN = 2_000


@dataclass(frozen=True)
class BuildOptions:
    mesh: Path
    out: Path
    backends: tuple[str, ...] = ()
    check: bool = False
    validate: bool = False
    cache: bool = True  # False: render everything, read and write no user cache
    # Files written beside the rendered ones, owned and locked like them (publish: the input mesh).
    extra_files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """The mesh as read: the name diagnostics show, and its bytes."""

    name: str
    text: bytes

    @classmethod
    def read(cls, mesh: Path) -> Source:
        name = display_name(mesh)
        return cls(name, read_mesh(mesh, name))

    def analyse(self, installed: Installed) -> Front:
        # Imported here: the parser and its checks are the heaviest imports of a build, and a rebuild
        # that the user cache proves current never needs them.
        from mpc.workflow.front import analyse

        return analyse(load_bytes(self.text, self.name), installed)


@dataclass(frozen=True)
class BuildResult:
    front: Front | None  # None when the cache's record proved the tree current (nothing was parsed)
    files: int  # files in the tree (the lock aside)
    summary: Summary | None  # None for --check
    stale: list[str]
    findings: list[Diagnostic]
    units: tuple[int, int] | None = None  # service units rendered, of all, when the cache held some
    validators: list[str] = field(default_factory=list)  # the real validators that ran
    skipped: list[str] = field(default_factory=list)  # those not run: not installed here


def lock_for(front: Front, compiled: Compiled, text: bytes) -> Lock:
    return Lock(
        mpc_version=__version__,
        input_file=front.model.source_file,
        input_sha256=hashlib.sha256(text).hexdigest(),
        files=dict(compiled.hashes),
        backends=sorted(compiled.backends),
        plugins=compiled.plugins,
    )


def owned_files(out: Path) -> dict[str, str]:
    """The files the lock in `out` says mpc wrote (path -> sha256): who may replace or prune what."""
    lock = read_lock(out)
    return dict(lock.files) if lock is not None else {}


def _record(compiled: Compiled, lock: bytes) -> dict[str, str]:
    """What the user cache keeps of a build's whole output: every file's sha256, the lock's too."""
    return {**compiled.hashes, LOCK_NAME: sha256(lock)}


def build(options: BuildOptions, progress: Progress = lambda _: None) -> BuildResult:
    return build_source(Source.read(options.mesh), options, progress)


@dataclass
class _Target:
    """One build's output folder and what the user cache knows of it, for the steps below."""

    out: Path
    cache: Cache | None
    key: str  # the build's whole input (cache.tree_key)
    seen: Seen | None  # what mpc last saw of the files it wrote there

    @property
    def folder(self) -> str:
        return str(self.out)


def build_source(
    source: Source,
    options: BuildOptions,
    progress: Progress = lambda _: None,
    installed: Installed | None = None,
    front: Front | None = None,
) -> BuildResult:
    """Build (or check) `options.out` from a mesh already read; `front`, when the caller analysed it."""
    out = output_folder(options.out)
    installed = installed or Installed()
    cache = Cache() if options.cache else None
    code = code_identity(installed.third_party())
    extra = sorted((path, sha256(data)) for path, data in options.extra_files.items())
    key = tree_key(code, Path(source.name).name, source.text, [*options.backends, *map(str, extra)])
    try:
        with build_lock(out, shared=options.check):
            target = _Target(out, cache, key, cache.folder(str(out)) if cache is not None else None)
            if cache is not None and not options.validate:
                record = cache.tree(key)
                learnt = current(out, record, target.seen or {}) if record is not None else None
                if record is not None and learnt is not None:
                    if learnt:
                        cache.put_folder(target.folder, {**(target.seen or {}), **learnt})
                    unchanged = sorted(p for p in record if p != LOCK_NAME)
                    summary = None if options.check else Summary([], [], unchanged, [])
                    return BuildResult(front, len(unchanged), summary, [], [])
            # Here, not at the top: a tree found current above needs none of the renderers' code.
            from mpc.build.compile import compile_tree

            progress("checking the mesh")
            front = front or source.analyse(installed)
            progress("rendering")
            compiled = compile_tree(
                front,
                installed,
                options.backends,
                None if options.validate else cache,
                code,
                plain=options.validate,
            )
            compiled.add_files(options.extra_files)
            lock = lock_for(front, compiled, source.text).to_bytes()
            if options.check:
                progress("comparing")
                return _check(target, front, compiled, lock)
            progress("writing")
            return _write(target, front, compiled, lock, options.validate, installed, progress)
    finally:
        if cache is not None:
            cache.finish()


def _units(compiled: Compiled) -> tuple[int, int] | None:
    return (compiled.rendered, compiled.units) if compiled.rendered < compiled.units else None


def _check(target: _Target, front: Front, compiled: Compiled, lock: bytes) -> BuildResult:
    """`--check`: every file that a build would write, change or prune, the lock among them."""
    stale = plan(target.out, compiled.files, owned_files(target.out), compiled.hashes, target.seen).stale
    if read_regular(f"{target.folder}/{LOCK_NAME}") != lock:
        stale = sorted([*stale, LOCK_NAME])
    if not stale and target.cache is not None:
        target.cache.put_tree(target.key, _record(compiled, lock))
    return BuildResult(front, len(compiled.files), None, stale, [], _units(compiled))


def _write(
    target: _Target,
    front: Front,
    compiled: Compiled,
    lock: bytes,
    validate: bool,
    installed: Installed,
    progress: Progress,
) -> BuildResult:
    """Write the tree (after the real validators, with `validate`), and record it in the user cache."""
    findings: list[Diagnostic] = []
    ran: list[str] = []
    skipped: list[str] = []

    def validators(tree: Path) -> None:
        findings.extend(_validate(tree, compiled, installed, (ran, skipped), progress, front))

    record = _record(compiled, lock)
    cache = target.cache
    if cache is not None:
        cache.put_tree(target.key, record)

    def finish(discard: Callable[[], None]) -> None:
        """Delete the replaced tree, then record what the new one looks like (deleting the old links
        changes the new files' ctime). A large tree does it in a detached process."""

        def work() -> None:
            discard()
            if cache is not None:
                settle = len(record) >= SETTLE_MIN
                Cache(cache.location).put_folder(target.folder, look(target.out, record, settle))

        if len(record) < DETACH_MIN or not detach(work):
            work()

    summary = write_tree(
        target.out,
        compiled.files,
        lock,
        owned_files(target.out),
        before_swap=validators if validate else None,
        hashes=compiled.hashes,
        seen=target.seen,
        after=finish,
    )
    return BuildResult(front, len(compiled.files), summary, [], findings, _units(compiled), ran, skipped)


def _validate(
    tree: Path,
    compiled: Compiled,
    installed: Installed,
    record: tuple[list[str], list[str]],
    progress: Progress,
    front: Front,
) -> list[Diagnostic]:
    """Each selected backend's real validator on the new tree, before it replaces the old one; `record`
    gets the validators that ran and those skipped because they are not installed.

    The mesh passed every check, so a file a validator refuses is mpc's fault: OutputRejected (exit 3),
    each finding located at the mesh entry that produced the file.
    """
    ran, skipped = record
    findings: list[Diagnostic] = []
    for plugin, backend in installed.select(compiled.backends):
        if not isinstance(backend, ValidatingBackend):
            continue
        progress(f"validating ({backend.name})")
        tools = getattr(backend, "validators", None)
        listed = guarded(plugin, tools) if callable(tools) else [Validator(plugin.name, True)]
        ran.extend(f"{plugin.name}: {v.name}" for v in listed if v.installed)
        skipped.extend(f"{plugin.name}: {v.name}" for v in listed if not v.installed)
        findings.extend(guarded(plugin, lambda b=backend: b.validate(tree, compiled.artifacts)))  # type: ignore[misc]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise OutputRejected([blame(front, compiled.artifacts, str(tree), f) for f in errors])
    if (
        VERIFIED_BACKENDS.issubset(compiled.backends)
        and any(o.path.startswith("kustomize/") for o in front.model.overlays)
        and (tree / front.model.overlays[0].path / "kustomization.yaml").is_file()
    ):
        # The policies the tree holds, layer by layer, against the mesh it was just built from: a
        # disagreement is mpc's bug, like a validator's refusal. A tree built with fewer backends lacks
        # layers on purpose (`--backend kustomize` writes no Istio policy), so it is not verified.
        progress("verifying the policies")
        from mpc.workflow.verify import verify_front  # only `--validate` reads the tree back

        report = verify_front(front, tree)
        if report.disagreements:
            raise OutputRejected(report.disagreements)
        findings.extend(f for f in report.findings if f.severity is Severity.WARNING)
        ran.append("mpc: verify")
    return findings


def _source_ref(content: object) -> str | None:
    """The `masterproxy.dev/source` of a file's first document that has one."""
    docs = [content] if isinstance(content, Mapping) else content if isinstance(content, list) else []
    for doc in docs:
        annotations = (doc.get("metadata") or {}).get("annotations") or {} if isinstance(doc, Mapping) else {}
        ref = annotations.get(SOURCE_ANNOTATION)
        if isinstance(ref, str):
            return ref
    return None


def blame(front: Front, artifacts: Sequence[Artifact], tree: str, finding: Diagnostic) -> Diagnostic:
    """A validator's finding on the written tree, located at the mesh entry behind the file it names.

    The validator's words are kept, without the temporary folder the tree was written to; the file is a
    note. A file the words name (kustomize names the file it failed to read) wins over the folder the
    validator was run on.
    """
    message = finding.message.replace(tree.rstrip("/") + "/", "").replace(tree, ".")
    by_path = {a.path: a for a in artifacts}
    quoted = re.findall(r"'([^'\s]+)'", message)
    # kustomize names the folder it recursed into and, separately, the file in it that failed.
    candidates = {*quoted, *(posixpath.normpath(f"{d}/{q}") for d in quoted for q in quoted)}
    named = [p for p in candidates if p in by_path] or [p for p in by_path if p in message]
    path = max(named, key=len) if named else finding.location.file
    art = by_path.get(path)
    ref = _source_ref(art.content) if art is not None else None
    mesh = front.doc.source(ref) if ref is not None else Location(front.doc.file, 1, 1)
    notes = ((Location(path), "in this file mpc wrote"),)
    hint = "the mesh is valid, so this is a bug in mpc; please report it with the mesh file"
    return Diagnostic(finding.code, message, mesh, hint, notes=notes)
